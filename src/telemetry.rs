//! Log setup: one line per request, JSON when Lambda asks for it, and no secrets at any level.

use std::io::IsTerminal;
use std::str::FromStr;

use tracing::{Level, Subscriber};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;

/// `level` for this crate, `warn` for every dependency whatever is asked: at debug and trace
/// levels the HTTP and SDK layers log request and response bodies, and a GetItem response
/// carries `secret_hash`.
///
/// A plain target filter rather than an `EnvFilter`: nothing to parse, no regular expressions
/// to compile at start-up.
pub fn filter(level: Level) -> Targets {
    Targets::new()
        .with_default(Level::WARN)
        .with_target("api_tokens", level)
}

/// `AWS_LAMBDA_LOG_LEVEL` (or `RUST_LOG`) as a plain level; `info` when unset or unreadable.
fn level_from_env() -> Level {
    std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|text| match text.trim().to_ascii_lowercase().as_str() {
            "fatal" => Some(Level::ERROR),
            other => Level::from_str(other).ok(),
        })
        .unwrap_or(Level::INFO)
}

/// Installs the global subscriber; JSON lines when `AWS_LAMBDA_LOG_FORMAT=JSON`.
pub fn init() {
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let level = level_from_env();
    // `try_init` fails only when a subscriber is already set, which is fine to keep.
    let _ = if json {
        json_lines(level, std::io::stdout).try_init()
    } else {
        tracing_subscriber::registry()
            .with(filter(level))
            .with(
                tracing_subscriber::fmt::layer()
                    .with_target(false)
                    .with_ansi(std::io::stdout().is_terminal())
                    .without_time(),
            )
            .try_init()
    };
}

/// The JSON log lines of production, one object per line with the fields at the top level (what
/// the template's metric filters read), written to `writer`.
pub fn json_lines<W>(level: Level, writer: W) -> impl Subscriber + Send + Sync + 'static
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::registry().with(filter(level)).with(
        tracing_subscriber::fmt::layer()
            .with_target(false)
            .with_ansi(false)
            .with_writer(writer)
            .json()
            .flatten_event(true),
    )
}
