//! How an `ApiBank` reaches a bank's API: its URL and timeouts, the TPP's identity (QWAC for mutual
//! TLS, QSeal for signed requests), the CAs trusted for the bank, and what makes a configuration unusable.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretBox, SecretString};

use crate::identity::{RequestSigner, TppCertificate};

/// How an `ApiBank` reaches a bank's API.
#[derive(Debug, Clone)]
pub struct ApiBankConfig {
    /// The API root, to which `/v1/...` is appended: `https://api.bank.example/psd2`.
    pub base_url: String,
    /// How long to wait for a connection.
    pub connect_timeout: Duration,
    /// How long to wait for a whole answer. RTS Art. 33(1) counts a request not answered within 30 s as
    /// failed, so the default is 30 s; a faster failover sets less.
    pub request_timeout: Duration,
    /// The TPP's client certificate and key, for mutual TLS: its eIDAS QWAC
    /// ([`ClientIdentity::from_certificate`]).
    pub identity: Option<ClientIdentity>,
    /// Signs every request with the TPP's QSeal (Berlin Group `Digest`, `Signature`,
    /// `TPP-Signature-Certificate`), for banks that ask for signed requests.
    pub signer: Option<RequestSigner>,
    /// The only CAs trusted for the bank's server certificate (PEM), instead of the system's: a bank's
    /// own CA, or a test CA.
    pub server_roots_pem: Option<Vec<u8>>,
    /// Sent as `TPP-Redirect-URI` where the bank wants one.
    pub tpp_redirect_uri: Option<String>,
    /// Sent as `Authorization: Bearer …` (marked sensitive) on every request, for servers that
    /// authenticate their callers by token, such as the resilience service. Secret.
    pub bearer_token: Option<SecretString>,
    /// The TPP's `client_id` at the bank's OAuth2 authorisation server (the `OAUTH` SCA approach);
    /// `psd2-fallback` when unset.
    pub oauth_client_id: Option<String>,
    /// Lets `base_url` be plain `http://` to a host other than this machine. Off: a bank's API is
    /// reached over TLS, and plain HTTP is accepted only on loopback (a local sandbox, a test).
    pub allow_plain_http: bool,
}

impl ApiBankConfig {
    /// A configuration with the default timeouts (5 s to connect, 30 s for an answer) and no identity.
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            identity: None,
            signer: None,
            server_roots_pem: None,
            tpp_redirect_uri: None,
            bearer_token: None,
            oauth_client_id: None,
            allow_plain_http: false,
        }
    }
}

/// A client certificate with its private key, PEM-encoded in one buffer. Secret.
#[derive(Clone)]
pub struct ClientIdentity(pub(super) std::sync::Arc<SecretBox<Vec<u8>>>);

impl ClientIdentity {
    /// An identity from PEM bytes holding the certificate chain and the private key.
    pub fn from_pem(pem: Vec<u8>) -> Self {
        Self(std::sync::Arc::new(SecretBox::new(Box::new(pem))))
    }

    /// The identity of an eIDAS QWAC (its chain and key).
    pub fn from_certificate(qwac: &TppCertificate) -> Self {
        Self::from_pem(qwac.pem().expose_secret().clone())
    }

    /// An identity read from a PEM file.
    pub fn from_pem_file(path: &Path) -> Result<Self, ApiConfigError> {
        std::fs::read(path)
            .map(Self::from_pem)
            .map_err(|e| ApiConfigError::Identity(format!("{}: {e}", path.display())))
    }
}

impl fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientIdentity(***)")
    }
}

/// A configuration that cannot make a client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiConfigError {
    /// The base URL is not an `http(s)` URL.
    #[error("base_url {0:?} is not an http:// or https:// URL")]
    BaseUrl(String),
    /// The base URL is plain `http://` to another machine, and `allow_plain_http` is off.
    #[error(
        "base_url {0:?} is plain http:// to another machine: use https://, or allow plain HTTP explicitly"
    )]
    PlainHttp(String),
    /// The client identity could not be read or used.
    #[error("client identity: {0}")]
    Identity(String),
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Client(String),
}
