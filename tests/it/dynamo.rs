//! The handler over the real DynamoDB store, against the dynalite that `scripts/test` starts
//! (its address in `AWS_ENDPOINT_URL_DYNAMODB`). Each test uses a table of its own.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use api_tokens::dynamo::DynamoStore;
use api_tokens::store::{TokenRecord, TokenStore};
use api_tokens::token::Token;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{SubsecRound, TimeDelta, Utc};
use uuid::Uuid;

use crate::support::contract::{ContractStore, all_pages, store_contract};
use crate::support::dynalite::*;
use crate::support::fake_dynamo::{FakeDynamo, Reply, error_body, table_at};
use crate::support::*;

impl ContractStore for DynamoStore {
    async fn fresh() -> Self {
        fresh_table().await
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
    let (store, admin, records) = table_with(209).await;
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
    let store = fresh_table().await;
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
    let (store, admin, _) = table_with(0).await;
    let now = Utc::now().trunc_subsecs(0);
    let recent = now - TimeDelta::seconds(10);
    set_last_used_at(&store, ORG_A, admin.id(), recent).await;
    let before = stored_last_used_at(&store, ORG_A, admin.id()).await;
    store
        .record_use(ORG_A, admin.id(), now, now - TimeDelta::seconds(60))
        .await
        .unwrap();
    assert_eq!(stored_last_used_at(&store, ORG_A, admin.id()).await, before);
}

#[tokio::test]
async fn last_used_at_never_recreates_a_revoked_token() {
    let store = fresh_table().await;
    let id = Uuid::now_v7();
    let now = Utc::now();
    store
        .record_use(ORG_A, id, now, now - TimeDelta::seconds(60))
        .await
        .unwrap();
    assert_eq!(store.credential(ORG_A, id).await.unwrap(), None);
}

#[tokio::test]
async fn an_item_missing_a_required_attribute_fails_the_page_with_500() {
    let (store, admin, _) = table_with(2).await;
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
    let (direct, admin, _) = table_with(1).await;
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
async fn a_stalled_last_used_at_write_recorded_before_the_answer_delays_it_by_its_timeout_at_most()
{
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
    // Recorded before the answer here: the write holds it for its own timeout at most.
    let bound = page_alone + api_tokens::store::RECORD_USE_TIMEOUT + Duration::from_millis(300);
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
