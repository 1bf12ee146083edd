//! An in-memory store for unit tests and benchmarks; it counts every call.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::store::{Credential, StoreError, TokenRecord, TokenStore, TokenSummary};

#[derive(Default)]
pub struct MemoryStore {
    items: Mutex<BTreeMap<(Uuid, Uuid), TokenRecord>>,
    failure: Mutex<Option<StoreError>>,
    pub credential_calls: AtomicUsize,
    pub page_calls: AtomicUsize,
    pub touch_calls: AtomicUsize,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&self, record: TokenRecord) {
        self.items()
            .insert((record.org_id, record.id), record);
    }

    pub fn get(&self, org: Uuid, id: Uuid) -> Option<TokenRecord> {
        self.items().get(&(org, id)).cloned()
    }

    /// Makes every later call fail with `error`.
    pub fn fail_with(&self, error: StoreError) {
        *self.failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(error);
    }

    pub fn calls(&self) -> (usize, usize, usize) {
        (
            self.credential_calls.load(Ordering::SeqCst),
            self.page_calls.load(Ordering::SeqCst),
            self.touch_calls.load(Ordering::SeqCst),
        )
    }

    fn items(&self) -> std::sync::MutexGuard<'_, BTreeMap<(Uuid, Uuid), TokenRecord>> {
        self.items.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn check(&self, counter: &AtomicUsize) -> Result<(), StoreError> {
        counter.fetch_add(1, Ordering::SeqCst);
        match &*self.failure.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(error) => Err(error.clone()),
            None => Ok(()),
        }
    }
}

impl TokenStore for MemoryStore {
    async fn credential(&self, org: Uuid, id: Uuid) -> Result<Option<Credential>, StoreError> {
        self.check(&self.credential_calls)?;
        Ok(self.items().get(&(org, id)).map(TokenRecord::credential))
    }

    async fn page(
        &self,
        org: Uuid,
        after: Option<Uuid>,
        count: usize,
    ) -> Result<Vec<TokenSummary>, StoreError> {
        self.check(&self.page_calls)?;
        let upper = after.unwrap_or(Uuid::max());
        Ok(self
            .items()
            .range((org, Uuid::nil())..=(org, upper))
            .rev()
            .filter(|((_, id), _)| after != Some(*id))
            .take(count)
            .map(|(_, record)| record.summary())
            .collect())
    }

    async fn touch(
        &self,
        org: Uuid,
        id: Uuid,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.check(&self.touch_calls)?;
        if let Some(record) = self.items().get_mut(&(org, id)) {
            if record.last_used_at.is_none_or(|at| at < stale_before) {
                record.last_used_at = Some(now);
            }
        }
        Ok(())
    }
}
