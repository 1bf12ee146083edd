//! The request's log line, in production's JSON format: what it tells, and what it never carries.

use api_tokens::memory::{MemoryStore, Operation};
use api_tokens::store::{StoreError, TokenStore};
use api_tokens::token::Token;
use chrono::Utc;

use crate::support::logs::capturing;
use crate::support::*;

/// Sends `call` and returns the answer and the request's log line, parsed and as written.
async fn logged(store: &impl TokenStore, call: &Call) -> (Answer, serde_json::Value, String) {
    let (answer, text) = capturing(call.send(store)).await;
    let line = text
        .lines()
        .find(|line| line.contains("\"message\":\"request\""))
        .unwrap_or_else(|| panic!("no request line in {text}"))
        .to_owned();
    (answer, serde_json::from_str(&line).unwrap(), line)
}

/// One call for each way credentials or scope can be refused, with its `auth` value, over a
/// store that holds what each needs; and every token whose material must not reach a log.
fn refusals() -> (MemoryStore, Vec<(&'static str, Call)>, Vec<Token>) {
    let (store, admin, _) = store_with(0);
    let (billing, _) = with_token(&store, ORG_A, 1, &["billing:read"]);
    let (expired, mut record) = minted(ORG_A, 2, &["admin"]);
    record.expires_at = Some((Utc::now() - chrono::TimeDelta::hours(1)).into());
    store.insert(record);
    let (stranger, _) = minted(ORG_A, 50, &["admin"]);
    let forged = Token::assemble(admin.id(), &[9u8; 32]);
    let route = || Call::get(tokens_path(ORG_A));
    let calls = vec![
        ("missing", route()),
        (
            "missing",
            route().header("authorization", &format!("Basic {}", admin.expose())),
        ),
        (
            "malformed",
            route().header(
                "authorization",
                &format!("Bearer {}", with_bad_checksum(&admin)),
            ),
        ),
        ("malformed", route().bearer(&admin).bearer(&admin)),
        ("not_found", Call::list(ORG_A, &stranger)),
        ("not_found", Call::list(ORG_B, &admin)),
        ("wrong_secret", Call::list(ORG_A, &forged)),
        ("expired", Call::list(ORG_A, &expired)),
        ("insufficient_scope", Call::list(ORG_A, &billing)),
    ];
    (
        store,
        calls,
        vec![admin, billing, expired, stranger, forged],
    )
}

#[tokio::test]
async fn the_log_line_of_a_refused_request_names_why_in_auth() {
    let (store, calls, _) = refusals();
    for (cause, call) in &calls {
        let (answer, line, _) = logged(&store, call).await;
        assert_eq!(line["auth"], *cause, "{call:?}");
        assert_eq!(line["status"], answer.status);
    }
}

#[tokio::test]
async fn an_undecodable_credential_item_is_logged_as_not_found_and_as_an_error() {
    let (store, admin, _) = store_with(0);
    store.fail(
        Operation::Credential,
        StoreError::Malformed(format!("token item {} of org {ORG_A}", admin.id())),
    );
    let (_, text) = capturing(Call::list(ORG_A, &admin).send(&store)).await;
    let error: serde_json::Value = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .find(|line: &serde_json::Value| line["level"] == "ERROR")
        .unwrap_or_else(|| panic!("no error line in {text}"));
    assert_eq!(error["org"], ORG_A.to_string());
    assert_eq!(error["token_id"], admin.id().to_string());
    assert!(text.contains("\"auth\":\"not_found\""), "{text}");
}

#[tokio::test]
async fn a_served_or_rejected_request_has_no_auth_field() {
    let (store, admin, _) = store_with(0);
    for call in [
        Call::list(ORG_A, &admin),
        Call::list(ORG_A, &admin).query("limit", "0"),
        Call::get("/elsewhere"),
    ] {
        let (_, line, _) = logged(&store, &call).await;
        assert!(line.get("auth").is_none(), "{line}");
    }
}

#[tokio::test]
async fn every_refused_token_gets_the_same_answer_bytes_whatever_the_cause() {
    let (store, calls, _) = refusals();
    let mut answers = Vec::new();
    for (cause, call) in &calls {
        if !matches!(*cause, "missing" | "insufficient_scope") {
            answers.push(call.send(&store).await);
        }
    }
    for answer in &answers[1..] {
        assert_eq!(answer.status, answers[0].status);
        assert_eq!(answer.headers, answers[0].headers);
        assert_eq!(answer.text, answers[0].text);
    }
}

#[tokio::test]
async fn no_log_line_of_a_refusal_carries_token_material() {
    let (store, calls, tokens) = refusals();
    let mut material: Vec<String> = Vec::new();
    for token in &tokens {
        let text = token.expose();
        // The whole token, its secret part, and its hash; the 12-character prefix is public.
        material.extend([text.to_owned(), text[4..47].to_owned(), token.secret_hash()]);
    }
    let allowed = [
        "missing",
        "malformed",
        "not_found",
        "wrong_secret",
        "expired",
        "insufficient_scope",
    ];
    for (_, call) in &calls {
        let (_, line, text) = logged(&store, call).await;
        assert!(
            allowed.contains(&line["auth"].as_str().unwrap_or("")),
            "{text}"
        );
        for secret in &material {
            assert!(!text.contains(secret.as_str()), "{text}");
        }
        assert!(!text.contains("aet_") && !text.contains("Bearer"), "{text}");
    }
}

/// Writes the request lines the function really emits, one labelled case each, for the template's
/// metric filters (tests/metric_filters_test.py reads them).
#[tokio::test]
async fn request_log_lines_for_the_metric_filters() {
    let (store, calls, _) = refusals();
    let (_, admin, _) = store_with(0);
    let mut cases: Vec<(String, Call)> = calls
        .into_iter()
        .map(|(cause, call)| {
            let status = if cause == "insufficient_scope" {
                403
            } else {
                401
            };
            (format!("{status}-{cause}"), call)
        })
        .collect();
    cases.push(("200".into(), Call::list(ORG_A, &admin)));
    cases.push(("400".into(), Call::list(ORG_A, &admin).query("limit", "0")));
    let mut out = String::new();
    for (case, call) in &cases {
        let (_, _, line) = logged(&store, call).await;
        out.push_str(&serde_json::json!({"case": case, "line": line}).to_string());
        out.push('\n');
    }
    let down = MemoryStore::new();
    down.fail_all(StoreError::Unavailable("connection refused".into()));
    let (answer, _, line) = logged(&down, &Call::list(ORG_A, &admin)).await;
    assert_eq!(answer.status, 503);
    out.push_str(&serde_json::json!({"case": "503", "line": line}).to_string());
    out.push('\n');
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("request-log-lines.jsonl");
    std::fs::write(&path, out).unwrap();
}

#[tokio::test]
async fn a_store_failure_is_logged_once_in_the_request_line_with_its_request_id_and_org() {
    let (store, admin, _) = store_with(0);
    store.fail_all(StoreError::Unavailable("connection refused".into()));
    let mut context = lambda_http::Context::default();
    context.request_id = "request-42".into();
    let event = Call::list(ORG_A, &admin).http_api_event();
    let event = lambda_http::LambdaEvent::new(event, context);
    let (response, text) = capturing(api_tokens::gateway::function(&store, event)).await;
    let response = serde_json::to_value(response.unwrap()).unwrap();
    assert_eq!(response["statusCode"], 503);
    assert_eq!(text.matches("connection refused").count(), 1, "{text}");
    let line: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(line["message"], "request");
    assert_eq!(line["level"], "ERROR");
    assert_eq!(line["request_id"], "request-42");
    assert_eq!(line["org"], ORG_A.to_string());
    assert!(
        line["store_error"]
            .as_str()
            .unwrap()
            .contains("connection refused")
    );
}
