//! The resilience service: an HTTP server shaped like Berlin Group NextGenPSD2, so an existing XS2A
//! client points at it unchanged, serving every operation through a [`Failover`] per bank.
//!
//! Around the XS2A routes (`routes`): callers authenticate with bearer tokens (kept only as SHA-256
//! hashes) and are rate-limited per caller (`governor`); a caller reaches only the consents and payments
//! it created (their owners are kept in the journal, so this holds across restarts). Operators get `/health`, `/metrics` (Prometheus text), `/events` (Server-Sent Events of
//! switch events) and `PUT /admin/banks/{bank}/override` (a separate admin token).
//!
//! A bank is chosen by path: `/banks/{bank}/v1/…` (the client's base URL is `…/banks/{bank}`), or
//! `/v1/…` for the first configured bank. Links in answers carry the same prefix.
//!
//! Layout: `config` (the TOML file and what it builds), `routes` (the XS2A handlers), `metrics`
//! (Prometheus and the `Metered` channel wrapper), `ops` (health, metrics, events, admin).

mod config;
mod metrics;
mod ops;
mod routes;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::Uri;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use secrecy::SecretString;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};
use tower::Layer as _;

pub use config::{BankConfig, ConfigError, PolicyConfig, ServiceConfig, api_probe};
pub use metrics::Metrics;

use psd2_fallback_engine::bank::{Bank, Channel};
use psd2_fallback_engine::failover::{Failover, FailoverConfig};
use psd2_fallback_engine::health::Health;
use psd2_fallback_engine::journal::JournalStore;
use psd2_fallback_engine::model::{InvalidValue, Transaction};
use psd2_fallback_xs2a::ApiError;

/// The SHA-256 of a bearer token: all the service keeps of a caller's or the admin's token.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// The hash of a token.
    pub fn of(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    /// A hash written as 64 hexadecimal digits (as in the config file).
    pub fn from_hex(hex: &str) -> Result<Self, InvalidValue> {
        let hex = hex.trim();
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(InvalidValue::new(
                "token_sha256",
                "must be 64 hexadecimal digits (the SHA-256 of the token)",
            ));
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("checked hex digits");
        }
        Ok(Self(out))
    }

    /// The hash as 64 hexadecimal digits.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({}…)", &self.to_hex()[..8])
    }
}

/// A caller of the service (a TPP application), known by the hash of its bearer token.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Its name, in logs and as the owner of its consents and payments.
    pub name: String,
    /// The SHA-256 of its token.
    pub token: TokenHash,
}

/// One bank the service serves: its two channels and its health. The service wraps them in a
/// `Failover`.
#[derive(Debug, Clone)]
pub struct BankSetup {
    /// The bank's name (in paths, events, metrics and the journal).
    pub name: String,
    /// The API channel (an `ApiBank`).
    pub api: Arc<dyn Bank>,
    /// The website channel (a `ScreenBank`), or any `Bank` standing in for it.
    pub screen: Arc<dyn Bank>,
    /// The bank's health.
    pub health: Arc<Health>,
    /// Unattended reads of one account per day (RTS Art. 36(5)).
    pub unattended_reads_per_day: u32,
}

impl BankSetup {
    /// A bank with the regulation's unattended-read limit (4 a day).
    pub fn new(
        name: impl Into<String>,
        api: Arc<dyn Bank>,
        screen: Arc<dyn Bank>,
        health: Arc<Health>,
    ) -> Self {
        Self {
            name: name.into(),
            api,
            screen,
            health,
            unattended_reads_per_day: 4,
        }
    }
}

/// The service's limits.
#[derive(Debug, Clone)]
pub struct ServiceLimits {
    /// Requests per second one caller may make, sustained.
    pub requests_per_second: NonZeroU32,
    /// Requests one caller may make at once above the sustained rate.
    pub burst: NonZeroU32,
    /// The largest pain.001 file accepted, in bytes.
    pub max_file_bytes: usize,
    /// Transactions per page.
    pub transactions_page_size: usize,
    /// How long the pages of one transactions read are kept for `_links.next`.
    pub page_cache_ttl: Duration,
    /// How many past switch events `/events` sends on connect.
    pub events_on_connect: usize,
}

impl Default for ServiceLimits {
    fn default() -> Self {
        Self {
            requests_per_second: NonZeroU32::new(50).expect("not zero"),
            burst: NonZeroU32::new(100).expect("not zero"),
            max_file_bytes: 1024 * 1024,
            transactions_page_size: 100,
            page_cache_ttl: Duration::from_secs(120),
            events_on_connect: 20,
        }
    }
}

/// What the service serves and who may use it. Cheap to clone.
#[derive(Clone)]
pub struct ServiceState {
    inner: Arc<Inner>,
}

impl fmt::Debug for ServiceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceState")
            .field(
                "banks",
                &self.inner.banks.iter().map(|b| &b.name).collect::<Vec<_>>(),
            )
            .field("callers", &self.inner.callers.len())
            .finish_non_exhaustive()
    }
}

/// A bank as served: its failover and health.
#[derive(Debug)]
struct ServedBank {
    name: String,
    failover: Failover,
    health: Arc<Health>,
}

/// A consent or payment of the calling caller (checked in the journal): the customer it is for.
#[derive(Debug, Clone)]
struct Owned {
    psu: String,
}

/// One transactions read, kept so its later pages are served without asking the bank again.
#[derive(Debug)]
struct Pages {
    caller: String,
    bank: String,
    account: String,
    expires: tokio::time::Instant,
    transactions: Arc<Vec<Transaction>>,
}

struct Inner {
    /// The banks, in configuration order; the first answers `/v1/…` without a prefix.
    banks: Vec<ServedBank>,
    journal: Arc<dyn JournalStore>,
    /// Caller names by token hash.
    callers: HashMap<TokenHash, String>,
    admin: Option<TokenHash>,
    limiter: DefaultKeyedRateLimiter<String>,
    limits: ServiceLimits,
    /// PSU passwords given at authorisation, by (bank, PSU), so the website channel can log in later
    /// for the same customer. Secret: never logged.
    passwords: Mutex<HashMap<(String, String), SecretString>>,
    /// Transactions reads by page token.
    pages: Mutex<HashMap<String, Pages>>,
    metrics: Metrics,
    /// Switch events of every bank, as JSON, for `/events`.
    events: broadcast::Sender<Value>,
    /// Becomes `true` when the service shuts down, so open event streams end.
    closing: watch::Sender<bool>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl ServiceState {
    /// The service over `banks`, writing `journal`, open to `callers`; `admin` authorises the override
    /// route (none: the route is closed).
    pub fn new(
        banks: Vec<BankSetup>,
        journal: Arc<dyn JournalStore>,
        callers: Vec<Caller>,
        admin: Option<TokenHash>,
        limits: ServiceLimits,
    ) -> Self {
        let metrics = Metrics::new();
        let banks = banks
            .into_iter()
            .map(|b| {
                let api = metrics::Metered::new(b.api, Channel::Api, &b.name, metrics.clone());
                let screen =
                    metrics::Metered::new(b.screen, Channel::Screen, &b.name, metrics.clone());
                let failover = Failover::new(
                    FailoverConfig {
                        bank: b.name.clone(),
                        unattended_reads_per_day: b.unattended_reads_per_day,
                    },
                    Arc::new(api),
                    Arc::new(screen),
                    b.health.clone(),
                    journal.clone(),
                );
                ServedBank {
                    name: b.name,
                    failover,
                    health: b.health,
                }
            })
            .collect();
        let quota = Quota::per_second(limits.requests_per_second).allow_burst(limits.burst);
        Self {
            inner: Arc::new(Inner {
                banks,
                journal,
                callers: callers.into_iter().map(|c| (c.token, c.name)).collect(),
                admin,
                limiter: RateLimiter::keyed(quota),
                limits,
                passwords: Mutex::default(),
                pages: Mutex::default(),
                metrics,
                events: broadcast::channel(256).0,
                closing: watch::Sender::new(false),
            }),
        }
    }

    /// The service's metrics (the screen channel sets its browser-session gauge here).
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The failover of a bank, by name.
    pub fn failover(&self, bank: &str) -> Option<&Failover> {
        self.bank(bank).map(|b| &b.failover)
    }

    fn bank(&self, name: &str) -> Option<&ServedBank> {
        self.inner.banks.iter().find(|b| b.name == name)
    }
}

/// Serves the service on `listener` until `shutdown` completes, then finishes the requests in flight.
pub async fn serve(
    listener: TcpListener,
    state: ServiceState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let forwarders: Vec<_> = state
        .inner
        .banks
        .iter()
        .map(|bank| ops::forward_switches(state.clone(), bank.health.clone()))
        .collect();
    let app = router(state.clone());
    let app = tower::util::MapRequestLayer::new(select_bank).layer(app);
    let closing = state.inner.closing.clone();
    let result = axum::serve(
        listener,
        axum::ServiceExt::<Request>::into_make_service(app),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        closing.send_replace(true);
    })
    .await;
    for task in forwarders {
        task.abort();
    }
    result
}

/// The bank a request names by its path prefix `/banks/{bank}`; absent for the first bank.
#[derive(Debug, Clone)]
struct BankPrefix(String);

/// Takes `/banks/{bank}` off the path (before routing) and remembers the bank.
fn select_bank(mut request: Request) -> Request {
    let path = request.uri().path();
    if let Some(rest) = path.strip_prefix("/banks/")
        && let Some((bank, tail)) = rest.split_once('/')
        && tail.starts_with("v1/")
    {
        let bank = bank.to_owned();
        let new = match request.uri().query() {
            Some(q) => format!("/{tail}?{q}"),
            None => format!("/{tail}"),
        };
        if let Ok(uri) = new.parse::<Uri>() {
            *request.uri_mut() = uri;
            request.extensions_mut().insert(BankPrefix(bank));
        }
    }
    request
}

fn router(state: ServiceState) -> Router {
    let body_limit = state.inner.limits.max_file_bytes.saturating_mul(2) + 64 * 1024;
    Router::new()
        .merge(routes::router(state.clone()))
        .route("/health", get(ops::health))
        .route("/metrics", get(ops::metrics))
        .route("/events", get(ops::events))
        .route("/admin/banks/{bank}/override", put(ops::set_override))
        .fallback(|| async { ApiError::unknown("no such endpoint") })
        .layer(middleware::from_fn(log_causes))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

/// The real cause of a 5xx answer, kept out of the body and logged once, here.
#[derive(Debug, Clone)]
struct Cause(String);

async fn log_causes(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    if let Some(Cause(cause)) = response.extensions().get::<Cause>() {
        tracing::warn!(%method, %path, status = response.status().as_u16(), %cause, "request failed");
    } else if response.status().is_server_error() {
        tracing::warn!(%method, %path, status = response.status().as_u16(), "request failed");
    }
    response
}

/// An `ApiError` with the cause to log.
struct ServiceError {
    error: ApiError,
    cause: Option<String>,
}

impl From<ApiError> for ServiceError {
    fn from(error: ApiError) -> Self {
        Self { error, cause: None }
    }
}

impl IntoResponse for ServiceError {
    fn into_response(self) -> Response {
        let mut response = self.error.into_response();
        if let Some(cause) = self.cause {
            response.extensions_mut().insert(Cause(cause));
        }
        response
    }
}
