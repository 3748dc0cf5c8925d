//! The website channel's egress: the only road from the engine's browsers to a bank's website.
//!
//! RTS Art. 33(5): on the fallback the TPP identifies itself to the bank and logs the data it accessed.
//! An [`Egress`] is a small forward proxy on a loopback port, one per engine process, that the browser is
//! started behind ([`Egress::chromium_args`]). For each request it:
//!
//! - refuses (`403`) any host outside the bank's list — a page cannot make the browser talk to a third
//!   party;
//! - for `https` (`CONNECT`), ends the browser's TLS with a certificate of a CA made for this run only,
//!   which the browser alone trusts through `--ignore-certificate-errors-spki-list` (nothing is installed
//!   machine-wide), and opens its own TLS to the bank presenting the TPP's QWAC;
//! - adds the identification headers the bank asks for;
//! - records the request — method, host, path without its query, status, bytes, and the switch event
//!   that justified the fallback — in the Art. 33(5) access log ([`JournalStore::log_access`]), and in
//!   [`Egress::records`]. Never a body, a query string or a header value.
//!
//! Only this module is a proxy; it knows nothing of screens. HTTP/1.1 towards the browser.

mod forward;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::identity::TppCertificate;
use crate::journal::JournalStore;

/// How an egress reaches one bank's website.
#[derive(Debug, Clone, Default)]
pub struct EgressConfig {
    /// The bank, as the access log names it.
    pub bank: String,
    /// The hosts the browser may reach, `host` (any port) or `host:port`, compared without case.
    pub allowed_hosts: Vec<String>,
    /// The TPP's QWAC, presented to the bank's website over TLS.
    pub qwac: Option<TppCertificate>,
    /// The only CAs trusted for the bank's website (PEM), instead of the system's.
    pub server_roots_pem: Option<Vec<u8>>,
    /// Headers added to every request towards the bank (e.g. the TPP's authorisation number).
    pub identification_headers: Vec<(String, String)>,
    /// Where each request is logged (Art. 33(5)); `None`: only [`Egress::records`].
    pub journal: Option<Arc<dyn JournalStore>>,
}

/// One request the browser made through the egress. No body, query or header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressRecord {
    /// `GET`, `POST`, … (`CONNECT` for a refused tunnel).
    pub method: String,
    /// `host:port`.
    pub host: String,
    /// The path, without its query.
    pub path: String,
    /// The status the browser got (`403` for a refused host, `502` when the bank did not answer).
    pub status: u16,
    /// The bytes of the answer's body.
    pub bytes: u64,
    /// The switch event in force when the request was made, if any.
    pub switch_event: Option<i64>,
}

/// Why an egress could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EgressError {
    /// The loopback port could not be bound.
    #[error("egress: cannot listen on loopback: {0}")]
    Listen(std::io::Error),
    /// The per-run CA, or the client towards the bank, could not be made.
    #[error("egress: {0}")]
    Setup(String),
}

/// What the proxy's connections share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: EgressConfig,
    /// The per-run CA that signs the certificates shown to the browser.
    pub(crate) ca: CertifiedIssuer<'static, KeyPair>,
    /// The one key (PKCS#8) of every certificate shown to the browser: the key it is told to trust.
    pub(crate) leaf_key: Vec<u8>,
    /// Leaf certificates made so far, per host.
    pub(crate) leaves: Mutex<std::collections::HashMap<String, Arc<rustls::ServerConfig>>>,
    /// The client towards the bank (QWAC, pinned roots, no redirects).
    pub(crate) http: reqwest::Client,
    /// The switch event that justifies using the website now.
    pub(crate) justification: watch::Sender<Option<i64>>,
    /// Every request, in order.
    pub(crate) records: Mutex<Vec<EgressRecord>>,
}

/// A running egress proxy; stops when dropped.
#[derive(Debug)]
pub struct Egress {
    shared: Arc<Shared>,
    addr: SocketAddr,
    spki_sha256: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Egress {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Egress {
    /// Starts the proxy on a free loopback port, with a fresh CA for this run.
    pub async fn start(config: EgressConfig) -> Result<Self, EgressError> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(EgressError::Listen)?;
        let addr = listener.local_addr().map_err(EgressError::Listen)?;
        let setup = |e: &dyn std::fmt::Display| EgressError::Setup(e.to_string());
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(|e| setup(&e))?;
        params
            .distinguished_name
            .push(DnType::CommonName, "psd2-fallback egress (this run only)");
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        let key = KeyPair::generate().map_err(|e| setup(&e))?;
        let ca = CertifiedIssuer::self_signed(params, key).map_err(|e| setup(&e))?;
        // Every certificate shown to the browser has this key, so one SPKI pin covers them all.
        let leaf = KeyPair::generate().map_err(|e| setup(&e))?;
        let spki_sha256 = BASE64.encode(Sha256::digest(
            rcgen::PublicKeyData::subject_public_key_info(&leaf),
        ));
        let leaf_key = leaf.serialize_der();
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .retry(reqwest::retry::never())
            .connect_timeout(std::time::Duration::from_secs(10))
            .timeout(std::time::Duration::from_secs(60));
        if let Some(qwac) = &config.qwac {
            use secrecy::ExposeSecret;
            let identity =
                reqwest::Identity::from_pem(qwac.pem().expose_secret()).map_err(|_| {
                    EgressError::Setup(format!("{}: not usable for TLS", qwac.source()))
                })?;
            builder = builder.identity(identity);
        }
        if let Some(pem) = &config.server_roots_pem {
            let roots = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|_| EgressError::Setup("server_roots_pem: not PEM".to_owned()))?;
            builder = builder.tls_certs_only(roots);
        }
        let http = builder.build().map_err(|e| setup(&e.without_url()))?;
        let shared = Arc::new(Shared {
            config,
            ca,
            leaf_key,
            leaves: Mutex::default(),
            http,
            justification: watch::Sender::new(None),
            records: Mutex::default(),
        });
        let task = tokio::spawn(forward::accept(listener, shared.clone()));
        tracing::info!(%addr, bank = %shared.config.bank, "website egress listening");
        Ok(Self {
            shared,
            addr,
            spki_sha256,
            task,
        })
    }

    /// The proxy's address (loopback).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The Chromium flags that put a browser behind this egress and make it trust this run's CA (and
    /// nothing else more): `--proxy-server`, `--proxy-bypass-list=<-loopback>` (loopback goes through
    /// the proxy too) and `--ignore-certificate-errors-spki-list` with the CA key's SHA-256.
    pub fn chromium_args(&self) -> Vec<String> {
        vec![
            format!("--proxy-server=http://{}", self.addr),
            "--proxy-bypass-list=<-loopback>".to_owned(),
            format!("--ignore-certificate-errors-spki-list={}", self.spki_sha256),
        ]
    }

    /// The road for the website channel's browsers through this egress (`ScreenBankConfig::proxy`).
    pub fn browser_proxy(&self) -> crate::screen::BrowserProxy {
        crate::screen::BrowserProxy {
            chromium_args: self.chromium_args(),
        }
    }

    /// This run's CA certificate (PEM, public), for a client other than Chromium that should trust
    /// the egress the same narrow way.
    pub fn ca_pem(&self) -> String {
        self.shared.ca.pem()
    }

    /// Sets the switch event that justifies using the website from now on (`None`: no fallback).
    pub fn set_justification(&self, switch_event: Option<i64>) {
        self.shared.justification.send_replace(switch_event);
    }

    /// Every request made through the egress so far.
    pub fn records(&self) -> Vec<EgressRecord> {
        self.shared
            .records
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }
}

impl Shared {
    /// Whether `host:port` is on the bank's list.
    pub(crate) fn allowed(&self, host: &str, port: u16) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let with_port = format!("{host}:{port}");
        self.config.allowed_hosts.iter().any(|allowed| {
            allowed.eq_ignore_ascii_case(host) || allowed.eq_ignore_ascii_case(&with_port)
        })
    }

    /// Keeps a record and writes it to the access log.
    pub(crate) fn record(&self, mut record: EgressRecord) {
        record.switch_event = *self.justification.borrow();
        if let Some(journal) = &self.config.journal {
            let entry = crate::journal::AccessEntry {
                at: time::OffsetDateTime::now_utc(),
                bank: self.config.bank.clone(),
                psu: "-".to_owned(),
                data: format!(
                    "website {} {}{} {} {}B",
                    record.method, record.host, record.path, record.status, record.bytes
                ),
                switch_event: record.switch_event,
            };
            if let Err(error) = journal.log_access(&entry) {
                tracing::error!(%error, "egress: access log write failed");
            }
        }
        if let Ok(mut records) = self.records.lock() {
            records.push(record);
        }
    }
}
