//! The root certificates the default transport trusts, and the rustls
//! configuration made of them.

use std::fmt;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

use crate::client::error::Error;

/// The root certificates the default transport trusts: the webpki roots
/// (Mozilla's, built in) unless turned off, plus any you add, plus the
/// platform's own with `native()` (feature
/// `native-roots`). Give it to
/// [`TogetherBuilder::tls_roots`](crate::TogetherBuilder::tls_roots).
///
/// A company CA (a TLS-inspecting gateway, a private deployment) is added
/// beside the public roots, so the public API stays reachable too.
///
/// # Example
///
/// ```
/// use tower_together::client::TlsRoots;
/// use tower_together::Together;
///
/// # fn main() -> Result<(), tower_together::Error> {
/// # let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls/example-ca.pem");
/// // A CA certificate in PEM, as a company hands it out.
/// let company_ca_pem = std::fs::read(path).expect("the example CA");
/// let roots = TlsRoots::webpki().pem(&company_ca_pem)?;
/// let client = Together::builder().api_key("my-key").tls_roots(roots).build()?;
/// # drop(client);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct TlsRoots {
    webpki: bool,
    native: bool,
    added: Vec<CertificateDer<'static>>,
}

impl Default for TlsRoots {
    fn default() -> Self {
        TlsRoots::webpki()
    }
}

impl fmt::Debug for TlsRoots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsRoots")
            .field("webpki", &self.webpki)
            .field("native", &self.native)
            .field("added", &self.added.len())
            .finish()
    }
}

impl TlsRoots {
    /// The webpki roots (the default).
    pub fn webpki() -> Self {
        TlsRoots {
            webpki: true,
            native: false,
            added: Vec::new(),
        }
    }

    /// No roots yet: only what you add is trusted (a closed network that
    /// must not trust the public CAs).
    pub fn empty() -> Self {
        TlsRoots {
            webpki: false,
            ..TlsRoots::webpki()
        }
    }

    /// Also the platform's roots (on Linux the system's certificate
    /// bundle, as `SSL_CERT_FILE` / `SSL_CERT_DIR` point; the keychain on
    /// macOS, the certificate store on Windows), read when the client is
    /// built.
    #[cfg(feature = "native-roots")]
    #[cfg_attr(docsrs, doc(cfg(feature = "native-roots")))]
    pub fn native(mut self) -> Self {
        self.native = true;
        self
    }

    /// Adds every certificate of a PEM file (`-----BEGIN CERTIFICATE-----`
    /// blocks; anything else in it is skipped).
    ///
    /// # Errors
    ///
    /// When a block is malformed, or there is no certificate in `pem`.
    pub fn pem(mut self, pem: impl AsRef<[u8]>) -> Result<Self, Error> {
        let before = self.added.len();
        for cert in CertificateDer::pem_slice_iter(pem.as_ref()) {
            let cert =
                cert.map_err(|e| Error::config(format!("tls_roots: bad PEM certificate: {e}")))?;
            self.added.push(cert);
        }
        if self.added.len() == before {
            return Err(Error::config(
                "tls_roots: no `BEGIN CERTIFICATE` block in the PEM",
            ));
        }
        Ok(self)
    }

    /// Adds one DER certificate (checked when the client is built).
    pub fn der(mut self, cert: CertificateDer<'static>) -> Self {
        self.added.push(cert);
        self
    }

    /// The roots, collected.
    fn store(&self) -> Result<RootCertStore, Error> {
        let mut store = RootCertStore::empty();
        if self.webpki {
            store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        if self.native {
            add_native(&mut store)?;
        }
        for (i, cert) in self.added.iter().enumerate() {
            store.add(cert.clone()).map_err(|e| {
                Error::config(format!(
                    "tls_roots: added certificate {i} is not a CA root: {e}"
                ))
            })?;
        }
        if store.is_empty() {
            return Err(Error::config(
                "tls_roots: no root certificates, so no server could be trusted",
            ));
        }
        Ok(store)
    }

    /// The client TLS configuration: these roots, the `ring` provider (the
    /// one hyper-rustls brings; named so that another provider linked in
    /// elsewhere cannot make rustls pick at run time), TLS 1.2 and 1.3.
    pub(crate) fn client_config(&self) -> Result<ClientConfig, Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::config(format!("cannot set up TLS: {e}")))?
            .with_root_certificates(self.store()?)
            .with_no_client_auth();
        Ok(config)
    }
}

#[cfg(feature = "native-roots")]
fn add_native(store: &mut RootCertStore) -> Result<(), Error> {
    let found = rustls_native_certs::load_native_certs();
    for error in &found.errors {
        // One unreadable file among many is not fatal; none found is.
        tracing::debug!(%error, "tls_roots: a platform certificate could not be read");
    }
    let (added, ignored) = store.add_parsable_certificates(found.certs);
    tracing::debug!(added, ignored, "tls_roots: platform roots loaded");
    if added == 0 {
        let why = found
            .errors
            .first()
            .map_or_else(|| "none found".to_owned(), ToString::to_string);
        return Err(Error::config(format!(
            "tls_roots: the platform's root certificates could not be loaded: {why}"
        )));
    }
    Ok(())
}

#[cfg(not(feature = "native-roots"))]
fn add_native(_: &mut RootCertStore) -> Result<(), Error> {
    // `native` cannot be set without the feature.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_without_certificates_and_empty_roots_are_errors() {
        let error = TlsRoots::webpki().pem("not a certificate").unwrap_err();
        assert!(
            error.to_string().contains("no `BEGIN CERTIFICATE`"),
            "{error}"
        );
        let error = TlsRoots::empty().client_config().unwrap_err();
        assert!(
            error.to_string().contains("no root certificates"),
            "{error}"
        );
    }

    #[test]
    fn a_der_that_is_no_certificate_fails_the_build() {
        let roots = TlsRoots::empty().der(CertificateDer::from(vec![1, 2, 3]));
        let error = roots.client_config().unwrap_err();
        assert!(error.to_string().contains("certificate 0"), "{error}");
    }

    #[test]
    fn the_webpki_roots_are_the_default() {
        assert!(TlsRoots::default().webpki);
        assert!(TlsRoots::default().store().unwrap().len() > 100);
    }
}
