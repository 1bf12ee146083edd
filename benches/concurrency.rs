//! Invocations per second of one `api-tokens` process, sequential (classic Lambda) against
//! `AWS_LAMBDA_MAX_CONCURRENCY=8` (Lambda Managed Instances), over a fake DynamoDB that answers
//! every call after a fixed 5 ms. The process's cold start in each mode is printed beside.
//! `scripts/bench` runs it; `cargo bench --bench concurrency` alone works too.

// A benchmark fails loudly on a broken fixture; that is what unwrap and expect are for here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

// The integration tests' fake DynamoDB and Runtime-API emulator, of which this uses a part.
#[allow(dead_code)]
#[path = "../tests/it/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use support::fake_dynamo::{FakeDynamo, Reply, admin};
use support::runtime_api::RuntimeApi;
use support::{Call, ORG_A};

const LATENCY: Duration = Duration::from_millis(5);
/// Invocations per mode under `cargo bench`; `cargo test --all-targets`, which runs this without
/// `--bench`, only checks that both modes answer, with a few.
const INVOCATIONS: usize = 2000;
const SMOKE_INVOCATIONS: usize = 20;

struct Figures {
    cold_start: Duration,
    per_second: f64,
}

/// One process, `INVOCATIONS` events, every store call taking `LATENCY`.
async fn measure(concurrency: Option<&str>, dynamo: &FakeDynamo, invocations: usize) -> Figures {
    let event = Call::list(ORG_A, &admin().0).http_api_event();
    let events = (0..invocations)
        .map(|n| (format!("invocation-{n}"), event.clone()))
        .collect();
    let mut api = RuntimeApi::start(events, 1).await;
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_api-tokens"));
    command
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", &api.address)
        .env("AWS_LAMBDA_FUNCTION_NAME", "api-tokens")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "2048")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_ACCESS_KEY_ID", "bench")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env(
            "AWS_ENDPOINT_URL_DYNAMODB",
            format!("http://{}", dynamo.address),
        )
        .env("AWS_LAMBDA_LOG_LEVEL", "warn")
        .kill_on_drop(true);
    if let Some(value) = concurrency {
        command.env("AWS_LAMBDA_MAX_CONCURRENCY", value);
    }
    let started = Instant::now();
    let mut child = command.spawn().unwrap();
    api.answers(1).await;
    let first = Instant::now();
    let answers = api.answers(invocations).await;
    let elapsed = first.elapsed();
    child.kill().await.unwrap();
    assert!(answers.values().all(|a| a.body["statusCode"] == 200));
    Figures {
        cold_start: first - started,
        per_second: (invocations - 1) as f64 / elapsed.as_secs_f64(),
    }
}

#[tokio::main]
async fn main() {
    let benchmark = std::env::args().any(|arg| arg == "--bench");
    let invocations = if benchmark {
        INVOCATIONS
    } else {
        SMOKE_INVOCATIONS
    };
    let dynamo = FakeDynamo::start(|_, _| Reply::Slow(LATENCY)).await;
    let sequential = measure(None, &dynamo, invocations).await;
    let concurrent = measure(Some("8"), &dynamo, invocations).await;
    if !benchmark {
        println!(
            "concurrency: both modes answered {invocations} invocations (figures: cargo bench)"
        );
        return;
    }
    println!(
        "concurrency, {invocations} invocations, {} ms per DynamoDB call:",
        LATENCY.as_millis()
    );
    for (mode, figures) in [
        ("sequential (classic)", &sequential),
        ("AWS_LAMBDA_MAX_CONCURRENCY=8", &concurrent),
    ] {
        println!(
            "  {mode:<30} {:>7.0} invocations/s, cold start {:>6.1} ms",
            figures.per_second,
            figures.cold_start.as_secs_f64() * 1000.0
        );
    }
    println!(
        "  ratio: {:.1}x (target: at least 6x)",
        concurrent.per_second / sequential.per_second
    );
}
