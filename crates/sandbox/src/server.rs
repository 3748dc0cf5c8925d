//! Running the sandbox bank: its two listeners (API and website), the admin routes, and the connection
//! handling that lets faults close a port or drop a connection the way a failing bank does.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::faults::{ApiFault, WebsiteFault};
use crate::ledger::Ledger;
use crate::state::{ApiFaultSetting, DropConnection, SandboxConfig, Shared};
use crate::tpp::{self, ClientCertificate, TppChecks, WebsiteGate};
use crate::{api, oauth, sca_web, web, web2};
use psd2_fallback_engine::model::belgian::{format_iso_date, parse_iso_date};
use tokio_rustls::TlsAcceptor;

/// A running sandbox bank.
#[derive(Debug)]
pub struct Sandbox {
    shared: Arc<Shared>,
    api_addr: SocketAddr,
    web_addr: SocketAddr,
    /// Whether the API port speaks TLS and checks the TPP ([`TppChecks`]).
    api_tls: bool,
    /// Whether the website port speaks TLS and wants the TPP's QWAC too.
    web_tls: bool,
    /// What the website checks of the TPP (over TLS), and the requests it let through.
    gate: Arc<WebsiteGate>,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Sandbox {
    /// Starts the bank on two free loopback ports.
    pub async fn start(config: SandboxConfig) -> io::Result<Self> {
        let api = TcpListener::bind("127.0.0.1:0").await?;
        let web = TcpListener::bind("127.0.0.1:0").await?;
        Self::start_on(api, web, config)
    }

    /// Starts the bank on listeners the caller bound: the API on one, the website (and the admin
    /// routes under `/_sandbox/`) on the other.
    pub fn start_on(api: TcpListener, web: TcpListener, config: SandboxConfig) -> io::Result<Self> {
        Self::start_checking(api, web, config, None)
    }

    /// Starts the bank on two free loopback ports, its API over TLS identifying TPPs by their
    /// certificates (and signatures) as `checks` says.
    pub async fn start_identified(config: SandboxConfig, checks: TppChecks) -> io::Result<Self> {
        let api = TcpListener::bind("127.0.0.1:0").await?;
        let web = TcpListener::bind("127.0.0.1:0").await?;
        Self::start_checking(api, web, config, Some(checks))
    }

    /// [`Sandbox::start_on`], with the API identifying TPPs when `checks` is given.
    pub fn start_checking(
        api: TcpListener,
        web: TcpListener,
        config: SandboxConfig,
        checks: Option<TppChecks>,
    ) -> io::Result<Self> {
        Self::start_inner(api, web, config, checks, None)
    }

    /// Starts the bank on two free loopback ports, both over TLS: the API identifying TPPs as
    /// `checks` says, and the website — the bank's fallback interface — answering only a client that
    /// presents a certificate of the trusted CA with a PSD2 statement (a `403` page otherwise), as a
    /// bank that publishes its fallback does. The admin routes (`/_sandbox/…`) stay open.
    pub async fn start_identified_with_website(
        config: SandboxConfig,
        checks: TppChecks,
    ) -> io::Result<Self> {
        let api = TcpListener::bind("127.0.0.1:0").await?;
        let web = TcpListener::bind("127.0.0.1:0").await?;
        Self::start_inner(api, web, config, Some(checks), Some(WebsiteGate::default()))
    }

    /// [`Sandbox::start_identified_with_website`], the website being the bank's dedicated "fallback
    /// interface", as the seed bank publishes it: before any page, the TPP calls
    /// `POST /tpp/identify` ([`IDENTIFY_PATH`](crate::IDENTIFY_PATH)) signed with its QSeal, which opens a session of
    /// `session_lifetime`; every page then wants that session in `TPP-Session-ID`
    /// ([`SESSION_HEADER`](crate::SESSION_HEADER)).
    pub async fn start_fallback_interface(
        config: SandboxConfig,
        checks: TppChecks,
        session_lifetime: Duration,
    ) -> io::Result<Self> {
        let api = TcpListener::bind("127.0.0.1:0").await?;
        let web = TcpListener::bind("127.0.0.1:0").await?;
        let gate = WebsiteGate {
            session_lifetime: Some(session_lifetime),
            ..WebsiteGate::default()
        };
        Self::start_inner(api, web, config, Some(checks), Some(gate))
    }

    /// Starts the bank; with `website`, the website is over TLS too and checks the TPP as it says.
    fn start_inner(
        api: TcpListener,
        web: TcpListener,
        config: SandboxConfig,
        checks: Option<TppChecks>,
        website: Option<WebsiteGate>,
    ) -> io::Result<Self> {
        let acceptor = checks
            .as_ref()
            .map(TppChecks::acceptor)
            .transpose()
            .map_err(io::Error::other)?;
        let today = config
            .today
            .unwrap_or_else(|| time::OffsetDateTime::now_utc().date());
        let ledger = Arc::new(Ledger::new(today, config.settle_after));
        let api_addr = api.local_addr()?;
        let web_addr = web.local_addr()?;
        let web_tls = website.is_some() && acceptor.is_some();
        let web_base = if web_tls {
            format!("https://localhost:{}", web_addr.port())
        } else {
            format!("http://{web_addr}")
        };
        let api_url = if acceptor.is_some() {
            format!("https://localhost:{}", api_addr.port())
        } else {
            format!("http://{api_addr}")
        };
        let shared = Arc::new(Shared::new(ledger, config, web_base, api_url));
        let gate = Arc::new(website.unwrap_or_default());
        let (stop, _) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let mut api_app = api::router(shared.clone()).merge(oauth::api_router(shared.clone()));
        if let Some(checks) = checks {
            api_app = api_app.layer(axum::middleware::from_fn_with_state(
                Arc::new(checks),
                tpp::check,
            ));
        }
        let api_tls = acceptor.is_some();
        let mut web_app = web::router(shared.clone())
            .merge(web2::router(shared.clone()))
            .merge(sca_web::router(shared.clone()))
            .merge(oauth::web_router(shared.clone()));
        if web_tls {
            web_app = web_app.layer(axum::middleware::from_fn_with_state(
                gate.clone(),
                tpp::check_website,
            ));
        }
        let web_app = web_app.merge(admin_router(shared.clone()));
        let web_acceptor = if web_tls { acceptor.clone() } else { None };
        tasks.spawn(serve(
            api,
            api_app,
            Some(shared.api_fault.subscribe()),
            acceptor,
            stop.subscribe(),
        ));
        tasks.spawn(serve(web, web_app, None, web_acceptor, stop.subscribe()));
        tracing::info!(api = %api_addr, website = %web_addr, day = %today, "sandbox bank open");
        Ok(Self {
            shared,
            api_addr,
            web_addr,
            api_tls,
            web_tls,
            gate,
            stop,
            tasks,
        })
    }

    /// The API's base URL, e.g. `http://127.0.0.1:8081` (paths start with `/v1/`); `https://localhost:…`
    /// when the API identifies TPPs over TLS (the name its test certificate carries).
    pub fn api_url(&self) -> String {
        if self.api_tls {
            format!("https://localhost:{}", self.api_addr.port())
        } else {
            format!("http://{}", self.api_addr)
        }
    }

    /// The website's base URL, e.g. `http://127.0.0.1:8080`; `https://localhost:…` when the website
    /// identifies TPPs over TLS ([`Sandbox::start_identified_with_website`]).
    pub fn web_url(&self) -> String {
        if self.web_tls {
            format!("https://localhost:{}", self.web_addr.port())
        } else {
            format!("http://{}", self.web_addr)
        }
    }

    /// How many website requests an identified TPP made (over TLS, presenting its QWAC): what the
    /// bank saw of the fallback, admin routes aside. Always 0 unless the website is over TLS.
    pub fn identified_website_requests(&self) -> u64 {
        self.gate.served.load(Ordering::Relaxed)
    }

    /// Ends every open TPP session of the fallback interface now, before its lifetime (as a bank may):
    /// the next website request gets the `401` page until the TPP identifies itself again.
    pub fn end_tpp_sessions(&self) {
        self.gate
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// The second website's base URL, e.g. `http://127.0.0.1:8080/mijnbank` (same port as the first,
    /// its own path and cookies).
    pub fn web2_url(&self) -> String {
        format!("{}{}", self.web_url(), web2::BASE)
    }

    /// How the bank was set up.
    pub fn config(&self) -> &SandboxConfig {
        &self.shared.config
    }

    /// How many starts of authorisation on the API carried the customer's password (`psuData`):
    /// whether the bank was ever given a password it did not need.
    pub fn api_passwords_received(&self) -> u64 {
        self.shared.api_passwords.load(Ordering::Relaxed)
    }

    /// The ledger behind both faces.
    pub fn ledger(&self) -> &Arc<Ledger> {
        &self.shared.ledger
    }

    /// Makes the API misbehave (or behave again).
    pub fn set_api_fault(&self, fault: ApiFault) {
        self.shared.set_api_fault(fault);
    }

    /// The API fault in force.
    pub fn api_fault(&self) -> ApiFault {
        self.shared.api_fault.borrow().fault
    }

    /// Makes the website misbehave (or behave again).
    pub fn set_website_fault(&self, fault: WebsiteFault) {
        self.shared.set_website_fault(fault);
    }

    /// The website fault in force.
    pub fn website_fault(&self) -> WebsiteFault {
        *self.shared.web_fault.borrow()
    }

    /// Closes both ports and every connection, and waits until they are closed.
    pub async fn shutdown(mut self) {
        self.stop.send_replace(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

/// Accepts connections until stopped. With `faults`, the `refuse` fault closes the port (and every open
/// connection) until another fault is set, when the same address is bound again.
async fn serve(
    listener: TcpListener,
    app: Router,
    mut faults: Option<watch::Receiver<ApiFaultSetting>>,
    tls: Option<TlsAcceptor>,
    mut stop: watch::Receiver<bool>,
) {
    let addr = listener
        .local_addr()
        .expect("a bound listener has an address");
    let mut listener = Some(listener);
    let mut connections = JoinSet::new();
    loop {
        let refusing = faults
            .as_mut()
            .is_some_and(|f| f.borrow_and_update().fault == ApiFault::Refuse);
        if refusing && listener.is_some() {
            listener = None;
            connections.abort_all();
        } else if !refusing && listener.is_none() {
            listener = rebind(addr).await;
        }
        let fault_changed = async {
            match faults.as_mut() {
                Some(f) => f.changed().await.is_ok(),
                None => std::future::pending().await,
            }
        };
        let accept = async {
            match &listener {
                Some(l) => l.accept().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = stop.changed() => break,
            _ = fault_changed => {}
            accepted = accept => match accepted {
                Ok((stream, _)) => match &tls {
                    None => {
                        connections.spawn(serve_connection(stream, app.clone(), None));
                    }
                    Some(tls) => {
                        connections.spawn(serve_tls_connection(tls.clone(), stream, app.clone()));
                    }
                },
                Err(error) => tracing::warn!(%error, "sandbox accept failed"),
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.abort_all();
    while connections.join_next().await.is_some() {}
}

async fn rebind(addr: SocketAddr) -> Option<TcpListener> {
    for _ in 0..100 {
        match TcpListener::bind(addr).await {
            Ok(listener) => return Some(listener),
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    tracing::error!(%addr, "sandbox could not open its API port again");
    None
}

/// Completes the TLS handshake (10 s at most), then serves the connection with its client
/// certificate, if any, on every request.
async fn serve_tls_connection(tls: TlsAcceptor, stream: TcpStream, app: Router) {
    let handshake = tokio::time::timeout(Duration::from_secs(10), tls.accept(stream)).await;
    let Ok(Ok(stream)) = handshake else {
        tracing::info!("sandbox TLS handshake refused or timed out");
        return;
    };
    let certificate = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|c| Arc::new(c.clone().into_owned()));
    serve_connection(stream, app, Some(ClientCertificate(certificate))).await;
}

async fn serve_connection<S>(stream: S, app: Router, certificate: Option<ClientCertificate>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let drop_connection = Arc::new(Notify::new());
    let marker = DropConnection(drop_connection.clone());
    let service =
        hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(marker.clone());
            if let Some(certificate) = &certificate {
                request.extensions_mut().insert(certificate.clone());
            }
            app.clone().oneshot(request.map(axum::body::Body::new))
        });
    let builder = auto::Builder::new(TokioExecutor::new());
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        _ = connection => {}
        _ = drop_connection.notified() => {}
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Clock {
    today: String,
}

/// The admin routes, on the website's port so they stay reachable while the API port is closed. They
/// ignore the website's faults.
fn admin_router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            "/_sandbox/faults/api",
            get(get_api_fault).put(put_api_fault),
        )
        .route(
            "/_sandbox/faults/website",
            get(get_web_fault).put(put_web_fault),
        )
        .route("/_sandbox/clock", get(get_clock).put(put_clock))
        .with_state(shared)
}

async fn get_api_fault(State(shared): State<Arc<Shared>>) -> Json<ApiFault> {
    Json(shared.api_fault.borrow().fault)
}

async fn put_api_fault(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    match json_body::<ApiFault>(request).await {
        Ok(fault) => {
            shared.set_api_fault(fault);
            Json(fault).into_response()
        }
        Err(response) => response,
    }
}

async fn get_web_fault(State(shared): State<Arc<Shared>>) -> Json<WebsiteFault> {
    Json(*shared.web_fault.borrow())
}

async fn put_web_fault(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    match json_body::<WebsiteFault>(request).await {
        Ok(fault) => {
            shared.set_website_fault(fault);
            Json(fault).into_response()
        }
        Err(response) => response,
    }
}

async fn get_clock(State(shared): State<Arc<Shared>>) -> Json<Clock> {
    Json(Clock {
        today: format_iso_date(shared.ledger.today()),
    })
}

async fn put_clock(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let clock = match json_body::<Clock>(request).await {
        Ok(clock) => clock,
        Err(response) => return response,
    };
    let result = parse_iso_date(&clock.today)
        .map_err(|e| e.to_string())
        .and_then(|day| shared.ledger.set_today(day).map_err(|e| e.to_string()));
    match result {
        Ok(()) => get_clock(State(shared)).await.into_response(),
        Err(message) => (StatusCode::BAD_REQUEST, message).into_response(),
    }
}

/// Reads a JSON body, answering `400` with serde's words (which name the field) when it does not fit.
async fn json_body<T: serde::de::DeserializeOwned>(request: Request) -> Result<T, Response> {
    let bytes = axum::body::to_bytes(request.into_body(), 64 * 1024)
        .await
        .map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()).into_response())?;
    serde_json::from_slice(&bytes)
        .map_err(|e| (StatusCode::BAD_REQUEST, format!("invalid body: {e}")).into_response())
}
