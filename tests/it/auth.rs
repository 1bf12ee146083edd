//! Authentication and scope: the Authorization header, the token item, its hash, expiry and scope.

use api_tokens::memory::{MemoryStore, Operation};
use api_tokens::token::Token;
use uuid::Uuid;

use crate::support::*;

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
    assert_eq!(store.calls_of(Operation::Page), 0);
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
