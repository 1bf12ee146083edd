//! Builders shared by the tests: API Gateway events, tokens, and the answers they get.

pub mod contract;
pub mod dynalite;
pub mod fake_dynamo;
pub mod http;
pub mod logs;
pub mod runtime_api;

use api_tokens::gateway::{GatewayResponse, function};
use api_tokens::memory::MemoryStore;
use api_tokens::store::{TokenRecord, TokenStore};
use api_tokens::token::Token;
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use lambda_http::{Context, LambdaEvent, Request};
use serde_json::{Value, json};
use uuid::{Builder, Uuid};

pub const ORG_A: Uuid = Uuid::from_u128(0x2489e9ad_2ee2_8e00_8ec9_32d5f69181c0);
pub const ORG_B: Uuid = Uuid::from_u128(0x5f0c7a51_93b4_4c7e_a1d2_0e6b8c9d4f21);

/// The path of the list route for an org segment.
pub fn tokens_path(org: impl std::fmt::Display) -> String {
    format!("/api/v1/organizations/{org}/api-tokens")
}

/// A request as an API Gateway event would carry it.
#[derive(Clone, Debug)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
}

impl Call {
    pub fn get(path: impl Into<String>) -> Call {
        Call {
            method: "GET".into(),
            path: path.into(),
            query: Vec::new(),
            headers: Vec::new(),
        }
    }

    pub fn list(org: Uuid, token: &Token) -> Call {
        Call::get(tokens_path(org)).bearer(token)
    }

    pub fn method(mut self, method: &str) -> Call {
        self.method = method.into();
        self
    }

    pub fn query(mut self, name: &str, value: &str) -> Call {
        self.query.push((name.into(), value.into()));
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Call {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn bearer(self, token: &Token) -> Call {
        self.header("authorization", &format!("Bearer {}", token.expose()))
    }

    /// The raw query string exactly as given (names and values are not encoded here).
    pub fn raw_query(&self) -> String {
        self.query
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// An API Gateway HTTP API (payload 2.0) event, as `cargo lambda watch` also sends.
    pub fn http_api_event(&self) -> Value {
        let mut headers = serde_json::Map::new();
        for (name, value) in &self.headers {
            // HTTP APIs join repeated headers with commas.
            let joined = match headers.get(name) {
                Some(Value::String(previous)) => format!("{previous},{value}"),
                _ => value.clone(),
            };
            headers.insert(name.clone(), Value::String(joined));
        }
        json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": self.path,
            "rawQueryString": self.raw_query(),
            "headers": headers,
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "api",
                "domainName": "api.example.test",
                "domainPrefix": "api",
                "http": {
                    "method": self.method,
                    "path": self.path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": "203.0.113.7",
                    "userAgent": "tests"
                },
                "requestId": "request-1",
                "routeKey": "$default",
                "stage": "$default",
                "time": "28/Nov/2026:00:00:00 +0000",
                "timeEpoch": 1_795_824_000_000u64
            },
            "isBase64Encoded": false
        })
    }

    /// An API Gateway REST API (payload 1.0) event of `stage`; `path` as given (with or
    /// without the stage prefix).
    pub fn rest_api_event(&self, stage: &str) -> Value {
        let mut headers = serde_json::Map::new();
        let mut multi_headers = serde_json::Map::new();
        for (name, value) in &self.headers {
            headers.insert(name.clone(), Value::String(value.clone()));
            let entry = multi_headers
                .entry(name.clone())
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(values) = entry {
                values.push(Value::String(value.clone()));
            }
        }
        let mut query = serde_json::Map::new();
        let mut multi_query = serde_json::Map::new();
        for (name, value) in &self.query {
            query.insert(name.clone(), Value::String(value.clone()));
            let entry = multi_query
                .entry(name.clone())
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(values) = entry {
                values.push(Value::String(value.clone()));
            }
        }
        json!({
            "resource": "/api/v1/organizations/{orgID}/api-tokens",
            "path": self.path,
            "httpMethod": self.method,
            "headers": headers,
            "multiValueHeaders": multi_headers,
            "queryStringParameters": if query.is_empty() { Value::Null } else { Value::Object(query) },
            "multiValueQueryStringParameters": if multi_query.is_empty() { Value::Null } else { Value::Object(multi_query) },
            "pathParameters": null,
            "stageVariables": null,
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "api",
                "resourceId": "abc123",
                "stage": stage,
                "requestId": "request-1",
                "httpMethod": self.method,
                "path": format!("/{stage}{}", self.path),
                "resourcePath": "/api/v1/organizations/{orgID}/api-tokens",
                "identity": { "sourceIp": "203.0.113.7" }
            },
            "body": null,
            "isBase64Encoded": false
        })
    }

    pub fn http_api(&self) -> Request {
        to_request(&self.http_api_event())
    }

    pub fn rest_api(&self, stage: &str) -> Request {
        to_request(&self.rest_api_event(stage))
    }

    /// Sends the call as an HTTP API event through the handler.
    pub async fn send(&self, store: &impl TokenStore) -> Answer {
        Answer::from(api_tokens::handle(store, self.http_api()).await)
    }

    /// The same, with the token use left to record after the answer.
    pub async fn respond(
        &self,
        store: &impl TokenStore,
    ) -> (Answer, Option<api_tokens::handler::TokenUse>) {
        let (response, token_use) = api_tokens::handler::respond(store, self.http_api()).await;
        (Answer::from(response), token_use)
    }
}

pub fn to_request(event: &Value) -> Request {
    lambda_http::request::from_str(&event.to_string()).expect("a valid API Gateway event")
}

/// A response, read back.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: lambda_http::http::HeaderMap,
    pub text: String,
    pub body: Value,
}

impl From<lambda_http::Response<lambda_http::Body>> for Answer {
    fn from(response: lambda_http::Response<lambda_http::Body>) -> Answer {
        let (parts, body) = response.into_parts();
        let text = match body {
            lambda_http::Body::Text(text) => text,
            other => panic!("expected a text body, got {other:?}"),
        };
        let answer = Answer {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body: serde_json::from_str(&text).expect("a JSON body"),
            text,
        };
        assert!(
            !answer.text.contains("secret_hash"),
            "a body names secret_hash"
        );
        // Every response a test sees must also be one the API document allows.
        assert_conforms(
            answer.status,
            |name| answer.header(name).map(String::from),
            &answer.body,
        );
        answer
    }
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn error_code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    pub fn detail_fields(&self) -> Vec<&str> {
        self.body["error"]["details"]
            .as_array()
            .map(|d| d.iter().filter_map(|e| e["field"].as_str()).collect())
            .unwrap_or_default()
    }

    pub fn ids(&self) -> Vec<String> {
        self.body["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|i| i["id"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn next_cursor(&self) -> Option<String> {
        self.body["next_cursor"].as_str().map(String::from)
    }
}

/// Writes an item as given, bypassing the contract: for malformed items.
pub async fn put_raw(
    store: &api_tokens::dynamo::DynamoStore,
    item: std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
) {
    store
        .client()
        .put_item()
        .table_name(store.table())
        .set_item(Some(item))
        .send()
        .await
        .expect("the item is written");
}

/// The token's text with its last checksum character changed: a well-shaped token that fails
/// the checksum.
pub fn with_bad_checksum(token: &Token) -> String {
    let mut text = token.expose().to_owned();
    let last = if text.ends_with('0') { "1" } else { "0" };
    text.replace_range(74..75, last);
    text
}

/// The n-th test token of an org: a UUIDv7 whose time grows with n, so ids order by n.
pub fn minted(org: Uuid, n: u32, scopes: &[&str]) -> (Token, TokenRecord) {
    let created_at = base_time() + TimeDelta::seconds(i64::from(n));
    let mut random = [0u8; 10];
    random[..4].copy_from_slice(&n.to_be_bytes());
    random[4..].copy_from_slice(&org.as_bytes()[..6]);
    let millis = u64::try_from(created_at.timestamp_millis()).expect("after 1970");
    let id = Builder::from_unix_timestamp_millis(millis, &random).into_uuid();
    let mut secret = [0u8; 32];
    secret[..4].copy_from_slice(&n.to_be_bytes());
    secret[4..20].copy_from_slice(org.as_bytes());
    let token = Token::assemble(id, &secret);
    let record = TokenRecord {
        org_id: org,
        id,
        name: format!("token-{n}"),
        prefix: token.prefix().to_owned(),
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        secret_hash: token.secret_hash(),
        created_at: created_at.into(),
        expires_at: None,
        last_used_at: None,
    };
    (token, record)
}

pub fn base_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 4, 15, 12, 0, 0).unwrap()
}

/// Ids newest first, as the API lists them.
pub fn newest_first(records: &[TokenRecord]) -> Vec<String> {
    let mut ids: Vec<Uuid> = records.iter().map(|r| r.id).collect();
    ids.sort_unstable_by(|a, b| b.cmp(a));
    ids.iter().map(Uuid::to_string).collect()
}

/// Checks a response against `openapi.yaml`: the status is documented, the body matches the
/// schema of that status, and the documented headers are there with valid values.
pub fn assert_conforms(status: u16, header: impl Fn(&str) -> Option<String>, body: &Value) {
    let doc = openapi();
    let operation = &doc["paths"]["/api/v1/organizations/{orgID}/api-tokens"]["get"];
    let response = resolve(doc, &operation["responses"][status.to_string()]);
    assert!(
        !response.is_null(),
        "status {status} is not in openapi.yaml"
    );
    assert_eq!(header("content-type").as_deref(), Some("application/json"));
    let schema = response["content"]["application/json"]["schema"]["$ref"]
        .as_str()
        .expect("every response has a schema reference");
    let errors = validation_errors(schema, body);
    assert!(
        errors.is_empty(),
        "status {status} body {body} breaks openapi.yaml: {errors:?}"
    );
    let headers = response["headers"].as_object().cloned().unwrap_or_default();
    for (name, spec) in headers {
        let reference = spec["$ref"].as_str().expect("headers are references");
        let spec = resolve(doc, &spec);
        let Some(value) = header(&name.to_ascii_lowercase()) else {
            assert!(
                spec["required"] != true,
                "status {status} lacks the header {name}"
            );
            continue;
        };
        let value = match spec["schema"]["type"].as_str() {
            Some("integer") => value
                .parse::<i64>()
                .map(Value::from)
                .unwrap_or(Value::String(value)),
            _ => Value::String(value),
        };
        let errors = validation_errors(&format!("{reference}/schema"), &value);
        assert!(
            errors.is_empty(),
            "header {name}: {value} breaks openapi.yaml: {errors:?}"
        );
    }
}

pub fn openapi() -> &'static Value {
    static DOC: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    DOC.get_or_init(|| {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml"))
            .expect("openapi.yaml is readable");
        serde_saphyr::from_str(&text).expect("openapi.yaml is valid YAML")
    })
}

/// Follows a local `$ref`, if any.
fn resolve<'a>(doc: &'a Value, node: &'a Value) -> &'a Value {
    match node["$ref"].as_str().and_then(|r| r.strip_prefix('#')) {
        Some(pointer) => doc.pointer(pointer).unwrap_or(&Value::Null),
        None => node,
    }
}

/// Validates against the schema at `reference` inside the document (so its own `$ref`s resolve).
fn validation_errors(reference: &str, instance: &Value) -> Vec<String> {
    let mut root = openapi().clone();
    root["$ref"] = Value::String(reference.to_owned());
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&root)
        .expect("a valid schema");
    validator
        .iter_errors(instance)
        .map(|e| e.to_string())
        .collect()
}

/// A store with the admin token of ORG_A (number 0) and `others` more tokens of ORG_A.
pub fn store_with(others: u32) -> (MemoryStore, Token, Vec<TokenRecord>) {
    let store = MemoryStore::new();
    let (admin, record) = minted(ORG_A, 0, &["admin"]);
    let mut records = vec![record.clone()];
    store.insert(record);
    for n in 1..=others {
        let (_, record) = minted(ORG_A, n, &["api_tokens:read"]);
        records.push(record.clone());
        store.insert(record);
    }
    (store, admin, records)
}

pub fn with_token(store: &MemoryStore, org: Uuid, n: u32, scopes: &[&str]) -> (Token, TokenRecord) {
    let (token, record) = minted(org, n, scopes);
    store.insert(record.clone());
    (token, record)
}

/// The demo data of `tokens seed-demo`, in memory.
pub fn demo_store() -> MemoryStore {
    let store = MemoryStore::new();
    for demo in api_tokens::demo::DEMO_TOKENS {
        store.insert(demo.record());
    }
    store
}

/// Sends an event through the Lambda entry point; its response as JSON.
pub async fn invoke(store: &MemoryStore, event: serde_json::Value) -> serde_json::Value {
    let response: GatewayResponse = function(store, LambdaEvent::new(event, Context::default()))
        .await
        .unwrap();
    serde_json::to_value(response).unwrap()
}
