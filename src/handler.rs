//! The handler: one API Gateway request in, one answer out, with the checks in the order of the
//! contract and one log line; and the token use to record once the answer has gone.

use std::time::{Duration, Instant};

use chrono::{DateTime, SubsecRound, Utc};
use lambda_http::http::{Method, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use uuid::Uuid;

use crate::error::ApiError;
use crate::page::Page;
use crate::store::{Credential, RECORD_USE_INTERVAL, RECORD_USE_TIMEOUT, StoreError, TokenStore};
use crate::{auth, error, request, store};

/// The storage reads of one request end within this, so the caller has an answer within 3 s.
pub const STORE_DEADLINE: Duration = Duration::from_millis(2500);

/// A use of a token to record as its `last_used_at`: due once authentication has passed, a
/// refused scope included (audits want exactly those). The answer never depends on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenUse {
    pub org: Uuid,
    pub id: Uuid,
    /// In whole seconds, the one form every timestamp this function writes has.
    pub at: DateTime<Utc>,
}

impl TokenUse {
    /// Writes it, within `RECORD_USE_TIMEOUT`. A failure is logged and changes nothing else.
    pub async fn record<S: TokenStore>(&self, store: &S) {
        let write = store.record_use(self.org, self.id, self.at, self.at - RECORD_USE_INTERVAL);
        let error = match tokio::time::timeout(RECORD_USE_TIMEOUT, write).await {
            Ok(Ok(())) => return,
            Ok(Err(error)) => error,
            Err(_) => StoreError::Unavailable(format!("no answer within {RECORD_USE_TIMEOUT:?}")),
        };
        tracing::warn!(org = %self.org, %error, "could not record last_used_at");
    }
}

/// Answers one HTTP request, having recorded the token's use first when one is due: for callers
/// that cannot run anything after the answer. Every failure becomes an error response.
pub async fn handle<S: TokenStore>(store: &S, request: Request) -> Response<Body> {
    let (response, token_use) = respond(store, request).await;
    record_if_due(store, token_use.as_ref()).await;
    response
}

/// Records `token_use` when there is one: `TokenUse::record`, for the callers that hold an
/// `Option` of it.
pub async fn record_if_due<S: TokenStore>(store: &S, token_use: Option<&TokenUse>) {
    if let Some(token_use) = token_use {
        token_use.record(store).await;
    }
}

/// Answers one HTTP request, and returns the token use to record, if one is due, for the caller
/// to record after the answer has gone. Every failure becomes an error response; nothing panics.
pub async fn respond<S: TokenStore>(
    store: &S,
    request: Request,
) -> (Response<Body>, Option<TokenUse>) {
    let started = Instant::now();
    let mut line = RequestLine::default();
    let result = answer(store, &request, &mut line).await;
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
                route = if line.route { request::ROUTE } else { "-" },
                org = line.org.as_ref().map(tracing::field::display),
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
    (response, line.token_use)
}

/// What the request log line tells of a request as far as it got, and the use it made.
#[derive(Default)]
struct RequestLine {
    route: bool,
    org: Option<Uuid>,
    token_use: Option<TokenUse>,
}

/// Routes the request and runs the checks in order; the page, or why not.
async fn answer<S: TokenStore>(
    store: &S,
    request: &Request,
    line: &mut RequestLine,
) -> Result<Page, ApiError> {
    let path = match request.raw_http_path() {
        "" => request.uri().path(),
        raw => raw,
    };
    let segment = request::match_route(path, stage(request)).ok_or(ApiError::NotFound)?;
    line.route = true;
    if request.method() != Method::GET {
        return Err(ApiError::MethodNotAllowed);
    }
    let token = auth::bearer_token(request.headers())?;
    let query = request.uri().query();
    let org = request::parse_org(segment).map_err(|org_error| {
        let query_errors = request::parse_query(query).err().unwrap_or_default();
        ApiError::InvalidRequest(std::iter::once(org_error).chain(query_errors).collect())
    })?;
    line.org = Some(org);
    let now = Utc::now();
    let deadline = tokio::time::Instant::now() + STORE_DEADLINE;
    let credential = by_deadline(deadline, auth::authenticate(store, org, &token, now)).await?;
    line.token_use = due_use(org, token.id(), &credential, now);
    by_deadline(deadline, async {
        auth::authorize(&credential)?;
        let query = request::parse_query(query).map_err(ApiError::InvalidRequest)?;
        let items = store.page(org, query.cursor, query.limit + 1).await?;
        Ok(Page::from_lookahead(items, query.limit))
    })
    .await
}

/// `work`, or a 503 once `deadline` has passed.
async fn by_deadline<T>(
    deadline: tokio::time::Instant,
    work: impl Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    tokio::time::timeout_at(deadline, work)
        .await
        .unwrap_or_else(|_| {
            Err(StoreError::Unavailable(format!("no answer within {STORE_DEADLINE:?}")).into())
        })
}

/// The use of an authenticated token, when its `last_used_at` is older than the interval.
fn due_use(org: Uuid, id: Uuid, credential: &Credential, now: DateTime<Utc>) -> Option<TokenUse> {
    let at = now.trunc_subsecs(0);
    store::use_is_due(credential.last_used_at.as_ref(), at - RECORD_USE_INTERVAL)
        .then_some(TokenUse { org, id, at })
}

/// The API Gateway stage, which REST API paths may carry as their first segment.
fn stage(request: &Request) -> Option<&str> {
    match request.request_context_ref()? {
        RequestContext::ApiGatewayV1(context) => context.stage.as_deref(),
        RequestContext::ApiGatewayV2(context) => context.stage.as_deref(),
        _ => None,
    }
}
