//! A Lambda Runtime API on 127.0.0.1 that hands out a fixed set of events, as Lambda does: to
//! one poller at a time, or to several at once as Lambda Managed Instances do. It can hold every
//! event back until `together` polls wait, so a function that polls one at a time never gets any.
//!
//! It logs when each event goes out, each answer comes and the runtime calls `next`: Lambda may
//! freeze a classic environment from that `next` on, so whatever the function still does then is
//! cut off. It serves no Extensions API (registering answers 404).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

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

/// What happened at the emulator, in order, each with when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Happened {
    /// The runtime called `next`.
    Next,
    /// An event handed to the runtime.
    Handed(String),
    /// The runtime posted the answer of this invocation.
    Answered(String),
}

struct State {
    events: VecDeque<(String, Value)>,
    waiting: usize,
    released: bool,
    answers: HashMap<String, Answer>,
    log: Vec<(Instant, Happened)>,
}

pub struct RuntimeApi {
    pub address: String,
    state: Arc<Mutex<State>>,
    changed: watch::Receiver<u64>,
    task: tokio::task::JoinHandle<()>,
}

struct Shared {
    state: Arc<Mutex<State>>,
    together: usize,
    changed: watch::Sender<u64>,
}

impl Shared {
    /// Applies `change` to the state, logs what it says happened, and wakes every waiter.
    fn update<T>(&self, change: impl FnOnce(&mut State) -> (T, Option<Happened>)) -> T {
        let out = {
            let mut state = self.state.lock().unwrap();
            let (out, happened) = change(&mut state);
            if let Some(happened) = happened {
                state.log.push((Instant::now(), happened));
            }
            out
        };
        self.changed.send_modify(|n| *n += 1);
        out
    }

    /// Waits until `ready` finds what it wants in the state (checked at once, then at each
    /// change); `None` when the emulator stops.
    async fn until<T>(&self, mut ready: impl FnMut(&mut State) -> Option<T>) -> Option<T> {
        let mut changed = self.changed.subscribe();
        loop {
            let found = ready(&mut self.state.lock().unwrap());
            if let Some(out) = found {
                self.changed.send_modify(|n| *n += 1);
                return Some(out);
            }
            changed.changed().await.ok()?;
        }
    }
}

impl RuntimeApi {
    /// Serves `events` (request id, payload), each once; none before `together` polls wait.
    pub async fn start(events: Vec<(String, Value)>, together: usize) -> RuntimeApi {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let state = Arc::new(Mutex::new(State {
            events: events.into(),
            waiting: 0,
            released: false,
            answers: HashMap::new(),
            log: Vec::new(),
        }));
        let (changed_tx, changed) = watch::channel(0);
        let shared = Arc::new(Shared {
            state: state.clone(),
            together,
            changed: changed_tx,
        });
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(connection(socket, shared.clone()));
            }
        });
        RuntimeApi {
            address,
            state,
            changed,
            task,
        }
    }

    /// Waits until `count` invocations are answered; then every answer by request id.
    pub async fn answers(&mut self, count: usize) -> HashMap<String, Answer> {
        let state = self.state.clone();
        self.changed
            .wait_for(|_| state.lock().unwrap().answers.len() >= count)
            .await
            .unwrap();
        self.state.lock().unwrap().answers.clone()
    }

    /// Waits until `happened` has happened; then everything so far, in order.
    pub async fn until(&mut self, happened: &Happened) -> Vec<(Instant, Happened)> {
        let state = self.state.clone();
        self.changed
            .wait_for(|_| state.lock().unwrap().log.iter().any(|(_, h)| h == happened))
            .await
            .unwrap();
        self.log()
    }

    /// The real `api-tokens` binary, served by this emulator and reading `table`, its standard
    /// output piped; one invocation at a time unless `AWS_LAMBDA_MAX_CONCURRENCY` is set on it.
    pub fn function(&self, table: &str) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_api-tokens"));
        command
            .env("AWS_LAMBDA_RUNTIME_API", &self.address)
            .env("AWS_LAMBDA_FUNCTION_NAME", "api-tokens")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "2048")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("TABLE_NAME", table)
            .env_remove("AWS_LAMBDA_MAX_CONCURRENCY")
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true);
        command
    }

    /// Everything that happened so far, in order.
    pub fn log(&self) -> Vec<(Instant, Happened)> {
        self.state.lock().unwrap().log.clone()
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
                 lambda-runtime-deadline-ms: {DEADLINE_MS}\r\n\
                 lambda-runtime-invoked-function-arn: {ARN}\r\n\
                 lambda-runtime-trace-id: Root=1-00000000-000000000000000000000000\r\n\
                 content-length: {}\r\n\r\n{body}",
                body.len()
            )
        } else if let Some((id, kind)) = invocation_answer(path) {
            let body = serde_json::from_slice(request.body()).unwrap_or(Value::Null);
            shared.update(|state| {
                state.answers.insert(id.clone(), Answer { kind, body });
                ((), Some(Happened::Answered(id)))
            });
            "HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\n{}".to_owned()
        } else {
            "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n".to_owned()
        };
        if socket.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// A deadline far away: the year 2100.
const DEADLINE_MS: u64 = 4_102_444_800_000;
const ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:api-tokens";

/// The next event, once `together` polls have waited at the same time (ever).
async fn next_event(shared: &Shared) -> Option<(String, Value)> {
    shared.update(|state| {
        state.waiting += 1;
        if state.waiting >= shared.together {
            state.released = true;
        }
        ((), Some(Happened::Next))
    });
    let event = shared
        .until(|state| {
            (state.released && !state.events.is_empty()).then(|| {
                let (id, event) = state.events.pop_front().unwrap();
                state.waiting -= 1;
                state
                    .log
                    .push((Instant::now(), Happened::Handed(id.clone())));
                (id, event)
            })
        })
        .await?;
    Some(event)
}

/// `/2018-06-01/runtime/invocation/{id}/response` or `/error`: the id and which.
fn invocation_answer(path: &str) -> Option<(String, String)> {
    let rest = path.split("/runtime/invocation/").nth(1)?;
    let (id, kind) = rest.split_once('/')?;
    matches!(kind, "response" | "error").then(|| (id.to_owned(), kind.to_owned()))
}
