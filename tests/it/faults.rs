//! DynamoDB failing in every way a network service can, against a scripted fake DynamoDB on
//! 127.0.0.1 and the production SDK settings. Every case answers 503 or 500 in the envelope
//! within 3 s, and the next request after recovery succeeds.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use api_tokens::dynamo::DynamoStore;
use serde_json::json;
use tokio::net::TcpListener;

use crate::support::fake_dynamo::*;
use crate::support::*;

/// One list request; asserts the answer came within 3 s.
async fn list(store: &DynamoStore) -> Answer {
    let started = Instant::now();
    let answer = Call::list(ORG_A, &admin().0).send(store).await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "answered after {took:?}");
    answer
}

fn assert_unavailable(answer: &Answer) {
    assert_eq!(answer.status, 503, "{}", answer.text);
    assert_eq!(answer.error_code(), "service_unavailable");
    assert_eq!(answer.header("retry-after"), Some("1"));
}

fn assert_internal(answer: &Answer) {
    assert_eq!(answer.status, 500, "{}", answer.text);
    assert_eq!(answer.error_code(), "internal_error");
    assert!(!answer.text.contains("injected"));
}

/// A fake whose replies follow `failing` until `recovered` is set, then are healthy.
async fn switchable(failing: Reply) -> (FakeDynamo, Arc<Mutex<bool>>) {
    let recovered = Arc::new(Mutex::new(false));
    let flag = recovered.clone();
    let fake = FakeDynamo::start(move |_, _| {
        if *flag.lock().unwrap() {
            Reply::Healthy
        } else {
            failing.clone()
        }
    })
    .await;
    (fake, recovered)
}

#[tokio::test]
async fn the_fake_serves_a_healthy_page() {
    let fake = FakeDynamo::start(|_, _| Reply::Healthy).await;
    let answer = list(&store_at(&fake.address).await).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.ids().len(), 2);
}

#[tokio::test]
async fn connection_refused_is_503_and_recovers() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let store = store_at(&address.to_string()).await;
    assert_unavailable(&list(&store).await);
    let _fake = FakeDynamo::serve(
        TcpListener::bind(address).await.unwrap(),
        Arc::new(|_, _| Reply::Healthy),
    );
    assert_eq!(list(&store).await.status, 200);
}

#[tokio::test]
async fn a_server_that_never_answers_is_503_and_recovers() {
    let (fake, recovered) = switchable(Reply::Silent).await;
    let store = store_at(&fake.address).await;
    assert_unavailable(&list(&store).await);
    *recovered.lock().unwrap() = true;
    assert_eq!(list(&store).await.status, 200);
}

#[tokio::test]
async fn a_slow_server_is_503_and_recovers() {
    let (fake, recovered) = switchable(Reply::Slow(Duration::from_secs(5))).await;
    let store = store_at(&fake.address).await;
    assert_unavailable(&list(&store).await);
    *recovered.lock().unwrap() = true;
    assert_eq!(list(&store).await.status, 200);
}

#[tokio::test]
async fn a_little_slowness_is_fine() {
    let fake = FakeDynamo::start(|_, _| Reply::Slow(Duration::from_millis(300))).await;
    assert_eq!(list(&store_at(&fake.address).await).await.status, 200);
}

#[tokio::test]
async fn throttling_is_503_and_recovers() {
    for kind in [
        "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
        "com.amazon.coral.availability#ThrottlingException",
        "com.amazonaws.dynamodb.v20120810#RequestLimitExceeded",
        "com.amazonaws.dynamodb.v20120810#InternalServerError",
    ] {
        let (fake, recovered) = switchable(error_body(kind)).await;
        let store = store_at(&fake.address).await;
        assert_unavailable(&list(&store).await);
        *recovered.lock().unwrap() = true;
        assert_eq!(list(&store).await.status, 200, "{kind}");
    }
}

#[tokio::test]
async fn brief_throttling_is_absorbed_by_retries() {
    let fake = FakeDynamo::start(|n, _| {
        if n < 2 {
            error_body("com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException")
        } else {
            Reply::Healthy
        }
    })
    .await;
    assert_eq!(list(&store_at(&fake.address).await).await.status, 200);
    assert!(fake.requests() >= 4, "the throttled GetItem was retried");
}

/// A fake that answers `operation` with `fault` until `recovered` is set; the rest is healthy.
async fn failing(operation: &'static str, fault: Reply) -> (FakeDynamo, Arc<Mutex<bool>>) {
    let recovered = Arc::new(Mutex::new(false));
    let flag = recovered.clone();
    let fake = FakeDynamo::start(move |_, asked| {
        if asked == operation && !*flag.lock().unwrap() {
            fault.clone()
        } else {
            Reply::Healthy
        }
    })
    .await;
    (fake, recovered)
}

/// For the credential read and the page read alike: `fault` is a 503 with the envelope and
/// `Retry-After`, within the deadline, after at most 3 attempts; then a 200 once it passes.
async fn unavailable_then_recovers(fault: Reply) {
    for operation in ["GetItem", "Query"] {
        let (fake, recovered) = failing(operation, fault.clone()).await;
        let store = store_at(&fake.address).await;
        let answer = list(&store).await;
        assert_eq!(answer.status, 503, "{operation} {fault:?}: {}", answer.text);
        assert_unavailable(&answer);
        let attempts = fake.count(operation);
        assert!(
            (1..=3).contains(&attempts),
            "{operation} {fault:?}: {attempts} attempts"
        );
        *recovered.lock().unwrap() = true;
        assert_eq!(list(&store).await.status, 200, "{operation} {fault:?}");
    }
}

const HALF_A_JSON_BODY: &str = "{\"Item\": {\"org_id\": ";
const NOT_JSON: &str = "<html>gateway</html>";

/// Answers that DynamoDB, or a load balancer in front of it, gives when it is unwell.
fn bad_answers() -> Vec<Reply> {
    vec![
        Reply::Raw(500, String::new()),
        Reply::Html(502),
        Reply::Html(503),
        Reply::Html(504),
        Reply::Reset,
        Reply::Truncated,
        Reply::Raw(200, NOT_JSON.into()),
        Reply::Raw(200, HALF_A_JSON_BODY.into()),
        unknown_server_error(),
    ]
}

fn unknown_server_error() -> Reply {
    let kind = "com.amazonaws.dynamodb.v20120810#SomethingNew";
    Reply::Raw(
        500,
        json!({"__type": kind, "message": "injected"}).to_string(),
    )
}

#[tokio::test]
async fn http_500_with_an_empty_body_is_503_and_recovers() {
    unavailable_then_recovers(Reply::Raw(500, String::new())).await;
}

#[tokio::test]
async fn http_502_with_an_html_page_is_503_and_recovers() {
    unavailable_then_recovers(Reply::Html(502)).await;
}

#[tokio::test]
async fn http_503_with_an_html_page_is_503_and_recovers() {
    unavailable_then_recovers(Reply::Html(503)).await;
}

#[tokio::test]
async fn http_504_with_an_html_page_is_503_and_recovers() {
    unavailable_then_recovers(Reply::Html(504)).await;
}

#[tokio::test]
async fn a_connection_reset_before_any_answer_is_503_and_recovers() {
    unavailable_then_recovers(Reply::Reset).await;
}

#[tokio::test]
async fn half_a_body_then_a_closed_connection_is_503_and_recovers() {
    unavailable_then_recovers(Reply::Truncated).await;
}

#[tokio::test]
async fn http_200_whose_body_is_not_json_is_503_and_recovers() {
    unavailable_then_recovers(Reply::Raw(200, NOT_JSON.into())).await;
}

#[tokio::test]
async fn http_200_with_half_a_json_body_is_503_and_recovers() {
    unavailable_then_recovers(Reply::Raw(200, HALF_A_JSON_BODY.into())).await;
}

#[tokio::test]
async fn a_5xx_with_an_error_type_of_no_known_kind_is_503_and_recovers() {
    unavailable_then_recovers(unknown_server_error()).await;
}

#[tokio::test]
async fn a_missing_table_is_500() {
    let fake = FakeDynamo::start(|_, _| {
        error_body("com.amazonaws.dynamodb.v20120810#ResourceNotFoundException")
    })
    .await;
    assert_internal(&list(&store_at(&fake.address).await).await);
}

#[tokio::test]
async fn access_denied_is_500() {
    let fake =
        FakeDynamo::start(|_, _| error_body("com.amazon.coral.service#AccessDeniedException"))
            .await;
    assert_internal(&list(&store_at(&fake.address).await).await);
}

#[tokio::test]
async fn a_last_used_at_write_failing_in_any_way_leaves_the_page_a_200() {
    for fault in bad_answers() {
        let (fake, _) = failing("UpdateItem", fault.clone()).await;
        let answer = list(&store_at(&fake.address).await).await;
        assert_eq!(answer.status, 200, "{fault:?}: {}", answer.text);
        assert_eq!(answer.ids().len(), 2, "{fault:?}");
        assert_eq!(fake.count("UpdateItem"), 1, "{fault:?}");
    }
}

#[tokio::test]
async fn a_credential_item_missing_attributes_is_401_like_an_unknown_token() {
    let fake = FakeDynamo::start(|_, operation| match operation {
        "GetItem" => Reply::Raw(
            200,
            json!({"Item": {"org_id": {"S": ORG_A.to_string()}, "id": {"S": admin().1.id.to_string()}}})
                .to_string(),
        ),
        _ => Reply::Healthy,
    })
    .await;
    let answer = list(&store_at(&fake.address).await).await;
    assert_eq!(answer.status, 401, "{}", answer.text);
    assert_eq!(answer.error_code(), "invalid_credentials");
}

#[tokio::test]
async fn a_listed_item_missing_attributes_fails_the_page_rather_than_hiding() {
    let (_, other) = minted(ORG_A, 1, &["api_tokens:read"]);
    let fake = FakeDynamo::start(move |_, operation| match operation {
        "Query" => {
            let mut broken = item(&other);
            broken.as_object_mut().unwrap().remove("created_at");
            let good = item(&admin().1);
            Reply::Raw(
                200,
                json!({"Items": [good, broken], "Count": 2}).to_string(),
            )
        }
        _ => Reply::Healthy,
    })
    .await;
    let answer = list(&store_at(&fake.address).await).await;
    assert_internal(&answer);
    assert!(answer.body.get("items").is_none());
}

#[tokio::test]
async fn a_failing_last_used_at_write_still_serves_the_page() {
    let fake = FakeDynamo::start(|_, operation| match operation {
        "UpdateItem" => error_body("com.amazon.coral.availability#ThrottlingException"),
        _ => Reply::Healthy,
    })
    .await;
    assert_eq!(list(&store_at(&fake.address).await).await.status, 200);
}

#[tokio::test]
async fn a_silent_last_used_at_write_recorded_before_the_answer_delays_it_by_its_timeout_at_most() {
    let fake = FakeDynamo::start(|_, operation| match operation {
        "UpdateItem" => Reply::Silent,
        _ => Reply::Healthy,
    })
    .await;
    let store = store_at(&fake.address).await;
    let started = Instant::now();
    let answer = list(&store).await;
    let took = started.elapsed();
    assert_eq!(answer.status, 200);
    // The fake answers reads at once; the rest is slack for a loaded machine.
    let bound = api_tokens::store::RECORD_USE_TIMEOUT + Duration::from_millis(400);
    assert!(took < bound, "answered after {took:?}");
}

#[tokio::test]
async fn a_throttled_last_used_at_write_is_not_retried() {
    let fake = FakeDynamo::start(|_, operation| match operation {
        "UpdateItem" => error_body("com.amazon.coral.availability#ThrottlingException"),
        _ => Reply::Healthy,
    })
    .await;
    assert_eq!(list(&store_at(&fake.address).await).await.status, 200);
    assert_eq!(fake.count("UpdateItem"), 1);
}
