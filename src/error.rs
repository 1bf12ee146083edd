//! Every way a request can fail, and the API reference's error envelope it is answered with.

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
use serde::Serialize;

use crate::store::StoreError;

/// The realm named in every `WWW-Authenticate` challenge.
pub const REALM: &str = "aether";
/// The scope this endpoint requires.
pub const READ_SCOPE: &str = "api_tokens:read";
/// Seconds a client should wait after a 503.
pub const RETRY_AFTER_SECONDS: u32 = 1;

/// One bad request field, as listed in the envelope's `details`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: &'static str,
    pub code: &'static str,
    pub message: &'static str,
}

/// Why a request's credentials were refused. It goes to the request's log line as `auth`, never
/// into the answer: every cause but `Missing` is answered with the same bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthFailure {
    /// No Bearer token: no Authorization header, or another scheme.
    Missing,
    /// A Bearer token of the wrong shape or checksum, or more than one Authorization header.
    Malformed,
    /// No such token in the path's organization (or its item cannot be read).
    NotFound,
    /// The token's id exists, its secret does not match.
    WrongSecret,
    Expired,
}

impl AuthFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthFailure::Missing => "missing",
            AuthFailure::Malformed => "malformed",
            AuthFailure::NotFound => "not_found",
            AuthFailure::WrongSecret => "wrong_secret",
            AuthFailure::Expired => "expired",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("invalid request parameters")]
    InvalidRequest(Vec<FieldError>),
    #[error("missing or invalid credentials")]
    InvalidCredentials(AuthFailure),
    #[error("insufficient scope")]
    InsufficientScope,
    #[error("no route")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 503 when a retry may help, else 500; the store's text goes to the log line only.
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: ErrorBody<'a>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'static str,
    message: &'static str,
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    details: &'a [FieldError],
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::InvalidCredentials(_) => StatusCode::UNAUTHORIZED,
            ApiError::InsufficientScope => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Store(StoreError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidRequest(_) => "invalid_request",
            ApiError::InvalidCredentials(_) => "invalid_credentials",
            ApiError::InsufficientScope => "insufficient_scope",
            ApiError::NotFound => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Store(StoreError::Unavailable(_)) => "service_unavailable",
            ApiError::Store(_) => "internal_error",
        }
    }

    fn message(&self) -> &'static str {
        match self {
            ApiError::InvalidRequest(_) => "The request has invalid parameters.",
            ApiError::InvalidCredentials(_) => "Missing or invalid credentials.",
            ApiError::InsufficientScope => "The token lacks the api_tokens:read scope.",
            ApiError::NotFound => "No such resource.",
            ApiError::MethodNotAllowed => "Method not allowed; this resource supports GET.",
            ApiError::Store(StoreError::Unavailable(_)) => {
                "The service is temporarily unavailable; retry later."
            }
            ApiError::Store(_) => "An internal error occurred.",
        }
    }

    /// The `auth` field of the request's log line: why credentials or scope were refused.
    pub fn auth_cause(&self) -> Option<&'static str> {
        match self {
            ApiError::InvalidCredentials(failure) => Some(failure.as_str()),
            ApiError::InsufficientScope => Some("insufficient_scope"),
            _ => None,
        }
    }

    /// The store failure behind a 503 or 500, for the request's log line.
    pub fn store_error(&self) -> Option<&StoreError> {
        match self {
            ApiError::Store(error) => Some(error),
            _ => None,
        }
    }

    fn challenge(&self) -> Option<String> {
        match self {
            // RFC 6750 3.1: no error code when the request carried no Bearer token at all.
            ApiError::InvalidCredentials(AuthFailure::Missing) => {
                Some(format!("Bearer realm=\"{REALM}\""))
            }
            ApiError::InvalidCredentials(_) => {
                Some(format!("Bearer realm=\"{REALM}\", error=\"invalid_token\""))
            }
            ApiError::InsufficientScope => Some(format!(
                "Bearer realm=\"{REALM}\", error=\"insufficient_scope\", scope=\"{READ_SCOPE}\""
            )),
            _ => None,
        }
    }

    pub fn into_response(self) -> Response<Body> {
        let details = match &self {
            ApiError::InvalidRequest(details) => details.as_slice(),
            _ => &[],
        };
        let envelope = Envelope {
            error: ErrorBody {
                code: self.code(),
                message: self.message(),
                details,
            },
        };
        let mut response = json_response(self.status(), &envelope, 256);
        let headers = response.headers_mut();
        if let Some(challenge) = self.challenge() {
            headers.insert(header::WWW_AUTHENTICATE, header_value(challenge));
        }
        match self {
            ApiError::MethodNotAllowed => {
                headers.insert(header::ALLOW, HeaderValue::from_static("GET"));
            }
            ApiError::Store(StoreError::Unavailable(_)) => {
                headers.insert(header::RETRY_AFTER, RETRY_AFTER_SECONDS.into());
            }
            _ => {}
        }
        response
    }
}

fn header_value(text: String) -> HeaderValue {
    // Our challenges are plain ASCII built from constants, so this cannot fail.
    HeaderValue::try_from(text).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
}

/// A JSON response with the headers every answer of this API carries. `capacity` is a guess of
/// the body's length: a page grows its buffer once instead of a dozen times.
pub fn json_response(status: StatusCode, body: &impl Serialize, capacity: usize) -> Response<Body> {
    let mut buffer = Vec::with_capacity(capacity);
    // Serializing our own plain structs into memory cannot fail, and JSON is UTF-8; fall back to
    // an empty object all the same.
    let text = serde_json::to_writer(&mut buffer, body)
        .ok()
        .and_then(|()| String::from_utf8(buffer).ok())
        .unwrap_or_else(|| String::from("{}"));
    let mut response = Response::new(Body::Text(text));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
