//! The resilience service: an HTTP server shaped like Berlin Group NextGenPSD2, so an existing XS2A
//! client points at it unchanged, serving every operation through a `Failover` per bank.
//!
//! Around the XS2A routes: callers authenticate with bearer tokens (kept only as SHA-256 hashes) and
//! are rate-limited per caller (`governor`); a caller reaches only the consents and payments it created
//! (their owners are kept in the service's owner store, a file beside the journal, so this holds across
//! restarts). Operators get `/health`, `/metrics` (Prometheus text), `/events` (Server-Sent Events of
//! switch events) and `PUT /admin/banks/{bank}/override` (a separate admin token).
//!
//! A bank is chosen by path: `/banks/{bank}/v1/…` (the client's base URL is `…/banks/{bank}`), or
//! `/v1/…` for the first configured bank. Links in answers carry the same prefix. Every Berlin Group
//! body, answer or error, is rendered by `psd2_fallback_xs2a`; only the operators' routes write their
//! own JSON.
//!
//! Layout, each module depending only on those before it:
//! - `owners` — who made which consent and payment ([`OwnerStore`], [`SqliteOwnerStore`]).
//! - `identity` — each bank's certificates (`qwac`, `qseal`), checked at start, shown in `/health`.
//! - `website_egress` — a bank's `website_egress`: the engine's egress for its browsers, its
//!   justification following the bank's health; `no_website` — the channel of a bank without a website.
//! - `outbox` — events for applications until delivered ([`Outbox`]: a process's [`SqliteOutbox`],
//!   or across replicas `outbox_postgres`'s [`PostgresOutbox`], one event per key and one delivery
//!   at a time), callers' [`Webhook`]s.
//! - `metrics` — Prometheus and `Metered`, the channel wrapper that counts and times calls.
//! - `auth` — [`TokenHash`], [`Caller`], the per-caller rate limit and the authentication middleware.
//! - `pages` — the short-lived cache of transaction reads behind `_links.next`.
//! - `replay` — writes answered once per caller and `X-Request-ID`, by the fingerprint of their content.
//! - `errors` — `ServiceError`, `BankError` and store failures as answers, the cause-logging middleware.
//! - `state` — [`ServiceState`], [`BankSetup`], [`ServiceLimits`].
//! - `routes` — the XS2A path table and handlers (`ctx`, `consents`, `authorisations`, `accounts`,
//!   `funds`, `payments`).
//! - `openapi` — the OpenAPI description's frame and `/openapi.json`.
//! - `ops` — health, metrics, events, admin.
//! - `webhooks` — events for applications made (switches, consents) and delivered, signed, retried.
//! - `status` — the live status page (`/status`), its login and its live updates.
//! - `config` — the TOML file and what it builds.
//!
//! This file assembles them: the app router and [`serve`], which first reconciles the writes an earlier
//! run left open.

mod auth;
mod config;
mod errors;
mod identity;
mod limits;
mod metrics;
mod no_website;
mod openapi;
mod ops;
mod outbox;
mod outbox_postgres;
mod owners;
mod owners_postgres;
mod pages;
mod replay;
mod routes;
mod state;
mod status;
mod storage;
mod webhooks;
mod website_egress;

use std::future::Future;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Extension};
use axum::middleware;
use tokio::net::TcpListener;
use tower::Layer as _;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use psd2_fallback_engine::bank::PsuContext;
use psd2_fallback_engine::failover::Failover;
use psd2_fallback_engine::journal::Intent;
use psd2_fallback_engine::model::PsuId;

pub use auth::{Caller, TokenHash};
pub use config::{BankConfig, ConfigError, PolicyConfig, ServiceConfig, api_probe};
pub use identity::{CertificateSource, ServiceName};
pub use metrics::Metrics;
pub use outbox::{Outbox, SqliteOutbox, Webhook, outbox_path, signature};
pub use outbox_postgres::PostgresOutbox;
pub use owners::{
    OwnerStore, OwnerStoreError, OwnerStoreResult, ResourceOwner, SqliteOwnerStore, owners_path,
};
pub use owners_postgres::PostgresOwnerStore;
pub use state::{BankSetup, FallbackPassword, ServiceLimits, ServiceState};
pub use storage::{JOURNAL_URL_VARIABLE, JournalLocation};
pub use website_egress::{IdentifyConfig, WebsiteEgressConfig};

use psd2_fallback_xs2a::ApiError;

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
    let resumers: Vec<_> = state
        .inner
        .banks
        .iter()
        .map(|bank| {
            tokio::spawn(resume(
                bank.name.clone(),
                bank.failover.clone(),
                state.inner.limits.in_doubt_sweep,
            ))
        })
        .collect();
    let followers: Vec<_> = state
        .inner
        .banks
        .iter()
        .filter_map(|bank| {
            let egress = bank.egress.clone()?;
            Some(website_egress::follow_justification(
                egress,
                bank.health.clone(),
            ))
        })
        .collect();
    let deliverer = webhooks::deliver(state.clone());
    let app = router(state.clone());
    let app = tower::util::MapRequestLayer::new(routes::select_bank).layer(app);
    let header_read_timeout = state.inner.limits.header_read_timeout;
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let result = loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // A connection that failed before it was accepted (reset, out of descriptors for a
                // moment) is that connection's problem, not the service's.
                Err(error) if is_per_connection(&error) => continue,
                Err(error) => break Err(error),
            },
            () = &mut shutdown => break Ok(()),
        };
        let service =
            hyper_util::service::TowerToHyperService::new(tower::ServiceExt::map_request(
                app.clone(),
                |request: hyper::Request<hyper::body::Incoming>| request.map(axum::body::Body::new),
            ));
        let mut builder =
            hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
        // A client gets this long to send its request's headers (slow clients holding connections
        // open are cut off), on HTTP/1.1 and HTTP/2 alike.
        builder
            .http1()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(header_read_timeout);
        builder
            .http2()
            .timer(hyper_util::rt::TokioTimer::new())
            .keep_alive_interval(Some(header_read_timeout));
        let connection = builder
            .serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A client that goes away mid-request ends its own connection; nothing to report.
            let _ = connection.await;
        });
    };
    // Long-lived answers (`/events`) end themselves when told the service is closing.
    state.inner.closing.send_replace(true);
    graceful.shutdown().await;
    for task in (forwarders.into_iter().chain(resumers).chain(followers)).chain([deliverer]) {
        task.abort();
    }
    result
}

/// Whether an `accept` error concerns only the connection being accepted.
fn is_per_connection(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::Interrupted
    ) || error
        .raw_os_error()
        .is_some_and(|code| code == 24 || code == 23)
}

/// Settles the writes an earlier run left open, then, every `sweep`, those left in doubt since (a
/// write no caller retries is settled all the same), each looked up as its own customer (the intent's
/// PSU) and claimed in the journal first, so of several replicas one at a time works on it. The
/// website channel needs a password a restart does not keep, so what only the website could settle
/// stays in doubt until its customer's next write.
async fn resume(bank: String, failover: Failover, sweep: std::time::Duration) {
    let context = |intent: &Intent| Some(PsuContext::new(PsuId::new(&intent.psu)));
    match failover.resume(context).await {
        Ok((settled, in_doubt)) => {
            tracing::info!(%bank, settled, in_doubt, "open writes of an earlier run reconciled");
        }
        Err(error) => tracing::warn!(%bank, %error, "open writes of an earlier run not reconciled"),
    }
    loop {
        tokio::time::sleep(sweep).await;
        match failover.sweep(context).await {
            Ok((0, 0)) => {}
            Ok((settled, in_doubt)) => {
                tracing::info!(%bank, settled, in_doubt, "writes in doubt swept");
            }
            Err(error) => tracing::warn!(%bank, %error, "writes in doubt not swept"),
        }
    }
}

/// The whole app: the XS2A routes, the operators' routes, and the layers around them (identifiers
/// masked in refusals, cause logging, the body limit). Every route is registered through `routes!`, so
/// it is in the OpenAPI description (served at `/openapi.json`) exactly as it is served.
fn router(state: ServiceState) -> Router {
    let body_limit = state.inner.limits.max_file_bytes.saturating_mul(2) + 64 * 1024;
    let (router, description) = described_routes(state.clone()).split_for_parts();
    let banks: Vec<String> = state.inner.banks.iter().map(|b| b.name.clone()).collect();
    let document = openapi::Document(std::sync::Arc::new(openapi::document(description, &banks)));
    router
        .fallback(|| async { ApiError::unknown("no such endpoint") })
        .layer(middleware::from_fn(errors::mask_refusals))
        .layer(Extension(document))
        .layer(middleware::from_fn(errors::log_causes))
        .layer(middleware::from_fn_with_state(state.clone(), limits::bound))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

/// Every route the service serves, with its description.
fn described_routes(state: ServiceState) -> OpenApiRouter<ServiceState> {
    OpenApiRouter::with_openapi(openapi::Frame::openapi())
        .merge(routes::router(state))
        .routes(routes!(ops::health))
        .routes(routes!(ops::metrics))
        .routes(routes!(ops::events))
        .routes(routes!(ops::set_override))
        .routes(routes!(openapi::openapi_json))
        .routes(routes!(status::page))
        .routes(routes!(status::panel))
        .routes(routes!(status::login))
        .routes(routes!(status::logout))
        .routes(routes!(status::live))
}

/// The service's OpenAPI description, as `/openapi.json` serves it (the served banks as the values of
/// the `/banks/{bank}` server).
pub fn openapi_description(state: &ServiceState) -> serde_json::Value {
    let banks: Vec<String> = state.inner.banks.iter().map(|b| b.name.clone()).collect();
    openapi::document(described_routes(state.clone()).into_openapi(), &banks)
}
