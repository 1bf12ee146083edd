//! The real `api-tokens` binary under the Runtime-API emulator, its DynamoDB behind a proxy that
//! slows or stalls UpdateItem: no answer waits on the `last_used_at` write, and Lambda's freeze
//! (the runtime's `next`, then the next event) never comes before the write is done or dropped at
//! its bound.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use api_tokens::dynamo::DynamoStore;
use api_tokens::token::Token;
use chrono::Utc;
use serde_json::Value;
use tokio::io::AsyncReadExt;
use uuid::Uuid;

use crate::support::dynalite::{fresh_table, set_last_used_at, stored_last_used_at};
use crate::support::fake_dynamo::{FakeDynamo, Reply};
use crate::support::runtime_api::{Happened, RuntimeApi};
use crate::support::*;

/// A token of ORG_A in `store`, with `scopes`; its `last_used_at` just now unless `due`.
async fn token(store: &DynamoStore, n: u32, scopes: &[&str], due: bool) -> Token {
    let (token, record) = minted(ORG_A, n, scopes);
    assert!(store.insert(&record).await.unwrap());
    if !due {
        set_last_used_at(store, ORG_A, token.id(), Utc::now()).await;
    }
    token
}

/// The test's DynamoDB-API server, host and port.
fn upstream() -> String {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap();
    endpoint.trim_start_matches("http://").to_owned()
}

/// An UpdateItem passed on to the test's DynamoDB after `delay`.
fn late_write(delay: Duration) -> Reply {
    Reply::LateForward(delay, upstream())
}

/// A proxy in front of the test's DynamoDB whose UpdateItem gets `update_item`.
async fn proxy(update_item: Reply) -> FakeDynamo {
    let upstream = upstream();
    FakeDynamo::start(move |_, operation| match operation {
        "UpdateItem" => update_item.clone(),
        _ => Reply::Forward(upstream.clone()),
    })
    .await
}

/// The function, run through `events` (request id, token) against `store` behind `proxy`, until
/// `last` has happened at the emulator; the emulator's log, and what the function printed.
async fn run(
    store: &DynamoStore,
    proxy: &FakeDynamo,
    events: &[(&str, &Token)],
    last: Happened,
) -> (Vec<(Instant, Happened)>, String) {
    let events = events
        .iter()
        .map(|(id, token)| (id.to_string(), Call::list(ORG_A, token).http_api_event()))
        .collect();
    let mut api = RuntimeApi::start(events, 1).await;
    let mut child = api
        .function(store.table())
        .env(
            "AWS_ENDPOINT_URL_DYNAMODB",
            format!("http://{}", proxy.address),
        )
        .spawn()
        .expect("the function starts");
    let log = tokio::time::timeout(Duration::from_secs(20), api.until(&last))
        .await
        .unwrap_or_else(|_| panic!("no {last:?} within 20 s: {:?}", api.log()));
    child.kill().await.unwrap();
    let mut printed = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        stdout.read_to_string(&mut printed).await.unwrap();
    }
    (log, printed)
}

/// When the runtime first called `next` after answering `id`: from then on Lambda may freeze.
fn next_after(log: &[(Instant, Happened)], id: &str) -> Instant {
    let answered = at(log, &answered(id));
    log.iter()
        .find(|(when, h)| *when >= answered && *h == Happened::Next)
        .unwrap_or_else(|| panic!("no next after {id} in {log:?}"))
        .0
}

/// When `happened` happened.
fn at(log: &[(Instant, Happened)], happened: &Happened) -> Instant {
    log.iter()
        .find(|(_, h)| h == happened)
        .unwrap_or_else(|| panic!("no {happened:?} in {log:?}"))
        .0
}

/// From the event being handed out to its answer, per request id.
fn answer_times(log: &[(Instant, Happened)]) -> HashMap<String, Duration> {
    let mut handed = HashMap::new();
    let mut took = HashMap::new();
    for (when, happened) in log {
        match happened {
            Happened::Handed(id) => {
                handed.insert(id.clone(), *when);
            }
            Happened::Answered(id) => {
                took.insert(id.clone(), *when - handed[id]);
            }
            _ => {}
        }
    }
    took
}

fn answered(id: &str) -> Happened {
    Happened::Answered(id.to_owned())
}

fn handed(id: &str) -> Happened {
    Happened::Handed(id.to_owned())
}

#[tokio::test]
async fn a_stalled_write_runs_after_the_answer_and_ends_before_the_runtime_lets_lambda_freeze() {
    let store = fresh_table().await;
    let due = token(&store, 0, &["api_tokens:read"], true).await;
    let proxy = proxy(Reply::Silent).await;
    let events = [("first", &due), ("second", &due)];
    let (log, printed) = run(&store, &proxy, &events, answered("second")).await;

    let answer = at(&log, &answered("first"));
    let released = next_after(&log, "first");
    // The write began after the answer's event and was still running after the answer; the
    // runtime called `next` only once it was dropped at its 300 ms bound.
    assert!(proxy.count("UpdateItem") >= 1);
    assert!(answer < released, "{log:?}");
    let held = released - answer;
    assert!(
        held >= Duration::from_millis(250) && held < Duration::from_secs(2),
        "the runtime held the freeze for {held:?}"
    );
    // The next event only after that `next`.
    assert!(released <= at(&log, &handed("second")), "{log:?}");
    // Logged as a failed write, within the span of the invocation it belongs to.
    let warned: Vec<&str> = printed
        .lines()
        .filter(|line| line.contains("could not record last_used_at"))
        .collect();
    assert!(
        !warned.is_empty()
            && warned
                .iter()
                .all(|line| line.contains(r#""request_id":"first""#)),
        "{printed}"
    );
}

#[tokio::test]
async fn answers_due_a_write_come_as_fast_as_those_that_are_not_and_the_write_lands_after() {
    let store = fresh_table().await;
    let reader_due = token(&store, 0, &["api_tokens:read"], true).await;
    let reader_recent = token(&store, 1, &["api_tokens:read"], false).await;
    let refused_due = token(&store, 2, &["other:read"], true).await;
    let refused_recent = token(&store, 3, &["other:read"], false).await;
    let slow_write = Duration::from_millis(150);
    let proxy = proxy(late_write(slow_write)).await;
    let events = [
        ("warm", &reader_recent),
        ("200-due", &reader_due),
        ("200-recent", &reader_recent),
        ("403-due", &refused_due),
        ("403-recent", &refused_recent),
    ];
    let (log, _) = run(&store, &proxy, &events, answered("403-recent")).await;

    let took = answer_times(&log);
    for (due, recent) in [("200-due", "200-recent"), ("403-due", "403-recent")] {
        let (due_took, recent_took) = (took[due], took[recent]);
        assert!(
            due_took < recent_took + Duration::from_millis(50),
            "{due} took {due_took:?}, {recent} {recent_took:?}: {took:?}"
        );
        // The write, slowed by 150 ms, was done by the time the runtime called `next`.
        let held = next_after(&log, due) - at(&log, &answered(due));
        assert!(
            held >= slow_write - Duration::from_millis(50),
            "{due}: {held:?}"
        );
    }
    for token in [&reader_due, &refused_due] {
        assert!(
            stored_last_used_at(&store, ORG_A, token.id())
                .await
                .is_some()
        );
    }
}

#[tokio::test]
async fn managed_instances_record_every_due_use_after_answers_that_do_not_wait() {
    let store = fresh_table().await;
    let mut tokens = Vec::new();
    for n in 0..8u32 {
        let org = Uuid::from_u128(0x2000 + u128::from(n));
        let (token, record) = minted(org, 0, &["api_tokens:read"]);
        assert!(store.insert(&record).await.unwrap());
        tokens.push((format!("invocation-{n}"), org, token));
    }
    let slow_write = Duration::from_millis(250);
    let proxy = proxy(late_write(slow_write)).await;
    let events: Vec<(String, Value)> = tokens
        .iter()
        .map(|(id, org, token)| (id.clone(), Call::list(*org, token).http_api_event()))
        .collect();
    let mut api = RuntimeApi::start(events, 8).await;
    let mut child = api
        .function(store.table())
        .env("AWS_LAMBDA_MAX_CONCURRENCY", "8")
        .env(
            "AWS_ENDPOINT_URL_DYNAMODB",
            format!("http://{}", proxy.address),
        )
        .spawn()
        .expect("the function starts");
    let answers = tokio::time::timeout(Duration::from_secs(20), api.answers(8))
        .await
        .expect("every invocation answered within 20 s");
    let log = api.log();

    assert!(
        answers.values().all(|a| a.body["statusCode"] == 200),
        "{answers:?}"
    );
    for (id, took) in answer_times(&log) {
        assert!(
            took < slow_write,
            "{id} took {took:?}: it waited on its write"
        );
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    for (id, org, token) in &tokens {
        while stored_last_used_at(&store, *org, token.id())
            .await
            .is_none()
        {
            assert!(Instant::now() < deadline, "{id}: its use never landed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    child.kill().await.unwrap();
}
