//! Bearer token authentication, step by step as the contract orders it.

use chrono::{DateTime, Utc};
use lambda_http::http::{HeaderMap, header};
use uuid::Uuid;

use crate::error::{ApiError, AuthFailure, READ_SCOPE};
use crate::store::{Credential, StoreError, TokenStore};
use crate::token::Token;

/// Scopes that allow listing tokens; the only scopes this service knows.
pub const LISTING_SCOPES: [&str; 3] = [READ_SCOPE, "api_tokens:write", "admin"];

/// Step 1 and 2: the one `Authorization: Bearer <token>` header, with a valid shape and checksum.
/// Touches no storage.
pub fn bearer_token(headers: &HeaderMap) -> Result<Token, ApiError> {
    let refuse = |failure| Err(ApiError::InvalidCredentials(failure));
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = match (values.next(), values.next()) {
        (None, _) => return refuse(AuthFailure::Missing),
        (Some(value), None) => value.to_str().unwrap_or(""),
        // A client that sends two credentials gets neither honoured.
        (Some(_), Some(_)) => return refuse(AuthFailure::Malformed),
    };
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
            Token::parse(token).ok_or(ApiError::InvalidCredentials(AuthFailure::Malformed))
        }
        // Another scheme, or no scheme at all: no Bearer token was presented.
        _ => refuse(AuthFailure::Missing),
    }
}

/// Steps 3 to 5: the token's item in the path's organization, its hash, its expiry.
pub async fn authenticate(
    store: &impl TokenStore,
    org: Uuid,
    token: &Token,
    now: DateTime<Utc>,
) -> Result<Credential, ApiError> {
    let refuse = |failure| Err(ApiError::InvalidCredentials(failure));
    let credential = match store.credential(org, token.id()).await {
        Ok(Some(credential)) => credential,
        Ok(None) => return refuse(AuthFailure::NotFound),
        // Answered like a missing item: a 500 would tell a caller without the secret that the
        // id exists. The hash stays out of the line; the store's message never carries it.
        Err(StoreError::Malformed(_)) => {
            tracing::error!(%org, token_id = %token.id(), "credential item cannot be decoded");
            return refuse(AuthFailure::NotFound);
        }
        Err(error) => return Err(error.into()),
    };
    if !token.matches(&credential.secret_hash) {
        return refuse(AuthFailure::WrongSecret);
    }
    // The exact instant: a token that expires at 12:00:00.5 no longer works at 12:00:00.9.
    if credential
        .expires_at
        .as_ref()
        .is_some_and(|at| at.at() <= now)
    {
        return refuse(AuthFailure::Expired);
    }
    Ok(credential)
}

/// Step 6: listing needs one of the listing scopes.
pub fn authorize(credential: &Credential) -> Result<(), ApiError> {
    if credential
        .scopes
        .iter()
        .any(|scope| LISTING_SCOPES.contains(&scope.as_str()))
    {
        Ok(())
    } else {
        Err(ApiError::InsufficientScope)
    }
}
