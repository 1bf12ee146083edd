//! Timestamps as the table stores them: RFC 3339 in UTC with `Z`.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An instant and its RFC 3339 text. The text is checked when read and written back unchanged,
/// so a page costs no date formatting (it was most of a page's CPU time); a stored value in
/// another valid form (an offset instead of `Z`, a lowercase `t`) is normalized to `…Z`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    at: DateTime<Utc>,
    text: String,
}

impl Timestamp {
    pub fn at(&self) -> DateTime<Utc> {
        self.at
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn into_string(self) -> String {
        self.text
    }
}

impl From<DateTime<Utc>> for Timestamp {
    /// Whole seconds print without a fraction; others with as many digits as they need.
    fn from(at: DateTime<Utc>) -> Self {
        let text = at.to_rfc3339_opts(SecondsFormat::AutoSi, true);
        Timestamp { at, text }
    }
}

impl FromStr for Timestamp {
    type Err = chrono::ParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let at = DateTime::parse_from_rfc3339(text)?.with_timezone(&Utc);
        let canonical = text.as_bytes().get(10) == Some(&b'T') && text.ends_with('Z');
        Ok(if canonical {
            Timestamp {
                at,
                text: text.to_owned(),
            }
        } else {
            Timestamp::from(at)
        })
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_canonical_timestamp_is_kept_as_written() {
        for text in [
            "2026-04-15T12:00:00Z",
            "2026-04-15T12:00:00.5Z",
            "2026-04-15T12:00:00.123456Z",
        ] {
            assert_eq!(text.parse::<Timestamp>().unwrap().as_str(), text);
        }
    }

    #[test]
    fn other_valid_forms_are_normalized_to_utc_with_z() {
        let offset: Timestamp = "2026-04-15T14:00:00+02:00".parse().unwrap();
        assert_eq!(offset.as_str(), "2026-04-15T12:00:00Z");
        let lower: Timestamp = "2026-04-15t12:00:00.250z".parse().unwrap();
        assert_eq!(lower.as_str(), "2026-04-15T12:00:00.250Z");
    }

    #[test]
    fn invalid_text_is_refused() {
        for text in [
            "",
            "2026-04-15",
            "2026-04-15T12:00:00",
            "2026-13-01T00:00:00Z",
            "yesterday",
        ] {
            assert!(text.parse::<Timestamp>().is_err(), "{text}");
        }
    }

    #[test]
    fn instants_compare_whatever_their_text() {
        let a: Timestamp = "2026-04-15T12:00:00Z".parse().unwrap();
        let b: Timestamp = "2026-04-15T12:00:00.5Z".parse().unwrap();
        assert!(a.at() < b.at());
    }
}
