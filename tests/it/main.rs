//! The integration tests, one binary: a module per area, mirroring `src/`. Those that need
//! DynamoDB use the dynalite that `scripts/test` starts. (`tests/secrets.rs` stays apart: it
//! installs a global log subscriber.)
// A test fails loudly on what it did not expect; that is what unwrap and expect are for here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin;
mod after_answer;
mod auth;
mod calls;
mod concurrency;
mod dynamo;
mod events;
mod faults;
mod gateway;
mod handler;
mod isolation;
mod logs;
mod memory;
mod page;
mod properties;
mod request;
mod support;
