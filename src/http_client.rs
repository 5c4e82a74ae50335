//! One way to build an HTTP client: timeouts, status codes returned rather than raised, and the
//! machine's own trust store, so a corporate or proxy CA that the system trusts works for churn
//! as it does for curl and pip (MLflow servers behind an internal CA, PyPI through a proxy).

use std::sync::Arc;
use std::time::Duration;

/// The CA bundle the system (or the user, by `SSL_CERT_FILE`) trusts, as curl and Python read it.
const BUNDLES: [&str; 3] =
    ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"];

fn root_certs() -> ureq::tls::RootCerts {
    let from_env = std::env::var_os("SSL_CERT_FILE").map(std::path::PathBuf::from);
    let candidates = from_env.into_iter().chain(BUNDLES.iter().map(std::path::PathBuf::from));
    for path in candidates {
        let Ok(pem) = std::fs::read(&path) else { continue };
        let certs: Vec<ureq::tls::Certificate<'static>> = ureq::tls::parse_pem(&pem)
            .filter_map(|item| match item {
                Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                _ => None,
            })
            .collect();
        if !certs.is_empty() {
            return ureq::tls::RootCerts::Specific(Arc::new(certs));
        }
    }
    // No system bundle (a scratch container): the roots compiled into the binary.
    ureq::tls::RootCerts::WebPki
}

/// An agent with a connect timeout and an overall timeout per request.
pub fn agent(connect: Duration, total: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_connect(Some(connect))
        .timeout_global(Some(total))
        .http_status_as_error(false)
        .tls_config(ureq::tls::TlsConfig::builder().root_certs(root_certs()).build())
        .build()
        .into()
}
