//! The handler over the real DynamoDB store, against the dynalite that `scripts/test` starts
//! (its address in `AWS_ENDPOINT_URL_DYNAMODB`). Each test uses a table of its own.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use api_tokens::dynamo::{DynamoStore, sdk_config};
use api_tokens::store::{TokenRecord, TokenStore};
use api_tokens::token::Token;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use common::contract::{ContractStore, all_pages, store_contract};
use common::fake_dynamo::{FakeDynamo, Reply, error_body, table_at};
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

// One operation stalled or failed by a proxy in front of the real server. (Every other network
// fault, against a scripted fake: tests/faults.rs.)

/// A fresh table with the admin token and one more, reached directly and through a proxy that
/// answers `operation` (when given) with `reply` and passes everything else on to the server.
struct Proxied {
    direct: DynamoStore,
    store: DynamoStore,
    proxy: FakeDynamo,
    admin: Token,
}

async fn behind_a_proxy(operation: Option<&'static str>, reply: Reply) -> Proxied {
    let (direct, admin, _) = store_with(1).await;
    let upstream = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap();
    let upstream = upstream.trim_start_matches("http://").to_owned();
    let proxy = FakeDynamo::start(move |_, op| {
        if Some(op) == operation {
            reply.clone()
        } else {
            Reply::Forward(upstream.clone())
        }
    })
    .await;
    let store = table_at(&proxy.address, direct.table()).await;
    Proxied {
        direct,
        store,
        proxy,
        admin,
    }
}

#[tokio::test]
async fn through_the_proxy_alone_pages_are_served_and_last_used_at_recorded() {
    let Proxied {
        direct,
        store,
        proxy,
        admin,
    } = behind_a_proxy(None, Reply::Silent).await;
    assert_eq!(Call::list(ORG_A, &admin).send(&store).await.status, 200);
    assert_eq!(proxy.count("UpdateItem"), 1);
    assert!(
        stored_last_used_at(&direct, ORG_A, admin.id())
            .await
            .is_some()
    );
}

#[tokio::test]
async fn a_stalled_last_used_at_write_delays_the_page_by_at_most_the_grace() {
    let Proxied {
        direct,
        store,
        admin,
        proxy: _proxy,
    } = behind_a_proxy(Some("UpdateItem"), Reply::Silent).await;
    // The page's own latency: the same request while last_used_at is recent, so not written.
    let now = Utc::now().trunc_subsecs(0);
    set_last_used_at(&direct, ORG_A, admin.id(), now).await;
    let started = Instant::now();
    assert_eq!(Call::list(ORG_A, &admin).send(&store).await.status, 200);
    let page_alone = started.elapsed();
    set_last_used_at(&direct, ORG_A, admin.id(), now - TimeDelta::hours(1)).await;
    let started = Instant::now();
    let answer = Call::list(ORG_A, &admin).send(&store).await;
    let took = started.elapsed();
    assert_eq!(answer.status, 200);
    let bound = page_alone + api_tokens::TOUCH_GRACE + Duration::from_millis(300);
    assert!(took < bound, "{took:?}, the page alone {page_alone:?}");
}

#[tokio::test]
async fn a_failing_last_used_at_write_still_serves_the_page() {
    let throttled = error_body("com.amazon.coral.availability#ThrottlingException");
    // The proxy is bound, not dropped: dropping it stops it.
    let Proxied {
        store,
        admin,
        proxy: _proxy,
        ..
    } = behind_a_proxy(Some("UpdateItem"), throttled).await;
    let answer = Call::list(ORG_A, &admin).send(&store).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.ids().len(), 2);
}

#[tokio::test]
async fn a_stalled_page_read_is_503_within_three_seconds() {
    // The proxy is bound, not dropped: dropping it stops it.
    let Proxied {
        store,
        admin,
        proxy: _proxy,
        ..
    } = behind_a_proxy(Some("Query"), Reply::Silent).await;
    let started = Instant::now();
    let answer = Call::list(ORG_A, &admin).send(&store).await;
    assert_eq!(answer.status, 503);
    assert!(started.elapsed() < Duration::from_secs(3));
}

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
            &[
                "create",
                "--org",
                &ORG_A.to_string(),
                "--name",
                name,
                "--scope",
                "admin",
                "--no-expiry",
            ],
        );
        assert!(!output.status.success());
        assert!(output.stdout.is_empty());
        assert!(String::from_utf8_lossy(&output.stderr).contains("--name"));
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

/// `tokens create` in ORG_A with these arguments besides `--org` and `--name`.
fn create(table: &str, args: &[&str]) -> std::process::Output {
    let org = ORG_A.to_string();
    let mut all = vec!["create", "--org", &org, "--name", "t"];
    all.extend_from_slice(args);
    cli(table, &all)
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn the_cli_requires_an_expiry_or_an_explicit_no_expiry() {
    let store = fresh_store().await;
    let neither = create(store.table(), &["--scope", "admin"]);
    assert!(!neither.status.success());
    assert!(
        stderr(&neither).contains("--expires-in"),
        "{}",
        stderr(&neither)
    );
    assert!(neither.stdout.is_empty());
    let both = create(
        store.table(),
        &["--scope", "admin", "--expires-in", "1d", "--no-expiry"],
    );
    assert!(!both.status.success());
    let never = create(store.table(), &["--scope", "admin", "--no-expiry"]);
    assert!(never.status.success(), "{}", stderr(&never));
    let token = Token::parse(String::from_utf8_lossy(&never.stdout).trim()).unwrap();
    let answer = Call::list(ORG_A, &token).send(&store).await;
    assert_eq!(
        answer.body["items"][0]["expires_at"],
        serde_json::Value::Null
    );
}

#[tokio::test]
async fn the_cli_refuses_a_token_without_a_scope_or_with_a_badly_formed_one() {
    let store = fresh_store().await;
    for args in [
        vec!["--no-expiry"],
        vec!["--no-expiry", "--scope", "Admin"],
        vec!["--no-expiry", "--scope", "api tokens:read"],
        vec!["--no-expiry", "--scope", "admin", "--scope", "a:b:c"],
    ] {
        let output = create(store.table(), &args);
        assert!(!output.status.success(), "{args:?}");
        assert!(stderr(&output).contains("--scope"), "{}", stderr(&output));
        assert!(output.stdout.is_empty());
    }
    assert!(
        cli(store.table(), &["list", "--org", &ORG_A.to_string()])
            .stdout
            .starts_with(b"[]")
    );
}

#[tokio::test]
async fn the_cli_warns_about_a_scope_this_service_does_not_know() {
    let store = fresh_store().await;
    let output = create(
        store.table(),
        &[
            "--no-expiry",
            "--scope",
            "api_tokens:read",
            "--scope",
            "billing:read",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let warnings = stderr(&output);
    assert!(
        warnings.contains("warning") && warnings.contains("billing:read"),
        "{warnings}"
    );
    assert!(!warnings.contains("api_tokens:read;"), "{warnings}");
}

#[test]
fn seeding_the_demo_is_refused_unless_the_endpoint_is_loopback() {
    for (name, url) in [
        (
            "AWS_ENDPOINT_URL_DYNAMODB",
            "https://dynamodb.us-east-1.amazonaws.com",
        ),
        ("AWS_ENDPOINT_URL", "https://dynamodb.example.invalid"),
    ] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_tokens"))
            .arg("seed-demo")
            .env_remove("AWS_ENDPOINT_URL_DYNAMODB")
            .env_remove("AWS_ENDPOINT_URL")
            .env(name, url)
            .output()
            .expect("the tokens binary runs");
        assert!(!output.status.success(), "{url}");
        assert!(output.stdout.is_empty(), "{url}");
        let message = stderr(&output);
        assert!(
            message.contains("loopback") && message.contains(url),
            "{message}"
        );
    }
}

#[test]
fn seeding_the_demo_without_any_endpoint_is_refused_as_aws() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tokens"))
        .arg("seed-demo")
        .env_remove("AWS_ENDPOINT_URL_DYNAMODB")
        .env_remove("AWS_ENDPOINT_URL")
        .output()
        .expect("the tokens binary runs");
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("would go to AWS"),
        "{}",
        stderr(&output)
    );
}
