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

/// Every page from the first, at `limit`; fails on an empty page.
async fn all_pages(store: &DynamoStore, token: &Token, limit: usize) -> Vec<String> {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut call = Call::list(ORG_A, token).query("limit", &limit.to_string());
        if let Some(c) = &cursor {
            call = call.query("cursor", c);
        }
        let answer = call.send(store).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        assert!(
            !answer.ids().is_empty(),
            "an empty page after {} items",
            seen.len()
        );
        assert!(answer.ids().len() <= limit);
        seen.extend(answer.ids());
        cursor = answer.next_cursor();
        if cursor.is_none() {
            return seen;
        }
    }
}

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
async fn an_exact_multiple_of_the_limit_ends_without_an_empty_page() {
    let (store, admin, records) = store_with(19).await;
    let ids = all_pages(&store, &admin, 10).await;
    assert_eq!(ids, newest_first(&records));
    let ids = all_pages(&store, &admin, 20).await;
    assert_eq!(ids.len(), 20);
}

#[tokio::test]
async fn the_default_page_is_fifty_items() {
    let (store, admin, _) = store_with(59).await;
    let answer = Call::list(ORG_A, &admin).send(&store).await;
    assert_eq!(answer.ids().len(), 50);
    assert!(answer.next_cursor().is_some());
}

#[tokio::test]
async fn a_cursor_that_matches_no_item_is_a_position() {
    let (store, admin, records) = store_with(5).await;
    let ids = newest_first(&records);
    let between = Uuid::parse_str(&ids[2]).unwrap().as_u128() + 1;
    let answer = Call::list(ORG_A, &admin)
        .query("cursor", &Uuid::from_u128(between).to_string())
        .send(&store)
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.ids(), ids[2..].to_vec());
}

#[tokio::test]
async fn a_cursor_from_another_org_only_positions_within_the_paths_org() {
    let (store, admin, records) = store_with(3).await;
    let (_, other) = minted(ORG_B, 2, &["admin"]);
    store.insert(&other).await.unwrap();
    let answer = Call::list(ORG_A, &admin)
        .query("cursor", &other.id.to_string())
        .send(&store)
        .await;
    assert_eq!(answer.status, 200);
    let org_a: Vec<String> = newest_first(&records);
    assert!(answer.ids().iter().all(|id| org_a.contains(id)));
    assert!(!answer.text.contains(&ORG_B.to_string()));
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
async fn an_expired_token_is_401() {
    let store = fresh_store().await;
    let (token, mut record) = minted(ORG_A, 1, &["admin"]);
    record.expires_at = Some((Utc::now() - TimeDelta::seconds(5)).into());
    store.insert(&record).await.unwrap();
    let answer = Call::list(ORG_A, &token).send(&store).await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.error_code(), "invalid_credentials");
}

#[tokio::test]
async fn a_token_of_org_a_is_not_found_on_org_b() {
    let (store, admin, _) = store_with(1).await;
    store.insert(&minted(ORG_B, 1, &["admin"]).1).await.unwrap();
    let answer = Call::list(ORG_B, &admin).send(&store).await;
    assert_eq!(answer.status, 401);
}

#[tokio::test]
async fn a_missing_scope_is_403() {
    let store = fresh_store().await;
    let (token, record) = minted(ORG_A, 1, &["billing:read"]);
    store.insert(&record).await.unwrap();
    assert_eq!(Call::list(ORG_A, &token).send(&store).await.status, 403);
}

#[tokio::test]
async fn last_used_at_is_written_on_first_use() {
    let (store, admin, _) = store_with(0).await;
    assert_eq!(stored_last_used_at(&store, ORG_A, admin.id()).await, None);
    let before = Utc::now().trunc_subsecs(0);
    assert_eq!(Call::list(ORG_A, &admin).send(&store).await.status, 200);
    let written = stored_last_used_at(&store, ORG_A, admin.id())
        .await
        .expect("written");
    let written: DateTime<Utc> = written.parse().unwrap();
    assert!(written >= before && written <= Utc::now());
}

#[tokio::test]
async fn last_used_at_is_not_rewritten_within_a_minute() {
    let (store, admin, _) = store_with(0).await;
    let recent = (Utc::now() - TimeDelta::seconds(30)).trunc_subsecs(0);
    set_last_used_at(&store, ORG_A, admin.id(), recent).await;
    let before = stored_last_used_at(&store, ORG_A, admin.id()).await;
    assert_eq!(Call::list(ORG_A, &admin).send(&store).await.status, 200);
    assert_eq!(stored_last_used_at(&store, ORG_A, admin.id()).await, before);
}

#[tokio::test]
async fn last_used_at_is_rewritten_after_a_minute() {
    let (store, admin, _) = store_with(0).await;
    let old = (Utc::now() - TimeDelta::seconds(61)).trunc_subsecs(0);
    set_last_used_at(&store, ORG_A, admin.id(), old).await;
    assert_eq!(Call::list(ORG_A, &admin).send(&store).await.status, 200);
    let written: DateTime<Utc> = stored_last_used_at(&store, ORG_A, admin.id())
        .await
        .unwrap()
        .parse()
        .unwrap();
    assert!(written > old);
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
