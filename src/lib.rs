//! The API tokens service: `GET /api/v1/organizations/{orgID}/api-tokens` on AWS Lambda.

pub mod admin;
pub mod auth;
pub mod demo;
pub mod dynamo;
pub mod error;
pub mod gateway;
pub mod handler;
pub mod memory;
pub mod page;
pub mod request;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod timestamp;
pub mod token;
pub mod use_recorder;

pub use handler::handle;
