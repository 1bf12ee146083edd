//! The handler over the real DynamoDB store, against the dynalite that `scripts/test` starts
//! (its address in `AWS_ENDPOINT_URL_DYNAMODB`). Each test uses a table of its own.

mod common;

use std::collections::HashMap;

use api_tokens::dynamo::{DynamoStore, sdk_config};
use api_tokens::store::{TokenRecord, TokenStore};
use api_tokens::token::Token;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use common::contract::{ContractStore, all_pages, store_contract};
use common::*;
use uuid::Uuid;

async fn client() -> Client {
    assert!(
        std::env::var("AWS_ENDPOINT_URL_DYNAMODB").is_ok(),
        "these tests need a DynamoDB-API server: run them with scripts/test"
    );
    Client::new(&sdk_config().await)
}

/// A new, empty table of the contract.
async fn fresh_store() -> DynamoStore {
    let store = DynamoStore::new(client().await, format!("test_{}", Uuid::now_v7().simple()));
    store.create_table().await.expect("table created");
    store
}

/// A fresh table holding the admin token of ORG_A and `others` more tokens of ORG_A.
async fn store_with(others: u32) -> (DynamoStore, Token, Vec<TokenRecord>) {
    let store = fresh_store().await;
    let (admin, record) = minted(ORG_A, 0, &["admin"]);
    let mut records = vec![record];
    for n in 1..=others {
        records.push(minted(ORG_A, n, &["api_tokens:read"]).1);
    }
    for record in &records {
        assert!(store.insert(record).await.unwrap());
    }
    (store, admin, records)
}

async fn stored_last_used_at(store: &DynamoStore, org: Uuid, id: Uuid) -> Option<String> {
    let output = store
        .client()
        .get_item()
        .table_name(store.table())
        .key("org_id", AttributeValue::S(org.to_string()))
        .key("id", AttributeValue::S(id.to_string()))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    match output.item?.get("last_used_at") {
        Some(AttributeValue::S(at)) => Some(at.clone()),
        _ => None,
    }
}

async fn set_last_used_at(store: &DynamoStore, org: Uuid, id: Uuid, at: DateTime<Utc>) {
    store
        .client()
        .update_item()
        .table_name(store.table())
        .key("org_id", AttributeValue::S(org.to_string()))
        .key("id", AttributeValue::S(id.to_string()))
        .update_expression("SET last_used_at = :at")
        .expression_attribute_values(":at", AttributeValue::S(at.to_rfc3339()))
        .send()
        .await
        .unwrap();
}

impl ContractStore for DynamoStore {
    async fn fresh() -> Self {
        fresh_store().await
    }
    async fn put(&self, record: &TokenRecord) {
        assert!(self.insert(record).await.unwrap(), "a new item");
    }
    async fn last_used_at(&self, org: Uuid, id: Uuid) -> Option<String> {
        stored_last_used_at(self, org, id).await
    }
}

// Paging, authentication and last_used_at as every store must give them: tests/common/contract.rs.
store_contract!(DynamoStore);

#[tokio::test]
async fn paging_over_210_tokens_lists_every_id_once_newest_first() {
    let (store, admin, records) = store_with(209).await;
    for limit in [1, 23, 100] {
        assert_eq!(
            all_pages(&store, &admin, limit).await,
            newest_first(&records),
            "limit {limit}"
        );
    }
}

#[tokio::test]
async fn items_round_trip_through_the_table() {
    let store = fresh_store().await;
    let (token, mut record) = minted(ORG_A, 1, &["admin", "x:y"]);
    record.expires_at = Some("2099-01-01T00:00:00.5Z".parse().unwrap());
    store.insert(&record).await.unwrap();
    let answer = Call::list(ORG_A, &token).send(&store).await;
    let item = &answer.body["items"][0];
    assert_eq!(item["id"], record.id.to_string());
    assert_eq!(item["prefix"], token.prefix());
    assert_eq!(item["scopes"], serde_json::json!(["admin", "x:y"]));
    assert_eq!(
        item["expires_at"], "2099-01-01T00:00:00.5Z",
        "kept as stored"
    );
    assert_eq!(item["created_at"], "2026-04-15T12:00:01Z");
    assert!(!answer.text.contains("secret_hash"));
}

#[tokio::test]
async fn a_racing_write_within_the_minute_is_refused_by_the_condition() {
    let (store, admin, _) = store_with(0).await;
    let now = Utc::now().trunc_subsecs(0);
    let recent = now - TimeDelta::seconds(10);
    set_last_used_at(&store, ORG_A, admin.id(), recent).await;
    let before = stored_last_used_at(&store, ORG_A, admin.id()).await;
    store
        .touch(ORG_A, admin.id(), now, now - TimeDelta::seconds(60))
        .await
        .unwrap();
    assert_eq!(stored_last_used_at(&store, ORG_A, admin.id()).await, before);
}

#[tokio::test]
async fn last_used_at_never_recreates_a_revoked_token() {
    let store = fresh_store().await;
    let id = Uuid::now_v7();
    let now = Utc::now();
    store
        .touch(ORG_A, id, now, now - TimeDelta::seconds(60))
        .await
        .unwrap();
    assert_eq!(store.credential(ORG_A, id).await.unwrap(), None);
}

#[tokio::test]
async fn an_item_missing_a_required_attribute_fails_the_page_with_500() {
    let (store, admin, _) = store_with(2).await;
    let broken = HashMap::from([
        ("org_id".to_owned(), AttributeValue::S(ORG_A.to_string())),
        (
            "id".to_owned(),
            AttributeValue::S(Uuid::now_v7().to_string()),
        ),
        (
            "prefix".to_owned(),
            AttributeValue::S("aet_00000000".into()),
        ),
    ]);
    put_raw(&store, broken).await;
    let answer = Call::list(ORG_A, &admin).send(&store).await;
    assert_eq!(answer.status, 500);
    assert_eq!(answer.error_code(), "internal_error");
    assert!(!answer.text.contains("name"));
}

#[tokio::test]
async fn a_missing_table_is_500() {
    let store = DynamoStore::new(client().await, "no_such_table");
    let (token, _) = minted(ORG_A, 1, &["admin"]);
    let answer = Call::list(ORG_A, &token).send(&store).await;
    assert_eq!(answer.status, 500);
    assert!(!answer.text.contains("no_such_table"));
}

// Network faults (refused, silent, slow, throttling, malformed answers) are in tests/faults.rs.

// The admin CLI against the same server

fn cli(table: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_tokens"))
        .arg("--table")
        .arg(table)
        .args(args)
        .output()
        .expect("the tokens binary runs")
}

#[tokio::test]
async fn a_token_made_by_the_cli_lists_until_it_is_revoked() {
    let store = fresh_store().await;
    let org = ORG_A.to_string();
    let created = cli(
        store.table(),
        &[
            "create",
            "--org",
            &org,
            "--name",
            "ci",
            "--scope",
            "api_tokens:read",
            "--expires-in",
            "30d",
        ],
    );
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let printed = String::from_utf8(created.stdout).unwrap();
    let token = Token::parse(printed.trim()).expect("create prints one token");
    assert_eq!(token.id().get_version_num(), 7);

    let answer = Call::list(ORG_A, &token).send(&store).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body["items"][0]["name"], "ci");
    let expires: DateTime<Utc> = answer.body["items"][0]["expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (expires - Utc::now() - TimeDelta::days(30))
            .num_seconds()
            .abs()
            < 60
    );

    let listed = cli(store.table(), &["list", "--org", &org]);
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed[0]["id"], token.id().to_string());
    assert!(!listed.to_string().contains("secret_hash"));

    let id = token.id().to_string();
    assert!(
        cli(store.table(), &["revoke", "--org", &org, "--id", &id])
            .status
            .success()
    );
    assert_eq!(Call::list(ORG_A, &token).send(&store).await.status, 401);
    assert!(
        !cli(store.table(), &["revoke", "--org", &org, "--id", &id])
            .status
            .success()
    );
}

#[tokio::test]
async fn the_cli_refuses_a_bad_name() {
    let store = fresh_store().await;
    let long = "x".repeat(101);
    for name in ["", long.as_str()] {
        let output = cli(
            store.table(),
            &["create", "--org", &ORG_A.to_string(), "--name", name],
        );
        assert!(!output.status.success());
        assert!(output.stdout.is_empty());
    }
}

#[tokio::test]
async fn seeding_the_demo_twice_changes_nothing() {
    let store = fresh_store().await;
    let first = cli(store.table(), &["seed-demo"]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let demo = api_tokens::demo::admin_token();
    assert!(String::from_utf8_lossy(&first.stdout).contains(demo.expose()));
    let org = api_tokens::demo::DEMO_ORG;
    let once = Call::list(org, &demo).send(&store).await;
    assert!(cli(store.table(), &["seed-demo"]).status.success());
    let twice = Call::list(org, &demo).send(&store).await;
    assert_eq!(once.ids(), twice.ids());
    assert_eq!(once.ids().len(), 6);
}
