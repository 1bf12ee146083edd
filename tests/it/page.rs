//! The 200 answer: its items, fields and the reads behind it.

use api_tokens::memory::MemoryStore;
use chrono::DateTime;

use crate::support::*;

#[tokio::test]
async fn items_carry_exactly_the_api_references_fields() {
    let store = MemoryStore::new();
    let (token, mut record) = minted(ORG_A, 1, &["admin", "b:c"]);
    record.expires_at = Some("2099-01-01T00:00:00Z".parse().unwrap());
    record.last_used_at = Some("2026-04-15T12:00:00.250Z".parse().unwrap());
    store.insert(record.clone());
    let answer = Call::list(ORG_A, &token).send(&store).await;
    let item = &answer.body["items"][0];
    let order = [
        "id",
        "org_id",
        "name",
        "prefix",
        "scopes",
        "last_used_at",
        "expires_at",
        "created_at",
    ];
    assert_eq!(item.as_object().unwrap().len(), order.len());
    let positions: Vec<usize> = order
        .iter()
        .map(|key| answer.text.find(&format!("\"{key}\":")).unwrap())
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "fields out of the API reference's order"
    );
    assert_eq!(item["id"], record.id.to_string());
    assert_eq!(item["name"], "token-1");
    assert_eq!(item["prefix"], token.prefix());
    assert_eq!(item["scopes"], serde_json::json!(["admin", "b:c"]));
    assert_eq!(item["expires_at"], "2099-01-01T00:00:00Z");
    assert_eq!(item["created_at"], "2026-04-15T12:00:01Z");
    assert!(answer.text.starts_with("{\"items\":[") && answer.text.contains("],\"next_cursor\":"));
    assert_eq!(answer.body.as_object().unwrap().len(), 2);
}

#[tokio::test]
async fn absent_timestamps_are_null() {
    let store = MemoryStore::new();
    let (reader, _) = with_token(&store, ORG_A, 2, &["admin"]);
    with_token(&store, ORG_A, 1, &[]);
    let answer = Call::list(ORG_A, &reader).send(&store).await;
    let older = &answer.body["items"][1];
    assert!(older["last_used_at"].is_null());
    assert!(older["expires_at"].is_null());
}

#[tokio::test]
async fn timestamps_are_rfc3339_utc_with_z() {
    let (store, admin, _) = store_with(3);
    let answer = Call::list(ORG_A, &admin).send(&store).await;
    for item in answer.body["items"].as_array().unwrap() {
        for field in ["created_at", "last_used_at", "expires_at"] {
            if let Some(text) = item[field].as_str() {
                assert!(text.ends_with('Z'), "{text}");
                DateTime::parse_from_rfc3339(text).unwrap();
            }
        }
    }
}

#[tokio::test]
async fn a_page_makes_one_credential_read_and_one_page_read() {
    let (store, admin, _) = store_with(3);
    Call::list(ORG_A, &admin).send(&store).await;
    assert_eq!(store.calls(), (1, 1, 1));
}
