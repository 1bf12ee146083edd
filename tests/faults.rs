//! DynamoDB failing in every way a network service can, against a scripted fake DynamoDB on
//! 127.0.0.1 and the production SDK settings. Every case answers 503 or 500 in the envelope
//! within 3 s, and the next request after recovery succeeds.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use api_tokens::dynamo::{DynamoStore, sdk_config};
use api_tokens::store::TokenRecord;
use api_tokens::token::Token;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{Credentials, Region};
use common::*;
use serde_json::{Value, json};
use std::sync::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the fake answers to one request.
#[derive(Clone, Debug)]
enum Reply {
    /// Normal DynamoDB answers for the admin token of ORG_A and one more token.
    Healthy,
    /// Accept the request and never answer.
    Silent,
    /// A healthy answer after this delay.
    Slow(Duration),
    /// An HTTP status and a raw body.
    Raw(u16, String),
}

fn error_body(kind: &str) -> Reply {
    let status = if kind.contains("InternalServerError") {
        500
    } else {
        400
    };
    Reply::Raw(
        status,
        json!({ "__type": kind, "message": "injected" }).to_string(),
    )
}

/// The fake: `script` picks the reply from the request's number (0, 1, 2, …) and operation.
struct FakeDynamo {
    address: String,
    requests: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

type Script = Arc<dyn Fn(usize, &str) -> Reply + Send + Sync>;

impl FakeDynamo {
    async fn start(script: impl Fn(usize, &str) -> Reply + Send + Sync + 'static) -> FakeDynamo {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener, Arc::new(script))
    }

    fn serve(listener: TcpListener, script: Script) -> FakeDynamo {
        let address = listener.local_addr().unwrap().to_string();
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(connection(socket, script.clone(), counter.clone()));
            }
        });
        FakeDynamo {
            address,
            requests,
            task,
        }
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for FakeDynamo {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn connection(mut socket: TcpStream, script: Script, counter: Arc<AtomicUsize>) {
    let mut buffer = Vec::new();
    loop {
        // One request: headers, then Content-Length bytes of body.
        let header_end = loop {
            if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            let mut chunk = [0u8; 4096];
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buffer[..header_end]).into_owned();
        let header = |name: &str| {
            head.lines().find_map(|line| {
                let (key, value) = line.split_once(':')?;
                key.eq_ignore_ascii_case(name)
                    .then(|| value.trim().to_owned())
            })
        };
        let length: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while buffer.len() < header_end + length {
            let mut chunk = [0u8; 4096];
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
        buffer.drain(..header_end + length);
        let operation = header("x-amz-target").unwrap_or_default();
        let operation = operation.rsplit('.').next().unwrap_or("").to_owned();
        let number = counter.fetch_add(1, Ordering::SeqCst);
        let (status, body) = match script(number, &operation) {
            Reply::Silent => {
                std::future::pending::<()>().await;
                return;
            }
            Reply::Slow(delay) => {
                tokio::time::sleep(delay).await;
                (200, healthy(&operation))
            }
            Reply::Healthy => (200, healthy(&operation)),
            Reply::Raw(status, body) => (status, body),
        };
        let response = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if socket.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}

fn admin() -> (Token, TokenRecord) {
    minted(ORG_A, 0, &["admin"])
}

fn item(record: &TokenRecord) -> Value {
    let mut item = json!({
        "org_id": {"S": record.org_id.to_string()},
        "id": {"S": record.id.to_string()},
        "name": {"S": record.name},
        "prefix": {"S": record.prefix},
        "scopes": {"L": record.scopes.iter().map(|s| json!({"S": s})).collect::<Vec<_>>()},
        "secret_hash": {"S": record.secret_hash},
        "created_at": {"S": record.created_at.to_rfc3339()},
    });
    if let Some(at) = record.last_used_at {
        item["last_used_at"] = json!({"S": at.to_rfc3339()});
    }
    item
}

fn healthy(operation: &str) -> String {
    let (_, admin) = admin();
    let (_, other) = minted(ORG_A, 1, &["api_tokens:read"]);
    match operation {
        "GetItem" => json!({ "Item": item(&admin) }),
        "Query" => json!({ "Items": [item(&other), item(&admin)], "Count": 2, "ScannedCount": 2 }),
        _ => json!({}),
    }
    .to_string()
}

/// The production store, pointed at `address`.
async fn store_at(address: &str) -> DynamoStore {
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk_config().await)
        .endpoint_url(format!("http://{address}"))
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .region(Region::new("us-east-1"))
        .build();
    DynamoStore::new(Client::from_conf(config), "api_tokens")
}

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

#[tokio::test]
async fn malformed_json_is_500_and_recovers() {
    let (fake, recovered) = switchable(Reply::Raw(200, "{\"Item\": {\"org_id\": ".into())).await;
    let store = store_at(&fake.address).await;
    assert_internal(&list(&store).await);
    *recovered.lock().unwrap() = true;
    assert_eq!(list(&store).await.status, 200);
}

#[tokio::test]
async fn a_non_json_body_is_500() {
    let fake = FakeDynamo::start(|_, _| Reply::Raw(200, "<html>gateway</html>".into())).await;
    assert_internal(&list(&store_at(&fake.address).await).await);
}

#[tokio::test]
async fn an_unknown_client_error_is_500() {
    let fake = FakeDynamo::start(|_, _| {
        error_body("com.amazonaws.dynamodb.v20120810#ResourceNotFoundException")
    })
    .await;
    assert_internal(&list(&store_at(&fake.address).await).await);
}

#[tokio::test]
async fn a_credential_item_missing_attributes_is_500_not_401() {
    let fake = FakeDynamo::start(|_, operation| match operation {
        "GetItem" => Reply::Raw(
            200,
            json!({"Item": {"org_id": {"S": ORG_A.to_string()}, "id": {"S": admin().1.id.to_string()}}})
                .to_string(),
        ),
        _ => Reply::Healthy,
    })
    .await;
    assert_internal(&list(&store_at(&fake.address).await).await);
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
