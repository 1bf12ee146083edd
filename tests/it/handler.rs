//! The handler around the reads: the token use it hands over, deadlines, failures and the
//! headers of every answer.

use std::time::Duration;

use api_tokens::memory::{MemoryStore, Operation};
use api_tokens::store::{Credential, StoreError, TokenStore, TokenSummary};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::support::*;

#[tokio::test]
async fn a_failed_last_used_at_write_does_not_fail_the_request() {
    let (store, admin, _) = store_with(1);
    store.fail(Operation::RecordUse, StoreError::Unavailable("down".into()));
    let answer = Call::list(ORG_A, &admin).send(&store).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.ids().len(), 2);
}

/// The in-memory store, with a delay before each operation; `HANG` never answers.
struct Delayed {
    inner: MemoryStore,
    credential: Duration,
    page: Duration,
    record_use: Duration,
}

const HANG: Duration = Duration::from_secs(365 * 86_400);

impl Delayed {
    fn new(inner: MemoryStore) -> Delayed {
        Delayed {
            inner,
            credential: Duration::ZERO,
            page: Duration::ZERO,
            record_use: Duration::ZERO,
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
    async fn record_use(
        &self,
        org: Uuid,
        id: Uuid,
        now: DateTime<Utc>,
        stale: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        tokio::time::sleep(self.record_use).await;
        self.inner.record_use(org, id, now, stale).await
    }
}

#[tokio::test(start_paused = true)]
async fn the_answer_is_ready_before_the_use_is_recorded() {
    let (inner, admin, _) = store_with(1);
    let store = Delayed {
        page: Duration::from_millis(30),
        record_use: HANG,
        ..Delayed::new(inner)
    };
    let started = tokio::time::Instant::now();
    let (answer, token_use) = Call::list(ORG_A, &admin).respond(&store).await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        started.elapsed(),
        Duration::from_millis(30),
        "the page alone"
    );
    let token_use = token_use.expect("a use due");
    assert_eq!((token_use.org, token_use.id), (ORG_A, admin.id()));
    assert_eq!(
        store.inner.calls_of(Operation::RecordUse),
        0,
        "not written yet"
    );
}

#[tokio::test(start_paused = true)]
async fn a_refused_scope_answers_at_once_and_hands_over_its_use() {
    let (inner, _, _) = store_with(0);
    let (reader, record) = minted(ORG_A, 7, &["other:read"]);
    inner.insert(record);
    let store = Delayed {
        record_use: HANG,
        ..Delayed::new(inner)
    };
    let started = tokio::time::Instant::now();
    let (answer, token_use) = Call::list(ORG_A, &reader).respond(&store).await;
    assert_eq!(answer.status, 403);
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(token_use.map(|u| u.id), Some(reader.id()));
}

#[tokio::test]
async fn a_refused_token_hands_over_no_use() {
    let (store, _, _) = store_with(0);
    let (stranger, _) = minted(ORG_A, 50, &["admin"]);
    let (answer, token_use) = Call::list(ORG_A, &stranger).respond(&store).await;
    assert_eq!(answer.status, 401);
    assert_eq!(token_use, None);
}

#[tokio::test]
async fn a_token_used_within_the_minute_hands_over_no_use() {
    let (store, admin, _) = store_with(0);
    let (_, first) = Call::list(ORG_A, &admin).respond(&store).await;
    first.expect("the first use is due").record(&store).await;
    let (answer, second) = Call::list(ORG_A, &admin).respond(&store).await;
    assert_eq!(answer.status, 200);
    assert_eq!(second, None);
}

#[tokio::test(start_paused = true)]
async fn recorded_before_the_answer_a_hanging_write_holds_it_for_the_write_timeout_at_most() {
    let (inner, admin, _) = store_with(1);
    let store = Delayed {
        page: Duration::from_millis(30),
        record_use: HANG,
        ..Delayed::new(inner)
    };
    let started = tokio::time::Instant::now();
    let answer = Call::list(ORG_A, &admin).send(&store).await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        started.elapsed(),
        Duration::from_millis(30) + api_tokens::store::RECORD_USE_TIMEOUT
    );
}

#[tokio::test(start_paused = true)]
async fn recorded_before_the_answer_a_use_is_stored_by_the_time_it_answers() {
    let (inner, admin, _) = store_with(1);
    let store = Delayed {
        record_use: api_tokens::store::RECORD_USE_TIMEOUT / 2,
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
        record_use: HANG,
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
        record_use: HANG,
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
    async fn record_use(
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
