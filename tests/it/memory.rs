//! The in-memory store under the store contract that DynamoDB also meets (support/contract.rs).

use api_tokens::memory::MemoryStore;
use api_tokens::store::TokenRecord;
use uuid::Uuid;

use crate::support::contract::{ContractStore, store_contract};

impl ContractStore for MemoryStore {
    async fn fresh() -> Self {
        MemoryStore::new()
    }
    async fn put(&self, record: &TokenRecord) {
        self.insert(record.clone());
    }
    async fn last_used_at(&self, org: Uuid, id: Uuid) -> Option<String> {
        Some(self.get(org, id)?.last_used_at?.into_string())
    }
}

store_contract!(MemoryStore);
