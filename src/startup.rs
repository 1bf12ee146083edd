//! Start-up: the SDK's configuration, its HTTPS client's trust roots, the store.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

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
    let mut https = aws_smithy_http_client::Builder::new().tls_provider(tls::Provider::Rustls(
        tls::rustls_provider::CryptoMode::Ring,
    ));
    match tls::TlsContext::builder()
        .with_trust_store(trust_store())
        .build()
    {
        Ok(context) => https = https.tls_context(context),
        Err(error) => tracing::warn!(%error, "TLS context not built; trusting the native roots"),
    }
    let https = https.build_https();
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

/// Where the SDK's HTTPS client takes its trusted roots from.
#[derive(Debug, PartialEq, Eq)]
enum Roots {
    /// One PEM bundle, read here and handed to the client as its whole trust store.
    Bundle(PathBuf),
    /// rustls-native-certs' own search: `SSL_CERT_FILE` and `SSL_CERT_DIR`, else the probed
    /// bundle *and* every file of the probed certificate directory.
    Native,
}

/// The client's trust store: the system's CA bundle alone, unless `SSL_CERT_FILE` or
/// `SSL_CERT_DIR` choose. Left to itself, rustls-native-certs reads the bundle and then every
/// file of the certificate directory too, which holds the same roots again (Debian's hashed
/// links; `ca-bundle.trust.crt` on Fedora-family systems such as Amazon Linux): twice the
/// parsing in every cold start, about 2 ms on the benchmark machine. `update-ca-certificates`
/// and `update-ca-trust` write both from the same trust store. The process environment is only
/// read, never written.
///
/// A bundle that cannot be read or would not parse (`check_bundle`) is logged and left out: the
/// roots are then rustls-native-certs' own, as before this module chose them. It reads
/// `SSL_CERT_FILE` itself (else the probed bundle and directory), keeps the certificates that
/// parse and warns about the rest.
fn trust_store() -> tls::TrustStore {
    let roots = roots_from(
        std::env::var_os("SSL_CERT_FILE"),
        std::env::var_os("SSL_CERT_DIR"),
        || openssl_probe::probe().cert_file,
    );
    let Roots::Bundle(bundle) = roots else {
        return tls::TrustStore::default();
    };
    match read_bundle(&bundle, |path| std::fs::read(path)) {
        Ok(pem) => tls::TrustStore::empty().with_pem_certificate(pem),
        Err(error) => {
            tracing::warn!(
                bundle = %bundle.display(),
                %error,
                "CA bundle not usable; trusting the native roots instead"
            );
            tls::TrustStore::default()
        }
    }
}

/// `SSL_CERT_DIR` leaves the roots to rustls-native-certs, which reads the directory (and
/// `SSL_CERT_FILE` too, if set); `SSL_CERT_FILE` alone names the bundle; with neither, the
/// probed bundle, if any. An empty variable names nothing and counts as unset.
fn roots_from(
    cert_file: Option<OsString>,
    cert_dir: Option<OsString>,
    probe: impl FnOnce() -> Option<PathBuf>,
) -> Roots {
    let set = |value: Option<OsString>| value.filter(|v| !v.is_empty());
    if set(cert_dir).is_some() {
        return Roots::Native;
    }
    match set(cert_file).map(PathBuf::from).or_else(probe) {
        Some(bundle) => Roots::Bundle(bundle),
        None => Roots::Native,
    }
}

/// Why a bundle was not handed to the client.
#[derive(Debug, thiserror::Error)]
enum BundleError {
    #[error("cannot read it: {0}")]
    Read(#[from] std::io::Error),
    #[error("not PEM: {0}")]
    Pem(rustls_pki_types::pem::Error),
    #[error("its certificate number {number} is not a root that rustls can use: {error}")]
    Root { number: usize, error: webpki::Error },
    #[error("it holds no certificate")]
    NoCertificate,
}

/// The bundle's bytes, once they pass `check_bundle`.
fn read_bundle(
    path: &Path,
    read: impl FnOnce(&Path) -> std::io::Result<Vec<u8>>,
) -> Result<Vec<u8>, BundleError> {
    let pem = read(path)?;
    check_bundle(&pem)?;
    Ok(pem)
}

/// Does to `pem` what the SDK's HTTPS client will do at its first connection
/// (aws-smithy-http-client's `TlsContext::rustls_root_certs`): decode every `CERTIFICATE`
/// section and parse each as a root, as `rustls::RootCertStore::add` does. The client `expect`s
/// both to succeed, and would panic on a broken bundle; here it is an error. A bundle without a
/// certificate is one too: it would trust nothing. Costs about 0.5 ms for the 144 roots of
/// Debian's bundle, nearly all of it base64 decoding, which the client then does again.
fn check_bundle(pem: &[u8]) -> Result<(), BundleError> {
    let mut roots = 0;
    for cert in CertificateDer::pem_slice_iter(pem) {
        let cert = cert.map_err(BundleError::Pem)?;
        roots += 1;
        webpki::anchor_from_trusted_cert(&cert).map_err(|error| BundleError::Root {
            number: roots,
            error,
        })?;
    }
    if roots == 0 {
        return Err(BundleError::NoCertificate);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrency_is_one_unless_a_larger_number_is_set() {
        assert_eq!(concurrency_from(None), 1);
        assert_eq!(concurrency_from(Some("")), 1);
        assert_eq!(concurrency_from(Some("0")), 1);
        assert_eq!(concurrency_from(Some("eight")), 1);
        assert_eq!(concurrency_from(Some("1")), 1);
        assert_eq!(concurrency_from(Some("8")), 8);
    }

    fn probed() -> Option<PathBuf> {
        Some(PathBuf::from("/etc/ssl/certs/ca-certificates.crt"))
    }

    fn var(value: &str) -> Option<OsString> {
        Some(OsString::from(value))
    }

    fn bundle(path: &str) -> Roots {
        Roots::Bundle(PathBuf::from(path))
    }

    #[test]
    fn the_probed_bundle_is_trusted_alone_when_nothing_is_chosen() {
        assert_eq!(
            roots_from(None, None, probed),
            bundle("/etc/ssl/certs/ca-certificates.crt")
        );
    }

    #[test]
    fn without_a_probed_bundle_the_native_search_stays() {
        assert_eq!(roots_from(None, None, || None), Roots::Native);
    }

    #[test]
    fn ssl_cert_file_alone_is_the_bundle_and_nothing_is_probed() {
        assert_eq!(
            roots_from(var("/tmp/test-ca.pem"), None, || panic!("probed")),
            bundle("/tmp/test-ca.pem")
        );
    }

    #[test]
    fn ssl_cert_dir_leaves_the_roots_to_the_native_search_and_nothing_is_probed() {
        let dir = var("/etc/ssl/certs");
        assert_eq!(
            roots_from(None, dir.clone(), || panic!("probed")),
            Roots::Native
        );
        assert_eq!(
            roots_from(var("/tmp/test-ca.pem"), dir, || panic!("probed")),
            Roots::Native
        );
    }

    #[test]
    fn empty_variables_count_as_unset() {
        assert_eq!(
            roots_from(var(""), var(""), probed),
            bundle("/etc/ssl/certs/ca-certificates.crt")
        );
        assert_eq!(
            roots_from(var("/tmp/test-ca.pem"), var(""), || panic!("probed")),
            bundle("/tmp/test-ca.pem")
        );
    }

    /// A self-signed P-256 root, made for these tests with `openssl req -x509`.
    const ROOT: &str = "\
-----BEGIN CERTIFICATE-----
MIIBoDCCAUWgAwIBAgIUToCxMjdV6RCailIuGOdfi+k0nuMwCgYIKoZIzj0EAwIw
JDEiMCAGA1UEAwwZYXBpLXRva2VucyB1bml0LXRlc3Qgcm9vdDAgFw0yNjEyMDIx
NTEwMTBaGA8yMTI2MTEwODE1MTAxMFowJDEiMCAGA1UEAwwZYXBpLXRva2VucyB1
bml0LXRlc3Qgcm9vdDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABNh5KSgHOmHJ
EqOM26hJE31jweaFPiqC60uRSCJGxRxgAJfffLdz+hDugm/DSygEMl1M7TocazMX
pOAdOLQ4UGOjUzBRMB0GA1UdDgQWBBRlNqnjnN1fPZTTAgOkeHsvX6wgozAfBgNV
HSMEGDAWgBRlNqnjnN1fPZTTAgOkeHsvX6wgozAPBgNVHRMBAf8EBTADAQH/MAoG
CCqGSM49BAMCA0kAMEYCIQCPUZq/OjMEB7eGA8IUOgM5fSZmY08+uxOsZZdnxr4g
QgIhANWzjeBePgXayQ+Kq1D3mqMgK2VT7LyLRPqoyBINVdtJ
-----END CERTIFICATE-----
";

    fn read_pem(pem: String) -> Result<Vec<u8>, BundleError> {
        read_bundle(Path::new("/test/bundle.pem"), |path| {
            assert_eq!(path, Path::new("/test/bundle.pem"));
            Ok(pem.into_bytes())
        })
    }

    #[test]
    fn a_bundle_of_roots_is_handed_over_as_read() {
        let pem = format!("# a comment, as Amazon Linux's bundle has\n{ROOT}\n{ROOT}");
        assert_eq!(read_pem(pem.clone()).unwrap(), pem.into_bytes());
    }

    #[test]
    fn an_unreadable_bundle_is_not_handed_over() {
        let missing = read_bundle(Path::new("/test/bundle.pem"), |_| {
            Err(std::io::ErrorKind::NotFound.into())
        });
        assert!(
            matches!(missing, Err(BundleError::Read(_))),
            "{:?}",
            missing.map(|pem| pem.len())
        );
    }

    // Each of these would panic the SDK's HTTPS client at its first connection
    // (aws-smithy-http-client's `TlsContext::rustls_root_certs` expects every PEM certificate
    // of a custom trust store to decode and to parse as a root).
    #[test]
    fn a_bundle_whose_base64_is_broken_is_not_handed_over() {
        let pem = format!("{ROOT}{}", ROOT.replace("MIIBoDCC", "MIIBo!CC"));
        let broken = read_pem(pem);
        assert!(
            matches!(broken, Err(BundleError::Pem(_))),
            "{:?}",
            broken.map(|pem| pem.len())
        );
    }

    #[test]
    fn a_truncated_bundle_is_not_handed_over() {
        let truncated = read_pem(format!("{ROOT}{}", &ROOT[..300]));
        assert!(
            matches!(truncated, Err(BundleError::Pem(_))),
            "{:?}",
            truncated.map(|pem| pem.len())
        );
    }

    #[test]
    fn a_certificate_that_is_not_a_root_certificate_is_not_handed_over() {
        // Valid base64 of bytes that are no X.509 certificate.
        let pem = format!(
            "{ROOT}-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n"
        );
        let garbage = read_pem(pem);
        assert!(
            matches!(garbage, Err(BundleError::Root { number: 2, .. })),
            "{:?}",
            garbage.map(|pem| pem.len())
        );
    }

    #[test]
    fn a_bundle_without_a_certificate_is_not_handed_over() {
        for pem in [
            "",
            "no PEM here\n",
            "-----BEGIN PRIVATE KEY-----\naGVsbG8=\n-----END PRIVATE KEY-----\n",
        ] {
            let empty = read_pem(pem.to_string());
            assert!(
                matches!(empty, Err(BundleError::NoCertificate)),
                "{pem:?}: {:?}",
                empty.map(|pem| pem.len())
            );
        }
    }
}
