//! An in-memory store for unit tests and benchmarks; it counts every call.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::store::{Credential, StoreError, TokenRecord, TokenStore, TokenSummary, use_is_due};

/// The store operations, to make one of them fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Credential = 0,
    Page = 1,
    RecordUse = 2,
}

#[derive(Default)]
pub struct MemoryStore {
    items: Mutex<BTreeMap<(Uuid, Uuid), TokenRecord>>,
    failures: Mutex<[Option<StoreError>; 3]>,
    calls: [AtomicUsize; 3],
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&self, record: TokenRecord) {
        self.items().insert((record.org_id, record.id), record);
    }

    pub fn get(&self, org: Uuid, id: Uuid) -> Option<TokenRecord> {
        self.items().get(&(org, id)).cloned()
    }

    /// Makes every later call of `operation` fail with `error`.
    pub fn fail(&self, operation: Operation, error: StoreError) {
        self.failures.lock().unwrap_or_else(|e| e.into_inner())[operation as usize] = Some(error);
    }

    /// Makes every later call fail with `error`.
    pub fn fail_all(&self, error: StoreError) {
        for operation in [Operation::Credential, Operation::Page, Operation::RecordUse] {
            self.fail(operation, error.clone());
        }
    }

    /// How often `operation` was called.
    pub fn calls_of(&self, operation: Operation) -> usize {
        self.calls[operation as usize].load(Ordering::SeqCst)
    }

    /// How often each operation was called: credential, page, record_use.
    pub fn calls(&self) -> (usize, usize, usize) {
        (
            self.calls_of(Operation::Credential),
            self.calls_of(Operation::Page),
            self.calls_of(Operation::RecordUse),
        )
    }

    fn items(&self) -> std::sync::MutexGuard<'_, BTreeMap<(Uuid, Uuid), TokenRecord>> {
        self.items.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn check(&self, operation: Operation) -> Result<(), StoreError> {
        self.calls[operation as usize].fetch_add(1, Ordering::SeqCst);
        match &self.failures.lock().unwrap_or_else(|e| e.into_inner())[operation as usize] {
            Some(error) => Err(error.clone()),
            None => Ok(()),
        }
    }
}

impl TokenStore for MemoryStore {
    async fn credential(&self, org: Uuid, id: Uuid) -> Result<Option<Credential>, StoreError> {
        self.check(Operation::Credential)?;
        Ok(self.items().get(&(org, id)).map(TokenRecord::credential))
    }

    async fn page(
        &self,
        org: Uuid,
        after: Option<Uuid>,
        count: usize,
    ) -> Result<Vec<TokenSummary>, StoreError> {
        self.check(Operation::Page)?;
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

    async fn record_use(
        &self,
        org: Uuid,
        id: Uuid,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.check(Operation::RecordUse)?;
        if let Some(record) = self.items().get_mut(&(org, id))
            && use_is_due(record.last_used_at.as_ref(), stale_before)
        {
            record.last_used_at = Some(now.into());
        }
        Ok(())
    }
}
