//! The live status page, `/status`: per bank the mode in force and since when, measured health and the
//! override, a 24-hour switch timeline, availability (EBA/GL/2018/07, today and 30 days), fallback
//! accesses per hour, payments in doubt, consents expiring and, when configured, the TPP's certificates
//! (whose, which roles, expiring when) — counts and modes, never a customer, account, consent or
//! payment.
//!
//! Operators log in with the admin, operator or viewer token (`POST /status/login`, a form): the token
//! is checked once and traded for a session cookie (`HttpOnly`, `SameSite=Strict`, 12 hours) whose
//! hash only is kept. The viewer token opens this page and nothing else. The page follows
//! `/status/live` (Server-Sent Events, one per switch) and fetches `/status/panel` again on each.
//!
//! `figures` gathers what is shown; `view` draws it (pure).

mod figures;
mod view;

use std::convert::Infallible;
use std::time::Duration;

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use futures_util::{Stream, StreamExt};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use time::OffsetDateTime;
use tokio::sync::broadcast;

use crate::auth::TokenHash;
use crate::state::{ServiceState, lock};

/// The session cookie's name.
const COOKIE: &str = "psd2_fallback_status";

/// How long a login lasts.
const SESSION: Duration = Duration::from_secs(12 * 60 * 60);

/// The session cookie's value in a request, if any.
fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

/// Whether the request carries a live session.
fn logged_in(state: &ServiceState, headers: &HeaderMap) -> bool {
    let Some(cookie) = session_cookie(headers) else {
        return false;
    };
    let now = tokio::time::Instant::now();
    let mut sessions = lock(&state.inner.status_sessions);
    sessions.retain(|_, expires| *expires > now);
    sessions.contains_key(&TokenHash::of(cookie))
}

fn refused() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Html(view::login_page(Some("Log in first."))),
    )
        .into_response()
}

/// `GET /status`: the page, or the login form.
#[utoipa::path(get, path = "/status", tag = "operators",
    responses((status = 200, description = "The status page (HTML), or its login form without a session", content_type = "text/html")))]
pub(crate) async fn page(State(state): State<ServiceState>, headers: HeaderMap) -> Html<String> {
    if !logged_in(&state, &headers) {
        return Html(view::login_page(None));
    }
    let now = OffsetDateTime::now_utc();
    Html(view::page(&figures::gather(&state, now), now))
}

/// `GET /status/panel`: the banks' sections alone, for the page's script.
#[utoipa::path(get, path = "/status/panel", tag = "operators",
    responses(
        (status = 200, description = "Every bank's section (HTML fragment)", content_type = "text/html"),
        (status = 401, description = "No session: log in at /status")
    ))]
pub(crate) async fn panel(State(state): State<ServiceState>, headers: HeaderMap) -> Response {
    if !logged_in(&state, &headers) {
        return refused();
    }
    let now = OffsetDateTime::now_utc();
    Html(view::panel(&figures::gather(&state, now), now)).into_response()
}

/// The login form.
#[derive(Deserialize)]
pub(crate) struct Login {
    /// The token as typed; it becomes a secret at once.
    token: String,
}

/// `POST /status/login`: trades the admin, operator or viewer token for a session cookie.
#[utoipa::path(post, path = "/status/login", tag = "operators",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "`token`: the admin, operator or viewer token"),
    responses(
        (status = 303, description = "Logged in: a session cookie, and back to /status"),
        (status = 401, description = "Not an operator's or a viewer's token: the form again", content_type = "text/html")
    ))]
pub(crate) async fn login(State(state): State<ServiceState>, Form(form): Form<Login>) -> Response {
    let token = SecretString::from(form.token);
    if !state.is_status_viewer(token.expose_secret()) {
        tracing::warn!("a status page login was refused");
        return (
            StatusCode::UNAUTHORIZED,
            Html(view::login_page(Some(
                "That token is not the admin, operator or viewer token.",
            ))),
        )
            .into_response();
    }
    let session = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    lock(&state.inner.status_sessions).insert(
        TokenHash::of(&session),
        tokio::time::Instant::now() + SESSION,
    );
    let cookie = format!(
        "{COOKIE}={session}; Path=/status; HttpOnly; SameSite=Strict; Max-Age={}",
        SESSION.as_secs()
    );
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, "/status")]).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// `POST /status/logout`: ends the session.
#[utoipa::path(post, path = "/status/logout", tag = "operators",
    responses((status = 303, description = "Logged out, back to /status")))]
pub(crate) async fn logout(State(state): State<ServiceState>, headers: HeaderMap) -> Response {
    if let Some(cookie) = session_cookie(&headers) {
        lock(&state.inner.status_sessions).remove(&TokenHash::of(cookie));
    }
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/status".to_owned()),
            (
                header::SET_COOKIE,
                format!("{COOKIE}=; Path=/status; HttpOnly; SameSite=Strict; Max-Age=0"),
            ),
        ],
    )
        .into_response()
}

/// `GET /status/live`: one `switch` event (bank, mode, when) per switch, for the page's script.
#[utoipa::path(get, path = "/status/live", tag = "operators",
    responses(
        (status = 200, description = "Server-Sent Events: `switch` with the bank, its new mode and when", content_type = "text/event-stream"),
        (status = 401, description = "No session: log in at /status")
    ))]
pub(crate) async fn live(
    State(state): State<ServiceState>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Response> {
    if !logged_in(&state, &headers) {
        return Err(refused());
    }
    let mut closing = state.inner.closing.subscribe();
    let ended = async move {
        let _ = closing.wait_for(|closed| *closed).await;
    };
    let events =
        futures_util::stream::unfold(state.inner.events.subscribe(), |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(value) => return Some((value, rx)),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        });
    let stream = events
        .map(|value| {
            // Only what the page shows: the bank, its new mode, when.
            let shown = serde_json::json!({
                "bank": value["bank"],
                "to": value["to"],
                "at": value["at"],
            });
            Ok(Event::default().event("switch").data(shown.to_string()))
        })
        .take_until(ended);
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
