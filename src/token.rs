//! The token format of the contract: `aet_` + secret (43) + id (22) + CRC-32 (6), base62.

use num_bigint::BigUint;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

const MARKER: &str = "aet_";
const SECRET_WIDTH: usize = 43;
const ID_WIDTH: usize = 22;
const CHECKSUM_WIDTH: usize = 6;
/// Length of a whole token string.
pub const TOKEN_LEN: usize = MARKER.len() + SECRET_WIDTH + ID_WIDTH + CHECKSUM_WIDTH;
/// Length of the displayed, non-secret prefix.
pub const PREFIX_LEN: usize = 12;

const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A token whose shape and checksum are valid. It may still be unknown, revoked or expired.
///
/// `Debug` is hand-written so that the secret can never reach a log line by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    text: String,
    id: Uuid,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Token {
    /// Checks the shape and the checksum; touches no storage.
    pub fn parse(text: &str) -> Option<Token> {
        if text.len() != TOKEN_LEN || !text.starts_with(MARKER) {
            return None;
        }
        let body = &text[MARKER.len()..];
        if !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return None;
        }
        let (signed, checksum) = text.split_at(TOKEN_LEN - CHECKSUM_WIDTH);
        if checksum
            != encode(
                &crc32fast::hash(signed.as_bytes()).to_be_bytes(),
                CHECKSUM_WIDTH,
            )
        {
            return None;
        }
        let id_digits = &signed[MARKER.len() + SECRET_WIDTH..];
        let id = u128::try_from(decode(id_digits)?).ok()?;
        Some(Token {
            text: text.to_owned(),
            id: Uuid::from_u128(id),
        })
    }

    /// Builds the token for an id and a secret of 32 bytes.
    pub fn assemble(id: Uuid, secret: &[u8; 32]) -> Token {
        let mut text = String::with_capacity(TOKEN_LEN);
        text.push_str(MARKER);
        text.push_str(&encode(secret, SECRET_WIDTH));
        text.push_str(&encode(id.as_bytes(), ID_WIDTH));
        let checksum = crc32fast::hash(text.as_bytes()).to_be_bytes();
        text.push_str(&encode(&checksum, CHECKSUM_WIDTH));
        Token { text, id }
    }

    /// Mints a new token: a UUIDv7 id and a secret from the operating system's randomness.
    pub fn generate() -> Result<Token, getrandom::Error> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret)?;
        Ok(Token::assemble(Uuid::now_v7(), &secret))
    }

    pub fn id(&self) -> Uuid {
        self.id
    }

    /// The whole token. Only the admin CLI prints it, once, when it is created.
    pub fn expose(&self) -> &str {
        &self.text
    }

    /// The non-secret prefix shown to users.
    pub fn prefix(&self) -> &str {
        &self.text[..PREFIX_LEN]
    }

    /// Lowercase hex SHA-256 of the whole token, as stored in `secret_hash`.
    pub fn secret_hash(&self) -> String {
        hex::encode(Sha256::digest(self.text.as_bytes()))
    }

    /// Compares with a stored `secret_hash` in constant time.
    pub fn matches(&self, stored_hash: &str) -> bool {
        self.secret_hash()
            .as_bytes()
            .ct_eq(stored_hash.as_bytes())
            .into()
    }
}

/// Big-endian bytes as a base62 number, left-padded with `0` to `width`.
fn encode(bytes: &[u8], width: usize) -> String {
    let digits = BigUint::from_bytes_be(bytes).to_radix_be(62);
    let mut out = String::with_capacity(width.max(digits.len()));
    out.extend(std::iter::repeat_n('0', width.saturating_sub(digits.len())));
    out.extend(digits.iter().map(|&d| char::from(DIGITS[usize::from(d)])));
    out
}

/// A base62 number; `None` for a character outside the alphabet.
fn decode(text: &str) -> Option<BigUint> {
    let digits = text
        .bytes()
        .map(|b| DIGITS.iter().position(|&d| d == b).map(|p| p as u8))
        .collect::<Option<Vec<u8>>>()?;
    BigUint::from_radix_be(&digits, 62)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Token {
        Token::assemble(
            Uuid::parse_str("0196383a-7c00-7000-8000-000000000001").unwrap(),
            &[7u8; 32],
        )
    }

    #[test]
    fn base62_digits_follow_the_contract_alphabet() {
        assert_eq!(encode(&[10], 1), "A");
        assert_eq!(encode(&[36], 1), "a");
        assert_eq!(encode(&[61], 1), "z");
        assert_eq!(encode(&[62], 3), "010");
    }

    #[test]
    fn assembled_token_has_the_contract_layout() {
        let token = sample();
        assert_eq!(token.expose().len(), 75);
        assert!(token.expose().starts_with("aet_"));
        assert_eq!(token.prefix(), &token.expose()[..12]);
        let id_part = &token.expose()[47..69];
        assert_eq!(
            decode(id_part).unwrap(),
            BigUint::from(token.id().as_u128())
        );
        let crc = crc32fast::hash(&token.expose().as_bytes()[..69]);
        assert_eq!(decode(&token.expose()[69..]).unwrap(), BigUint::from(crc));
    }

    #[test]
    fn a_secret_with_leading_zero_bytes_is_padded_not_shortened() {
        let token = Token::assemble(Uuid::nil(), &[0u8; 32]);
        assert_eq!(&token.expose()[4..47], "0".repeat(43));
        assert_eq!(&token.expose()[47..69], "0".repeat(22));
        assert_eq!(Token::parse(token.expose()), Some(token));
    }

    #[test]
    fn parse_round_trips_an_assembled_token() {
        let token = sample();
        assert_eq!(Token::parse(token.expose()), Some(token));
    }

    #[test]
    fn parse_round_trips_generated_tokens() {
        for _ in 0..200 {
            let token = Token::generate().unwrap();
            assert_eq!(
                Token::parse(token.expose()).map(|t| t.id()),
                Some(token.id())
            );
            assert_eq!(token.id().get_version_num(), 7);
        }
    }

    #[test]
    fn parse_rejects_every_single_character_change() {
        let token = sample();
        let text = token.expose();
        for i in 0..text.len() {
            for replacement in DIGITS.iter().chain(b"_-+/ ") {
                let mut changed = text.as_bytes().to_vec();
                if changed[i] == *replacement {
                    continue;
                }
                changed[i] = *replacement;
                let changed = String::from_utf8(changed).unwrap();
                assert_eq!(Token::parse(&changed), None, "accepted {changed}");
            }
        }
    }

    #[test]
    fn parse_rejects_wrong_lengths_and_markers() {
        let text = sample().expose().to_owned();
        assert_eq!(Token::parse(&text[..74]), None);
        assert_eq!(Token::parse(&format!("{text}0")), None);
        assert_eq!(Token::parse(&text.replacen("aet_", "AET_", 1)), None);
        assert_eq!(Token::parse(""), None);
    }

    #[test]
    fn parse_rejects_an_id_part_above_128_bits() {
        // A well-formed checksum over an id part that overflows a UUID.
        let mut text = sample().expose()[..47].to_owned();
        text.push_str(&"z".repeat(22));
        let crc = crc32fast::hash(text.as_bytes()).to_be_bytes();
        text.push_str(&encode(&crc, 6));
        assert_eq!(Token::parse(&text), None);
    }

    #[test]
    fn multibyte_input_of_the_right_length_is_rejected_without_panicking() {
        let text = format!("aet_{}", "é".repeat(35) + "0");
        assert_eq!(text.len(), 75);
        assert_eq!(Token::parse(&text), None);
    }

    #[test]
    fn secret_hash_is_lowercase_hex_sha256_of_the_whole_token() {
        let token = sample();
        let expected = hex::encode(Sha256::digest(token.expose().as_bytes()));
        assert_eq!(token.secret_hash(), expected);
        assert!(token.matches(&expected));
        assert!(!token.matches(&expected.to_uppercase()));
        assert!(!token.matches(""));
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let token = sample();
        assert!(!format!("{token:?}").contains(token.expose()));
    }
}
