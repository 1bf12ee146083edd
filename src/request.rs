//! Reading the route, the path parameter and the query parameters from a request.

use percent_encoding::percent_decode_str;
use uuid::Uuid;

use crate::error::FieldError;

/// The one route this function serves.
pub const ROUTE: &str = "/api/v1/organizations/{orgID}/api-tokens";

pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 100;

/// The path of a request to this function, with or without an API Gateway stage prefix.
/// `Some(org segment)` when it is the list route, still percent-encoded and unvalidated.
pub fn match_route<'a>(path: &'a str, stage: Option<&str>) -> Option<&'a str> {
    let org_segment = |path: &'a str| {
        let rest = path.strip_prefix("/api/v1/organizations/")?;
        let org = rest.strip_suffix("/api-tokens")?;
        (!org.is_empty() && !org.contains('/')).then_some(org)
    };
    org_segment(path).or_else(|| {
        let stage = stage.filter(|s| !s.is_empty() && *s != "$default")?;
        let rest = path.strip_prefix('/')?.strip_prefix(stage)?;
        org_segment(rest)
    })
}

/// The organization id from the path: a UUID in any letter case.
pub fn parse_org(segment: &str) -> Result<Uuid, FieldError> {
    decode_component(segment)
        .as_deref()
        .and_then(parse_uuid)
        .ok_or(FieldError {
            field: "orgID",
            code: "invalid_format",
            message: "must be a UUID such as 2489e9ad-2ee2-8e00-8ec9-32d5f69181c0",
        })
}

/// The validated query parameters of a list request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListQuery {
    pub cursor: Option<Uuid>,
    pub limit: usize,
}

/// Parses the raw query string. Unknown parameters are ignored; every bad known one is reported.
pub fn parse_query(raw: Option<&str>) -> Result<ListQuery, Vec<FieldError>> {
    let mut cursors = Vec::new();
    let mut limits = Vec::new();
    for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let values = match decode_component(key).as_deref() {
            Some("cursor") => &mut cursors,
            Some("limit") => &mut limits,
            _ => continue,
        };
        values.push(decode_component(value));
    }
    let cursor = single("cursor", &cursors).and_then(|value| {
        value
            .map(|text| {
                parse_uuid(text).ok_or(FieldError {
                    field: "cursor",
                    code: "invalid_format",
                    message: "must be a UUID: the next_cursor of a prior page",
                })
            })
            .transpose()
    });
    let limit = single("limit", &limits)
        .and_then(|value| value.map(parse_limit).transpose())
        .map(|limit| limit.unwrap_or(DEFAULT_LIMIT));
    match (cursor, limit) {
        (Ok(cursor), Ok(limit)) => Ok(ListQuery { cursor, limit }),
        (cursor, limit) => Err(cursor.err().into_iter().chain(limit.err()).collect()),
    }
}

/// The one value of a parameter, `None` when it is absent.
fn single<'a>(
    field: &'static str,
    values: &'a [Option<String>],
) -> Result<Option<&'a str>, FieldError> {
    match values {
        [] => Ok(None),
        [Some(value)] => Ok(Some(value)),
        [None] => Err(FieldError {
            field,
            code: "invalid_encoding",
            message: "is not valid percent-encoded UTF-8",
        }),
        _ => Err(FieldError {
            field,
            code: "repeated",
            message: "must be given at most once",
        }),
    }
}

/// A plain decimal integer from 1 to 100: no sign, no spaces, no fraction, no exponent.
fn parse_limit(text: &str) -> Result<usize, FieldError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(FieldError {
            field: "limit",
            code: "invalid_format",
            message: "must be a decimal integer from 1 to 100",
        });
    }
    match text.parse::<usize>() {
        Ok(limit) if (1..=MAX_LIMIT).contains(&limit) => Ok(limit),
        _ => Err(FieldError {
            field: "limit",
            code: "out_of_range",
            message: "must be from 1 to 100",
        }),
    }
}

/// A UUID in its hyphenated form, any letter case; braced, URN and bare-hex forms are refused.
fn parse_uuid(text: &str) -> Option<Uuid> {
    if text.len() != 36 {
        return None;
    }
    Uuid::try_parse(text).ok()
}

/// Percent-decodes one URL component (`+` is a space, as in forms). `None` for a `%` not followed
/// by two hex digits, or for bytes that are not UTF-8.
fn decode_component(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let escapes_ok = bytes.iter().enumerate().all(|(i, &b)| {
        b != b'%'
            || (bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    });
    if !escapes_ok {
        return None;
    }
    let spaced = text.replace('+', " ");
    percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(|decoded| decoded.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORG: &str = "2489e9ad-2ee2-8e00-8ec9-32d5f69181c0";

    fn fields(result: Result<ListQuery, Vec<FieldError>>) -> Vec<(&'static str, &'static str)> {
        result
            .err()
            .unwrap_or_default()
            .iter()
            .map(|e| (e.field, e.code))
            .collect()
    }

    #[test]
    fn the_route_matches_with_and_without_a_stage() {
        let path = format!("/api/v1/organizations/{ORG}/api-tokens");
        assert_eq!(match_route(&path, None), Some(ORG));
        assert_eq!(match_route(&path, Some("prod")), Some(ORG));
        assert_eq!(
            match_route(&format!("/prod{path}"), Some("prod")),
            Some(ORG)
        );
        assert_eq!(match_route(&format!("/prod{path}"), None), None);
        assert_eq!(match_route(&format!("/test{path}"), Some("prod")), None);
        assert_eq!(
            match_route(&format!("/$default{path}"), Some("$default")),
            None
        );
    }

    #[test]
    fn other_paths_do_not_match() {
        for path in [
            "/",
            "",
            "/api/v1/organizations//api-tokens",
            "/api/v1/organizations/a/b/api-tokens",
            &format!("/api/v1/organizations/{ORG}/api-tokens/"),
            &format!("/api/v1/organizations/{ORG}/api-tokens/x"),
            &format!("/API/v1/organizations/{ORG}/api-tokens"),
            &format!("/api/v2/organizations/{ORG}/api-tokens"),
            &format!("//api/v1/organizations/{ORG}/api-tokens"),
        ] {
            assert_eq!(match_route(path, Some("prod")), None, "{path}");
        }
    }

    #[test]
    fn org_ids_are_uuids_in_any_case_made_canonical() {
        let upper = ORG.to_uppercase();
        assert_eq!(parse_org(&upper).unwrap().to_string(), ORG);
        assert_eq!(
            parse_org("2489e9ad%2D2ee2-8e00-8ec9-32d5f69181c0")
                .unwrap()
                .to_string(),
            ORG
        );
    }

    #[test]
    fn org_ids_in_other_forms_are_refused() {
        for bad in [
            "",
            "x",
            "2489e9ad2ee28e008ec932d5f69181c0",
            "{2489e9ad-2ee2-8e00-8ec9-32d5f69181c0}",
            "urn:uuid:2489e9ad-2ee2-8e00-8ec9-32d5f69181c0",
            "2489e9ad-2ee2-8e00-8ec9-32d5f69181c",
            "2489e9ad-2ee2-8e00-8ec9-32d5f69181c0 ",
            "2489e9ad-2ee2-8e00-8ec9-32d5f69181g0",
            "%zz",
        ] {
            let error = parse_org(bad).unwrap_err();
            assert_eq!(
                (error.field, error.code),
                ("orgID", "invalid_format"),
                "{bad}"
            );
        }
    }

    #[test]
    fn no_query_gives_the_defaults() {
        assert_eq!(
            parse_query(None),
            Ok(ListQuery {
                cursor: None,
                limit: 50
            })
        );
        assert_eq!(
            parse_query(Some("")),
            Ok(ListQuery {
                cursor: None,
                limit: 50
            })
        );
    }

    #[test]
    fn a_cursor_in_any_case_and_a_limit_are_read() {
        let query = parse_query(Some(&format!("cursor={}&limit=7", ORG.to_uppercase())));
        assert_eq!(
            query,
            Ok(ListQuery {
                cursor: Some(Uuid::parse_str(ORG).unwrap()),
                limit: 7
            })
        );
    }

    #[test]
    fn limit_bounds_are_one_and_one_hundred() {
        assert_eq!(parse_query(Some("limit=1")).unwrap().limit, 1);
        assert_eq!(parse_query(Some("limit=100")).unwrap().limit, 100);
        assert_eq!(parse_query(Some("limit=007")).unwrap().limit, 7);
        assert_eq!(
            fields(parse_query(Some("limit=0"))),
            [("limit", "out_of_range")]
        );
        assert_eq!(
            fields(parse_query(Some("limit=101"))),
            [("limit", "out_of_range")]
        );
        assert_eq!(
            fields(parse_query(Some("limit=99999999999999999999999999"))),
            [("limit", "out_of_range")]
        );
    }

    #[test]
    fn limit_must_be_a_plain_decimal_integer() {
        for bad in [
            "", "-1", "+5", "1.0", "1e2", "0x10", "%205", "5%20", "five", "５",
        ] {
            assert_eq!(
                fields(parse_query(Some(&format!("limit={bad}")))),
                [("limit", "invalid_format")],
                "{bad}"
            );
        }
        assert_eq!(
            fields(parse_query(Some("limit"))),
            [("limit", "invalid_format")]
        );
    }

    #[test]
    fn a_repeated_parameter_is_refused() {
        assert_eq!(
            fields(parse_query(Some("limit=5&limit=5"))),
            [("limit", "repeated")]
        );
        assert_eq!(
            fields(parse_query(Some(&format!("cursor={ORG}&cursor={ORG}")))),
            [("cursor", "repeated")]
        );
    }

    #[test]
    fn a_bad_percent_escape_is_refused() {
        assert_eq!(
            fields(parse_query(Some("limit=%zz"))),
            [("limit", "invalid_encoding")]
        );
        assert_eq!(
            fields(parse_query(Some("cursor=%"))),
            [("cursor", "invalid_encoding")]
        );
        assert_eq!(
            fields(parse_query(Some("cursor=%ff"))),
            [("cursor", "invalid_encoding")]
        );
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        assert_eq!(
            fields(parse_query(Some("cursor=nope&limit=0"))),
            [("cursor", "invalid_format"), ("limit", "out_of_range")]
        );
    }

    #[test]
    fn encoded_names_and_unknown_parameters() {
        assert_eq!(parse_query(Some("lim%69t=3&foo=%zz&&x")).unwrap().limit, 3);
    }
}
