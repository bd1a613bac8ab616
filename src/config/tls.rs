//! `tls:`: the ingress listener's certificate and key, and the CAs whose client
//! certificates it requires (mutual TLS). The files are read and checked at every
//! load, so a reload picks up a renewed certificate.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use schemars::JsonSchema;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::error::Collector;
use crate::model::TlsSettings;

/// `tls:` as written.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file of the certificate chain, the listener's own certificate first, e.g.
    /// `/etc/hookgate/tls/fullchain.pem`. A relative path is read from the config
    /// file's directory.
    pub cert: String,
    /// PEM file of its private key (PKCS#8, PKCS#1 or SEC1), e.g.
    /// `/etc/hookgate/tls/privkey.pem`.
    pub key: String,
    /// PEM file of the CAs that sign providers' client certificates. When set, every
    /// connection must present a certificate one of them signed (mutual TLS).
    pub client_ca: Option<String>,
}

impl TlsConfig {
    /// Reads the files and builds the listener's TLS configuration; `base` is the
    /// config file's directory.
    pub(crate) fn validate(self, path: &str, base: &Path, errors: &mut Collector<'_>) -> Option<TlsSettings> {
        let file = |written: &str| {
            let written = Path::new(written);
            if written.is_relative() {
                base.join(written)
            } else {
                written.to_owned()
            }
        };
        let (cert, key) = (file(&self.cert), file(&self.key));
        let client_ca = self.client_ca.as_deref().map(file);
        let chain = certificates(&cert, &format!("{path}.cert"), errors);
        let private = match PrivateKeyDer::from_pem_file(&key) {
            Ok(private) => Some(private),
            Err(error) => {
                errors.at(
                    &format!("{path}.key"),
                    format!(
                        "cannot read a private key from {}: {}",
                        key.display(),
                        pem(&error)
                    ),
                );
                None
            }
        };
        let roots = client_ca
            .as_ref()
            .and_then(|ca| certificates(ca, &format!("{path}.client_ca"), errors));
        let (chain, private) = (chain?, private?);
        if client_ca.is_some() && roots.is_none() {
            return None;
        }
        let fingerprint = hex::encode(Sha256::digest(chain[0].as_ref()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap_or_else(|error| unreachable!("ring supports TLS 1.2 and 1.3: {error}"));
        let builder = match roots {
            Some(roots) => {
                let mut store = RootCertStore::empty();
                let (_, ignored) = store.add_parsable_certificates(roots);
                if ignored > 0 || store.is_empty() {
                    errors.at(
                        &format!("{path}.client_ca"),
                        format!("{ignored} certificate(s) in it are not usable as CAs"),
                    );
                    return None;
                }
                match WebPkiClientVerifier::builder_with_provider(Arc::new(store), provider).build() {
                    Ok(verifier) => builder.with_client_cert_verifier(verifier),
                    Err(error) => {
                        errors.at(&format!("{path}.client_ca"), error.to_string());
                        return None;
                    }
                }
            }
            None => builder.with_no_client_auth(),
        };
        let mut server = match builder.with_single_cert(chain, private) {
            Ok(server) => server,
            Err(error) => {
                errors.at(
                    &format!("{path}.key"),
                    format!(
                        "the key does not fit the certificate in {}: {error}",
                        cert.display()
                    ),
                );
                return None;
            }
        };
        // HTTP/2 first, as browsers and modern clients prefer; HTTP/1.1 otherwise.
        server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Some(TlsSettings {
            cert,
            key,
            client_ca,
            fingerprint,
            server: Arc::new(server),
        })
    }
}

/// The certificates in the PEM file at `file`; at least one.
fn certificates(
    file: &PathBuf,
    path: &str,
    errors: &mut Collector<'_>,
) -> Option<Vec<CertificateDer<'static>>> {
    let read = CertificateDer::pem_file_iter(file).and_then(|items| items.collect::<Result<Vec<_>, _>>());
    match read {
        Ok(chain) if !chain.is_empty() => Some(chain),
        Ok(_) => {
            errors.at(
                path,
                format!(
                    "{} holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)",
                    file.display()
                ),
            );
            None
        }
        Err(error) => {
            errors.at(
                path,
                format!(
                    "cannot read certificates from {}: {}",
                    file.display(),
                    pem(&error)
                ),
            );
            None
        }
    }
}

/// A PEM reading error, in words.
fn pem(error: &rustls::pki_types::pem::Error) -> String {
    use rustls::pki_types::pem::Error;
    match error {
        Error::Io(error) => error.to_string(),
        Error::NoItemsFound => "no PEM item of the expected kind in it".to_owned(),
        other => format!("malformed PEM ({other:?})"),
    }
}
