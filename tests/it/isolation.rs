//! A token of one org never reads another org's tokens, whatever the path, cursor or headers.

use api_tokens::memory::MemoryStore;
use api_tokens::token::Token;
use serde_json::Value;

use crate::support::*;

/// ORG_A with its admin token and two more; ORG_B with its admin token and two more.
fn two_orgs() -> (MemoryStore, Token, Token, Vec<String>) {
    let store = MemoryStore::new();
    let mut b_ids = Vec::new();
    let (a, record) = minted(ORG_A, 0, &["admin"]);
    store.insert(record);
    let (b, record) = minted(ORG_B, 10, &["admin"]);
    b_ids.push(record.id.to_string());
    store.insert(record);
    for n in 1..=2 {
        store.insert(minted(ORG_A, n, &["api_tokens:read"]).1);
        let record = minted(ORG_B, 10 + n, &["api_tokens:read"]).1;
        b_ids.push(record.id.to_string());
        store.insert(record);
    }
    (store, a, b, b_ids)
}

/// The status and body of an event's response.
async fn status_and_body(store: &MemoryStore, event: Value) -> (u16, String) {
    let response = invoke(store, event).await;
    let status = response["statusCode"].as_u64().unwrap() as u16;
    (status, response["body"].as_str().unwrap().to_owned())
}

/// Sends the call as both an HTTP API and a REST API event; asserts neither shows org B's data.
async fn assert_no_org_b_data(store: &MemoryStore, call: &Call, b_ids: &[String]) -> Vec<u16> {
    let mut statuses = Vec::new();
    for event in [call.http_api_event(), call.rest_api_event("prod")] {
        let (status, body) = status_and_body(store, event).await;
        assert!(
            !body.contains(&ORG_B.to_string()),
            "{call:?} showed org B: {body}"
        );
        for id in b_ids {
            assert!(
                !body.contains(id.as_str()),
                "{call:?} showed a token of org B"
            );
        }
        statuses.push(status);
    }
    statuses
}

#[tokio::test]
async fn org_a_token_on_org_b_path_any_case_or_encoding_is_401() {
    let (store, a, _, b_ids) = two_orgs();
    let b = ORG_B.to_string();
    let encoded: String = b.bytes().map(|c| format!("%{c:02X}")).collect();
    for org in [b.clone(), b.to_uppercase(), encoded] {
        let call = Call::get(tokens_path(&org)).bearer(&a);
        assert_eq!(
            assert_no_org_b_data(&store, &call, &b_ids).await,
            [401, 401],
            "{org}"
        );
    }
}

#[tokio::test]
async fn a_cursor_of_org_b_only_positions_within_org_a() {
    let (store, a, _, b_ids) = two_orgs();
    for cursor in &b_ids {
        let call = Call::list(ORG_A, &a).query("cursor", cursor);
        assert_eq!(
            assert_no_org_b_data(&store, &call, &b_ids).await,
            [200, 200]
        );
        let call = Call::list(ORG_B, &a).query("cursor", cursor);
        assert_eq!(
            assert_no_org_b_data(&store, &call, &b_ids).await,
            [401, 401]
        );
    }
}

#[tokio::test]
async fn an_org_given_elsewhere_than_the_path_is_ignored() {
    let (store, a, _, b_ids) = two_orgs();
    let b = ORG_B.to_string();
    let call = Call::list(ORG_A, &a)
        .query("orgID", &b)
        .query("org_id", &b)
        .header("x-org-id", &b)
        .header("x-amz-org", &b);
    assert_eq!(
        assert_no_org_b_data(&store, &call, &b_ids).await,
        [200, 200]
    );
}

#[tokio::test]
async fn path_tricks_do_not_reach_org_b() {
    let (store, a, _, b_ids) = two_orgs();
    let (a_org, b_org) = (ORG_A.to_string(), ORG_B.to_string());
    for path in [
        format!("/api/v1/organizations/{b_org}/../{a_org}/api-tokens"),
        format!("/api/v1/organizations/{a_org}/../{b_org}/api-tokens"),
        format!("/api/v1/organizations/{a_org}%2F..%2F{b_org}/api-tokens"),
        format!("/api/v1/organizations/{b_org}%00/api-tokens"),
        format!("/api/v1/organizations/{b_org}/api-tokens/../../{a_org}/api-tokens"),
        format!("/api/v1/organizations//{b_org}/api-tokens"),
        format!("/prod/api/v1/organizations/{b_org}/api-tokens"),
    ] {
        let statuses =
            assert_no_org_b_data(&store, &Call::get(path.as_str()).bearer(&a), &b_ids).await;
        assert!(
            statuses.iter().all(|s| [400, 401, 404].contains(s)),
            "{path}: {statuses:?}"
        );
    }
}

#[tokio::test]
async fn two_authorization_headers_are_refused_even_if_one_is_valid_for_org_b() {
    let (store, a, b, b_ids) = two_orgs();
    for (first, second) in [(&a, &b), (&b, &a), (&b, &b)] {
        let call = Call::get(tokens_path(ORG_B)).bearer(first).bearer(second);
        assert_eq!(
            assert_no_org_b_data(&store, &call, &b_ids).await,
            [401, 401]
        );
    }
}

#[tokio::test]
async fn header_name_case_does_not_matter_and_does_not_help() {
    let (store, a, _, b_ids) = two_orgs();
    for name in ["Authorization", "AUTHORIZATION", "aUtHoRiZaTiOn"] {
        let value = format!("Bearer {}", a.expose());
        let own = Call::get(tokens_path(ORG_A)).header(name, &value);
        assert_eq!(
            assert_no_org_b_data(&store, &own, &b_ids).await,
            [200, 200],
            "{name}"
        );
        let theirs = Call::get(tokens_path(ORG_B)).header(name, &value);
        assert_eq!(
            assert_no_org_b_data(&store, &theirs, &b_ids).await,
            [401, 401],
            "{name}"
        );
    }
}

#[tokio::test]
async fn extra_spaces_around_the_token_are_refused() {
    let (store, _, b, b_ids) = two_orgs();
    for value in [
        format!("Bearer  {}", b.expose()),
        format!(" Bearer {}", b.expose()),
        format!("Bearer {} ", b.expose()),
        format!("Bearer\t{}", b.expose()),
        format!("Bearer {}, Bearer {}", b.expose(), b.expose()),
    ] {
        let call = Call::get(tokens_path(ORG_B)).header("authorization", &value);
        // Even org B's own token is refused in a mangled header, not read loosely.
        let statuses = assert_no_org_b_data(&store, &call, &b_ids).await;
        assert_eq!(statuses, [401, 401], "{value:?}");
    }
}
