//! The bank checking the TPP, as a bank holding to PSD2 Art. 66(3)(d)/67(2)(c) does: its API port
//! speaks TLS and asks for a client certificate from the CA it trusts (a QWAC, in the tests a
//! certificate of a test CA); each request's certificate must carry the PSD2 role the operation needs
//! (AIS: `PSP_AI`, payments: `PSP_PI`, funds confirmation: `PSP_IC`); and, when configured, each request
//! must be signed with a QSeal of the same TPP (Berlin Group `Digest`/`Signature`/
//! `TPP-Signature-Certificate`). Refusals are the Berlin Group answers: `401` with
//! `CERTIFICATE_MISSING`, `CERTIFICATE_INVALID`, `CERTIFICATE_EXPIRED`, `ROLE_INVALID`,
//! `SIGNATURE_MISSING` or `SIGNATURE_INVALID`. A client certificate from another CA fails the TLS
//! handshake.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use psd2_fallback_engine::identity::{CertificateFacts, PsdService, verify_request};
use psd2_fallback_xs2a::ApiError;
use rustls::ServerConfig;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// How the sandbox identifies TPPs on its API port.
#[derive(Debug, Clone)]
pub struct TppChecks {
    /// The API's TLS server certificate chain, PEM.
    pub server_cert_pem: String,
    /// The API's TLS server key, PEM (a test key made at run time).
    pub server_key_pem: String,
    /// The CAs whose client certificates the bank accepts, PEM.
    pub client_ca_pem: String,
    /// Refuse requests that are not signed with a QSeal of the same TPP.
    pub require_signature: bool,
}

/// A configuration the sandbox cannot serve TLS with; names the part.
#[derive(Debug, thiserror::Error)]
#[error("sandbox TLS: {0}")]
pub struct TlsSetupError(String);

impl TppChecks {
    /// The TLS acceptor for the API port: client certificates are asked for and, when given, must
    /// chain to `client_ca_pem`; a connection without one is let in so that the bank can answer
    /// `CERTIFICATE_MISSING` in words.
    pub(crate) fn acceptor(&self) -> Result<TlsAcceptor, TlsSetupError> {
        let bad = |what: &str| TlsSetupError(what.to_owned());
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(self.client_ca_pem.as_bytes()) {
            roots
                .add(cert.map_err(|_| bad("client_ca_pem is not PEM"))?)
                .map_err(|_| bad("client_ca_pem is not a CA certificate"))?;
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .allow_unauthenticated()
                .build()
                .map_err(|e| TlsSetupError(format!("client verifier: {e}")))?;
        let chain = CertificateDer::pem_slice_iter(self.server_cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| bad("server_cert_pem is not PEM"))?;
        let key = PrivateKeyDer::from_pem_slice(self.server_key_pem.as_bytes())
            .map_err(|_| bad("server_key_pem holds no private key"))?;
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsSetupError(e.to_string()))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .map_err(|e| TlsSetupError(format!("server certificate: {e}")))?;
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}

/// The client certificate of the connection a request came on (`None`: none was presented).
#[derive(Debug, Clone)]
pub(crate) struct ClientCertificate(pub(crate) Option<Arc<CertificateDer<'static>>>);

/// The largest body the signature check reads (the API's own limit is the same).
const BODY_LIMIT: usize = 1 << 20;

/// Checks the TPP's certificate, role and (when required) signature before the API sees a request.
pub(crate) async fn check(
    State(checks): State<Arc<TppChecks>>,
    request: Request,
    next: Next,
) -> Response {
    let refuse = |code: &'static str, text: String| {
        ApiError::new(StatusCode::UNAUTHORIZED, code, text).into_response()
    };
    let certificate = request
        .extensions()
        .get::<ClientCertificate>()
        .and_then(|c| c.0.clone());
    let Some(certificate) = certificate else {
        return refuse(
            "CERTIFICATE_MISSING",
            "no client certificate (QWAC) was presented".to_owned(),
        );
    };
    let qwac = match CertificateFacts::from_der(&certificate) {
        Ok(facts) => facts,
        Err(e) => return refuse("CERTIFICATE_INVALID", format!("QWAC: {e}")),
    };
    if let Some(service) = PsdService::of_api_path(request.uri().path())
        && !qwac.roles().contains(&service.role())
    {
        return refuse(
            "ROLE_INVALID",
            format!(
                "the QWAC's PSD2 statement lacks {}, which this operation needs",
                service.role()
            ),
        );
    }
    if !checks.require_signature {
        return next.run(request).await;
    }
    let (parts, bytes) = match sealed_by_the_qwacs_tpp(request, BODY_LIMIT, &qwac).await {
        Ok(sealed) => sealed,
        Err(refusal) => return refusal,
    };
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// A request's body, once its Berlin Group signature is verified, its `TPP-Signature-Certificate`
/// valid now and of the TPP the connection's QWAC names; otherwise the bank's 401 refusal.
async fn sealed_by_the_qwacs_tpp(
    request: Request,
    limit: usize,
    qwac: &CertificateFacts,
) -> Result<(axum::http::request::Parts, axum::body::Bytes), Response> {
    let refuse = |code: &'static str, text: String| {
        ApiError::new(StatusCode::UNAUTHORIZED, code, text).into_response()
    };
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
        return Err(ApiError::too_large(limit).into_response());
    };
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let verified = match verify_request(header, &bytes) {
        Ok(verified) => verified,
        Err(error) => return Err(refuse(error.code(), error.to_string())),
    };
    let now = time::OffsetDateTime::now_utc();
    if now > verified.signer.not_after || now < verified.signer.not_before {
        return Err(refuse(
            "CERTIFICATE_EXPIRED",
            "TPP-Signature-Certificate is not valid now".to_owned(),
        ));
    }
    if verified.signer.organization_identifier.is_none()
        || verified.signer.organization_identifier != qwac.organization_identifier
    {
        return Err(refuse(
            "CERTIFICATE_INVALID",
            "TPP-Signature-Certificate is not of the TPP the QWAC identifies".to_owned(),
        ));
    }
    Ok((parts, bytes))
}

/// The path of the fallback interface's identification call (on the website's port).
pub const IDENTIFY_PATH: &str = "/tpp/identify";
/// The header that carries the TPP session the identification call opened.
pub const SESSION_HEADER: &str = "TPP-Session-ID";

/// What the website checks of the TPP, and what it counted.
#[derive(Debug, Default)]
pub(crate) struct WebsiteGate {
    /// Requests let through (the identification call included).
    pub(crate) served: AtomicU64,
    /// `Some(lifetime)`: the fallback interface — a signed identification call must first open a
    /// session of this lifetime, carried in [`SESSION_HEADER`] on every request.
    pub(crate) session_lifetime: Option<Duration>,
    /// The sessions opened, by id, with when each ends.
    pub(crate) sessions: Mutex<HashMap<String, Instant>>,
}

/// The website as a bank's customer interface for TPPs: only a client that presents a certificate of
/// the trusted CA with a PSD2 statement (its QWAC) is served; anyone else gets a `403` page. In the
/// fallback-interface mode the TPP must first call `POST /tpp/identify` signed with a QSeal of the same
/// TPP (`401` with `SIGNATURE_MISSING`/`_INVALID`, `CERTIFICATE_INVALID` otherwise), which answers
/// `201 {"sessionId", "expiresIn"}`; every other page wants that session, unexpired, in
/// `TPP-Session-ID` (a `401` page otherwise). Counts the requests it lets through, so a test can
/// compare what the bank saw with the TPP's access log.
pub(crate) async fn check_website(
    State(gate): State<Arc<WebsiteGate>>,
    request: Request,
    next: Next,
) -> Response {
    let qwac = request
        .extensions()
        .get::<ClientCertificate>()
        .and_then(|c| c.0.clone())
        .and_then(|c| CertificateFacts::from_der(&c).ok())
        .filter(|facts| facts.psd2.is_some());
    let Some(qwac) = qwac else {
        return page(
            StatusCode::FORBIDDEN,
            "Identification required",
            "This bank's customer interface is open to third-party providers only with their \
             qualified certificate (QWAC).",
        );
    };
    if let Some(lifetime) = gate.session_lifetime {
        if request.uri().path() == IDENTIFY_PATH {
            if request.method() != axum::http::Method::POST {
                return page(StatusCode::METHOD_NOT_ALLOWED, "Identify", "POST only.");
            }
            gate.served.fetch_add(1, Ordering::Relaxed);
            return identify(&gate, lifetime, &qwac, request).await;
        }
        let now = Instant::now();
        let open = request
            .headers()
            .get(SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|id| {
                let mut sessions = gate.sessions.lock().unwrap_or_else(|p| p.into_inner());
                sessions.retain(|_, until| *until > now);
                sessions.contains_key(id)
            });
        if !open {
            return page(
                StatusCode::UNAUTHORIZED,
                "TPP session required",
                "No open TPP session: identify first (POST /tpp/identify, signed with the QSeal), \
                 then carry the session in TPP-Session-ID.",
            );
        }
    }
    gate.served.fetch_add(1, Ordering::Relaxed);
    next.run(request).await
}

fn page(status: StatusCode, title: &str, text: &str) -> Response {
    (
        status,
        axum::response::Html(format!(
            "<!doctype html><title>{title}</title><h1>{title}</h1><p>{text}</p>"
        )),
    )
        .into_response()
}

/// The identification call: a QSeal signature of the TPP the connection's QWAC names opens a session.
async fn identify(
    gate: &WebsiteGate,
    lifetime: Duration,
    qwac: &CertificateFacts,
    request: Request,
) -> Response {
    if let Err(refusal) = sealed_by_the_qwacs_tpp(request, 64 * 1024, qwac).await {
        return refusal;
    }
    let id = uuid::Uuid::new_v4().to_string();
    gate.sessions
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(id.clone(), Instant::now() + lifetime);
    (
        StatusCode::CREATED,
        axum::Json(serde_json::json!({"sessionId": id, "expiresIn": lifetime.as_secs()})),
    )
        .into_response()
}
