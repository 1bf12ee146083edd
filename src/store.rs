//! What the handler needs from storage, and the shapes of a token item.

use std::future::Future;

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

pub use crate::timestamp::Timestamp;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A token as listed by the API: exactly the API reference's fields, in its order.
///
/// It is also the projection the list query reads, so `secret_hash` is never even fetched.
/// Absent timestamps serialize as `null`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenSummary {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    pub prefix: String,
    pub scopes: Vec<String>,
    #[serde(default)]
    pub last_used_at: Option<Timestamp>,
    #[serde(default)]
    pub expires_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

/// What authentication reads of the caller's own token item.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct Credential {
    pub scopes: Vec<String>,
    pub secret_hash: String,
    #[serde(default)]
    pub expires_at: Option<Timestamp>,
    #[serde(default)]
    pub last_used_at: Option<Timestamp>,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("scopes", &self.scopes)
            .field("expires_at", &self.expires_at)
            .field("last_used_at", &self.last_used_at)
            .finish_non_exhaustive()
    }
}

/// A whole token item as the contract defines it; what the admin CLI writes.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub org_id: Uuid,
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
    pub scopes: Vec<String>,
    pub secret_hash: String,
    pub created_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<Timestamp>,
}

impl std::fmt::Debug for TokenRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRecord")
            .field("org_id", &self.org_id)
            .field("id", &self.id)
            .field("name", &self.name)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// `last_used_at` is written at most this often per token.
pub const RECORD_USE_INTERVAL: TimeDelta = TimeDelta::seconds(60);
/// The longest a `last_used_at` write may take: one attempt, never retried. It is a record, not
/// the answer, and a retry would add load to a partition that is already throttled.
pub const RECORD_USE_TIMEOUT: Duration = Duration::from_millis(300);

/// Whether a token last used at `last_used_at` is due a new `last_used_at`: the rule that the
/// handler reads by and that every store's conditional write enforces.
pub fn use_is_due(last_used_at: Option<&Timestamp>, stale_before: DateTime<Utc>) -> bool {
    last_used_at.is_none_or(|at| at.at() < stale_before)
}

impl TokenRecord {
    pub fn summary(&self) -> TokenSummary {
        TokenSummary {
            id: self.id,
            org_id: self.org_id,
            name: self.name.clone(),
            prefix: self.prefix.clone(),
            scopes: self.scopes.clone(),
            last_used_at: self.last_used_at.clone(),
            expires_at: self.expires_at.clone(),
            created_at: self.created_at.clone(),
        }
    }

    pub fn credential(&self) -> Credential {
        Credential {
            scopes: self.scopes.clone(),
            secret_hash: self.secret_hash.clone(),
            expires_at: self.expires_at.clone(),
            last_used_at: self.last_used_at.clone(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// Unreachable, throttled or timed out: worth a retry.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// An item that does not match the contract.
    #[error("malformed item: {0}")]
    Malformed(String),
    /// Anything else the store refused.
    #[error("store failure: {0}")]
    Failed(String),
}

/// The three reads and writes one list request makes.
pub trait TokenStore: Send + Sync {
    /// The caller's token item `(org, id)`, read strongly consistent.
    fn credential(
        &self,
        org: Uuid,
        id: Uuid,
    ) -> impl Future<Output = Result<Option<Credential>, StoreError>> + Send;

    /// Up to `count` tokens of `org`, newest first, starting after the id `after`.
    fn page(
        &self,
        org: Uuid,
        after: Option<Uuid>,
        count: usize,
    ) -> impl Future<Output = Result<Vec<TokenSummary>, StoreError>> + Send;

    /// Sets `last_used_at = now` unless it is already later than `stale_before`,
    /// and never on an item that no longer exists.
    fn record_use(
        &self,
        org: Uuid,
        id: Uuid,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}
