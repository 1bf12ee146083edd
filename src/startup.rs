//! Start-up: the SDK's configuration, and the process's TLS trust roots.

use std::path::PathBuf;
use std::time::Duration;

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls;

use crate::dynamo::DynamoStore;

/// The store every invocation uses, built once per execution environment, then warmed up.
/// Leaked: it lives as long as the process, and concurrent invocations share it with no lock
/// and no count.
pub async fn store() -> &'static DynamoStore {
    let store = Box::leak(Box::new(DynamoStore::from_env(&sdk_config().await)));
    // Init runs at full CPU, the invokes at the memory size's share: connect now.
    store.warm_up().await;
    store
}

/// SDK settings that keep a failing DynamoDB from holding a request past its deadline: short
/// timeouts, and retries (throttling included) that fit inside them.
pub async fn sdk_config() -> SdkConfig {
    let https = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(https)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_millis(500))
                .operation_attempt_timeout(Duration::from_millis(800))
                .operation_timeout(Duration::from_millis(2000))
                .build(),
        )
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(20))
                .with_max_backoff(Duration::from_millis(200)),
        );
    // Lambda hands the function its role's credentials in the environment, where the default
    // chain looks first. Asking there directly skips building the rest of the chain (an STS
    // client among it): about 0.25 ms of every cold start.
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_some() {
        loader = loader.credentials_provider(EnvironmentVariableCredentialsProvider::new());
    }
    loader.load().await
}

/// How many invocations Lambda sends to this environment at once: `AWS_LAMBDA_MAX_CONCURRENCY`
/// (Lambda Managed Instances; `cargo lambda watch` sets 1), else 1.
pub fn max_concurrency() -> u32 {
    concurrency_from(std::env::var("AWS_LAMBDA_MAX_CONCURRENCY").ok().as_deref())
}

/// An unreadable or zero value counts as 1, as the Lambda runtime reads it.
fn concurrency_from(value: Option<&str>) -> u32 {
    value
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(1)
        .max(1)
}

/// Points the SDK's trust store (rustls-native-certs) at the system's CA bundle alone, unless
/// `SSL_CERT_FILE` or `SSL_CERT_DIR` already choose. Left to itself it reads the bundle and then
/// every file of the certificate directory too, which holds the same roots again (Debian's
/// hashed links; `ca-bundle.trust.crt` on Fedora-family systems such as Amazon Linux): twice
/// the parsing in every cold start, about 2 ms on the benchmark machine. `update-ca-certificates`
/// and `update-ca-trust` write both from the same trust store.
///
/// # Safety
/// It sets an environment variable: call it before any other thread exists.
pub unsafe fn trust_ca_bundle_alone() {
    let chosen = ["SSL_CERT_FILE", "SSL_CERT_DIR"]
        .iter()
        .any(|name| std::env::var_os(name).is_some());
    if let Some(bundle) = ca_bundle_to_trust(chosen, || openssl_probe::probe().cert_file) {
        // SAFETY: the caller guarantees that no other thread reads the environment meanwhile.
        unsafe { std::env::set_var("SSL_CERT_FILE", bundle) };
    }
}

/// The bundle to name in `SSL_CERT_FILE`: none when the roots are chosen already, else the
/// probed one.
fn ca_bundle_to_trust(chosen: bool, probe: impl FnOnce() -> Option<PathBuf>) -> Option<PathBuf> {
    if chosen { None } else { probe() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle() -> Option<PathBuf> {
        Some(PathBuf::from("/etc/ssl/certs/ca-certificates.crt"))
    }

    #[test]
    fn concurrency_is_one_unless_a_larger_number_is_set() {
        assert_eq!(concurrency_from(None), 1);
        assert_eq!(concurrency_from(Some("")), 1);
        assert_eq!(concurrency_from(Some("0")), 1);
        assert_eq!(concurrency_from(Some("eight")), 1);
        assert_eq!(concurrency_from(Some("1")), 1);
        assert_eq!(concurrency_from(Some("8")), 8);
    }

    #[test]
    fn the_probed_bundle_is_trusted_alone_when_nothing_is_chosen() {
        assert_eq!(ca_bundle_to_trust(false, bundle), bundle());
    }

    #[test]
    fn roots_chosen_in_the_environment_are_left_alone_and_nothing_is_probed() {
        assert_eq!(ca_bundle_to_trust(true, || panic!("probed")), None);
    }

    #[test]
    fn without_a_bundle_the_native_search_stays() {
        assert_eq!(ca_bundle_to_trust(false, || None), None);
    }
}
