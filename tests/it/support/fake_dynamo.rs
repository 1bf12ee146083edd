//! A scripted fake DynamoDB on 127.0.0.1: enough of the JSON protocol for GetItem, Query and
//! UpdateItem, and every way of failing that a network service has. With `Reply::Forward` it is
//! a proxy in front of a real DynamoDB-API server that stalls or fails chosen operations.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use api_tokens::dynamo::DynamoStore;
use api_tokens::startup::sdk_config;
use api_tokens::store::TokenRecord;
use api_tokens::token::Token;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{Credentials, Region};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use super::http::read_message;
use super::{ORG_A, minted};

/// What the fake answers to one request.
#[derive(Clone, Debug)]
pub enum Reply {
    /// Normal DynamoDB answers for the admin token of ORG_A and one more token.
    Healthy,
    /// Accept the request and never answer.
    Silent,
    /// A healthy answer after this delay.
    Slow(Duration),
    /// An HTTP status and a raw body.
    Raw(u16, String),
    /// An HTTP status and an HTML page, as a load balancer in front of DynamoDB answers.
    Html(u16),
    /// The head and half the body, then the connection closes.
    Truncated,
    /// The connection is reset before any answer.
    Reset,
    /// Passed on to a real DynamoDB-API server at this address, and its answer passed back.
    Forward(String),
    /// Passed on as `Forward` does, after this delay.
    LateForward(Duration, String),
}

/// The content type header of DynamoDB's answers.
const JSON: &str = "content-type: application/x-amz-json-1.0\r\n";

pub fn error_body(kind: &str) -> Reply {
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
pub struct FakeDynamo {
    pub address: String,
    operations: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

pub type Script = Arc<dyn Fn(usize, &str) -> Reply + Send + Sync>;

impl FakeDynamo {
    pub async fn start(
        script: impl Fn(usize, &str) -> Reply + Send + Sync + 'static,
    ) -> FakeDynamo {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener, Arc::new(script))
    }

    pub fn serve(listener: TcpListener, script: Script) -> FakeDynamo {
        let address = listener.local_addr().unwrap().to_string();
        let operations = Arc::new(Mutex::new(Vec::new()));
        let log = operations.clone();
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(connection(socket, script.clone(), log.clone()));
            }
        });
        FakeDynamo {
            address,
            operations,
            task,
        }
    }

    /// How many requests arrived.
    pub fn requests(&self) -> usize {
        self.operations.lock().unwrap().len()
    }

    /// How many requests of this operation (`GetItem`, `Query`, …) arrived.
    pub fn count(&self, operation: &str) -> usize {
        self.operations
            .lock()
            .unwrap()
            .iter()
            .filter(|o| *o == operation)
            .count()
    }
}

impl Drop for FakeDynamo {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn connection(mut socket: TcpStream, script: Script, operations: Arc<Mutex<Vec<String>>>) {
    let mut buffer = Vec::new();
    loop {
        let Some(request) = read_message(&mut socket, &mut buffer).await else {
            return;
        };
        let operation = request.header("x-amz-target").unwrap_or_default();
        let operation = operation.rsplit('.').next().unwrap_or("").to_owned();
        let number = {
            let mut operations = operations.lock().unwrap();
            operations.push(operation.clone());
            operations.len() - 1
        };
        let (status, content_type, body) = match script(number, &operation) {
            Reply::Silent => {
                std::future::pending::<()>().await;
                return;
            }
            Reply::Reset => {
                // Linger 0: close sends a RST, not a FIN.
                let _ = socket.set_zero_linger();
                return;
            }
            Reply::Truncated => {
                let body = healthy(&operation);
                let head = format!(
                    "HTTP/1.1 200 OK\r\n{JSON}content-length: {}\r\n\r\n",
                    body.len()
                );
                let half = &body.as_bytes()[..body.len() / 2];
                let _ = socket.write_all(&[head.as_bytes(), half].concat()).await;
                return;
            }
            Reply::Slow(delay) => {
                tokio::time::sleep(delay).await;
                (200, JSON, healthy(&operation))
            }
            Reply::Healthy => (200, JSON, healthy(&operation)),
            Reply::Raw(status, body) => (status, JSON, body),
            Reply::Html(status) => (
                status,
                "content-type: text/html\r\n",
                format!(
                    "<html><body><h1>{status} Service Temporarily Unavailable</h1></body></html>"
                ),
            ),
            Reply::Forward(upstream) => {
                if !relay(&mut socket, Duration::ZERO, &upstream, &request.raw).await {
                    return;
                }
                continue;
            }
            Reply::LateForward(delay, upstream) => {
                if !relay(&mut socket, delay, &upstream, &request.raw).await {
                    return;
                }
                continue;
            }
        };
        let response = format!(
            "HTTP/1.1 {status} X\r\n{content_type}content-length: {}\r\n\r\n{body}",
            body.len()
        );
        if socket.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// After `delay`, passes `request` on to `upstream` and its answer back; `false` once either
/// connection fails.
async fn relay(socket: &mut TcpStream, delay: Duration, upstream: &str, request: &[u8]) -> bool {
    tokio::time::sleep(delay).await;
    match forward(upstream, request).await {
        Some(response) => socket.write_all(&response).await.is_ok(),
        None => false,
    }
}

/// Sends one raw HTTP request to `upstream` and reads its one answer.
async fn forward(upstream: &str, request: &[u8]) -> Option<Vec<u8>> {
    let mut connection = TcpStream::connect(upstream).await.ok()?;
    connection.write_all(request).await.ok()?;
    let response = read_message(&mut connection, &mut Vec::new()).await?;
    Some(response.raw)
}

pub fn admin() -> (Token, TokenRecord) {
    minted(ORG_A, 0, &["admin"])
}

pub fn item(record: &TokenRecord) -> Value {
    let mut item = json!({
        "org_id": {"S": record.org_id.to_string()},
        "id": {"S": record.id.to_string()},
        "name": {"S": record.name},
        "prefix": {"S": record.prefix},
        "scopes": {"L": record.scopes.iter().map(|s| json!({"S": s})).collect::<Vec<_>>()},
        "secret_hash": {"S": record.secret_hash},
        "created_at": {"S": record.created_at},
    });
    if let Some(at) = &record.last_used_at {
        item["last_used_at"] = json!({"S": at});
    }
    item
}

pub fn healthy(operation: &str) -> String {
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
pub async fn store_at(address: &str) -> DynamoStore {
    table_at(address, "api_tokens").await
}

/// The production store of `table`, pointed at `address`.
pub async fn table_at(address: &str, table: &str) -> DynamoStore {
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk_config().await)
        .endpoint_url(format!("http://{address}"))
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .region(Region::new("us-east-1"))
        .build();
    DynamoStore::new(Client::from_conf(config), table)
}
