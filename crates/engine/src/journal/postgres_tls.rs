//! TLS to the PostgreSQL journal, as libpq's URL says it: `?sslmode=require&sslrootcert=/path/ca.pem`.
//!
//! tokio-postgres reads `sslmode` itself (`disable`, `prefer`, `require`) but not `sslrootcert`: it
//! is taken out of the URL here and names the PEM file of the CA(s) the server's certificate must
//! chain to. With a CA the connection goes through rustls (the TLS stack of every other connection
//! the engine makes), which always checks the chain *and* that the certificate names the host of the
//! URL — what libpq calls `verify-full`. `sslmode=require` without `sslrootcert` is refused: a server
//! that is not verified is not worth the name. Without either, nothing changes (no TLS).

use std::path::PathBuf;
use std::sync::Arc;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use super::{JournalError, JournalResult};

/// The journal URL without its `sslrootcert` parameter, and that parameter's value.
pub(super) fn split_root_cert(url: &str) -> (String, Option<PathBuf>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), None);
    };
    let mut root = None;
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| match pair.strip_prefix("sslrootcert=") {
            Some(path) => {
                root = Some(PathBuf::from(path));
                false
            }
            None => true,
        })
        .collect();
    let url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    (url, root)
}

/// The connector for a journal whose URL asked for `sslmode` (`require`: TLS or nothing) with the CA
/// file `root`: `None` for a plain connection (no CA, no `require`).
pub(super) fn connector(
    require: bool,
    root: Option<PathBuf>,
) -> JournalResult<Option<tokio_postgres_rustls::MakeRustlsConnect>> {
    let what = "the journal URL's sslrootcert";
    let root = match (require, root) {
        (_, Some(root)) => root,
        (false, None) => return Ok(None),
        (true, None) => {
            return Err(JournalError::postgres(
                what,
                "sslmode=require needs sslrootcert=<the CA's PEM file> to verify the server with",
            ));
        }
    };
    let mut roots = rustls::RootCertStore::empty();
    let certificates = CertificateDer::pem_file_iter(&root).map_err(|e| {
        JournalError::postgres(what, format!("cannot read {}: {e}", root.display()))
    })?;
    for certificate in certificates {
        let certificate = certificate.map_err(|e| {
            JournalError::postgres(what, format!("{} is not PEM: {e}", root.display()))
        })?;
        roots.add(certificate).map_err(|e| {
            JournalError::postgres(
                what,
                format!("{} holds an unusable CA certificate: {e}", root.display()),
            )
        })?;
    }
    if roots.is_empty() {
        return Err(JournalError::postgres(
            what,
            format!("{} holds no certificate", root.display()),
        ));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| JournalError::postgres(what, e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Some(tokio_postgres_rustls::MakeRustlsConnect::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_certificate_is_taken_out_of_the_url_and_the_rest_kept() {
        for (url, expect, root) in [
            ("postgres://u:p@h:5/d", "postgres://u:p@h:5/d", None),
            (
                "postgres://u:p@h:5/d?sslmode=require&sslrootcert=/etc/ca.pem",
                "postgres://u:p@h:5/d?sslmode=require",
                Some("/etc/ca.pem"),
            ),
            (
                "postgres://u:p@h:5/d?sslrootcert=/ca.pem",
                "postgres://u:p@h:5/d",
                Some("/ca.pem"),
            ),
            (
                "postgres://u:p@h:5/d?application_name=x&sslrootcert=c.pem&sslmode=prefer",
                "postgres://u:p@h:5/d?application_name=x&sslmode=prefer",
                Some("c.pem"),
            ),
        ] {
            assert_eq!(
                split_root_cert(url),
                (expect.to_owned(), root.map(PathBuf::from)),
                "{url}"
            );
        }
    }

    fn refused(require: bool, root: Option<PathBuf>) -> String {
        match connector(require, root) {
            Ok(_) => panic!("accepted"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn require_without_a_ca_and_a_ca_file_that_is_not_one_are_refused_naming_the_setting() {
        assert!(connector(false, None).unwrap().is_none());
        let error = refused(true, None);
        assert!(error.contains("sslrootcert"), "{error}");
        let missing = refused(true, Some(PathBuf::from("/nonexistent/ca.pem")));
        assert!(missing.contains("/nonexistent/ca.pem"), "{missing}");
        let empty = std::env::temp_dir().join(format!("psd2fb-ca-{}.pem", uuid::Uuid::new_v4()));
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let error = refused(true, Some(empty.clone()));
        std::fs::remove_file(&empty).unwrap();
        assert!(error.contains("no certificate"), "{error}");
    }
}
