//! The handler: one API Gateway request in, one answer out, with the checks in the order of the
//! contract and one log line.

use std::time::{Duration, Instant};

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use lambda_http::http::{Method, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use uuid::Uuid;

use crate::error::ApiError;
use crate::page::Page;
use crate::store::{Credential, StoreError, TokenStore};
use crate::token::Token;
use crate::{auth, error, request, store};

/// The storage reads of one request end within this, so the caller has an answer within 3 s.
pub const STORE_DEADLINE: Duration = Duration::from_millis(2500);
/// How long an answer waits for a `last_used_at` write that is still running; then the write is
/// dropped. The write starts beside the page read, and a DynamoDB write takes a few ms (p99
/// ~10 ms in-region), so it is almost always done first. 100 ms is several times that, small
/// next to the 3 s answer budget (2.5 s + 0.1 s), and spent only when DynamoDB is already slow:
/// a shorter grace would drop audit records at the first hiccup.
pub const TOUCH_GRACE: Duration = Duration::from_millis(100);
/// `last_used_at` is written at most this often per token.
pub const TOUCH_INTERVAL: TimeDelta = TimeDelta::seconds(60);

/// Answers one HTTP request. Every failure becomes an error response; nothing panics.
pub async fn handle<S: TokenStore>(store: &S, request: Request) -> Response<Body> {
    let started = Instant::now();
    let mut seen = Seen::default();
    let result = answer(store, &request, &mut seen).await;
    let auth = result.as_ref().err().and_then(ApiError::auth_cause);
    let store_error = result
        .as_ref()
        .err()
        .and_then(ApiError::store_error)
        .cloned();
    let response = match result {
        Ok(page) => error::json_response(StatusCode::OK, &page, page.encoded_len_hint()),
        Err(error) => error.into_response(),
    };
    // The one line of the request; a store failure makes it an error line that says why.
    macro_rules! request_line {
        ($level:expr) => {
            tracing::event!(
                $level,
                request_id = request.lambda_context_ref().map(|c| c.request_id.as_str()),
                route = if seen.route { request::ROUTE } else { "-" },
                org = seen.org.as_ref().map(tracing::field::display),
                status = response.status().as_u16(),
                duration_ms = started.elapsed().as_secs_f64() * 1000.0,
                auth,
                store_error = store_error.as_ref().map(tracing::field::display),
                "request"
            )
        };
    }
    if store_error.is_some() {
        request_line!(tracing::Level::ERROR);
    } else {
        request_line!(tracing::Level::INFO);
    }
    response
}

/// What the request log line tells of a request, as far as it got.
#[derive(Default)]
struct Seen {
    route: bool,
    org: Option<Uuid>,
}

/// Routes the request and runs the checks in order; the page, or why not.
async fn answer<S: TokenStore>(
    store: &S,
    request: &Request,
    seen: &mut Seen,
) -> Result<Page, ApiError> {
    let path = match request.raw_http_path() {
        "" => request.uri().path(),
        raw => raw,
    };
    let segment = request::match_route(path, stage(request)).ok_or(ApiError::NotFound)?;
    seen.route = true;
    if request.method() != Method::GET {
        return Err(ApiError::MethodNotAllowed);
    }
    let token = auth::bearer_token(request.headers())?;
    let query = request.uri().query();
    let org = request::parse_org(segment).map_err(|org_error| {
        let query_errors = request::parse_query(query).err().unwrap_or_default();
        ApiError::InvalidRequest(std::iter::once(org_error).chain(query_errors).collect())
    })?;
    seen.org = Some(org);
    list(store, org, &token, query).await
}

/// Authenticates, then reads the page while the use of the token is recorded beside it. A
/// refused scope is a use too: audits want exactly those.
async fn list<S: TokenStore>(
    store: &S,
    org: Uuid,
    token: &Token,
    query: Option<&str>,
) -> Result<Page, ApiError> {
    let now = Utc::now();
    let deadline = tokio::time::Instant::now() + STORE_DEADLINE;
    let credential = within(deadline, auth::authenticate(store, org, token, now)).await?;
    let touch = record_use(store, org, token.id(), &credential, now);
    let read = within(deadline, async {
        auth::authorize(&credential)?;
        let query = request::parse_query(query).map_err(ApiError::InvalidRequest)?;
        let items = store.page(org, query.cursor, query.limit + 1).await?;
        Ok(Page::from_lookahead(items, query.limit))
    });
    beside(read, touch, TOUCH_GRACE).await
}

/// `work`, or a 503 once `deadline` has passed.
async fn within<T>(
    deadline: tokio::time::Instant,
    work: impl Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    tokio::time::timeout_at(deadline, work)
        .await
        .unwrap_or_else(|_| {
            Err(StoreError::Unavailable(format!("no answer within {STORE_DEADLINE:?}")).into())
        })
}

/// Sets `last_used_at` when it is due; a failure is logged and changes nothing else.
async fn record_use<S: TokenStore>(
    store: &S,
    org: Uuid,
    id: Uuid,
    credential: &Credential,
    now: DateTime<Utc>,
) {
    // Stored in whole seconds, the one form every timestamp this function writes has.
    let now = now.trunc_subsecs(0);
    let stale_before = now - TOUCH_INTERVAL;
    if store::due_for_touch(credential.last_used_at.as_ref(), stale_before)
        && let Err(error) = store.touch(org, id, now, stale_before).await
    {
        tracing::warn!(%error, "could not record last_used_at");
    }
}

/// Runs `side` beside `main`. Once `main` is done, `side` gets at most `grace` more and is then
/// dropped: nothing may run after the answer is returned, since Lambda freezes the environment
/// there (a spawned task would resume, if ever, inside a later invocation).
async fn beside<T>(
    main: impl Future<Output = T>,
    side: impl Future<Output = ()>,
    grace: Duration,
) -> T {
    tokio::pin!(main, side);
    tokio::select! {
        out = &mut main => {
            if tokio::time::timeout(grace, side).await.is_err() {
                tracing::warn!("last_used_at write dropped: still running after the grace");
            }
            out
        }
        () = &mut side => main.await,
    }
}

/// The API Gateway stage, which REST API paths may carry as their first segment.
fn stage(request: &Request) -> Option<&str> {
    match request.request_context_ref()? {
        RequestContext::ApiGatewayV1(context) => context.stage.as_deref(),
        RequestContext::ApiGatewayV2(context) => context.stage.as_deref(),
        _ => None,
    }
}
