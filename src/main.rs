//! The Lambda function. Everything but start-up lives in the library.

use api_tokens::dynamo::DynamoStore;
use lambda_http::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    api_tokens::telemetry::init();
    // Built once per execution environment and lent to every invocation.
    let store = DynamoStore::from_env().await;
    lambda_http::lambda_runtime::run(service_fn(|event| {
        api_tokens::gateway::function(&store, event)
    }))
    .await
}
