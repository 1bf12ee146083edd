//! Records each token use (`last_used_at`) after its answer has gone, so that no answer waits on
//! the write, and no write is cut off by Lambda freezing the environment.
//!
//! - Classic Lambda freezes the environment once the runtime and every registered extension have
//!   called `next`. An internal extension registered for INVOKE events holds its `next` until that
//!   invocation's write is done or has hit `RECORD_USE_TIMEOUT`.
//! - Lambda Managed Instances never freeze an environment between invocations: each write runs as
//!   a task of its own, and the ones still running at SIGTERM are awaited.
//! - Without the Extensions API (`cargo lambda watch`, any other emulator): each use is recorded
//!   before its answer, as the only safe place left.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use lambda_extension::{Extension, NextEvent};
use lambda_http::{Error, LambdaEvent};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::task::JoinSet;

use crate::gateway::{self, GatewayResponse};
use crate::handler::{TokenUse, record_if_due};
use crate::store::TokenStore;

/// The name the extension registers with; unique within the function, as Lambda requires.
pub const EXTENSION_NAME: &str = "record-token-use";

/// What runs beside the Lambda runtime for as long as the environment lives.
pub type Background = Pin<Box<dyn Future<Output = Result<(), Error>> + Send>>;

/// One invocation's answer is ready: the use it made, if one is due.
#[derive(Debug)]
struct Answered {
    request_id: String,
    token_use: Option<TokenUse>,
}

/// Answers events and sees that each one's token use gets recorded.
pub struct UseRecorder<S: 'static> {
    store: &'static S,
    /// Where answered invocations go to have their use recorded after the answer; `None`:
    /// recorded before it.
    after_answer: Option<UnboundedSender<Answered>>,
}

impl<S: TokenStore + 'static> UseRecorder<S> {
    /// How this environment can record after the answer, and the work that does it there.
    /// Several invocations at once (Managed Instances): tasks. One at a time: the extension,
    /// unless the Runtime API refuses it; then before the answer, said once here.
    pub async fn start(store: &'static S, max_concurrency: u32) -> (Self, Background) {
        let (sender, answered) = unbounded_channel();
        let background: Background = if max_concurrency > 1 {
            Box::pin(record_in_tasks(store, answered))
        } else {
            match register_extension(store, answered).await {
                Ok(extension) => extension,
                Err(error) => {
                    tracing::info!(
                        %error,
                        "no Lambda Extensions API here: each last_used_at is written before its answer"
                    );
                    return (Self::before_answer(store), Box::pin(std::future::pending()));
                }
            }
        };
        let recorder = UseRecorder {
            store,
            after_answer: Some(sender),
        };
        (recorder, background)
    }

    /// A recorder that writes each use before its answer.
    pub fn before_answer(store: &'static S) -> Self {
        UseRecorder {
            store,
            after_answer: None,
        }
    }

    /// The Lambda function: one event, one response, never an error.
    pub async fn function(
        &self,
        event: LambdaEvent<serde_json::Value>,
    ) -> Result<GatewayResponse, Infallible> {
        let request_id = event.context.request_id.clone();
        let (response, token_use) = gateway::respond(self.store, event).await;
        let left_to_record = match &self.after_answer {
            // Sent for every invocation, due or not: the extension waits for its own.
            Some(after_answer) => after_answer
                .send(Answered {
                    request_id,
                    token_use,
                })
                // The background work has ended: nothing would record it after the answer.
                .err()
                .and_then(|unsent| unsent.0.token_use),
            None => token_use,
        };
        record_if_due(self.store, left_to_record.as_ref()).await;
        Ok(response)
    }
}

/// Registers the internal extension for INVOKE events; then its run loop, whose every INVOKE
/// returns, and so lets Lambda freeze, only once that invocation's use is recorded.
async fn register_extension<S: TokenStore + 'static>(
    store: &'static S,
    answered: UnboundedReceiver<Answered>,
) -> Result<Background, Error> {
    let answered = Arc::new(tokio::sync::Mutex::new(answered));
    let processor = lambda_extension::service_fn(move |event: lambda_extension::LambdaEvent| {
        let answered = answered.clone();
        async move {
            // Internal extensions get INVOKE events only.
            if let NextEvent::Invoke(invoke) = event.next {
                let deadline = deadline_of(invoke.deadline_ms);
                let mut answered = answered.lock().await;
                record_until_answered(store, &mut answered, &invoke.request_id, deadline).await;
            }
            Ok::<(), Infallible>(())
        }
    });
    let extension = Extension::new()
        .with_events(&["INVOKE"])
        .with_events_processor(processor)
        .with_extension_name(EXTENSION_NAME)
        .register()
        .await?;
    Ok(Box::pin(extension.run()))
}

/// Records what answered invocations hand over until `request_id`'s own has come and is
/// recorded, or the invocation's deadline passes (its answer never came: the runtime failed).
/// One from an earlier invocation, handed over after its own deadline, is recorded on the way.
async fn record_until_answered<S: TokenStore>(
    store: &S,
    answered: &mut UnboundedReceiver<Answered>,
    request_id: &str,
    deadline: tokio::time::Instant,
) {
    while let Ok(Some(handed)) = tokio::time::timeout_at(deadline, answered.recv()).await {
        record_if_due(store, handed.token_use.as_ref()).await;
        if handed.request_id == request_id {
            return;
        }
    }
}

/// Lambda's deadline of an invocation, in milliseconds since the epoch, as a tokio instant.
fn deadline_of(deadline_ms: u64) -> tokio::time::Instant {
    let now_ms = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0);
    let left = std::time::Duration::from_millis(deadline_ms.saturating_sub(now_ms));
    tokio::time::Instant::now() + left
}

/// Managed Instances: each use recorded in a task of its own as its answer is handed over; at
/// SIGTERM, the writes still running are awaited (each within `RECORD_USE_TIMEOUT`).
async fn record_in_tasks<S: TokenStore + 'static>(
    store: &'static S,
    mut answered: UnboundedReceiver<Answered>,
) -> Result<(), Error> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut writes = JoinSet::new();
    loop {
        tokio::select! {
            handed = answered.recv() => match handed {
                Some(Answered { token_use: Some(token_use), .. }) => {
                    writes.spawn(async move { token_use.record(store).await });
                }
                Some(_) => {}
                None => break,
            },
            _ = terminate.recv() => break,
        }
        // Finished writes leave the set, so that it holds only the running ones.
        while writes.try_join_next().is_some() {}
    }
    while writes.join_next().await.is_some() {}
    Ok(())
}
