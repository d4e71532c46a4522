//! The certificate authorities every outbound TLS connection trusts: AWS's
//! own endpoints (DynamoDB, SQS, S3, ...) and the providers' APIs alike.
//!
//! Mozilla's root program, compiled in (`webpki-root-certs`), rather than
//! the image's files. The SDK's default loads the system store when a client
//! is made, i.e. at every cold start, and on a Debian-style layout that is
//! one read per file of `/etc/ssl/certs` (a few hundred): it was most of our
//! init time beyond a bare runtime's (README, "Cold start"). Compiled-in
//! roots cost no file access, behave the same on every runtime image and on
//! a developer's machine, and are what most Rust HTTPS clients ship with. The
//! trade: a change to Mozilla's list (a root added or distrusted) reaches us
//! with the next dependency update and deploy, not with a runtime update.

use std::sync::LazyLock;

use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use rustls::pki_types::CertificateDer;

/// The trusted roots, DER.
pub fn certificates() -> &'static [CertificateDer<'static>] {
    webpki_root_certs::TLS_SERVER_ROOT_CERTS
}

/// A rustls store of [`certificates`] (the provider transport's).
pub fn root_store() -> rustls::RootCertStore {
    let mut store = rustls::RootCertStore::empty();
    store.add_parsable_certificates(certificates().iter().cloned());
    store
}

/// The same roots as one PEM bundle, for the SDK's trust store (which takes
/// PEM only). Encoded once per process.
pub fn pem_bundle() -> &'static str {
    static PEM: LazyLock<String> = LazyLock::new(|| {
        use base64::Engine;
        let mut pem = String::new();
        for cert in certificates() {
            pem.push_str("-----BEGIN CERTIFICATE-----\n");
            let text = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
            for line in text.as_bytes().chunks(64) {
                // Base64 text is ASCII.
                pem.push_str(std::str::from_utf8(line).unwrap_or_default());
                pem.push('\n');
            }
            pem.push_str("-----END CERTIFICATE-----\n");
        }
        pem
    });
    &PEM
}

/// The HTTP client every SDK client shares: the SDK's own hyper/rustls
/// client with [`pem_bundle`] as its only trust store, whose TLS connector
/// is built by a client's first request rather than when the client is made
/// ([`ConnectOnFirstRequest`]).
pub fn sdk_http_client() -> SharedHttpClient {
    SharedHttpClient::new(ConnectOnFirstRequest(hyper_client()))
}

/// The SDK's client, as it comes, but for its check when an SDK client is
/// made (`validate_base_client_config`), which builds a TLS connector (and
/// parses every root) only so that the roots load at cold start; a function
/// makes its clients at cold start, and each made one that way. Here the
/// first request builds it, once per set of timeouts, as the SDK does for
/// every later connector: nothing else about the client changes.
#[derive(Debug)]
struct ConnectOnFirstRequest(SharedHttpClient);

impl HttpClient for ConnectOnFirstRequest {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

fn hyper_client() -> SharedHttpClient {
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
    let trust = TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(pem_bundle().as_bytes());
    let builder = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc));
    match TlsContext::builder().with_trust_store(trust).build() {
        Ok(context) => builder.tls_context(context).build_https(),
        Err(e) => {
            // Never happens with rustls (only a validating provider refuses
            // a context); the system's store is still a sound fallback.
            tracing::error!(error = %e, "compiled-in roots refused; using the system's");
            builder.build_https()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::pem::PemObject;

    /// The common names of the roots in the store.
    fn subjects() -> Vec<String> {
        certificates()
            .iter()
            .map(|der| {
                use x509_cert::der::Decode;
                let cert = x509_cert::Certificate::from_der(der.as_ref()).expect("a certificate");
                cert.tbs_certificate.subject.to_string()
            })
            .collect()
    }

    #[test]
    fn the_roots_of_every_endpoint_we_call_are_trusted() {
        let subjects = subjects();
        // AWS endpoints chain to Amazon Trust Services (and its Starfield
        // cross-sign); WeChat Pay, Alipay and Douyin's APIs to DigiCert or
        // GlobalSign roots. (Mozilla no longer trusts DigiCert's first
        // "Global Root CA" for TLS, whatever an older image still holds.)
        for wanted in [
            "CN=Amazon Root CA 1",
            "CN=Amazon Root CA 2",
            "CN=Amazon Root CA 3",
            "CN=Amazon Root CA 4",
            "CN=Starfield Services Root Certificate Authority - G2",
            "CN=DigiCert Global Root G2",
            "CN=GlobalSign",
        ] {
            assert!(
                subjects.iter().any(|s| s.contains(wanted)),
                "{wanted} missing from {} roots",
                subjects.len()
            );
        }
        assert!(subjects.len() > 100, "{}", subjects.len());
    }

    #[test]
    fn every_root_parses_into_both_stores() {
        let count = certificates().len();
        assert_eq!(root_store().len(), count);
        let from_pem: Vec<_> = CertificateDer::pem_slice_iter(pem_bundle().as_bytes())
            .collect::<Result<_, _>>()
            .expect("the bundle is PEM");
        assert_eq!(from_pem.len(), count);
        assert!(from_pem.iter().zip(certificates()).all(|(a, b)| a == b));
    }
}
