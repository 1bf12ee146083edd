//! Bearer token authentication, step by step as the contract orders it.

use chrono::{DateTime, Utc};
use lambda_http::http::{HeaderMap, header};
use uuid::Uuid;

use crate::error::{ApiError, READ_SCOPE};
use crate::store::{Credential, TokenStore};
use crate::token::Token;

/// Scopes that allow listing tokens.
const LISTING_SCOPES: [&str; 3] = [READ_SCOPE, "api_tokens:write", "admin"];

/// Step 1 and 2: the one `Authorization: Bearer <token>` header, with a valid shape and checksum.
/// Touches no storage.
pub fn bearer_token(headers: &HeaderMap) -> Result<Token, ApiError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        // None, or several: a client that sends two credentials gets neither honoured.
        let token_presented = headers.contains_key(header::AUTHORIZATION);
        return Err(ApiError::InvalidCredentials { token_presented });
    };
    let value = value.to_str().unwrap_or("");
    let Some((scheme, token)) = value.split_once(' ') else {
        return Err(ApiError::InvalidCredentials {
            token_presented: false,
        });
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::InvalidCredentials {
            token_presented: false,
        });
    }
    Token::parse(token).ok_or(ApiError::InvalidCredentials {
        token_presented: true,
    })
}

/// Steps 3 to 6: the token's item in the path's organization, its hash, its expiry, its scope.
pub async fn authenticate(
    store: &impl TokenStore,
    org: Uuid,
    token: &Token,
    now: DateTime<Utc>,
) -> Result<Credential, ApiError> {
    let invalid = ApiError::InvalidCredentials {
        token_presented: true,
    };
    let credential = store
        .credential(org, token.id())
        .await
        .map_err(crate::store_failure)?
        .ok_or(invalid.clone())?;
    if !token.matches(&credential.secret_hash) {
        return Err(invalid);
    }
    if credential
        .expires_at
        .as_ref()
        .is_some_and(|at| at.at() <= now)
    {
        return Err(invalid);
    }
    if !credential
        .scopes
        .iter()
        .any(|scope| LISTING_SCOPES.contains(&scope.as_str()))
    {
        return Err(ApiError::InsufficientScope);
    }
    Ok(credential)
}
