//! The DynamoDB-API server that `scripts/test` starts (its address in
//! `AWS_ENDPOINT_URL_DYNAMODB`): fresh tables of the contract, and what is stored in them.

use api_tokens::dynamo::DynamoStore;
use api_tokens::startup::sdk_config;
use api_tokens::store::TokenRecord;
use api_tokens::token::Token;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{ORG_A, minted};

pub async fn client() -> Client {
    assert!(
        std::env::var("AWS_ENDPOINT_URL_DYNAMODB").is_ok(),
        "these tests need a DynamoDB-API server: run them with scripts/test"
    );
    Client::new(&sdk_config().await)
}

/// A new, empty table of the contract.
pub async fn fresh_table() -> DynamoStore {
    let store = DynamoStore::new(client().await, format!("test_{}", Uuid::now_v7().simple()));
    store.create_table().await.expect("table created");
    store
}

/// A fresh table holding the admin token of ORG_A and `others` more tokens of ORG_A.
pub async fn table_with(others: u32) -> (DynamoStore, Token, Vec<TokenRecord>) {
    let store = fresh_table().await;
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

pub async fn stored_last_used_at(store: &DynamoStore, org: Uuid, id: Uuid) -> Option<String> {
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

pub async fn set_last_used_at(store: &DynamoStore, org: Uuid, id: Uuid, at: DateTime<Utc>) {
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
