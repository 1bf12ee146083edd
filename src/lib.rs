//! The API tokens service: `GET /api/v1/organizations/{orgID}/api-tokens` on AWS Lambda.

pub mod auth;
pub mod demo;
pub mod dynamo;
pub mod error;
pub mod gateway;
pub mod memory;
pub mod page;
pub mod request;
pub mod store;
pub mod telemetry;
pub mod timestamp;
pub mod token;

use std::time::{Duration, Instant};

use chrono::{SubsecRound, TimeDelta, Utc};
use lambda_http::http::{Method, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use uuid::Uuid;

use crate::error::ApiError;
use crate::page::Page;
use crate::store::{StoreError, TokenStore};
use crate::token::Token;

/// All storage work of one request ends within this, so the caller has an answer within 3 s.
pub const STORE_DEADLINE: Duration = Duration::from_millis(2500);
/// `last_used_at` is written at most this often per token.
pub const TOUCH_INTERVAL: TimeDelta = TimeDelta::seconds(60);

/// Answers one HTTP request. Every failure becomes an error response; nothing panics.
pub async fn handle<S: TokenStore>(store: &S, request: Request) -> Response<Body> {
    let started = Instant::now();
    let mut seen = Seen::default();
    let result = serve(store, &request, &mut seen).await;
    let response = match result {
        Ok(page) => error::json_response(StatusCode::OK, &page, page.encoded_len_hint()),
        Err(error) => error.into_response(),
    };
    tracing::info!(
        request_id = request.lambda_context_ref().map(|c| c.request_id.as_str()),
        route = if seen.route { request::ROUTE } else { "-" },
        org = seen.org.as_ref().map(tracing::field::display),
        status = response.status().as_u16(),
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    response
}

/// What the request log line tells of a request, as far as it got.
#[derive(Default)]
struct Seen {
    route: bool,
    org: Option<Uuid>,
}

async fn serve<S: TokenStore>(
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
    tokio::time::timeout(STORE_DEADLINE, list(store, org, &token, query))
        .await
        .unwrap_or_else(|_| {
            tracing::warn!("store deadline exceeded");
            Err(ApiError::Unavailable)
        })
}

/// Authenticates, then reads the page while `last_used_at` is recorded alongside.
async fn list<S: TokenStore>(
    store: &S,
    org: Uuid,
    token: &Token,
    query: Option<&str>,
) -> Result<Page, ApiError> {
    // Whole seconds keep stored timestamps in one form, so they also compare as strings.
    let now = Utc::now().trunc_subsecs(0);
    let credential = auth::authenticate(store, org, token, now).await?;
    let stale_before = now - TOUCH_INTERVAL;
    let touch = async {
        if store::due_for_touch(credential.last_used_at.as_ref(), stale_before)
            && let Err(error) = store.touch(org, token.id(), now, stale_before).await
        {
            tracing::warn!(%error, "could not record last_used_at");
        }
    };
    let read = async {
        let query = request::parse_query(query).map_err(ApiError::InvalidRequest)?;
        let items = store
            .page(org, query.cursor, query.limit + 1)
            .await
            .map_err(store_failure)?;
        Ok(Page::from_lookahead(items, query.limit))
    };
    let ((), page) = tokio::join!(touch, read);
    page
}

/// Logs a store failure and picks the answer: 503 when a retry may help, else 500.
pub(crate) fn store_failure(error: StoreError) -> ApiError {
    tracing::error!(%error, "store failure");
    match error {
        StoreError::Unavailable(_) => ApiError::Unavailable,
        StoreError::Malformed(_) | StoreError::Failed(_) => ApiError::Internal,
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
