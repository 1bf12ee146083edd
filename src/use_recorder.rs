//! Records each token use (`last_used_at`) after its answer has gone, so that no answer waits on
//! the write, and no write is cut off by Lambda freezing the environment.
//!
//! - Classic Lambda hands the answer to the caller as soon as the runtime posts it, and freezes
//!   the environment only once the runtime (and every extension) has called `next` again. A
//!   layer around the runtime's invocation service, whose call ends with that post, records the
//!   use after it and before the runtime's loop calls `next`: within `RECORD_USE_TIMEOUT`.
//! - Lambda Managed Instances never freeze an environment between invocations: each write runs as
//!   a task of its own, and the ones still running at SIGTERM are awaited.
//!
//! The same holds under any Runtime API, `cargo lambda watch` included: nothing is registered.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll};

use lambda_http::lambda_runtime::LambdaInvocation;
use lambda_http::lambda_runtime::tower::{Layer, Service};
use lambda_http::{Error, LambdaEvent};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::gateway::{self, GatewayResponse};
use crate::handler::TokenUse;
use crate::store::TokenStore;

/// What runs beside the Lambda runtime for as long as the environment lives.
pub type Background = Pin<Box<dyn Future<Output = Result<(), Error>> + Send>>;

/// Answers events and sees that each one's token use gets recorded after its answer.
pub struct UseRecorder<S: 'static> {
    store: &'static S,
    after_answer: AfterAnswer,
}

/// Where an answered invocation's use waits to be recorded.
enum AfterAnswer {
    /// One invocation at a time: until the runtime has posted the answer (`RecordAfterPost`).
    Held(Mutex<Option<TokenUse>>),
    /// Several at once: in the queue of the task that records each in a task of its own.
    Queued(UnboundedSender<TokenUse>),
}

impl<S: TokenStore + 'static> UseRecorder<S> {
    /// How this environment records after the answer, and the work that does it beside the
    /// runtime (Managed Instances; nothing in classic Lambda).
    pub fn start(store: &'static S, max_concurrency: u32) -> (Self, Background) {
        if max_concurrency > 1 {
            let (queue, queued) = unbounded_channel();
            let recorder = UseRecorder {
                store,
                after_answer: AfterAnswer::Queued(queue),
            };
            (recorder, Box::pin(record_in_tasks(store, queued)))
        } else {
            let recorder = UseRecorder {
                store,
                after_answer: AfterAnswer::Held(Mutex::new(None)),
            };
            (recorder, Box::pin(std::future::pending()))
        }
    }

    /// The Lambda function: one event, one response, never an error.
    pub async fn function(
        &self,
        event: LambdaEvent<serde_json::Value>,
    ) -> Result<GatewayResponse, Infallible> {
        let (response, token_use) = gateway::respond(self.store, event).await;
        match &self.after_answer {
            AfterAnswer::Held(held) => *lock(held) = token_use,
            AfterAnswer::Queued(queue) => {
                if let Some(Err(unsent)) = token_use.map(|token_use| queue.send(token_use)) {
                    // The recording task has ended: nothing would record it after the answer.
                    unsent.0.record(self.store).await;
                }
            }
        }
        Ok(response)
    }

    /// The layer to put around the runtime's invocation service (the one that posts each answer):
    /// it records the held use once the answer is posted, before the runtime's next `next`.
    pub fn record_after_post(&'static self) -> RecordAfterPostLayer<S> {
        RecordAfterPostLayer { recorder: self }
    }

    /// The use held since the last answer, if any; none is held for the next.
    fn take_held(&self) -> Option<TokenUse> {
        match &self.after_answer {
            AfterAnswer::Held(held) => lock(held).take(),
            AfterAnswer::Queued(_) => None,
        }
    }
}

/// Locks what only this module's short, panic-free sections ever hold.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// See `UseRecorder::record_after_post`.
pub struct RecordAfterPostLayer<S: 'static> {
    recorder: &'static UseRecorder<S>,
}

impl<S: TokenStore + 'static, Inner> Layer<Inner> for RecordAfterPostLayer<S> {
    type Service = RecordAfterPost<S, Inner>;

    fn layer(&self, inner: Inner) -> Self::Service {
        RecordAfterPost {
            recorder: self.recorder,
            inner,
        }
    }
}

/// The runtime's invocation service, then the held use recorded.
pub struct RecordAfterPost<S: 'static, Inner> {
    recorder: &'static UseRecorder<S>,
    inner: Inner,
}

// By hand: a derived `Clone` would want the store to be `Clone` too.
impl<S, Inner: Clone> Clone for RecordAfterPost<S, Inner> {
    fn clone(&self) -> Self {
        RecordAfterPost {
            recorder: self.recorder,
            inner: self.inner.clone(),
        }
    }
}

impl<S, Inner> Service<LambdaInvocation> for RecordAfterPost<S, Inner>
where
    S: TokenStore + Sync + 'static,
    Inner: Service<LambdaInvocation, Response = (), Error = Error>,
    Inner::Future: Send + 'static,
{
    type Response = ();
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<(), Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, invocation: LambdaInvocation) -> Self::Future {
        let request_id = invocation.context.request_id.clone();
        let posted = self.inner.call(invocation);
        let recorder = self.recorder;
        Box::pin(async move {
            let posted = posted.await;
            // Posted or not, the held use belongs to this invocation and to no later one.
            if let Some(token_use) = recorder.take_held() {
                // The request line has gone: a failed write's line names the request itself.
                let span = tracing::warn_span!("after_answer", request_id);
                token_use.record(recorder.store).instrument(span).await;
            }
            posted
        })
    }
}

/// Managed Instances: each use recorded in a task of its own as its answer is handed over; at
/// SIGTERM, the writes still running are awaited (each within `RECORD_USE_TIMEOUT`).
async fn record_in_tasks<S: TokenStore + 'static>(
    store: &'static S,
    mut queued: UnboundedReceiver<TokenUse>,
) -> Result<(), Error> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut writes = JoinSet::new();
    loop {
        tokio::select! {
            token_use = queued.recv() => match token_use {
                Some(token_use) => {
                    writes.spawn(async move { token_use.record(store).await });
                }
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

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use lambda_http::lambda_runtime::{Context as InvocationContext, service_fn};
    use uuid::Uuid;

    use super::*;
    use crate::memory::{MemoryStore, Operation};

    /// A recorder for one invocation at a time, holding a due use as `function` leaves it.
    fn holding_a_use() -> &'static UseRecorder<MemoryStore> {
        let store: &'static MemoryStore = Box::leak(Box::new(MemoryStore::new()));
        let (recorder, _) = UseRecorder::start(store, 1);
        let recorder: &'static UseRecorder<MemoryStore> = Box::leak(Box::new(recorder));
        let token_use = TokenUse {
            org: Uuid::nil(),
            id: Uuid::nil(),
            at: Utc::now(),
        };
        let AfterAnswer::Held(held) = &recorder.after_answer else {
            unreachable!("one at a time holds the use")
        };
        *lock(held) = Some(token_use);
        recorder
    }

    fn invocation() -> LambdaInvocation {
        let (parts, ()) = lambda_http::http::Response::new(()).into_parts();
        LambdaInvocation {
            parts,
            body: Default::default(),
            context: InvocationContext::default(),
        }
    }

    #[tokio::test]
    async fn the_held_use_is_recorded_once_the_answer_is_posted_and_not_before() {
        let recorder = holding_a_use();
        let store = recorder.store;
        let post = service_fn(move |_: LambdaInvocation| async move {
            assert_eq!(
                store.calls_of(Operation::RecordUse),
                0,
                "recorded before the post"
            );
            Ok::<(), Error>(())
        });
        let mut service = recorder.record_after_post().layer(post);

        service.call(invocation()).await.unwrap();

        assert_eq!(store.calls_of(Operation::RecordUse), 1);
        assert_eq!(recorder.take_held(), None);
    }

    #[tokio::test]
    async fn a_failed_post_still_records_the_use_and_reaches_the_runtime() {
        let recorder = holding_a_use();
        let post = service_fn(|_: LambdaInvocation| async { Err::<(), Error>("refused".into()) });
        let mut service = recorder.record_after_post().layer(post);

        let posted = service.call(invocation()).await;

        assert!(posted.is_err());
        assert_eq!(recorder.store.calls_of(Operation::RecordUse), 1);
    }
}
