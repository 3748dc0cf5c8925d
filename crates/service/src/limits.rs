//! The service's own bounds on load, as one middleware: how many requests it serves at once (above it,
//! 503 with `Retry-After` at once — a caller waits outside, not in a queue whose latency grows without
//! bound) and how long one request may take. The operators' `/health` and `/metrics` are never turned
//! away, and `/events` streams are not timed (they last as long as the subscriber listens).

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use psd2_fallback_xs2a::ApiError;

use crate::state::ServiceState;

/// Sheds load above the in-flight bound and times each request out.
pub(crate) async fn bound(
    State(state): State<ServiceState>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if path == "/health" || path == "/metrics" {
        return next.run(request).await;
    }
    let streaming = path == "/events";
    let Some(_permit) = state.inner.in_flight.try_enter() else {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVICE_UNAVAILABLE",
            "the service is serving as many requests as it can; try again in a second",
        )
        .with_retry_after(1)
        .into_response();
    };
    if streaming {
        return next.run(request).await;
    }
    let limit = state.inner.limits.request_timeout;
    let response = match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => return timed_out(limit),
    };
    // A body over the framework's limit is refused before any handler runs, in plain text: answer it
    // as every other refusal is answered, naming `body`.
    let plain = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_none_or(|t| !t.as_bytes().starts_with(b"application/json"));
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE && plain {
        return ApiError::too_large(state.inner.limits.max_file_bytes).into_response();
    }
    response
}

/// The answer to a request that took longer than the service allows.
fn timed_out(limit: Duration) -> Response {
    ApiError::new(
        StatusCode::GATEWAY_TIMEOUT,
        "SERVICE_UNAVAILABLE",
        format!(
            "the request took longer than {} s; for a payment, ask its status before sending it again",
            limit.as_secs()
        ),
    )
    .into_response()
}
