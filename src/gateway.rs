//! API Gateway events in, API Gateway responses out, with nothing that can reach the runtime as an
//! `Err` or a panic.
//!
//! `lambda_http::run` would do the conversions, but its request conversion panics on some inputs
//! (an unparseable `Host` header, a raw path or query that is not a valid URI), and a panic
//! becomes a bare 502 at the gateway. Here the conversion is guarded and answered with a 400.

use std::convert::Infallible;
use std::panic::{AssertUnwindSafe, catch_unwind};

use lambda_http::aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayV2httpResponse};
use lambda_http::http::HeaderMap;
use lambda_http::request::{LambdaRequest, RequestOrigin};
use lambda_http::{Body, LambdaEvent, RequestExt, Response};
use serde::Serialize;

use crate::error::ApiError;
use crate::handler::TokenUse;
use crate::store::TokenStore;

/// The response shape of the event's API Gateway version.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum GatewayResponse {
    RestApi(ApiGatewayProxyResponse),
    HttpApi(ApiGatewayV2httpResponse),
}

/// The Lambda function: one event, one response, never an error. The token's use, when one is
/// due, is recorded before the answer; `respond` leaves it to the caller.
pub async fn function<S: TokenStore>(
    store: &S,
    event: LambdaEvent<serde_json::Value>,
) -> Result<GatewayResponse, Infallible> {
    let (response, token_use) = respond(store, event).await;
    crate::handler::record_if_due(store, token_use.as_ref()).await;
    Ok(response)
}

/// One event, one response, and the token use to record once the response has gone.
pub async fn respond<S: TokenStore>(
    store: &S,
    event: LambdaEvent<serde_json::Value>,
) -> (GatewayResponse, Option<TokenUse>) {
    let LambdaEvent {
        mut payload,
        context,
    } = event;
    keep_repeated_headers(&mut payload);
    let Ok(lambda_request) = serde_json::from_value::<LambdaRequest>(payload) else {
        tracing::warn!("not an API Gateway event");
        let response = ApiError::InvalidRequest(Vec::new()).into_response();
        return (encode(true, response), None);
    };
    let rest_api = matches!(lambda_request.request_origin(), RequestOrigin::ApiGatewayV1);
    let request = catch_unwind(AssertUnwindSafe(|| {
        lambda_http::Request::from(lambda_request)
    }));
    let (response, token_use) = match request {
        Ok(request) => crate::handler::respond(store, request.with_lambda_context(context)).await,
        Err(_) => {
            tracing::warn!("event with an unusable path, query or Host header");
            (ApiError::InvalidRequest(Vec::new()).into_response(), None)
        }
    };
    (encode(!rest_api, response), token_use)
}

/// REST API events carry each header twice: in `headers` (the last value only) and in
/// `multiValueHeaders` (all of them). lambda_http lets the first overwrite the second, which would
/// hide a repeated `Authorization` header; keeping only `multiValueHeaders` keeps every value.
fn keep_repeated_headers(payload: &mut serde_json::Value) {
    let has_multi = payload
        .get("multiValueHeaders")
        .and_then(serde_json::Value::as_object)
        .is_some_and(|headers| !headers.is_empty());
    if let Some(headers) = payload.get_mut("headers").filter(|_| has_multi) {
        *headers = serde_json::Value::Object(serde_json::Map::new());
    }
}

fn encode(http_api: bool, response: Response<Body>) -> GatewayResponse {
    let (parts, body) = response.into_parts();
    let status_code = i64::from(parts.status.as_u16());
    let body = match body {
        Body::Empty => None,
        body => Some(body),
    };
    if http_api {
        let mut out = ApiGatewayV2httpResponse::default();
        out.status_code = status_code;
        out.headers = parts.headers;
        out.body = body;
        GatewayResponse::HttpApi(out)
    } else {
        // REST APIs merge `headers` into `multiValueHeaders`; one of them keeps values unique.
        let mut out = ApiGatewayProxyResponse::default();
        out.status_code = status_code;
        out.headers = HeaderMap::new();
        out.multi_value_headers = parts.headers;
        out.body = body;
        GatewayResponse::RestApi(out)
    }
}
