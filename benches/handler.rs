//! Per-request CPU work: token verification, request parsing, DynamoDB items to JSON, and the
//! whole handler for a 100-item page over the in-memory store. `scripts/bench` runs it.
// A benchmark fails loudly on a broken fixture; that is what unwrap and expect are for here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::hint::black_box;

use api_tokens::auth::bearer_token;
use api_tokens::demo::DEMO_ORG;
use api_tokens::dynamo::summary;
use api_tokens::gateway::function;
use api_tokens::memory::MemoryStore;
use api_tokens::page::Page;
use api_tokens::request::{match_route, parse_org, parse_query};
use api_tokens::store::TokenRecord;
use api_tokens::token::Token;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{TimeDelta, TimeZone, Utc};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use lambda_http::http::HeaderMap;
use lambda_http::{Context, LambdaEvent};
use serde_json::{Value, json};
use uuid::Uuid;

/// 150 tokens of the demo org, the first an admin; returns the admin token.
fn store() -> (MemoryStore, Token, Vec<TokenRecord>) {
    let store = MemoryStore::new();
    let mut records = Vec::new();
    let mut admin = None;
    for n in 0..150u32 {
        let created_at =
            Utc.with_ymd_and_hms(2026, 4, 15, 12, 0, 0).unwrap() + TimeDelta::minutes(n.into());
        let millis = created_at.timestamp_millis() as u64;
        let id = uuid::Builder::from_unix_timestamp_millis(millis, &[n as u8; 10]).into_uuid();
        let token = Token::assemble(id, &[n as u8; 32]);
        let record = TokenRecord {
            org_id: DEMO_ORG,
            id,
            name: format!("token number {n}"),
            prefix: token.prefix().to_owned(),
            scopes: vec!["api_tokens:read".into(), "metrics:read".into()],
            secret_hash: token.secret_hash(),
            created_at: created_at.into(),
            expires_at: Some((created_at + TimeDelta::days(365)).into()),
            last_used_at: (n % 2 == 0).then_some(created_at.into()),
        };
        if n == 0 {
            admin = Some(token);
        }
        records.push(record.clone());
        store.insert(record);
    }
    (store, admin.unwrap(), records)
}

fn event(token: &Token, query: &str) -> Value {
    let path = format!("/api/v1/organizations/{DEMO_ORG}/api-tokens");
    json!({
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query,
        "headers": { "authorization": format!("Bearer {}", token.expose()), "host": "api.example.test" },
        "requestContext": {
            "accountId": "1", "apiId": "a", "domainName": "api.example.test", "domainPrefix": "api",
            "http": { "method": "GET", "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.1", "userAgent": "bench" },
            "requestId": "r", "routeKey": "$default", "stage": "$default", "time": "", "timeEpoch": 0
        },
        "isBase64Encoded": false
    })
}

fn dynamo_item(record: &TokenRecord) -> HashMap<String, AttributeValue> {
    let s = |v: String| AttributeValue::S(v);
    let mut item = HashMap::from([
        ("org_id".to_owned(), s(record.org_id.to_string())),
        ("id".to_owned(), s(record.id.to_string())),
        ("name".to_owned(), s(record.name.clone())),
        ("prefix".to_owned(), s(record.prefix.clone())),
        (
            "scopes".to_owned(),
            AttributeValue::L(record.scopes.iter().cloned().map(s).collect()),
        ),
        ("created_at".to_owned(), s(record.created_at.to_string())),
    ]);
    if let Some(at) = &record.expires_at {
        item.insert("expires_at".to_owned(), s(at.to_string()));
    }
    if let Some(at) = &record.last_used_at {
        item.insert("last_used_at".to_owned(), s(at.to_string()));
    }
    item
}

fn benches(c: &mut Criterion) {
    let (store, admin, records) = store();
    let stored_hash = records[0].secret_hash.clone();

    c.bench_function("token: parse and checksum", |b| {
        b.iter(|| Token::parse(black_box(admin.expose())))
    });
    c.bench_function(
        "token: parse, checksum, SHA-256, constant-time compare",
        |b| {
            b.iter(|| {
                Token::parse(black_box(admin.expose())).map(|t| t.matches(black_box(&stored_hash)))
            })
        },
    );

    let mut headers = HeaderMap::new();
    headers.insert(
        "authorization",
        format!("Bearer {}", admin.expose()).parse().unwrap(),
    );
    let path = format!("/api/v1/organizations/{DEMO_ORG}/api-tokens");
    let cursor = records[120].id.to_string().to_uppercase();
    let query = format!("limit=100&cursor={cursor}");
    c.bench_function("request: route, orgID, cursor, limit, bearer token", |b| {
        b.iter(|| {
            let segment = match_route(black_box(&path), Some("$default")).unwrap();
            let org = parse_org(segment).unwrap();
            let list = parse_query(Some(black_box(&query))).unwrap();
            let token = bearer_token(black_box(&headers)).unwrap();
            (org, list, token)
        })
    });

    let items: Vec<_> = records.iter().rev().take(101).map(dynamo_item).collect();
    c.bench_function(
        "page: 101 DynamoDB items to the JSON of a 100-item page",
        |b| {
            b.iter_batched(
                || items.clone(),
                |items| {
                    let summaries: Vec<_> =
                        items.into_iter().map(|i| summary(i).unwrap()).collect();
                    serde_json::to_string(&Page::from_lookahead(summaries, 100)).unwrap()
                },
                BatchSize::SmallInput,
            )
        },
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let page = event(&admin, "limit=100");
    // Warm: the first call records last_used_at, as one call a minute would.
    runtime
        .block_on(function(
            &store,
            LambdaEvent::new(page.clone(), Context::default()),
        ))
        .unwrap();
    c.bench_function(
        "handler: event to response, 100-item page, in-memory store",
        |b| {
            b.iter_batched(
                || LambdaEvent::new(page.clone(), Context::default()),
                |event| runtime.block_on(function(&store, event)).unwrap(),
                BatchSize::SmallInput,
            )
        },
    );
    let request = || lambda_http::request::from_str(&page.to_string()).unwrap();
    c.bench_function("handler: request to response only, 100-item page", |b| {
        b.iter_batched(
            request,
            |request| runtime.block_on(api_tokens::handle(&store, request)),
            BatchSize::SmallInput,
        )
    });
    let _ = Uuid::nil();
}

criterion_group!(name = all; config = Criterion::default().sample_size(50); targets = benches);
criterion_main!(all);
