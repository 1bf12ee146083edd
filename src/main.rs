//! The Lambda function. Everything but start-up lives in the library.

use api_tokens::dynamo::DynamoStore;
use lambda_http::{Error, service_fn};

// Lambda sends one event at a time: one thread starts faster and needs less memory.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    api_tokens::telemetry::init();
    // Built once per execution environment and lent to every invocation.
    let store = DynamoStore::from_env().await;
    lambda_http::lambda_runtime::run(service_fn(|event| {
        api_tokens::gateway::function(&store, event)
    }))
    .await
}
