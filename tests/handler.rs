//! The handler's behaviour, from API Gateway events over the in-memory store. One rule each.

mod common;

use std::time::Duration;

use api_tokens::gateway::{GatewayResponse, function};
use api_tokens::memory::{MemoryStore, Operation};
use api_tokens::store::{Credential, StoreError, TokenRecord, TokenStore, TokenSummary};
use api_tokens::token::Token;
use chrono::{DateTime, Utc};
use common::contract::{ContractStore, store_contract};
use common::*;
use lambda_http::{Context, LambdaEvent};
use uuid::Uuid;

/// A store with the admin token of ORG_A (number 0) and `others` more tokens of ORG_A.
fn store_with(others: u32) -> (MemoryStore, Token, Vec<TokenRecord>) {
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

fn with_token(store: &MemoryStore, org: Uuid, n: u32, scopes: &[&str]) -> (Token, TokenRecord) {
    let (token, record) = minted(org, n, scopes);
    store.insert(record.clone());
    (token, record)
}

impl ContractStore for MemoryStore {
    async fn fresh() -> Self {
        MemoryStore::new()
    }
    async fn put(&self, record: &TokenRecord) {
        self.insert(record.clone());
    }
    async fn last_used_at(&self, org: Uuid, id: Uuid) -> Option<String> {
        Some(self.get(org, id)?.last_used_at?.into_string())
    }
}

// Paging, authentication and last_used_at as every store must give them: tests/common/contract.rs.
store_contract!(MemoryStore);

// Routing

#[tokio::test]
async fn serves_the_route_from_an_http_api_event() {
    let (store, admin, records) = store_with(2);
    let answer = Call::list(ORG_A, &admin).send(&store).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.ids(), newest_first(&records));
}

#[tokio::test]
async fn serves_the_route_from_a_rest_api_event_without_the_stage_in_the_path() {
    let (store, admin, records) = store_with(2);
    let request = Call::list(ORG_A, &admin).rest_api("prod");
    let answer = Answer::from(api_tokens::handle(&store, request).await);
    assert_eq!(answer.status, 200);
    assert_eq!(answer.ids(), newest_first(&records));
}

#[tokio::test]
async fn serves_the_route_from_a_rest_api_event_with_the_stage_in_the_path() {
    let (store, admin, records) = store_with(2);
    let mut call = Call::list(ORG_A, &admin);
    call.path = format!("/prod{}", call.path);
    let answer = Answer::from(api_tokens::handle(&store, call.rest_api("prod")).await);
    assert_eq!(answer.status, 200);
    assert_eq!(answer.ids(), newest_first(&records));
}

#[tokio::test]
async fn routes_from_the_path_even_without_path_parameters() {
    // `cargo lambda watch` sends HTTP API events with empty pathParameters.
    let (store, admin, _) = store_with(0);
    let event = Call::list(ORG_A, &admin).http_api_event();
    assert!(event.get("pathParameters").is_none());
    let answer = Answer::from(api_tokens::handle(&store, to_request(&event)).await);
    assert_eq!(answer.status, 200);
}

#[tokio::test]
async fn an_unknown_path_is_404_in_the_envelope() {
    let (store, admin, _) = store_with(0);
    for path in [
        "/".to_owned(),
        "/api/v1/organizations".to_owned(),
        format!("{}/", tokens_path(ORG_A)),
        format!("/api/v1/organizations/{ORG_A}/api-tokens/x"),
        format!("/api/v1/organizations/{ORG_A}/tokens"),
    ] {
        let answer = Call::get(path.as_str()).bearer(&admin).send(&store).await;
        assert_eq!(answer.status, 404, "{path}");
        assert_eq!(answer.error_code(), "not_found");
        assert!(answer.body["error"]["message"].is_string());
    }
}

#[tokio::test]
async fn another_method_on_the_route_is_405_with_allow_get() {
    let (store, admin, _) = store_with(0);
    for method in ["POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] {
        let answer = Call::list(ORG_A, &admin).method(method).send(&store).await;
        assert_eq!(answer.status, 405, "{method}");
        assert_eq!(answer.header("allow"), Some("GET"));
        assert_eq!(answer.error_code(), "method_not_allowed");
    }
}

#[tokio::test]
async fn a_wrong_method_is_405_even_without_credentials() {
    let store = MemoryStore::new();
    let answer = Call::get(tokens_path(ORG_A))
        .method("POST")
        .send(&store)
        .await;
    assert_eq!(answer.status, 405);
    assert_eq!(store.calls(), (0, 0, 0));
}

// Parameters

#[tokio::test]
async fn an_uppercase_org_id_is_served_in_canonical_form() {
    let (store, admin, _) = store_with(1);
    let upper = ORG_A.to_string().to_uppercase();
    let answer = Call::get(tokens_path(&upper))
        .bearer(&admin)
        .send(&store)
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body["items"][0]["org_id"], ORG_A.to_string());
}

#[tokio::test]
async fn an_uppercase_cursor_is_accepted() {
    let (store, admin, records) = store_with(4);
    let ids = newest_first(&records);
    let answer = Call::list(ORG_A, &admin)
        .query("cursor", &ids[1].to_uppercase())
        .send(&store)
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.ids(), ids[2..].to_vec());
}

#[tokio::test]
async fn limits_one_and_one_hundred_are_accepted() {
    let (store, admin, _) = store_with(120);
    for (limit, expected) in [("1", 1), ("100", 100)] {
        let answer = Call::list(ORG_A, &admin)
            .query("limit", limit)
            .send(&store)
            .await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.ids().len(), expected);
    }
}

#[tokio::test]
async fn a_bad_limit_is_400_naming_limit() {
    let (store, admin, _) = store_with(0);
    for bad in [
        "",
        "0",
        "101",
        "-1",
        "+1",
        "1.5",
        "1e2",
        "%201",
        "1%20",
        "abc",
        "99999999999999999999999",
        "%zz",
        "1,2",
    ] {
        let answer = Call::list(ORG_A, &admin)
            .query("limit", bad)
            .send(&store)
            .await;
        assert_eq!(answer.status, 400, "limit={bad}");
        assert_eq!(answer.error_code(), "invalid_request");
        assert_eq!(answer.detail_fields(), ["limit"], "limit={bad}");
    }
}

#[tokio::test]
async fn a_bad_cursor_is_400_naming_cursor() {
    let (store, admin, _) = store_with(0);
    for bad in [
        "",
        "x",
        "019d9103-3600-7ce7-a2cf-1ae045989cf",
        "019d91033600",
        "%zz",
    ] {
        let answer = Call::list(ORG_A, &admin)
            .query("cursor", bad)
            .send(&store)
            .await;
        assert_eq!(answer.status, 400, "cursor={bad}");
        assert_eq!(answer.detail_fields(), ["cursor"], "cursor={bad}");
    }
}

#[tokio::test]
async fn a_repeated_parameter_is_400() {
    let (store, admin, _) = store_with(0);
    let answer = Call::list(ORG_A, &admin)
        .query("limit", "5")
        .query("limit", "5")
        .send(&store)
        .await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.detail_fields(), ["limit"]);
}

#[tokio::test]
async fn every_bad_field_is_named_in_one_answer() {
    let (store, admin, _) = store_with(0);
    let answer = Call::get(tokens_path("not-a-uuid"))
        .bearer(&admin)
        .query("cursor", "nope")
        .query("limit", "0")
        .send(&store)
        .await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.detail_fields(), ["orgID", "cursor", "limit"]);
    for detail in answer.body["error"]["details"].as_array().unwrap() {
        assert!(detail["code"].is_string() && detail["message"].is_string());
    }
}

#[tokio::test]
async fn a_bad_org_id_is_400_without_a_store_call() {
    let (store, admin, _) = store_with(0);
    let answer = Call::get(tokens_path("2489e9ad2ee28e008ec932d5f69181c0"))
        .bearer(&admin)
        .send(&store)
        .await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.detail_fields(), ["orgID"]);
    assert_eq!(store.calls(), (0, 0, 0));
}

#[tokio::test]
async fn unknown_query_parameters_are_ignored() {
    let (store, admin, _) = store_with(1);
    let answer = Call::list(ORG_A, &admin)
        .query("expand", "all")
        .send(&store)
        .await;
    assert_eq!(answer.status, 200);
}

// Authentication

#[tokio::test]
async fn a_missing_authorization_header_is_401_with_a_bare_challenge() {
    let (store, _, _) = store_with(0);
    let answer = Call::get(tokens_path(ORG_A)).send(&store).await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.error_code(), "invalid_credentials");
    assert_eq!(
        answer.body["error"]["message"],
        "Missing or invalid credentials."
    );
    assert_eq!(
        answer.header("www-authenticate"),
        Some("Bearer realm=\"aether\"")
    );
}

#[tokio::test]
async fn another_scheme_is_401_with_a_bare_challenge() {
    let (store, admin, _) = store_with(0);
    for value in [
        format!("Basic {}", admin.expose()),
        admin.expose().to_owned(),
        "Bearer".into(),
    ] {
        let answer = Call::get(tokens_path(ORG_A))
            .header("authorization", &value)
            .send(&store)
            .await;
        assert_eq!(answer.status, 401);
        assert_eq!(
            answer.header("www-authenticate"),
            Some("Bearer realm=\"aether\"")
        );
    }
    assert_eq!(store.calls(), (0, 0, 0));
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let (store, admin, _) = store_with(0);
    for scheme in ["bearer", "BEARER", "bEaReR"] {
        let answer = Call::get(tokens_path(ORG_A))
            .header("authorization", &format!("{scheme} {}", admin.expose()))
            .send(&store)
            .await;
        assert_eq!(answer.status, 200, "{scheme}");
    }
}

#[tokio::test]
async fn a_token_with_a_bad_checksum_is_401_with_zero_store_calls() {
    let (store, admin, _) = store_with(0);
    let text = with_bad_checksum(&admin);
    let answer = Call::get(tokens_path(ORG_A))
        .header("authorization", &format!("Bearer {text}"))
        .send(&store)
        .await;
    assert_eq!(answer.status, 401);
    assert_eq!(
        answer.header("www-authenticate"),
        Some("Bearer realm=\"aether\", error=\"invalid_token\"")
    );
    assert_eq!(store.calls(), (0, 0, 0));
}

#[tokio::test]
async fn malformed_tokens_are_401_with_zero_store_calls() {
    let (store, admin, _) = store_with(0);
    let text = admin.expose();
    for bad in [
        "x".to_owned(),
        format!("{text}x"),
        text[..74].to_owned(),
        text.replacen("aet_", "abc_", 1),
        format!(" {text}"),
        format!("{} ", &text[..74]),
        format!("{}-{}", &text[..10], &text[11..]),
    ] {
        let answer = Call::get(tokens_path(ORG_A))
            .header("authorization", &format!("Bearer {bad}"))
            .send(&store)
            .await;
        assert_eq!(answer.status, 401, "{bad}");
    }
    assert_eq!(store.calls(), (0, 0, 0));
}

#[tokio::test]
async fn two_authorization_headers_are_401() {
    let (store, admin, _) = store_with(0);
    let call = Call::get(tokens_path(ORG_A)).bearer(&admin).bearer(&admin);
    let rest = invoke(&store, call.rest_api_event("prod")).await;
    assert_eq!(rest["statusCode"], 401);
    // An HTTP API joins them with a comma, which no token contains.
    assert_eq!(call.send(&store).await.status, 401);
    assert_eq!(store.calls(), (0, 0, 0));
}

#[tokio::test]
async fn an_unknown_token_id_is_401() {
    let (store, _, _) = store_with(0);
    let (stranger, _) = minted(ORG_A, 99, &["admin"]);
    let answer = Call::list(ORG_A, &stranger).send(&store).await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.error_code(), "invalid_credentials");
}

#[tokio::test]
async fn a_known_id_with_another_secret_is_401() {
    let (store, admin, _) = store_with(0);
    let forged = Token::assemble(admin.id(), &[9u8; 32]);
    let answer = Call::list(ORG_A, &forged).send(&store).await;
    assert_eq!(answer.status, 401);
}

#[tokio::test]
async fn read_write_and_admin_scopes_may_list() {
    let store = MemoryStore::new();
    for (n, scope) in [
        (1, "api_tokens:read"),
        (2, "api_tokens:write"),
        (3, "admin"),
    ] {
        let (token, _) = with_token(&store, ORG_A, n, &["other:scope", scope]);
        assert_eq!(
            Call::list(ORG_A, &token).send(&store).await.status,
            200,
            "{scope}"
        );
    }
}

#[tokio::test]
async fn a_token_of_org_a_on_org_b_gets_no_data_and_no_hint_that_org_b_exists() {
    let (store, token_a, _) = store_with(0);
    with_token(&store, ORG_B, 1, &["admin"]);
    let on_b = Call::list(ORG_B, &token_a).send(&store).await;
    let (stranger, _) = minted(ORG_B, 50, &["admin"]);
    let unknown = Call::list(ORG_B, &stranger).send(&store).await;
    let nowhere = Call::list(Uuid::from_u128(42), &token_a).send(&store).await;
    assert_eq!(on_b.status, 401);
    for other in [&unknown, &nowhere] {
        assert_eq!(on_b.status, other.status);
        assert_eq!(on_b.text, other.text);
        assert_eq!(on_b.headers, other.headers);
    }
    assert_eq!(
        store.page_calls.load(std::sync::atomic::Ordering::SeqCst),
        0
    );
}

#[tokio::test]
async fn authentication_runs_before_query_validation() {
    let (store, _, _) = store_with(0);
    let answer = Call::get(tokens_path(ORG_A))
        .query("limit", "0")
        .send(&store)
        .await;
    assert_eq!(answer.status, 401);
    let (stranger, _) = minted(ORG_A, 99, &["admin"]);
    let answer = Call::list(ORG_A, &stranger)
        .query("limit", "0")
        .send(&store)
        .await;
    assert_eq!(answer.status, 401);
}

// The page

#[tokio::test]
async fn items_carry_exactly_the_seeds_fields() {
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
        "fields out of the seed's order"
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

// last_used_at

#[tokio::test]
async fn a_failed_last_used_at_write_does_not_fail_the_request() {
    let (store, admin, _) = store_with(1);
    store.fail(Operation::Touch, StoreError::Unavailable("down".into()));
    let answer = Call::list(ORG_A, &admin).send(&store).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.ids().len(), 2);
}

/// The in-memory store, with a delay before each operation; `HANG` never answers.
struct Delayed {
    inner: MemoryStore,
    credential: Duration,
    page: Duration,
    touch: Duration,
}

const HANG: Duration = Duration::from_secs(365 * 86_400);

impl Delayed {
    fn new(inner: MemoryStore) -> Delayed {
        Delayed {
            inner,
            credential: Duration::ZERO,
            page: Duration::ZERO,
            touch: Duration::ZERO,
        }
    }
}

impl TokenStore for Delayed {
    async fn credential(&self, org: Uuid, id: Uuid) -> Result<Option<Credential>, StoreError> {
        tokio::time::sleep(self.credential).await;
        self.inner.credential(org, id).await
    }
    async fn page(
        &self,
        org: Uuid,
        after: Option<Uuid>,
        count: usize,
    ) -> Result<Vec<TokenSummary>, StoreError> {
        tokio::time::sleep(self.page).await;
        self.inner.page(org, after, count).await
    }
    async fn touch(
        &self,
        org: Uuid,
        id: Uuid,
        now: DateTime<Utc>,
        stale: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        tokio::time::sleep(self.touch).await;
        self.inner.touch(org, id, now, stale).await
    }
}

#[tokio::test(start_paused = true)]
async fn a_hanging_last_used_at_write_delays_the_page_by_at_most_the_grace() {
    let (inner, admin, _) = store_with(1);
    let store = Delayed {
        page: Duration::from_millis(30),
        touch: HANG,
        ..Delayed::new(inner)
    };
    let started = tokio::time::Instant::now();
    let answer = Call::list(ORG_A, &admin).send(&store).await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        started.elapsed(),
        Duration::from_millis(30) + api_tokens::TOUCH_GRACE
    );
}

#[tokio::test(start_paused = true)]
async fn last_used_at_is_written_while_the_page_is_read() {
    let (inner, admin, _) = store_with(1);
    let store = Delayed {
        page: Duration::from_millis(50),
        touch: Duration::from_millis(50),
        ..Delayed::new(inner)
    };
    let started = tokio::time::Instant::now();
    assert_eq!(Call::list(ORG_A, &admin).send(&store).await.status, 200);
    assert_eq!(
        started.elapsed(),
        Duration::from_millis(50),
        "one after the other"
    );
    assert!(
        store
            .inner
            .get(ORG_A, admin.id())
            .unwrap()
            .last_used_at
            .is_some()
    );
}

#[tokio::test(start_paused = true)]
async fn a_write_that_finishes_within_the_grace_is_awaited_and_recorded() {
    let (inner, admin, _) = store_with(1);
    let store = Delayed {
        touch: api_tokens::TOUCH_GRACE / 2,
        ..Delayed::new(inner)
    };
    assert_eq!(Call::list(ORG_A, &admin).send(&store).await.status, 200);
    let record = store.inner.get(ORG_A, admin.id()).unwrap();
    assert!(record.last_used_at.is_some());
}

#[tokio::test(start_paused = true)]
async fn a_page_read_near_the_deadline_is_not_lost_to_a_hanging_write() {
    let (inner, admin, _) = store_with(1);
    let store = Delayed {
        credential: Duration::from_millis(2000),
        page: Duration::from_millis(400),
        touch: HANG,
        ..Delayed::new(inner)
    };
    let started = tokio::time::Instant::now();
    let answer = Call::list(ORG_A, &admin).send(&store).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test(start_paused = true)]
async fn a_page_read_that_hangs_is_503_within_three_seconds_even_with_a_hanging_write() {
    let (inner, admin, _) = store_with(1);
    let store = Delayed {
        page: HANG,
        touch: HANG,
        ..Delayed::new(inner)
    };
    let started = tokio::time::Instant::now();
    let answer = Call::list(ORG_A, &admin).send(&store).await;
    assert_eq!(answer.status, 503);
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn a_credential_item_that_cannot_be_decoded_is_401_like_an_unknown_token() {
    let (store, admin, _) = store_with(1);
    let (stranger, _) = minted(ORG_A, 50, &["admin"]);
    let unknown = Call::list(ORG_A, &stranger).send(&store).await;
    store.fail(
        Operation::Credential,
        StoreError::Malformed(format!("token item {} of org {ORG_A}", admin.id())),
    );
    let undecodable = Call::list(ORG_A, &admin).send(&store).await;
    assert_eq!(undecodable.status, 401);
    assert_eq!(undecodable.text, unknown.text);
    assert_eq!(undecodable.headers, unknown.headers);
}

// Failures and headers

#[tokio::test]
async fn every_response_is_json_and_not_cached() {
    let (store, admin, _) = store_with(1);
    let calls = [
        Call::list(ORG_A, &admin),
        Call::get(tokens_path(ORG_A)),
        Call::list(ORG_A, &admin).query("limit", "0"),
        Call::get("/nope"),
        Call::list(ORG_A, &admin).method("POST"),
    ];
    for call in calls {
        let answer = call.send(&store).await;
        assert_eq!(
            answer.header("content-type"),
            Some("application/json"),
            "{call:?}"
        );
        assert_eq!(answer.header("cache-control"), Some("no-store"), "{call:?}");
    }
}

#[tokio::test]
async fn an_unavailable_store_is_503_with_retry_after() {
    let (store, admin, _) = store_with(1);
    store.fail_all(StoreError::Unavailable(
        "connection refused to 10.0.0.1".into(),
    ));
    let answer = Call::list(ORG_A, &admin).send(&store).await;
    assert_eq!(answer.status, 503);
    assert_eq!(answer.error_code(), "service_unavailable");
    assert_eq!(answer.header("retry-after"), Some("1"));
    assert!(!answer.text.contains("refused"));
}

#[tokio::test]
async fn a_throttled_page_read_is_503() {
    let (store, admin, _) = store_with(1);
    store.fail(
        Operation::Page,
        StoreError::Unavailable("ThrottlingException".into()),
    );
    let answer = Call::list(ORG_A, &admin).send(&store).await;
    assert_eq!(answer.status, 503);
}

#[tokio::test]
async fn other_store_failures_are_500_without_their_text() {
    let (store, admin, _) = store_with(1);
    for error in [
        StoreError::Failed("ResourceNotFoundException: table api_tokens".into()),
        StoreError::Malformed("token item x: missing field `name`".into()),
    ] {
        store.fail(Operation::Page, error);
        let answer = Call::list(ORG_A, &admin).send(&store).await;
        assert_eq!(answer.status, 500);
        assert_eq!(answer.error_code(), "internal_error");
        assert!(!answer.text.contains("api_tokens") && !answer.text.contains("name`"));
    }
}

/// A store that never answers.
struct Hanging;

impl TokenStore for Hanging {
    async fn credential(&self, _: Uuid, _: Uuid) -> Result<Option<Credential>, StoreError> {
        std::future::pending().await
    }
    async fn page(
        &self,
        _: Uuid,
        _: Option<Uuid>,
        _: usize,
    ) -> Result<Vec<TokenSummary>, StoreError> {
        std::future::pending().await
    }
    async fn touch(
        &self,
        _: Uuid,
        _: Uuid,
        _: DateTime<Utc>,
        _: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        std::future::pending().await
    }
}

#[tokio::test(start_paused = true)]
async fn a_store_that_never_answers_is_503_within_three_seconds() {
    let (_, admin, _) = store_with(0);
    let started = tokio::time::Instant::now();
    let answer = Call::list(ORG_A, &admin).send(&Hanging).await;
    assert_eq!(answer.status, 503);
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn no_response_carries_a_secret_hash_or_a_token() {
    let (store, admin, records) = store_with(3);
    let answer = Call::list(ORG_A, &admin).send(&store).await;
    assert!(!answer.text.contains("secret_hash"));
    assert!(!answer.text.contains(admin.expose()));
    for record in &records {
        assert!(!answer.text.contains(&record.secret_hash));
    }
}

// The request log line

/// Sends `call` while the production JSON log format writes to memory, and returns the answer
/// and the request's log line. (Thread-local: a `#[tokio::test]` runs on one thread.)
async fn logged(store: &impl TokenStore, call: &Call) -> (Answer, serde_json::Value, String) {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber =
        api_tokens::telemetry::json_lines(tracing::Level::INFO, move || writer.clone());
    let answer = {
        let _guard = tracing::subscriber::set_default(subscriber);
        call.send(store).await
    };
    let text = logs.text();
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
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber =
        api_tokens::telemetry::json_lines(tracing::Level::INFO, move || writer.clone());
    let _guard = tracing::subscriber::set_default(subscriber);
    Call::list(ORG_A, &admin).send(&store).await;
    let text = logs.text();
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

// The Lambda entry point

async fn invoke(store: &MemoryStore, event: serde_json::Value) -> serde_json::Value {
    let response: GatewayResponse = function(store, LambdaEvent::new(event, Context::default()))
        .await
        .unwrap();
    serde_json::to_value(response).unwrap()
}

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
