//! No log line, at the most verbose level the function can be set to, carries a token, a
//! `secret_hash` or an Authorization header; no response body names `secret_hash`. One scenario
//! walks every path of the integration tests against dynalite while every log line is captured.
// A test fails loudly on what it did not expect; that is what unwrap and expect are for here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

// The integration tests' support, of which this test uses only a part.
#[allow(dead_code)]
#[path = "it/support/mod.rs"]
mod support;

use std::collections::HashMap;

use api_tokens::dynamo::DynamoStore;
use api_tokens::gateway::function;
use api_tokens::startup::sdk_config;
use api_tokens::store::{TokenRecord, TokenStore};
use api_tokens::token::Token;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{TimeDelta, Utc};
use lambda_http::{Context, LambdaEvent};
use support::logs::Captured;
use support::*;
use tracing::Level;
use tracing_subscriber::prelude::*;
use uuid::Uuid;

async fn insert(store: &DynamoStore, record: &TokenRecord) {
    assert!(store.insert(record).await.unwrap());
}

fn s(text: impl Into<String>) -> AttributeValue {
    AttributeValue::S(text.into())
}

#[tokio::test]
async fn no_log_line_carries_a_secret_at_trace_level() {
    let logs = Captured::default();
    let writer = logs.clone();
    tracing_subscriber::registry()
        .with(api_tokens::telemetry::filter(Level::TRACE))
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(move || writer.clone())
                .json(),
        )
        .init();

    let client = Client::new(&sdk_config().await);
    let store = DynamoStore::new(client, format!("secrets_{}", Uuid::now_v7().simple()));
    store.create_table().await.unwrap();

    let mut secrets: Vec<String> = Vec::new();
    let mut mint = |org, n, scopes: &[&str]| {
        let (token, record) = minted(org, n, scopes);
        secrets.push(token.expose().to_owned());
        secrets.push(record.secret_hash.clone());
        (token, record)
    };
    let (admin, admin_record) = mint(ORG_A, 0, &["admin"]);
    let (billing, billing_record) = mint(ORG_A, 1, &["billing:read"]);
    let (expired, mut expired_record) = mint(ORG_A, 2, &["api_tokens:read"]);
    expired_record.expires_at = Some((Utc::now() - TimeDelta::hours(1)).into());
    let (other, other_record) = mint(ORG_B, 3, &["admin"]);
    let (odd_hash, odd_hash_record) = mint(ORG_A, 4, &["admin"]);
    for record in [
        &admin_record,
        &billing_record,
        &expired_record,
        &other_record,
    ] {
        insert(&store, record).await;
    }
    // A credential item whose secret_hash has the wrong type, so its decoding fails.
    put_raw(
        &store,
        HashMap::from([
            ("org_id".to_owned(), s(ORG_A.to_string())),
            ("id".to_owned(), s(odd_hash.id().to_string())),
            ("name".to_owned(), s("odd")),
            ("prefix".to_owned(), s(odd_hash.prefix())),
            ("scopes".to_owned(), AttributeValue::L(vec![s("admin")])),
            ("created_at".to_owned(), s("2026-04-15T12:00:00Z")),
            (
                "secret_hash".to_owned(),
                AttributeValue::Ss(vec![odd_hash_record.secret_hash.clone()]),
            ),
        ]),
    )
    .await;
    let forged = Token::assemble(admin.id(), &[1u8; 32]);
    secrets.push(forged.expose().to_owned());
    let bad_checksum = with_bad_checksum(&admin);
    secrets.push(bad_checksum.clone());

    let calls = vec![
        Call::list(ORG_A, &admin),
        Call::list(ORG_A, &admin).query("limit", "1"),
        Call::list(ORG_A, &admin)
            .query("limit", "0")
            .query("cursor", "x"),
        Call::list(ORG_A, &billing),
        Call::list(ORG_A, &expired),
        Call::list(ORG_A, &other),
        Call::list(ORG_B, &admin),
        Call::list(ORG_A, &forged),
        Call::list(ORG_A, &odd_hash),
        Call::list(ORG_A, &admin).bearer(&other),
        Call::get(tokens_path(ORG_A)).header("authorization", &format!("Bearer {bad_checksum}")),
        Call::get(tokens_path(ORG_A)).header("authorization", &format!("Basic {}", admin.expose())),
        Call::get(tokens_path("nope")).bearer(&admin),
        Call::get("/elsewhere").bearer(&admin),
        Call::list(ORG_A, &admin).method("POST"),
    ];
    let mut bodies = Vec::new();
    for call in &calls {
        for event in [call.http_api_event(), call.rest_api_event("prod")] {
            let response = function(&store, LambdaEvent::new(event, Context::default()))
                .await
                .unwrap();
            bodies.push(serde_json::to_string(&response).unwrap());
        }
    }
    // A malformed listed item fails the page, and its error is logged.
    put_raw(
        &store,
        HashMap::from([
            ("org_id".to_owned(), s(ORG_A.to_string())),
            ("id".to_owned(), s(Uuid::now_v7().to_string())),
            (
                "secret_hash".to_owned(),
                s(admin_record.secret_hash.clone()),
            ),
        ]),
    )
    .await;
    bodies.push(format!(
        "{:?}",
        Call::list(ORG_A, &admin).send(&store).await.text
    ));
    // An unreachable store logs its failure.
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk_config().await)
        .endpoint_url("http://127.0.0.1:9")
        .build();
    let gone = DynamoStore::new(Client::from_conf(config), "api_tokens");
    assert_eq!(Call::list(ORG_A, &admin).send(&gone).await.status, 503);
    assert!(gone.credential(ORG_A, admin.id()).await.is_err());

    let text = logs.text();
    let lines = text.lines().count();
    assert!(
        text.matches("\"request\"").count() >= calls.len() * 2,
        "the capture missed request lines: {text}"
    );
    assert!(
        text.contains("\"store_error\""),
        "failures were not logged: {text}"
    );
    for secret in &secrets {
        assert!(
            !text.contains(secret.as_str()),
            "a log line carries a secret"
        );
        for body in &bodies {
            assert!(
                !body.contains(secret.as_str()),
                "a response carries a secret: {body}"
            );
        }
    }
    for forbidden in ["aet_", "Bearer", "secret_hash\":", "authorization"] {
        assert!(
            !text.contains(forbidden),
            "a log line carries {forbidden}: {text}"
        );
    }
    for body in &bodies {
        assert!(!body.contains("secret_hash"), "{body}");
    }
    println!("{lines} log lines checked");
}
