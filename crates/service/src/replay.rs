//! Request-id replay: a write is identified by its caller's `X-Request-ID` and by a fingerprint of what
//! it asks, as payment systems do it. The same id with the same content gets the first answer again
//! (same status, same body), without reaching the bank; the same id with other content is a 409
//! `STATUS_INVALID`; concurrent requests with one id wait for the first and get its answer.
//!
//! Only final answers are kept, for a day, in memory: a resource made (2xx) or the caller's or the
//! bank's refusal (4xx but 429). An answer that leaves the outcome open — 502 (outcome unknown), 503 (nothing sent), 429 — is
//! not kept, so a retry with the same id asks again; the engine's journal then finds the payment the
//! first attempt made instead of sending a second one.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use psd2_fallback_xs2a::ApiError;

/// A mutex's guard, even when a panic poisoned it (the maps stay consistent between calls).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// A caller's name and a request's `X-Request-ID`.
type Key = (String, String);

/// The answers given to each (caller, `X-Request-ID`), and a lock per pair in use.
#[derive(Default)]
pub(crate) struct Replays {
    /// Final answers, by (caller, request id).
    answers: Mutex<HashMap<Key, Answer>>,
    /// One lock per (caller, request id) being answered, so a concurrent duplicate waits.
    working: Mutex<HashMap<Key, Arc<tokio::sync::Mutex<()>>>>,
}

impl fmt::Debug for Replays {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Replays")
            .field("answers", &lock(&self.answers).len())
            .finish_non_exhaustive()
    }
}

/// How long a final answer is kept for a retry (as payment APIs keep idempotency keys: a day).
const KEPT_FOR: std::time::Duration = std::time::Duration::from_secs(24 * 60 * 60);

/// A final answer as given: what is needed to give it again.
#[derive(Debug, Clone)]
struct Answer {
    /// When it was given; after [`KEPT_FOR`] it is forgotten.
    at: tokio::time::Instant,
    /// The fingerprint of the request it answered.
    fingerprint: [u8; 32],
    status: StatusCode,
    /// The headers that belong to the answer (`Location`, `Content-Type`).
    headers: Vec<(HeaderName, axum::http::HeaderValue)>,
    body: Bytes,
}

/// The fingerprint of a write request: everything that says what it asks — the bank, the resource path,
/// the customer and the body — each with its length, so no two requests hash alike by accident.
pub(crate) fn fingerprint(parts: &[&[u8]]) -> [u8; 32] {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    hash.finalize().into()
}

/// Whether an answer is final: the same request would be answered the same way.
fn is_final(status: StatusCode) -> bool {
    status.is_success() || (status.is_client_error() && status != StatusCode::TOO_MANY_REQUESTS)
}

impl Replays {
    /// Answers a write once per (caller, request id): `work` runs only when no final answer is kept
    /// for the pair; a kept answer is given again when `fingerprint` matches, a 409 when it does not.
    pub(crate) async fn once<F>(
        &self,
        caller: &str,
        request_id: &str,
        fingerprint: [u8; 32],
        work: F,
    ) -> Response
    where
        F: Future<Output = Response>,
    {
        let key = (caller.to_owned(), request_id.to_owned());
        let held = lock(&self.working).entry(key.clone()).or_default().clone();
        let response = {
            let _turn = held.lock().await;
            self.answer(&key, fingerprint, work).await
        };
        let mut working = lock(&self.working);
        // The map and this call hold the last two handles: nobody else waits, so the entry goes.
        if Arc::strong_count(&held) == 2 {
            working.remove(&key);
        }
        response
    }

    async fn answer<F>(&self, key: &Key, fingerprint: [u8; 32], work: F) -> Response
    where
        F: Future<Output = Response>,
    {
        let kept = lock(&self.answers)
            .get(key)
            .filter(|kept| kept.at.elapsed() < KEPT_FOR)
            .cloned();
        if let Some(kept) = kept {
            if kept.fingerprint != fingerprint {
                return ApiError::new(
                    StatusCode::CONFLICT,
                    "STATUS_INVALID",
                    format!(
                        "X-Request-ID {} was used for another request with other content; a new request needs a new X-Request-ID",
                        key.1
                    ),
                )
                .into_response();
            }
            let mut response = Response::new(Body::from(kept.body));
            *response.status_mut() = kept.status;
            response.headers_mut().extend(kept.headers);
            return response;
        }
        let response = work.await;
        if !is_final(response.status()) {
            return response;
        }
        let (parts, body) = response.into_parts();
        let body = match axum::body::to_bytes(body, usize::MAX).await {
            Ok(body) => body,
            Err(error) => {
                tracing::error!(%error, "an answer could not be read to be kept");
                return Response::from_parts(parts, Body::empty());
            }
        };
        let mut answers = lock(&self.answers);
        answers.retain(|_, kept| kept.at.elapsed() < KEPT_FOR);
        answers.insert(
            key.clone(),
            Answer {
                at: tokio::time::Instant::now(),
                fingerprint,
                status: parts.status,
                headers: kept_headers(&parts.headers),
                body: body.clone(),
            },
        );
        Response::from_parts(parts, Body::from(body))
    }
}

/// The headers that are part of an answer's meaning, not of one exchange.
fn kept_headers(headers: &HeaderMap) -> Vec<(HeaderName, axum::http::HeaderValue)> {
    [header::LOCATION, header::CONTENT_TYPE, header::RETRY_AFTER]
        .into_iter()
        .filter_map(|name| headers.get(&name).map(|v| (name, v.clone())))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    async fn body(response: Response) -> (StatusCode, Bytes) {
        let status = response.status();
        (
            status,
            axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap(),
        )
    }

    fn created(n: usize) -> Response {
        (StatusCode::CREATED, format!("payment {n}")).into_response()
    }

    /// Same id and content: the first answer again; other content: 409; another caller's same id is its
    /// own; an answer that leaves the outcome open is not kept.
    #[tokio::test]
    async fn a_request_id_is_answered_once_per_caller_and_content() {
        let replays = Replays::default();
        let calls = &AtomicUsize::new(0);
        let work = |status: StatusCode| async move {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            if status == StatusCode::CREATED {
                created(n)
            } else {
                status.into_response()
            }
        };
        let a = fingerprint(&[b"a"]);
        let b = fingerprint(&[b"b"]);
        let first = body(replays.once("c1", "r1", a, work(StatusCode::CREATED)).await).await;
        let again = body(replays.once("c1", "r1", a, work(StatusCode::CREATED)).await).await;
        assert_eq!(first, again);
        assert_eq!(first.0, StatusCode::CREATED);
        let other = replays.once("c1", "r1", b, work(StatusCode::CREATED)).await;
        assert_eq!(other.status(), StatusCode::CONFLICT);
        let theirs = body(replays.once("c2", "r1", b, work(StatusCode::CREATED)).await).await;
        assert_eq!(theirs.1, "payment 1");
        let open = replays
            .once("c1", "r2", a, work(StatusCode::BAD_GATEWAY))
            .await;
        assert_eq!(open.status(), StatusCode::BAD_GATEWAY);
        let retried = body(replays.once("c1", "r2", a, work(StatusCode::CREATED)).await).await;
        assert_eq!(retried, (StatusCode::CREATED, Bytes::from("payment 3")));
        // r13: a 503 (nothing sent: the website's login waits for the customer, at the bank's page
        // or in the app) is not frozen either: the retry under the same id is served.
        let waiting = replays
            .once("c1", "r3", a, work(StatusCode::SERVICE_UNAVAILABLE))
            .await;
        assert_eq!(waiting.status(), StatusCode::SERVICE_UNAVAILABLE);
        let served = body(replays.once("c1", "r3", a, work(StatusCode::CREATED)).await).await;
        assert_eq!(served, (StatusCode::CREATED, Bytes::from("payment 5")));
        assert_eq!(
            calls.load(Ordering::SeqCst),
            6,
            "a replayed answer makes no call"
        );
    }
}
