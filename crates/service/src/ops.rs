//! The operators' routes: `/health`, `/metrics`, `/events` (Server-Sent Events of switch events) and the
//! manual override, authorised by the admin token.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Duration as Days, OffsetDateTime};
use tokio::sync::broadcast;

use crate::auth::{TokenHash, bearer_token};
use crate::state::{ServedBank, ServiceState};
use psd2_fallback_engine::health::{Health, Override, SwitchEvent};
use psd2_fallback_engine::journal::{IntentState, StoredSwitch};
use psd2_fallback_xs2a::ApiError;

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

fn bank_json(bank: &ServedBank) -> Value {
    let health = &bank.health;
    let now = OffsetDateTime::now_utc();
    json!({
        "name": bank.name,
        "mode": health.mode().name(),
        "measured": health.measured().name(),
        "override": health.override_mode().name(),
        "exempt": health.exemption(),
        "certificates": bank
            .certificates
            .iter()
            .map(|(kind, facts)| crate::identity::certificate_json(kind, facts, now))
            .collect::<Vec<_>>(),
    })
}

/// `GET /health`: the service is up; per bank, the mode in force, measured health, the override, the
/// exemption and the TPP's certificates (whose, which roles, expiring when; no secret).
#[utoipa::path(get, path = "/health", tag = "operators",
    responses((status = 200, description = "`status` and, per bank, `mode`, `measured`, `override`, `exempt` and `certificates` (each `certificate` (`qwac`/`qseal`), `subject`, `organizationIdentifier`, `ncaId`, `ncaName`, `roles`, `issuer`, `serial`, `notBefore`, `notAfter`, `daysLeft`, `expiring`)", content_type = "application/json")))]
pub(super) async fn health(State(state): State<ServiceState>) -> Json<Value> {
    Json(json!({
        "status": "up",
        "banks": state.inner.banks.iter().map(bank_json).collect::<Vec<_>>(),
    }))
}

/// `GET /metrics`: Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "operators", security(("operator" = [])),
    responses(
        (status = 200, description = "Prometheus metrics (OpenMetrics text)", content_type = "application/openmetrics-text"),
        (status = 401, description = "No or a wrong operator token"),
        (status = 403, description = "No operator token is configured")
    ))]
pub(super) async fn metrics(State(state): State<ServiceState>, headers: HeaderMap) -> Response {
    if let Err(refused) = state.is_operator(bearer_token(&headers)) {
        return refused.into_response();
    }
    let metrics = &state.inner.metrics;
    for bank in &state.inner.banks {
        metrics.set_mode(&bank.name, bank.health.mode());
        if let Some(screen) = &bank.screen_bank {
            metrics.set_http_reads(&bank.name, screen.http_reads());
        }
    }
    match state.inner.journal.open_intents() {
        Ok(open) => metrics.set_in_doubt(
            open.iter()
                .filter(|i| matches!(i.state, IntentState::InDoubt(_)))
                .count(),
        ),
        Err(error) => tracing::warn!(%error, "the journal could not be read for /metrics"),
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.encode(),
    )
        .into_response()
}

fn live_json(event: &SwitchEvent) -> Value {
    json!({
        "bank": event.bank,
        "from": event.from.name(),
        "to": event.to.name(),
        "reason": event.reason.to_string(),
        "evidence": event.evidence,
        "at": rfc3339(event.at),
        "downtimeStarted": event.downtime_started.map(rfc3339),
    })
}

fn stored_json(event: &StoredSwitch) -> Value {
    json!({
        "id": event.id,
        "bank": event.bank,
        "from": event.from.name(),
        "to": event.to.name(),
        "reason": event.reason,
        "evidence": event.evidence,
        "at": rfc3339(event.at),
        "downtimeStarted": event.downtime_started.map(rfc3339),
    })
}

/// Follows one bank's switch events: counts them and passes them on to `/events`.
pub(super) fn forward_switches(
    state: ServiceState,
    health: Arc<Health>,
) -> tokio::task::JoinHandle<()> {
    let mut events = health.events();
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(event) => {
                    state.inner.metrics.count_switch(&event.bank, &event.reason);
                    if let Some(outbox) = state.inner.outbox.get() {
                        crate::webhooks::record_switch(&state, outbox, &event);
                    }
                    let _ = state.inner.events.send(live_json(&event));
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "switch events were missed by /events");
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    })
}

/// `GET /events`. For an operator: the last switch events from the journal, then every new one as it
/// happens. For a caller: its events for applications from the outbox (its banks' and its own
/// consents'), each with its `id`, resuming after `Last-Event-ID`.
#[utoipa::path(get, path = "/events", tag = "operators", security(("operator" = []), ("caller" = [])),
    params(("Last-Event-ID" = Option<i64>, Header, description = "A caller resumes after this event id")),
    responses(
        (status = 200, description = "Server-Sent Events: `switch` events for operators; for a caller, its events for applications (`bank.degraded`, `bank.recovered`, `consent.expiring`, `consent.expired`) with their ids", content_type = "text/event-stream"),
        (status = 400, description = "`Last-Event-ID` is not an event id"),
        (status = 401, description = "No or a wrong token"),
        (status = 403, description = "No operator token is configured")
    ))]
pub(super) async fn events(
    State(state): State<ServiceState>,
    headers: HeaderMap,
) -> Result<Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>>, ApiError> {
    // A caller's token opens its own events, where the service keeps them; never the operators'.
    let caller = bearer_token(&headers)
        .and_then(|token| state.inner.callers.name_of(token))
        .filter(|_| state.inner.outbox.get().is_some())
        .map(str::to_owned);
    let stream = match caller {
        Some(caller) => caller_events(&state, caller, &headers)?,
        None => {
            state.is_operator(bearer_token(&headers))?;
            switch_events(&state)
        }
    };
    let mut closing = state.inner.closing.subscribe();
    let ended = async move {
        let _ = closing.wait_for(|closed| *closed).await;
    };
    Ok(Sse::new(stream.take_until(ended)).keep_alive(KeepAlive::default()))
}

/// A caller's events for applications after `Last-Event-ID`, then each new one.
fn caller_events(
    state: &ServiceState,
    caller: String,
    headers: &HeaderMap,
) -> Result<BoxStream<'static, Result<Event, Infallible>>, ApiError> {
    let after = match headers.get("Last-Event-ID") {
        None => 0,
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<i64>().ok())
            .filter(|id| *id >= 0)
            .ok_or_else(|| ApiError::format("Last-Event-ID", "is not an event id"))?,
    };
    let Some(outbox) = state.inner.outbox.get().cloned() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVICE_UNAVAILABLE",
            "this service keeps no events for applications",
        ));
    };
    let state = state.clone();
    let stream = futures_util::stream::unfold(
        (after, std::collections::VecDeque::new()),
        move |(mut after, mut queue)| {
            let (state, outbox, caller) = (state.clone(), outbox.clone(), caller.clone());
            async move {
                loop {
                    if let Some(event) = queue.pop_front() {
                        return Some((event, (after, queue)));
                    }
                    let changed = state.inner.outbox_changed.notified();
                    let mut changed = std::pin::pin!(changed);
                    changed.as_mut().enable();
                    match outbox.for_caller(&caller, after, 100) {
                        Ok(found) if !found.is_empty() => {
                            after = found.last().map_or(after, |e| e.id);
                            queue.extend(found);
                            continue;
                        }
                        Ok(_) => {}
                        Err(error) => tracing::warn!(%error, "the outbox could not be read"),
                    }
                    tokio::select! {
                        () = changed => {}
                        // Another replica's events (a shared outbox) show within a second.
                        () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                    }
                }
            }
        },
    )
    .map(|event: crate::outbox::AppEvent| {
        Ok::<_, Infallible>(
            Event::default()
                .id(event.id.to_string())
                .event(event.kind)
                .data(event.body.to_string()),
        )
    });
    Ok(stream.boxed())
}

/// The last switch events from the journal, then every new one as it happens.
fn switch_events(state: &ServiceState) -> BoxStream<'static, Result<Event, Infallible>> {
    let live = state.inner.events.subscribe();
    let now = OffsetDateTime::now_utc();
    let mut past: Vec<StoredSwitch> = Vec::new();
    for bank in &state.inner.banks {
        match state
            .inner
            .journal
            .switches(&bank.name, now - Days::days(30), now)
        {
            Ok(found) => past.extend(found),
            Err(error) => tracing::warn!(%error, "past switch events could not be read"),
        }
    }
    past.sort_by_key(|s| (s.at, s.id));
    let skip = past
        .len()
        .saturating_sub(state.inner.limits.events_on_connect);
    let past: Vec<Value> = past.iter().skip(skip).map(stored_json).collect();
    let event = |value: Value| {
        Ok::<_, Infallible>(Event::default().event("switch").data(value.to_string()))
    };
    let live = futures_util::stream::unfold(live, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(value) => return Some((value, rx)),
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    futures_util::stream::iter(past)
        .chain(live)
        .map(event)
        .boxed()
}

/// `PUT /admin/banks/{bank}/override` with `auto`, `force-api` or `force-fallback` (plain text, or JSON
/// `{"override": …}`), authorised by the admin token.
#[utoipa::path(put, path = "/admin/banks/{bank}/override", tag = "operators", security(("admin" = [])),
    params(("bank" = String, Path, description = "A served bank's name")),
    request_body(content = String, content_type = "text/plain", description = "`auto`, `force-api` or `force-fallback` (or JSON `{\"override\": …}`)"),
    responses(
        (status = 200, description = "The bank's modes after the override", content_type = "application/json"),
        (status = 400, description = "Not an override: `tppMessages` name `override`"),
        (status = 401, description = "No or a wrong admin token"),
        (status = 403, description = "No admin token is configured"),
        (status = 404, description = "No such bank"),
        (status = 409, description = "The bank is exempt from the fallback (RTS Art. 33(6))")
    ))]
pub(super) async fn set_override(
    State(state): State<ServiceState>,
    Path(bank): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    match (state.inner.admin, bearer_token(&headers)) {
        (None, _) => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "TOKEN_INVALID",
                "no admin token is configured: the override route is closed",
            ));
        }
        (Some(admin), Some(token)) if TokenHash::of(token) == admin => {}
        _ => {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "TOKEN_INVALID",
                "the admin token is required (Authorization: Bearer …)",
            ));
        }
    }
    let served = state
        .bank(&bank)
        .ok_or_else(|| ApiError::unknown(format!("no bank {bank:?} is served")))?;
    let text = String::from_utf8_lossy(&body);
    let value = match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(o)) => o
            .get("override")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        Ok(Value::String(s)) => s,
        _ => text.trim().to_owned(),
    };
    let value = match value.as_str() {
        "auto" => Override::Auto,
        "force-api" => Override::ForceApi,
        "force-fallback" => Override::ForceFallback,
        other => {
            return Err(ApiError::format(
                "override",
                format!("{other:?} is not auto, force-api or force-fallback"),
            ));
        }
    };
    if value == Override::ForceFallback
        && let Some(reason) = served.health.exemption()
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "STATUS_INVALID",
            format!("{bank} is exempt from the fallback: {reason}"),
        ));
    }
    served.health.set_override(value);
    tracing::warn!(%bank, r#override = value.name(), "manual override set");
    Ok(Json(bank_json(served)))
}
