//! The 200 answer: one page of tokens and the cursor to the next.

use serde::Serialize;
use uuid::Uuid;

use crate::store::TokenSummary;

#[derive(Debug, PartialEq, Eq, Serialize)]
pub struct Page {
    pub items: Vec<TokenSummary>,
    pub next_cursor: Option<Uuid>,
}

impl Page {
    /// Roughly the length of the page's JSON: an item with its ids, timestamps and a few scopes
    /// takes about 350 bytes, and 400 leaves room for longer names.
    pub fn encoded_len_hint(&self) -> usize {
        64 + 400 * self.items.len()
    }

    /// Builds a page from up to `limit + 1` items read: the extra one only says that more exist,
    /// so the last page never points at an empty one.
    pub fn from_lookahead(mut items: Vec<TokenSummary>, limit: usize) -> Page {
        let more = items.len() > limit;
        items.truncate(limit);
        let next_cursor = if more {
            items.last().map(|item| item.id)
        } else {
            None
        };
        Page { items, next_cursor }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn item(n: u128) -> TokenSummary {
        TokenSummary {
            id: Uuid::from_u128(n),
            org_id: Uuid::from_u128(1),
            name: format!("t{n}"),
            prefix: "aet_00000000".into(),
            scopes: vec![],
            last_used_at: None,
            expires_at: None,
            created_at: Utc.with_ymd_and_hms(2026, 4, 15, 12, 0, 0).unwrap().into(),
        }
    }

    #[test]
    fn a_lookahead_item_becomes_the_cursor_of_the_last_shown_item() {
        let page = Page::from_lookahead(vec![item(3), item(2), item(1)], 2);
        assert_eq!(page.items, vec![item(3), item(2)]);
        assert_eq!(page.next_cursor, Some(Uuid::from_u128(2)));
    }

    #[test]
    fn an_exactly_full_last_page_has_no_cursor() {
        let page = Page::from_lookahead(vec![item(2), item(1)], 2);
        assert_eq!(page.items.len(), 2);
        assert_eq!(page.next_cursor, None);
    }

    #[test]
    fn items_serialize_with_the_api_references_fields_in_order_and_null_timestamps() {
        let page = Page::from_lookahead(vec![item(1)], 50);
        assert_eq!(
            serde_json::to_string(&page).unwrap(),
            r#"{"items":[{"id":"00000000-0000-0000-0000-000000000001","org_id":"00000000-0000-0000-0000-000000000001","name":"t1","prefix":"aet_00000000","scopes":[],"last_used_at":null,"expires_at":null,"created_at":"2026-04-15T12:00:00Z"}],"next_cursor":null}"#
        );
    }
}
