//! Fixed demo data for local runs and sample events. Its tokens are public: never load them into
//! a deployed table.

use chrono::{DateTime, TimeZone, Utc};
use sha2::{Digest, Sha256};
use uuid::{Builder, Uuid};

use crate::store::TokenRecord;
use crate::token::Token;

/// The demo organization: the id of the API reference's own example, in canonical form.
pub const DEMO_ORG: Uuid = Uuid::from_u128(0x2489e9ad_2ee2_8e00_8ec9_32d5f69181c0);
/// A second organization, to show that tokens never cross organizations.
pub const OTHER_ORG: Uuid = Uuid::from_u128(0x7d1b0c9e_4b7f_4f43_9c55_2f1d6e0a9b11);

/// One demo token: everything about it is fixed, its secret included.
#[derive(Clone, Copy, Debug)]
pub struct DemoToken {
    pub org: Uuid,
    pub name: &'static str,
    pub scopes: &'static [&'static str],
    /// Days after 2026-04-15T12:00:00Z.
    pub created_day: u32,
    pub expires_at: Option<(i32, u32, u32)>,
}

pub const DEMO_TOKENS: [DemoToken; 7] = [
    DemoToken {
        org: DEMO_ORG,
        name: "demo-admin",
        scopes: &["admin"],
        created_day: 0,
        expires_at: None,
    },
    DemoToken {
        org: DEMO_ORG,
        name: "ci-pipeline",
        scopes: &["api_tokens:read"],
        created_day: 1,
        expires_at: None,
    },
    DemoToken {
        org: DEMO_ORG,
        name: "terraform",
        scopes: &["api_tokens:write"],
        created_day: 2,
        expires_at: None,
    },
    DemoToken {
        org: DEMO_ORG,
        name: "billing-export",
        scopes: &["billing:read"],
        created_day: 3,
        expires_at: None,
    },
    DemoToken {
        org: DEMO_ORG,
        name: "expired-reader",
        scopes: &["api_tokens:read"],
        created_day: 4,
        expires_at: Some((2026, 5, 1)),
    },
    DemoToken {
        org: DEMO_ORG,
        name: "grafana",
        scopes: &["api_tokens:read", "metrics:read"],
        created_day: 5,
        expires_at: Some((2099, 1, 1)),
    },
    DemoToken {
        org: OTHER_ORG,
        name: "other-org-admin",
        scopes: &["admin"],
        created_day: 6,
        expires_at: None,
    },
];

/// The token the run command prints: `demo-admin` of the demo org.
pub fn admin_token() -> Token {
    DEMO_TOKENS[0].token()
}

/// The demo token of this name.
pub fn token_named(name: &str) -> Option<Token> {
    DEMO_TOKENS
        .iter()
        .find(|t| t.name == name)
        .map(DemoToken::token)
}

impl DemoToken {
    pub fn created_at(&self) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 4, 15, 12, 0, 0)
            .single()
            .unwrap_or_default()
            + chrono::TimeDelta::days(i64::from(self.created_day))
    }

    /// A UUIDv7 at `created_at`, with fixed "random" bits.
    pub fn id(&self) -> Uuid {
        let millis = u64::try_from(self.created_at().timestamp_millis()).unwrap_or_default();
        let seed = Sha256::digest(self.name.as_bytes());
        let mut random = [0u8; 10];
        random.copy_from_slice(&seed[..10]);
        Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
    }

    pub fn token(&self) -> Token {
        let secret: [u8; 32] = Sha256::digest(format!("aether demo token {}", self.name)).into();
        Token::assemble(self.id(), &secret)
    }

    pub fn record(&self) -> TokenRecord {
        let token = self.token();
        TokenRecord {
            org_id: self.org,
            id: token.id(),
            name: self.name.to_owned(),
            prefix: token.prefix().to_owned(),
            scopes: self.scopes.iter().map(|s| (*s).to_owned()).collect(),
            secret_hash: token.secret_hash(),
            created_at: self.created_at().into(),
            expires_at: self
                .expires_at
                .and_then(|(y, m, d)| Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).single())
                .map(Into::into),
            last_used_at: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_org_is_the_reference_example_in_canonical_form() {
        assert_eq!(DEMO_ORG.to_string(), "2489e9ad-2ee2-8e00-8ec9-32d5f69181c0");
    }

    #[test]
    fn demo_tokens_are_valid_version_7_tokens_in_creation_order() {
        let ids: Vec<Uuid> = DEMO_TOKENS.iter().map(DemoToken::id).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        for demo in DEMO_TOKENS {
            let token = demo.token();
            assert_eq!(token.id().get_version_num(), 7);
            assert_eq!(Token::parse(token.expose()), Some(token.clone()));
            assert!(token.matches(&demo.record().secret_hash));
        }
    }

    #[test]
    fn demo_tokens_are_the_same_every_time() {
        assert_eq!(admin_token(), DEMO_TOKENS[0].token());
        assert_eq!(token_named("grafana"), Some(DEMO_TOKENS[5].token()));
    }
}
