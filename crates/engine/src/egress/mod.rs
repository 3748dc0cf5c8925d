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
//! - adds the identification headers the bank asks for and, for a bank whose fallback interface wants
//!   it, first makes the identification call signed with the QSeal ([`Identification`]) and carries
//!   the session it opens;
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

use crate::identity::{RequestSigner, TppCertificate};
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
    /// The bank's "fallback interface" identification, made before the browser's first request.
    pub identification: Option<Identification>,
}

/// A bank that publishes its fallback interface may want the TPP to identify itself with a call signed
/// with its QSeal, which opens a short-lived session, before the website answers. The egress makes that
/// call before it forwards the browser's first request, and again once the session has run out, and
/// carries the session's id on every request to the bank in a header. The call is recorded like any
/// other request.
#[derive(Debug, Clone)]
pub struct Identification {
    /// The call: `POST` to this URL (on a listed host) with the body `{}`, signed with the QSeal.
    pub url: String,
    /// Signs the call with the QSeal (Berlin Group `Digest`, `Signature`, `TPP-Signature-Certificate`).
    pub signer: RequestSigner,
    /// The field of the answer's JSON object that holds the session's id.
    pub session_field: String,
    /// The header that carries the session's id on every request to the bank.
    pub session_header: String,
    /// How long a session is used before the call is made again (at most the bank's own lifetime).
    pub lifetime: std::time::Duration,
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
    /// The session the identification call opened (secret: a bank session), and until when it is used.
    pub(crate) session: tokio::sync::Mutex<Option<(secrecy::SecretString, tokio::time::Instant)>>,
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
            session: tokio::sync::Mutex::new(None),
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
    /// Forgets the session `id` (the bank ended it) so the next request identifies again; a session
    /// another request has opened since is kept.
    pub(crate) async fn forget_session(&self, id: &str) {
        use secrecy::ExposeSecret;
        let mut session = self.session.lock().await;
        if session
            .as_ref()
            .is_some_and(|(current, _)| current.expose_secret() == id)
        {
            *session = None;
        }
    }

    /// The session id to carry, making the identification call first when there is none or it has run
    /// out; `None` without an identification. An error says why the bank refused it (no secret).
    pub(crate) async fn session(&self) -> Result<Option<(String, String)>, String> {
        let Some(identification) = &self.config.identification else {
            return Ok(None);
        };
        let mut session = self.session.lock().await;
        if let Some((id, until)) = &*session
            && tokio::time::Instant::now() < *until
        {
            use secrecy::ExposeSecret;
            return Ok(Some((
                identification.session_header.clone(),
                id.expose_secret().to_owned(),
            )));
        }
        let url = reqwest::Url::parse(&identification.url)
            .map_err(|_| "identification url: not a URL".to_owned())?;
        let host = url.host_str().unwrap_or_default().to_owned();
        let port = url.port_or_known_default().unwrap_or(0);
        let mut record = EgressRecord {
            method: "POST".to_owned(),
            host: format!("{host}:{port}"),
            path: url.path().to_owned(),
            status: 502,
            bytes: 0,
            switch_event: None,
        };
        if !self.allowed(&host, port) {
            record.status = 403;
            self.record(record);
            return Err("identification url: host outside the bank's list".to_owned());
        }
        let mut request = self
            .http
            .post(url)
            .header("X-Request-ID", uuid::Uuid::new_v4().to_string())
            .header("Content-Type", "application/json")
            .body("{}")
            .build()
            .map_err(|e| e.without_url().to_string())?;
        identification
            .signer
            .sign_reqwest(&mut request)
            .map_err(|e| e.to_string())?;
        for (name, value) in &self.config.identification_headers {
            if let (Ok(name), Ok(value)) = (
                reqwest::header::HeaderName::from_bytes(name.as_bytes()),
                reqwest::header::HeaderValue::from_str(value),
            ) {
                request.headers_mut().insert(name, value);
            }
        }
        let answer = async {
            let response = self.http.execute(request).await.ok()?;
            let status = response.status();
            let body = response.bytes().await.ok()?;
            Some((status, body))
        }
        .await;
        let Some((status, body)) = answer else {
            self.record(record);
            return Err("identification: the bank did not answer".to_owned());
        };
        record.status = status.as_u16();
        record.bytes = body.len() as u64;
        self.record(record);
        if !status.is_success() {
            return Err(format!("identification refused by the bank ({status})"));
        }
        let id = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| {
                v.get(&identification.session_field)?
                    .as_str()
                    .map(str::to_owned)
            })
            .filter(|id| reqwest::header::HeaderValue::from_str(id).is_ok())
            .ok_or_else(|| {
                format!(
                    "identification: the answer has no {:?} string",
                    identification.session_field
                )
            })?;
        *session = Some((
            secrecy::SecretString::from(id.clone()),
            tokio::time::Instant::now() + identification.lifetime,
        ));
        tracing::info!(bank = %self.config.bank, "egress: the TPP identified itself to the fallback interface");
        Ok(Some((identification.session_header.clone(), id)))
    }

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
