//! Property tests: no input makes the function fail, answer outside its contract, or echo a token;
//! the token format round-trips and catches every single-character change.

use api_tokens::demo::{DEMO_ORG, DEMO_TOKENS};
use api_tokens::gateway::function;
use api_tokens::token::Token;
use lambda_http::{Context, LambdaEvent};
use proptest::prelude::*;
use serde_json::Value;
use uuid::Uuid;

use crate::support::{Call, assert_conforms, demo_store};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

/// Sends an event through the Lambda entry point; checks the answer against the contract and
/// returns its status and body text.
fn answer(event: Value) -> (u16, String) {
    let response = runtime()
        .block_on(function(
            &demo_store(),
            LambdaEvent::new(event, Context::default()),
        ))
        .expect("never an error");
    let response = serde_json::to_value(response).expect("serializable");
    let status = response["statusCode"].as_u64().expect("a status") as u16;
    let text = response["body"].as_str().expect("a text body").to_owned();
    let body: Value = serde_json::from_str(&text).expect("a JSON body");
    let headers = response["headers"].clone();
    let multi = response["multiValueHeaders"].clone();
    let header = |name: &str| {
        headers[name]
            .as_str()
            .or_else(|| multi[name][0].as_str())
            .map(String::from)
    };
    assert_conforms(status, header, &body);
    assert!(
        [200, 400, 401, 403, 404, 405].contains(&status),
        "status {status}: {text}"
    );
    if status != 200 {
        assert!(body["error"]["code"].is_string() && body["error"]["message"].is_string());
    }
    (status, text)
}

/// Path-like strings: the route's own segments and bytes that make trouble.
fn path() -> impl Strategy<Value = String> {
    let segment = prop_oneof![
        Just("api".to_owned()),
        Just("v1".to_owned()),
        Just("organizations".to_owned()),
        Just("api-tokens".to_owned()),
        Just(DEMO_ORG.to_string()),
        Just(DEMO_ORG.to_string().to_uppercase()),
        Just("prod".to_owned()),
        Just(String::new()),
        "[a-zA-Z0-9%._~+-]{0,12}",
        "\\PC{0,8}",
    ];
    let route = prop_oneof![
        4 => Just(DEMO_ORG.to_string()),
        2 => Just(DEMO_ORG.to_string().to_uppercase()),
        1 => "[0-9a-fA-F-]{36}",
        1 => "\\PC{0,40}",
    ]
    .prop_map(|org| format!("/api/v1/organizations/{org}/api-tokens"));
    prop_oneof![
        3 => route,
        1 => prop::collection::vec(segment, 0..8).prop_map(|s| format!("/{}", s.join("/"))),
    ]
}

fn query() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("limit".to_owned()),
        Just("cursor".to_owned()),
        Just("LIMIT".to_owned()),
        "[a-z%]{0,6}"
    ];
    let value = prop_oneof![
        4 => "[0-9]{1,2}",
        1 => "[0-9]{0,4}",
        1 => "-?[0-9]{1,25}(\\.[0-9])?(e[0-9])?",
        1 => Just(DEMO_TOKENS[1].id().to_string()),
        1 => "[0-9a-fA-F-]{30,40}",
        1 => "[%+ &=#a-z0-9]{0,10}",
        1 => "\\PC{0,8}",
    ];
    prop::collection::vec((key, value), 0..4).prop_map(|pairs| {
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    })
}

/// Authorization values: real demo tokens, mangled tokens, other schemes, noise.
fn authorization() -> impl Strategy<Value = String> {
    let demo = (0..DEMO_TOKENS.len()).prop_map(|i| DEMO_TOKENS[i].token().expose().to_owned());
    let mangled = (0..DEMO_TOKENS.len(), 0usize..75, "[ -~]").prop_map(|(i, at, c)| {
        let mut text = DEMO_TOKENS[i].token().expose().to_owned();
        text.replace_range(at..at + 1, &c);
        text
    });
    let token = prop_oneof![
        6 => demo,
        2 => mangled,
        1 => "aet_[0-9A-Za-z]{71}",
        1 => "[ -~]{0,90}",
    ];
    let scheme = prop_oneof![
        6 => Just("Bearer ".to_owned()),
        2 => Just("bearer ".to_owned()),
        1 => Just("Bearer  ".to_owned()),
        1 => Just("Basic ".to_owned()),
        1 => Just(String::new()),
        1 => "[A-Za-z]{0,7} ?",
    ];
    (scheme, token).prop_map(|(scheme, token)| format!("{scheme}{token}"))
}

thread_local! {
    static STATUSES: std::cell::RefCell<std::collections::BTreeSet<u16>> = Default::default();
}

proptest! {
    // Failures are turned into named regression tests by hand, so no persistence file.
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_requests_get_a_documented_answer_and_never_a_5xx(
        method in prop_oneof![6 => Just("GET".to_owned()), 1 => Just("POST".to_owned()), 1 => "[A-Z]{1,7}"],
        path in path(),
        query in query(),
        auth in prop::option::weighted(0.9, authorization()),
        rest_api in any::<bool>(),
        extra in prop::collection::vec(("[a-zA-Z-]{1,12}", "[ -~]{0,30}"), 0..3),
    ) {
        let mut call = Call::get(path).method(&method);
        call.query = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            call = call.query(k, v);
        }
        if let Some(auth) = &auth {
            call = call.header("authorization", auth);
        }
        for (name, value) in &extra {
            call = call.header(&name.to_ascii_lowercase(), value);
        }
        let event = if rest_api { call.rest_api_event("prod") } else { call.http_api_event() };
        let (status, text) = answer(event);
        STATUSES.with(|seen| seen.borrow_mut().insert(status));
        if let Some(auth) = &auth {
            let presented = auth.split_once(' ').map_or(auth.as_str(), |(_, t)| t).trim();
            if presented.len() >= 12 {
                prop_assert!(!text.contains(presented), "echoed the presented token");
            }
        }
        prop_assert!(!text.contains("secret_hash"));
    }

    #[test]
    fn arbitrary_json_events_never_fail(event in arbitrary_json()) {
        answer(event);
    }

    #[test]
    fn raw_queries_of_any_bytes_get_a_documented_answer(raw in "\\PC{0,40}") {
        let token = DEMO_TOKENS[0].token();
        let mut event = Call::list(DEMO_ORG, &token).http_api_event();
        event["rawQueryString"] = Value::String(raw);
        answer(event);
    }

    #[test]
    fn every_minted_token_round_trips(id in any::<u128>(), secret in any::<[u8; 32]>()) {
        let token = Token::assemble(Uuid::from_u128(id), &secret);
        prop_assert_eq!(token.expose().len(), 75);
        prop_assert_eq!(Token::parse(token.expose()), Some(token));
    }

    #[test]
    fn every_single_character_change_is_rejected(
        id in any::<u128>(),
        secret in any::<[u8; 32]>(),
        at in 0usize..75,
        replacement in any::<char>(),
    ) {
        let token = Token::assemble(Uuid::from_u128(id), &secret);
        let mut chars: Vec<char> = token.expose().chars().collect();
        prop_assume!(chars[at] != replacement);
        chars[at] = replacement;
        let changed: String = chars.into_iter().collect();
        prop_assert_eq!(Token::parse(&changed), None);
    }
}

#[test]
fn arbitrary_requests_reach_every_answer() {
    // The generator must not only knock on the door: run it and see every status come out.
    arbitrary_requests_get_a_documented_answer_and_never_a_5xx();
    let seen = STATUSES.with(|seen| seen.borrow().clone());
    for status in [200, 400, 401, 403, 404, 405] {
        assert!(seen.contains(&status), "no {status} among {seen:?}");
    }
}

/// Any JSON, and API Gateway events with one field replaced by any JSON.
fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::String),
    ];
    let any_json = leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z]{0,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    let fields = prop_oneof![
        Just("rawPath"),
        Just("rawQueryString"),
        Just("headers"),
        Just("requestContext"),
        Just("version"),
        Just("path"),
        Just("httpMethod"),
        Just("multiValueHeaders"),
        Just("queryStringParameters"),
        Just("isBase64Encoded"),
        Just("body"),
    ];
    let token = DEMO_TOKENS[0].token();
    let events = [
        Call::list(DEMO_ORG, &token).http_api_event(),
        Call::list(DEMO_ORG, &token).rest_api_event("prod"),
    ];
    prop_oneof![
        any_json.clone(),
        (0..events.len(), fields, any_json).prop_map(move |(i, field, value)| {
            let mut event = events[i].clone();
            event[field] = value;
            event
        }),
    ]
}
