//! The real `api-tokens` binary under a Runtime-API emulator, against dynalite: one invocation
//! at a time on classic Lambda, several at once under Lambda Managed Instances
//! (`AWS_LAMBDA_MAX_CONCURRENCY`), every answer to its own invocation.

use std::time::Duration;

use api_tokens::dynamo::DynamoStore;
use serde_json::Value;
use tokio::io::AsyncReadExt;
use uuid::Uuid;

use crate::support::dynalite::fresh_table;
use crate::support::runtime_api::{Answer, RuntimeApi};
use crate::support::*;

/// `count` orgs in a fresh table, org i with i + 1 tokens; for each, its request id, its list
/// event and the ids its page must show.
async fn orgs(count: u32) -> (DynamoStore, Vec<(String, Value, Vec<String>)>) {
    let store = fresh_table().await;
    let mut invocations = Vec::new();
    for i in 0..count {
        let org = Uuid::from_u128(0x1000 + u128::from(i));
        let mut records = Vec::new();
        for n in 0..=i {
            let (_, record) = minted(org, n, &["api_tokens:read"]);
            assert!(store.insert(&record).await.unwrap());
            records.push(record);
        }
        let (token, _) = minted(org, 0, &["api_tokens:read"]);
        let event = Call::list(org, &token).http_api_event();
        invocations.push((format!("invocation-{i}"), event, newest_first(&records)));
    }
    (store, invocations)
}

/// Runs the function with `concurrency` (None: unset) until every invocation is answered;
/// the answers, and what the function printed.
async fn run(
    concurrency: Option<&str>,
    together: usize,
    store: &DynamoStore,
    invocations: &[(String, Value, Vec<String>)],
) -> (std::collections::HashMap<String, Answer>, String) {
    let events = invocations
        .iter()
        .map(|(id, event, _)| (id.clone(), event.clone()))
        .collect();
    let mut api = RuntimeApi::start(events, together).await;
    let mut command = api.function(store.table());
    if let Some(value) = concurrency {
        command.env("AWS_LAMBDA_MAX_CONCURRENCY", value);
    }
    let mut child = command.spawn().expect("the function starts");
    let answers = tokio::time::timeout(Duration::from_secs(20), api.answers(invocations.len()))
        .await
        .expect("every invocation answered within 20 s");
    child.kill().await.unwrap();
    let mut printed = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        stdout.read_to_string(&mut printed).await.unwrap();
    }
    (answers, printed)
}

/// Each answer is its own org's page, and each request line names its own invocation and org.
fn assert_each_answer_is_its_own(
    answers: &std::collections::HashMap<String, Answer>,
    printed: &str,
    invocations: &[(String, Value, Vec<String>)],
) {
    let lines: Vec<Value> = printed
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .filter(|line: &Value| line["message"] == "request")
        .collect();
    for (id, event, ids) in invocations {
        let answer = &answers[id];
        assert_eq!(answer.kind, "response", "{id}");
        assert_eq!(answer.body["statusCode"], 200, "{id}: {:?}", answer.body);
        let body: Value = serde_json::from_str(answer.body["body"].as_str().unwrap()).unwrap();
        let listed: Vec<String> = body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(&listed, ids, "{id} got another invocation's page");
        let org = event["rawPath"]
            .as_str()
            .unwrap()
            .split('/')
            .nth(4)
            .unwrap();
        let line = lines
            .iter()
            .find(|line| line["request_id"] == id.as_str())
            .unwrap_or_else(|| panic!("no request line for {id} in {printed}"));
        assert_eq!(line["org"], org, "{id}");
    }
}

#[tokio::test]
async fn eight_invocations_at_once_each_get_their_own_answer() {
    let (store, invocations) = orgs(8).await;
    // The emulator hands out no event before 8 polls wait at once: one poller gets nothing.
    let (answers, printed) = run(Some("8"), 8, &store, &invocations).await;
    assert_each_answer_is_its_own(&answers, &printed, &invocations);
}

#[tokio::test]
async fn without_the_variable_invocations_come_one_at_a_time_and_are_answered() {
    let (store, invocations) = orgs(4).await;
    let (answers, printed) = run(None, 1, &store, &invocations).await;
    assert_each_answer_is_its_own(&answers, &printed, &invocations);
    assert!(!printed.contains("concurrency-tokio"), "{printed}");
}

#[tokio::test]
async fn cargo_lambda_watchs_concurrency_of_one_is_served_without_a_warning() {
    let (store, invocations) = orgs(2).await;
    let (answers, printed) = run(Some("1"), 1, &store, &invocations).await;
    assert_each_answer_is_its_own(&answers, &printed, &invocations);
    assert!(!printed.contains("WARN"), "{printed}");
}
