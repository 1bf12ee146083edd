//! What the admin CLI checks before it writes: where demo data may go, and which scopes a new
//! token may carry.

use std::net::IpAddr;

use lambda_http::http::Uri;

use crate::auth::LISTING_SCOPES;

/// The DynamoDB endpoint that the environment names (`AWS_ENDPOINT_URL_DYNAMODB`, else
/// `AWS_ENDPOINT_URL`, as the SDK reads them), if it is on this machine. Demo tokens have public
/// secrets and never expire: they may only go to a local server, never to AWS by habit.
pub fn local_endpoint(var: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let named = var("AWS_ENDPOINT_URL_DYNAMODB").or_else(|| var("AWS_ENDPOINT_URL"));
    let Some(endpoint) = named else {
        return Err(
            "refusing to load demo data: no AWS_ENDPOINT_URL_DYNAMODB or \
                    AWS_ENDPOINT_URL names a local DynamoDB, so it would go to AWS. Demo tokens \
                    have public secrets and never expire; load them into a local server only."
                .into(),
        );
    };
    if is_loopback(&endpoint) {
        Ok(endpoint)
    } else {
        Err(format!(
            "refusing to load demo data into {endpoint}: it is not a loopback address \
             (127.0.0.0/8, ::1, localhost). Demo tokens have public secrets and never expire; \
             load them into a local server only."
        ))
    }
}

/// Whether a URL's host is `localhost`, in 127.0.0.0/8, or `::1`.
fn is_loopback(url: &str) -> bool {
    let Ok(uri) = url.parse::<Uri>() else {
        return false;
    };
    let Some(host) = uri.host() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Checks the scopes of a new token: at least one, each `word` or `word:word` of lowercase
/// letters, digits and `_`. Returns a warning for each scope this service does not know.
pub fn check_scopes(scopes: &[String]) -> Result<Vec<String>, String> {
    if scopes.is_empty() {
        return Err("a token needs at least one --scope".into());
    }
    let word = |w: &str| {
        !w.is_empty()
            && w.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    };
    let mut warnings = Vec::new();
    for scope in scopes {
        let valid = match scope.split_once(':') {
            Some((resource, action)) => word(resource) && word(action),
            None => word(scope),
        };
        if !valid {
            return Err(format!(
                "--scope {scope:?} is not of the form word or word:word (lowercase letters, digits, _)"
            ));
        }
        if !LISTING_SCOPES.contains(&scope.as_str()) {
            warnings.push(format!(
                "warning: this service does not know the scope {scope}; it grants no listing here"
            ));
        }
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        }
    }

    #[test]
    fn loopback_endpoints_are_local() {
        for url in [
            "http://127.0.0.1:8000",
            "http://127.8.9.10",
            "http://localhost:8000",
            "http://LOCALHOST",
            "http://[::1]:8000",
            "https://127.0.0.1:4443/",
        ] {
            let found = local_endpoint(env(&[("AWS_ENDPOINT_URL_DYNAMODB", url)]));
            assert_eq!(found.as_deref(), Ok(url));
        }
    }

    #[test]
    fn other_endpoints_are_refused_with_the_reason() {
        for url in [
            "https://dynamodb.us-east-1.amazonaws.com",
            "http://localhost.example.com",
            "http://127.0.0.1.example.com",
            "http://10.0.0.5:8000",
            "http://[::2]:8000",
            "not a url",
        ] {
            let refused = local_endpoint(env(&[("AWS_ENDPOINT_URL_DYNAMODB", url)]));
            assert!(refused.unwrap_err().contains("loopback"), "{url}");
        }
    }

    #[test]
    fn no_endpoint_means_aws_and_is_refused() {
        assert!(local_endpoint(env(&[])).is_err());
    }

    #[test]
    fn the_dynamodb_endpoint_wins_over_the_general_one() {
        let both = env(&[
            (
                "AWS_ENDPOINT_URL_DYNAMODB",
                "https://dynamodb.eu-west-1.amazonaws.com",
            ),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:8000"),
        ]);
        assert!(local_endpoint(both).is_err());
        let general = env(&[("AWS_ENDPOINT_URL", "http://127.0.0.1:8000")]);
        assert!(local_endpoint(general).is_ok());
    }

    fn scopes(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn known_scopes_pass_without_warnings() {
        let checked = check_scopes(&scopes(&["api_tokens:read", "api_tokens:write", "admin"]));
        assert_eq!(checked, Ok(vec![]));
    }

    #[test]
    fn unknown_but_well_formed_scopes_pass_with_a_warning_each() {
        let warnings = check_scopes(&scopes(&["billing:read", "metrics_2", "admin"])).unwrap();
        assert_eq!(warnings.len(), 2);
        assert!(warnings[0].contains("billing:read"));
    }

    #[test]
    fn no_scope_is_refused() {
        assert!(check_scopes(&[]).is_err());
    }

    #[test]
    fn badly_formed_scopes_are_refused() {
        for bad in [
            "",
            "Admin",
            "api tokens",
            "a:b:c",
            ":read",
            "api_tokens:",
            "api-tokens:read",
            "é",
        ] {
            assert!(check_scopes(&scopes(&[bad])).is_err(), "{bad:?}");
        }
    }
}
