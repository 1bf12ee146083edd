//! The Lambda function. Everything but start-up lives in the library.

use api_tokens::startup;
use api_tokens::use_recorder::UseRecorder;
use lambda_http::lambda_runtime::{Runtime, layers::TracingLayer};
use lambda_http::{Error, service_fn};

fn main() -> Result<(), Error> {
    // Classic Lambda sends one event at a time: one thread starts faster and needs less memory.
    // Lambda Managed Instances send several at once to one environment with several vCPUs.
    let mut runtime = if startup::max_concurrency() > 1 {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    runtime.enable_all().build()?.block_on(run_function())
}

/// Logging, the store, how token uses get recorded, then the Lambda event loop until the
/// environment ends.
async fn run_function() -> Result<(), Error> {
    api_tokens::telemetry::init();
    let store = startup::store().await;
    let (recorder, background) = UseRecorder::start(store, startup::max_concurrency());
    let recorder: &'static UseRecorder<_> = Box::leak(Box::new(recorder));
    // What `lambda_runtime::run_concurrent` builds, with the use recorded once each answer is
    // posted, inside the invocation's span; one invocation at a time, or
    // AWS_LAMBDA_MAX_CONCURRENCY of them at once.
    let runtime = Runtime::new(service_fn(move |event| recorder.function(event)))
        .layer(recorder.record_after_post())
        .layer(TracingLayer::new())
        .run_concurrent();
    tokio::select! {
        biased;
        result = runtime => result,
        result = background => result,
    }
}
