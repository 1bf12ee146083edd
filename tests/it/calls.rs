//! DynamoDB work per request, counted at a fake DynamoDB behind the production store: one GetItem
//! and one Query for a page, at most one UpdateItem per token per minute, nothing for a token that
//! fails its shape or checksum.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::support::fake_dynamo::*;
use crate::support::*;

/// A fake that keeps the admin token's `last_used_at` as UpdateItem writes it.
async fn remembering() -> FakeDynamo {
    let last_used: Arc<Mutex<Option<DateTime<Utc>>>> = Arc::default();
    FakeDynamo::start(move |_, operation| match operation {
        "GetItem" => {
            let mut record = admin().1;
            record.last_used_at = last_used.lock().unwrap().map(Into::into);
            Reply::Raw(200, json!({ "Item": item(&record) }).to_string())
        }
        "UpdateItem" => {
            *last_used.lock().unwrap() = Some(Utc::now());
            Reply::Healthy
        }
        _ => Reply::Healthy,
    })
    .await
}

#[tokio::test]
async fn a_page_costs_one_get_item_and_one_query() {
    let fake = remembering().await;
    let store = store_at(&fake.address).await;
    let answer = Call::list(ORG_A, &admin().0).send(&store).await;
    assert_eq!(answer.status, 200);
    assert_eq!(fake.count("GetItem"), 1);
    assert_eq!(fake.count("Query"), 1);
    assert_eq!(fake.count("UpdateItem"), 1, "the first use is recorded");
    assert_eq!(fake.requests(), 3);
}

#[tokio::test]
async fn more_pages_within_a_minute_write_last_used_at_once() {
    let fake = remembering().await;
    let store = store_at(&fake.address).await;
    for _ in 0..5 {
        assert_eq!(Call::list(ORG_A, &admin().0).send(&store).await.status, 200);
    }
    assert_eq!(fake.count("GetItem"), 5);
    assert_eq!(fake.count("Query"), 5);
    assert_eq!(fake.count("UpdateItem"), 1);
}

#[tokio::test]
async fn a_token_failing_its_shape_or_checksum_costs_nothing() {
    let fake = remembering().await;
    let store = store_at(&fake.address).await;
    let token = admin().0;
    let bad_checksum = with_bad_checksum(&token);
    for value in [
        format!("Bearer {bad_checksum}"),
        format!("Bearer {}", &token.expose()[..74]),
        "Bearer aet_short".to_owned(),
        format!("Basic {}", token.expose()),
    ] {
        let answer = Call::get(tokens_path(ORG_A))
            .header("authorization", &value)
            .send(&store)
            .await;
        assert_eq!(answer.status, 401);
    }
    assert_eq!(Call::get(tokens_path(ORG_A)).send(&store).await.status, 401);
    assert_eq!(fake.requests(), 0);
}

#[tokio::test]
async fn a_token_not_found_costs_one_get_item() {
    let fake = FakeDynamo::start(|_, _| Reply::Raw(200, "{}".into())).await;
    let store = store_at(&fake.address).await;
    assert_eq!(Call::list(ORG_A, &admin().0).send(&store).await.status, 401);
    assert_eq!(fake.requests(), 1);
    assert_eq!(fake.count("GetItem"), 1);
}

#[tokio::test]
async fn bad_query_parameters_after_authentication_cost_no_query() {
    let fake = remembering().await;
    let store = store_at(&fake.address).await;
    let answer = Call::list(ORG_A, &admin().0)
        .query("limit", "0")
        .send(&store)
        .await;
    assert_eq!(answer.status, 400);
    assert_eq!(fake.count("GetItem"), 1);
    assert_eq!(fake.count("Query"), 0);
}
