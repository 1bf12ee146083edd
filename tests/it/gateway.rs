//! The Lambda entry point: API Gateway events in, their response shapes out, never a panic.

use api_tokens::memory::MemoryStore;

use crate::support::*;

#[tokio::test]
async fn http_api_events_get_http_api_responses() {
    let (store, admin, _) = store_with(1);
    let response = invoke(&store, Call::list(ORG_A, &admin).http_api_event()).await;
    assert_eq!(response["statusCode"], 200);
    assert_eq!(response["headers"]["content-type"], "application/json");
    assert_eq!(response["isBase64Encoded"], false);
}

#[tokio::test]
async fn rest_api_events_get_rest_api_responses() {
    let (store, admin, _) = store_with(1);
    let response = invoke(&store, Call::list(ORG_A, &admin).rest_api_event("prod")).await;
    assert_eq!(response["statusCode"], 200);
    assert_eq!(
        response["multiValueHeaders"]["content-type"][0],
        "application/json"
    );
}

#[tokio::test]
async fn an_event_that_is_not_from_api_gateway_is_400() {
    let store = MemoryStore::new();
    let response = invoke(&store, serde_json::json!({"hello": "world"})).await;
    assert_eq!(response["statusCode"], 400);
}

#[tokio::test]
async fn an_unusable_host_header_is_400_not_a_panic() {
    let (store, admin, _) = store_with(0);
    let event = Call::list(ORG_A, &admin)
        .header("host", "exa mple")
        .http_api_event();
    let response = invoke(&store, event).await;
    assert_eq!(response["statusCode"], 400);
    let body: serde_json::Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "invalid_request");
}

#[tokio::test]
async fn a_raw_query_that_is_not_a_valid_uri_is_400_not_a_panic() {
    let (store, admin, _) = store_with(0);
    let mut event = Call::list(ORG_A, &admin).http_api_event();
    event["rawQueryString"] = serde_json::json!("limit=5 6\"<>");
    let response = invoke(&store, event).await;
    assert_eq!(response["statusCode"], 400);
}

/// Inputs on which lambda_http's request conversion panics, found by fuzzing (`fuzz/`): each is
/// answered 400 instead of reaching the runtime as a panic.
#[tokio::test]
async fn fuzz_findings_in_request_conversion_are_400() {
    let (store, admin, _) = store_with(0);
    let call = Call::list(ORG_A, &admin);
    let mut events = Vec::new();
    for host in [
        "exa mple",
        ":443",
        "[::1",
        "1.2.3.256",
        "example.test:99999",
    ] {
        events.push(call.clone().header("host", host).http_api_event());
        // REST API events take the host from their request context, so these pass.
        let rest = call.clone().header("host", host).rest_api_event("prod");
        assert_eq!(invoke(&store, rest).await["statusCode"], 200, "{host}");
    }
    let mut bad_path = call.rest_api_event("prod");
    bad_path["path"] = serde_json::json!("/api/v1/organizations/a b/api-tokens");
    events.push(bad_path);
    let mut bad_raw_path = call.http_api_event();
    bad_raw_path["rawPath"] = serde_json::json!("/api/v1/organizations/\"x\"/api-tokens");
    events.push(bad_raw_path);
    let mut empty_values = call.rest_api_event("prod");
    empty_values["multiValueQueryStringParameters"] = serde_json::json!({ "limit": [] });
    events.push(empty_values);
    for event in events {
        let response = invoke(&store, event.clone()).await;
        assert_eq!(response["statusCode"], 400, "{event}");
    }
}
