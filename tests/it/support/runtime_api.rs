//! A Lambda Runtime API on 127.0.0.1 that hands out a fixed set of events, as Lambda Managed
//! Instances do: to several pollers at once. It can hold every event back until `together`
//! polls wait, so a function that polls one at a time never gets any.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::http::read_message;

/// What the function answered to one invocation.
#[derive(Clone, Debug)]
pub struct Answer {
    /// `response` or `error`, as the path named it.
    pub kind: String,
    pub body: Value,
}

struct State {
    events: VecDeque<(String, Value)>,
    waiting: usize,
    answers: HashMap<String, Answer>,
}

pub struct RuntimeApi {
    pub address: String,
    state: Arc<Mutex<State>>,
    answered: watch::Receiver<usize>,
    task: tokio::task::JoinHandle<()>,
}

struct Shared {
    state: Arc<Mutex<State>>,
    together: usize,
    released: watch::Sender<bool>,
    answered: watch::Sender<usize>,
}

impl RuntimeApi {
    /// Serves `events` (request id, payload), each once; none before `together` polls wait.
    pub async fn start(events: Vec<(String, Value)>, together: usize) -> RuntimeApi {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let state = Arc::new(Mutex::new(State {
            events: events.into(),
            waiting: 0,
            answers: HashMap::new(),
        }));
        let (answered_tx, answered) = watch::channel(0);
        let shared = Arc::new(Shared {
            state: state.clone(),
            together,
            released: watch::channel(false).0,
            answered: answered_tx,
        });
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(connection(socket, shared.clone()));
            }
        });
        RuntimeApi {
            address,
            state,
            answered,
            task,
        }
    }

    /// Waits until `count` invocations are answered; then every answer by request id.
    pub async fn answers(&mut self, count: usize) -> HashMap<String, Answer> {
        self.answered.wait_for(|n| *n >= count).await.unwrap();
        self.state.lock().unwrap().answers.clone()
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn connection(mut socket: TcpStream, shared: Arc<Shared>) {
    let mut buffer = Vec::new();
    while let Some(request) = read_message(&mut socket, &mut buffer).await {
        let (method, path) = request.target();
        let reply = if method == "GET" && path.ends_with("/runtime/invocation/next") {
            let Some((id, event)) = next_event(&shared).await else {
                // No more events: like Lambda, never answer.
                return std::future::pending().await;
            };
            let body = event.to_string();
            format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                 lambda-runtime-aws-request-id: {id}\r\n\
                 lambda-runtime-deadline-ms: 4102444800000\r\n\
                 lambda-runtime-invoked-function-arn: arn:aws:lambda:us-east-1:123456789012:function:api-tokens\r\n\
                 lambda-runtime-trace-id: Root=1-00000000-000000000000000000000000\r\n\
                 content-length: {}\r\n\r\n{body}",
                body.len()
            )
        } else if let Some((id, kind)) = invocation_answer(path) {
            let body = serde_json::from_slice(request.body()).unwrap_or(Value::Null);
            let count = {
                let mut state = shared.state.lock().unwrap();
                state.answers.insert(id, Answer { kind, body });
                state.answers.len()
            };
            shared.answered.send_replace(count);
            "HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\n{}".to_owned()
        } else {
            "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n".to_owned()
        };
        if socket.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// The next event, once `together` polls have waited at the same time (ever).
async fn next_event(shared: &Shared) -> Option<(String, Value)> {
    let mut released = shared.released.subscribe();
    let waiting = {
        let mut state = shared.state.lock().unwrap();
        state.waiting += 1;
        state.waiting
    };
    if waiting >= shared.together {
        shared.released.send_replace(true);
    }
    released.wait_for(|r| *r).await.ok()?;
    let mut state = shared.state.lock().unwrap();
    state.waiting -= 1;
    state.events.pop_front()
}

/// `/2018-06-01/runtime/invocation/{id}/response` or `/error`: the id and which.
fn invocation_answer(path: &str) -> Option<(String, String)> {
    let rest = path.split("/runtime/invocation/").nth(1)?;
    let (id, kind) = rest.split_once('/')?;
    matches!(kind, "response" | "error").then(|| (id.to_owned(), kind.to_owned()))
}
