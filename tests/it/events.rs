//! Replays every sample event in `events/` through the Lambda entry point, over the demo data in
//! the in-memory store, and compares the answer with the expectation next to it.
//!
//! `BLESS=1 cargo test --test it events::` rewrites the expectations from the answers (review the diff).

use std::path::{Path, PathBuf};

use api_tokens::gateway::function;
use lambda_http::{Context, LambdaEvent};
use serde_json::{Value, json};

use crate::support::{assert_conforms, demo_store};

/// The headers an expectation pins when the answer has them.
const HEADERS: [&str; 5] = [
    "content-type",
    "cache-control",
    "www-authenticate",
    "allow",
    "retry-after",
];

fn events() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("events");
    let mut events: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("events/ exists")
        .map(|entry| entry.expect("a readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .filter(|p| !p.to_string_lossy().ends_with(".expected.json"))
        .collect();
    events.sort();
    events
}

fn expectation_path(event: &Path) -> PathBuf {
    event.with_extension("expected.json")
}

/// The deterministic part of a Lambda response: status, the headers that matter, the body with
/// `last_used_at` dropped (it moves with every use of a token).
fn observed(response: &Value) -> Value {
    let header = |name: &str| {
        response["headers"][name]
            .as_str()
            .or_else(|| response["multiValueHeaders"][name][0].as_str())
            .map(String::from)
    };
    let headers: serde_json::Map<String, Value> = HEADERS
        .iter()
        .filter_map(|name| header(name).map(|v| ((*name).to_owned(), Value::String(v))))
        .collect();
    let mut body: Value =
        serde_json::from_str(response["body"].as_str().unwrap_or("null")).unwrap_or(Value::Null);
    if let Some(items) = body.get_mut("items").and_then(Value::as_array_mut) {
        for item in items {
            item.as_object_mut().map(|i| i.shift_remove("last_used_at"));
        }
    }
    json!({ "statusCode": response["statusCode"], "headers": headers, "body": body })
}

async fn replay(event: &Path) -> Value {
    let payload: Value =
        serde_json::from_str(&std::fs::read_to_string(event).expect("readable")).expect("JSON");
    let response = function(&demo_store(), LambdaEvent::new(payload, Context::default()))
        .await
        .expect("never an error");
    serde_json::to_value(response).expect("serializable")
}

#[tokio::test]
async fn every_event_gets_its_expected_answer() {
    let events = events();
    assert!(events.len() >= 15, "events/ lost some samples");
    let bless = std::env::var("BLESS").is_ok_and(|v| v == "1");
    let mut failures = Vec::new();
    for event in &events {
        let got = observed(&replay(event).await);
        let expected_path = expectation_path(event);
        if bless {
            let text = serde_json::to_string_pretty(&got).expect("serializable") + "\n";
            std::fs::write(&expected_path, text).expect("writable");
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&expected_path) else {
            failures.push(format!("{} has no expectation", event.display()));
            continue;
        };
        let expected: Value = serde_json::from_str(&text).expect("expectations are JSON");
        if got != expected {
            failures.push(format!(
                "{}: expected {expected}, got {got}",
                event.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn every_expected_answer_conforms_to_the_api_document() {
    for event in events() {
        let text = std::fs::read_to_string(expectation_path(&event)).expect("an expectation");
        let expected: Value = serde_json::from_str(&text).expect("JSON");
        let status = expected["statusCode"].as_u64().expect("a status") as u16;
        let header = |name: &str| expected["headers"][name].as_str().map(String::from);
        assert_conforms(status, header, &expected["body"]);
    }
}

#[tokio::test]
async fn every_expectation_belongs_to_an_event() {
    let events = events();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("events");
    for entry in std::fs::read_dir(dir).expect("events/ exists") {
        let path = entry.expect("readable").path();
        if let Some(name) = path.to_string_lossy().strip_suffix(".expected.json") {
            let event = PathBuf::from(format!("{name}.json"));
            assert!(events.contains(&event), "{} has no event", path.display());
        }
    }
}

#[test]
#[should_panic(expected = "breaks openapi.yaml")]
fn the_document_rejects_a_page_item_with_a_secret_hash() {
    let item = json!({
        "id": "019d9103-3600-7ce7-a2cf-1ae045989cfc",
        "org_id": "2489e9ad-2ee2-8e00-8ec9-32d5f69181c0",
        "name": "x", "prefix": "aet_00000000", "scopes": [],
        "last_used_at": null, "expires_at": null, "created_at": "2026-04-15T12:00:00Z",
        "secret_hash": "00"
    });
    let header = |name: &str| match name {
        "content-type" => Some("application/json".to_owned()),
        "cache-control" => Some("no-store".to_owned()),
        _ => None,
    };
    assert_conforms(
        200,
        header,
        &json!({ "items": [item], "next_cursor": null }),
    );
}

#[test]
#[should_panic(expected = "lacks the header WWW-Authenticate")]
fn the_document_requires_the_challenge_on_401() {
    let header = |name: &str| match name {
        "content-type" => Some("application/json".to_owned()),
        "cache-control" => Some("no-store".to_owned()),
        _ => None,
    };
    let body = json!({"error": {"code": "invalid_credentials", "message": "x"}});
    assert_conforms(401, header, &body);
}
