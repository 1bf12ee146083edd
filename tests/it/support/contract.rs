//! What every store must give the handler, written once and run over each store by
//! `store_contract!`: over the in-memory store in tests/handler.rs, over DynamoDB (dynalite) in
//! tests/dynamodb.rs. Rules that only one store can show stay in those files.

use api_tokens::store::{TokenRecord, TokenStore};
use api_tokens::token::Token;
use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use uuid::Uuid;

use super::{Answer, Call, ORG_A, ORG_B, minted, newest_first};

/// A store the contract can create, fill and look into.
pub trait ContractStore: TokenStore + Sync + Sized {
    /// A new, empty store.
    async fn fresh() -> Self;
    /// Writes a token item as the admin CLI would.
    async fn put(&self, record: &TokenRecord);
    /// The `last_used_at` of a token item, as stored.
    async fn last_used_at(&self, org: Uuid, id: Uuid) -> Option<String>;
}

/// One `#[tokio::test]` for each rule of the contract, over the store type given. (Only two of
/// the test crates that share `common` use it, hence the `allow`s.)
#[allow(unused_macros)]
macro_rules! store_contract {
    ($store:ty) => {
        store_contract!(@each $store;
            paging_lists_every_token_once_newest_first,
            an_exact_multiple_of_the_limit_ends_without_an_empty_page,
            the_default_page_is_fifty_items,
            a_cursor_that_matches_no_item_is_a_position,
            a_cursor_past_the_end_gives_an_empty_last_page,
            a_cursor_from_another_org_only_positions_within_the_paths_org,
            an_expired_token_is_401,
            a_token_expiring_later_is_accepted,
            a_token_expired_earlier_in_the_same_second_is_401,
            a_token_without_the_scope_is_403,
            a_refused_scope_still_records_last_used_at,
            a_token_of_org_a_on_org_b_is_answered_as_an_unknown_token,
            a_first_use_records_last_used_at,
            a_use_within_a_minute_writes_nothing,
            a_use_after_a_minute_writes_again,
        );
    };
    (@each $store:ty; $($rule:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $rule() {
                crate::support::contract::$rule::<$store>().await
            }
        )*
    };
}
#[allow(unused_imports)]
pub(crate) use store_contract;

/// A store holding the admin token of ORG_A (number 0) and `others` more tokens of ORG_A.
async fn seeded<S: ContractStore>(others: u32) -> (S, Token, Vec<TokenRecord>) {
    let store = S::fresh().await;
    let (admin, record) = minted(ORG_A, 0, &["admin"]);
    let mut records = vec![record];
    for n in 1..=others {
        records.push(minted(ORG_A, n, &["api_tokens:read"]).1);
    }
    for record in &records {
        store.put(record).await;
    }
    (store, admin, records)
}

/// A store holding one token of ORG_A, shaped by `change`.
async fn holding<S: ContractStore>(change: impl FnOnce(&mut TokenRecord)) -> (S, Token) {
    let store = S::fresh().await;
    let (token, mut record) = minted(ORG_A, 1, &["admin"]);
    change(&mut record);
    store.put(&record).await;
    (store, token)
}

async fn list<S: ContractStore>(store: &S, token: &Token, query: &[(&str, &str)]) -> Answer {
    let mut call = Call::list(ORG_A, token);
    for (name, value) in query {
        call = call.query(name, value);
    }
    call.send(store).await
}

/// Every page from the first at `limit`, each checked on the way; fails on an empty page.
pub async fn all_pages<S: ContractStore>(store: &S, token: &Token, limit: usize) -> Vec<String> {
    let limit_text = limit.to_string();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query = vec![("limit", limit_text.as_str())];
        if let Some(c) = &cursor {
            query.push(("cursor", c.as_str()));
        }
        let answer = list(store, token, &query).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        assert!(
            !answer.ids().is_empty(),
            "an empty page after {}",
            seen.len()
        );
        assert!(answer.ids().len() <= limit);
        seen.extend(answer.ids());
        cursor = answer.next_cursor();
        match &cursor {
            None => return seen,
            Some(next) => assert_eq!(Some(next), seen.last(), "the cursor is the last id"),
        }
    }
}

pub async fn paging_lists_every_token_once_newest_first<S: ContractStore>() {
    let (store, admin, records) = seeded::<S>(24).await;
    for limit in [1, 7, 100] {
        let ids = all_pages(&store, &admin, limit).await;
        assert_eq!(ids, newest_first(&records), "limit {limit}");
    }
}

pub async fn an_exact_multiple_of_the_limit_ends_without_an_empty_page<S: ContractStore>() {
    let (store, admin, records) = seeded::<S>(9).await;
    assert_eq!(all_pages(&store, &admin, 5).await, newest_first(&records));
    assert_eq!(all_pages(&store, &admin, 10).await.len(), 10);
}

pub async fn the_default_page_is_fifty_items<S: ContractStore>() {
    let (store, admin, _) = seeded::<S>(59).await;
    let answer = list(&store, &admin, &[]).await;
    assert_eq!(answer.ids().len(), 50);
    assert!(answer.next_cursor().is_some());
}

pub async fn a_cursor_that_matches_no_item_is_a_position<S: ContractStore>() {
    let (store, admin, records) = seeded::<S>(4).await;
    let ids = newest_first(&records);
    // Between the 2nd and 3rd newest ids, matching neither.
    let between = Uuid::parse_str(&ids[1]).unwrap().as_u128() - 1;
    let between = Uuid::from_u128(between).to_string();
    let answer = list(&store, &admin, &[("cursor", &between)]).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.ids(), ids[2..].to_vec());
}

pub async fn a_cursor_past_the_end_gives_an_empty_last_page<S: ContractStore>() {
    let (store, admin, _) = seeded::<S>(2).await;
    let answer = list(&store, &admin, &[("cursor", &Uuid::nil().to_string())]).await;
    assert_eq!(answer.status, 200);
    assert!(answer.ids().is_empty());
    assert_eq!(answer.body["next_cursor"], serde_json::Value::Null);
}

pub async fn a_cursor_from_another_org_only_positions_within_the_paths_org<S: ContractStore>() {
    let (store, admin, records) = seeded::<S>(3).await;
    let (_, other) = minted(ORG_B, 2, &["admin"]);
    store.put(&other).await;
    let answer = list(&store, &admin, &[("cursor", &other.id.to_string())]).await;
    assert_eq!(answer.status, 200);
    let org_a = newest_first(&records);
    assert!(answer.ids().iter().all(|id| org_a.contains(id)));
    assert!(!answer.text.contains(&ORG_B.to_string()));
}

pub async fn an_expired_token_is_401<S: ContractStore>() {
    let (store, token) = holding::<S>(|record| {
        record.expires_at = Some((Utc::now() - TimeDelta::seconds(5)).into());
    })
    .await;
    let answer = list(&store, &token, &[]).await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.error_code(), "invalid_credentials");
    assert_eq!(
        answer.header("www-authenticate"),
        Some("Bearer realm=\"aether\", error=\"invalid_token\"")
    );
}

pub async fn a_token_expiring_later_is_accepted<S: ContractStore>() {
    let (store, token) = holding::<S>(|record| {
        record.expires_at = Some((Utc::now() + TimeDelta::minutes(5)).into());
    })
    .await;
    assert_eq!(list(&store, &token, &[]).await.status, 200);
}

pub async fn a_token_expired_earlier_in_the_same_second_is_401<S: ContractStore>() {
    let store = S::fresh().await;
    // Expiry 0.2 s before now, within the same whole second: a check against `now` cut to
    // whole seconds would still accept the token.
    let now = loop {
        let now = Utc::now();
        if (300..700).contains(&now.timestamp_subsec_millis()) {
            break now;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let (token, mut record) = minted(ORG_A, 1, &["admin"]);
    record.expires_at = Some((now - TimeDelta::milliseconds(200)).into());
    store.put(&record).await;
    let answer = list(&store, &token, &[]).await;
    assert_eq!(answer.status, 401, "{}", answer.text);
}

pub async fn a_token_without_the_scope_is_403<S: ContractStore>() {
    let store = S::fresh().await;
    for (n, scopes) in [(1, vec!["billing:read"]), (2, vec![])] {
        let (token, record) = minted(ORG_A, n, &scopes);
        store.put(&record).await;
        let answer = list(&store, &token, &[]).await;
        assert_eq!(answer.status, 403);
        assert_eq!(answer.error_code(), "insufficient_scope");
        assert_eq!(
            answer.header("www-authenticate"),
            Some(
                "Bearer realm=\"aether\", error=\"insufficient_scope\", scope=\"api_tokens:read\""
            )
        );
    }
}

pub async fn a_refused_scope_still_records_last_used_at<S: ContractStore>() {
    let store = S::fresh().await;
    let (token, record) = minted(ORG_A, 1, &["billing:read"]);
    store.put(&record).await;
    let before = Utc::now().trunc_subsecs(0);
    assert_eq!(list(&store, &token, &[]).await.status, 403);
    let written = store.last_used_at(ORG_A, token.id()).await;
    let written: DateTime<Utc> = written.expect("written").parse().unwrap();
    assert!(written >= before && written <= Utc::now());
}

pub async fn a_token_of_org_a_on_org_b_is_answered_as_an_unknown_token<S: ContractStore>() {
    let (store, token_a, _) = seeded::<S>(0).await;
    store.put(&minted(ORG_B, 1, &["admin"]).1).await;
    let on_b = Call::list(ORG_B, &token_a).send(&store).await;
    let (stranger, _) = minted(ORG_B, 50, &["admin"]);
    let unknown = Call::list(ORG_B, &stranger).send(&store).await;
    assert_eq!(on_b.status, 401);
    assert_eq!(on_b.text, unknown.text);
    assert_eq!(on_b.headers, unknown.headers);
}

pub async fn a_first_use_records_last_used_at<S: ContractStore>() {
    let (store, admin, _) = seeded::<S>(0).await;
    assert_eq!(store.last_used_at(ORG_A, admin.id()).await, None);
    let before = Utc::now().trunc_subsecs(0);
    assert_eq!(list(&store, &admin, &[]).await.status, 200);
    let written = store.last_used_at(ORG_A, admin.id()).await;
    let written: DateTime<Utc> = written.expect("written").parse().unwrap();
    assert!(written >= before && written <= Utc::now());
}

pub async fn a_use_within_a_minute_writes_nothing<S: ContractStore>() {
    let recent = (Utc::now() - TimeDelta::seconds(30)).trunc_subsecs(0);
    let (store, token) = holding::<S>(|record| record.last_used_at = Some(recent.into())).await;
    let before = store.last_used_at(ORG_A, token.id()).await;
    assert!(before.is_some());
    assert_eq!(list(&store, &token, &[]).await.status, 200);
    assert_eq!(store.last_used_at(ORG_A, token.id()).await, before);
}

pub async fn a_use_after_a_minute_writes_again<S: ContractStore>() {
    let old = (Utc::now() - TimeDelta::seconds(61)).trunc_subsecs(0);
    let (store, token) = holding::<S>(|record| record.last_used_at = Some(old.into())).await;
    assert_eq!(list(&store, &token, &[]).await.status, 200);
    let written = store.last_used_at(ORG_A, token.id()).await;
    let written: DateTime<Utc> = written.expect("written").parse().unwrap();
    assert!(written > old);
}
