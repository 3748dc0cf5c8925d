//! Failures as answers: [`ServiceError`] (a Berlin Group `ApiError` plus the real cause, kept out of the
//! body), how a `BankError` and a failure of the owner store become answers, and the middleware that
//! logs each cause once.
//!
//! The caller's mistakes and the bank's refusals are explained; a channel failure never reaches the
//! caller as its cause: 503 (nothing sent) or 502 (outcome unknown) with a generic text.

use std::time::Duration;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use time::OffsetDateTime;

use psd2_fallback_engine::bank::BankError;
use psd2_fallback_xs2a::ApiError;

use crate::owners::OwnerStoreError;

/// What a handler returns.
pub(crate) type Result<T> = std::result::Result<T, ServiceError>;

/// An `ApiError` with the cause to log.
pub(crate) struct ServiceError {
    /// The answer the caller gets.
    error: ApiError,
    /// What really went wrong, for the log only.
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

/// The real cause of a 5xx answer, kept out of the body and logged once, by [`log_causes`].
#[derive(Debug, Clone)]
struct Cause(String);

/// Logs the cause of every failed answer, once: the method, the path, the status and the cause.
/// Consent ids in the path are logged as a short hash; the consent id and PSU id the request names,
/// and IBANs, are masked in the cause.
pub(crate) async fn log_causes(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = loggable_path(request.uri().path());
    let named = named_identifiers(&request);
    let response = next.run(request).await;
    if let Some(Cause(cause)) = response.extensions().get::<Cause>() {
        let cause = psd2_fallback_engine::mask::mask(cause, &named);
        tracing::warn!(%method, %path, status = response.status().as_u16(), %cause, "request failed");
    } else if response.status().is_server_error() {
        tracing::warn!(%method, %path, status = response.status().as_u16(), "request failed");
    }
    response
}

/// The identifiers a request names that no refusal and no log line may repeat: the consent id (its
/// `Consent-ID` header, or the path's `/consents/{id}`) and the PSU id (`PSU-ID`). Shorter than four
/// characters, an id is left alone: masking it would mask ordinary words and numbers too.
fn named_identifiers(request: &Request) -> Vec<String> {
    let mut out: Vec<String> = ["consent-id", "psu-id"]
        .iter()
        .filter_map(|name| request.headers().get(*name)?.to_str().ok())
        .map(|value| value.trim().to_owned())
        .collect();
    let mut segments = request.uri().path().split('/');
    while let Some(segment) = segments.next() {
        if segment == "consents"
            && let Some(id) = segments.next()
        {
            out.push(id.to_owned());
        }
    }
    out.retain(|id| id.chars().count() >= 4);
    out
}

/// Masks the texts of every refusal (`tppMessages[].text` of a 4xx or 5xx JSON answer): the consent id
/// and PSU id the request named become `***`, each IBAN keeps only its country and last two
/// characters — whatever the bank's words or a parser's message repeated. The field at fault
/// (`path`) and the code stay as they are.
pub(crate) async fn mask_refusals(request: Request, next: Next) -> Response {
    let named = named_identifiers(&request);
    let response = next.run(request).await;
    let json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    if response.status().as_u16() < 400 || !json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // Refusals are small; one larger than this is not one the service wrote.
    let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
        parts.headers.remove(axum::http::header::CONTENT_LENGTH);
        return Response::from_parts(parts, axum::body::Body::empty());
    };
    let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return Response::from_parts(parts, axum::body::Body::from(bytes));
    };
    let mut changed = false;
    if let Some(messages) = value.get_mut("tppMessages").and_then(|m| m.as_array_mut()) {
        for text in messages.iter_mut().filter_map(|m| m.get_mut("text")) {
            if let Some(original) = text.as_str() {
                let masked = psd2_fallback_engine::mask::mask(original, &named);
                if masked != original {
                    *text = serde_json::Value::String(masked);
                    changed = true;
                }
            }
        }
    }
    if !changed {
        return Response::from_parts(parts, axum::body::Body::from(bytes));
    }
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(value.to_string()))
}

/// A request path fit for a log: a consent id (which, with the customer's number, opens the customer's
/// data) becomes `#` and the first 12 hex digits of its SHA-256 — stable, so one consent's requests can
/// be followed, but not the id.
pub(crate) fn loggable_path(path: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut out = Vec::new();
    let mut after_consents = false;
    for segment in path.split('/') {
        if after_consents && !segment.is_empty() {
            let digest = Sha256::digest(segment.as_bytes());
            let hex: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
            out.push(format!("#{hex}"));
        } else {
            out.push(segment.to_owned());
        }
        after_consents = segment == "consents";
    }
    out.join("/")
}

/// An owner store failure as an answer: a generic 500, the cause logged by the middleware.
pub(crate) fn owner_store_error(error: OwnerStoreError) -> ServiceError {
    ServiceError {
        error: ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_SERVER_ERROR",
            "the service could not keep its records; try again later",
        ),
        cause: Some(error.to_string()),
    }
}

/// A `BankError` as an answer: the caller's mistakes and the bank's refusals are explained, channel
/// failures get a generic text (their cause is logged by the middleware).
pub(crate) fn bank_error(error: BankError) -> ServiceError {
    let cause = Some(error.to_string());
    let generic = |status, text: &str| ServiceError {
        error: ApiError::new(status, "SERVICE_UNAVAILABLE", text),
        cause: cause.clone(),
    };
    match error {
        BankError::Unavailable { .. } => generic(
            StatusCode::SERVICE_UNAVAILABLE,
            "the bank cannot be reached at the moment; nothing was sent",
        ),
        BankError::ServiceUnavailable { .. }
        | BankError::Unusable {
            write_sent: false, ..
        } => generic(
            StatusCode::SERVICE_UNAVAILABLE,
            "the bank cannot be reached at the moment; nothing was sent",
        ),
        BankError::OutcomeUnknown { .. }
        | BankError::Unusable {
            write_sent: true, ..
        } => generic(
            StatusCode::BAD_GATEWAY,
            "the bank did not confirm the outcome; ask for the resource's status before retrying",
        ),
        BankError::ScreenChanged { .. } => generic(
            StatusCode::SERVICE_UNAVAILABLE,
            "the bank cannot be reached at the moment",
        ),
        BankError::FallbackExempt { bank, reason, .. } => ServiceError {
            error: ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "SERVICE_UNAVAILABLE",
                format!(
                    "the API of {bank} is unavailable and {bank} is exempt from the fallback: {reason}"
                ),
            ),
            cause,
        },
        BankError::Rejected { code, message } => match bank_status(&code) {
            // A refusal the bank gave as a bare status (a 415 has no message code): the same status,
            // with the Berlin Group code that goes with it.
            Some((status, code)) => ApiError::new(status, code, message).into(),
            None => {
                let status = match code.as_str() {
                    "CONSENT_UNKNOWN" | "SERVICE_BLOCKED" => StatusCode::FORBIDDEN,
                    "RESOURCE_UNKNOWN" | "PRODUCT_UNKNOWN" => StatusCode::NOT_FOUND,
                    "PSU_CREDENTIALS_INVALID" | "CONSENT_INVALID" | "CONSENT_EXPIRED" => {
                        StatusCode::UNAUTHORIZED
                    }
                    "STATUS_INVALID" => StatusCode::CONFLICT,
                    "CANCELLATION_INVALID" => StatusCode::METHOD_NOT_ALLOWED,
                    "REQUESTED_FORMATS_INVALID" => StatusCode::NOT_ACCEPTABLE,
                    _ => StatusCode::BAD_REQUEST,
                };
                ApiError::new(status, code, message).into()
            }
        },
        BankError::Overloaded { retry_after, .. } => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVICE_UNAVAILABLE",
            "the bank's website channel is serving as many requests as it can; try again shortly",
        )
        // Whole seconds, rounded up: a caller that comes back when told finds its turn come.
        .with_retry_after(retry_after.as_secs_f64().ceil().max(1.0) as u64)
        .into(),
        BankError::LimitReached { limit, retry_after } => {
            ApiError::new(StatusCode::TOO_MANY_REQUESTS, "ACCESS_EXCEEDED", limit)
                .with_retry_after(
                    retry_after
                        .unwrap_or_else(until_midnight_utc)
                        .as_secs()
                        .max(1),
                )
                .into()
        }
        BankError::ScaRequired { challenge } => ApiError::sca_required(&challenge).into(),
        BankError::ReauthenticationRequired { reason } => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "CONSENT_INVALID",
            format!("the customer must re-authenticate: {reason}"),
        )
        .into(),
        BankError::ApprovalPending {
            message,
            retry_after,
            page,
        } => {
            let error = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "SERVICE_UNAVAILABLE",
                format!(
                    "the customer must confirm the login to the bank's website as the bank asks ({message}); nothing was read or done: ask again shortly"
                ),
            )
            .with_retry_after(retry_after.as_secs().max(1));
            // A login that continues at the bank's own page: the customer's browser goes there (the
            // NextGen error body's `_links`), then the caller asks again under the same request id.
            match page {
                Some(page) => error.with_extra(serde_json::json!({
                    "_links": { "scaRedirect": { "href": page.expose_secret() } }
                })),
                None => error,
            }
            .into()
        }
        BankError::InvalidInput(invalid) => ApiError::from(invalid).into(),
        BankError::ReadBackMismatch { field, .. } => ServiceError {
            error: ApiError::new(
                StatusCode::CONFLICT,
                "PAYMENT_FAILED",
                format!(
                    "the bank's confirmation screen showed another {field}; the order was cancelled before it was confirmed, nothing was sent"
                ),
            ),
            cause,
        },
        BankError::NotSupported { operation, .. } => ApiError::new(
            StatusCode::BAD_REQUEST,
            "SERVICE_INVALID",
            format!("the bank does not support {operation} at the moment"),
        )
        .into(),
        // A class of error this service does not know yet: told as a failure to reach the bank.
        _ => generic(
            StatusCode::SERVICE_UNAVAILABLE,
            "the bank cannot be reached at the moment",
        ),
    }
}

/// A rejection whose code is the bank's bare HTTP status (an answer without a Berlin Group message,
/// as a 415 always is): the status to pass on and the code to give it, for the 4xx statuses that mean
/// the same to the caller as to the service. Other codes are the bank's own words: `None`.
fn bank_status(code: &str) -> Option<(StatusCode, &'static str)> {
    let status = StatusCode::from_bytes(code.as_bytes()).ok()?;
    let code = match status {
        StatusCode::UNAUTHORIZED => "CONSENT_INVALID",
        StatusCode::FORBIDDEN => "SERVICE_BLOCKED",
        StatusCode::NOT_FOUND => "RESOURCE_UNKNOWN",
        StatusCode::METHOD_NOT_ALLOWED => "SERVICE_INVALID",
        StatusCode::NOT_ACCEPTABLE => "REQUESTED_FORMATS_INVALID",
        StatusCode::CONFLICT => "STATUS_INVALID",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "FORMAT_ERROR",
        _ => return None,
    };
    Some((status, code))
}

/// Unattended reads are counted per UTC day: the next chance is at midnight.
fn until_midnight_utc() -> Duration {
    let now = OffsetDateTime::now_utc();
    let midnight = now
        .date()
        .next_day()
        .map(|d| d.midnight().assume_utc())
        .unwrap_or(now);
    Duration::from_secs((midnight - now).whole_seconds().max(1) as u64)
}

#[cfg(test)]
mod tests {
    use super::loggable_path;

    /// r11: a refusal whose text repeats the request's consent id, PSU id or an IBAN (the bank's
    /// words, a parser's message) reaches the caller with them masked; its code and field stay.
    #[tokio::test]
    async fn refusals_never_repeat_the_consent_id_the_psu_id_or_an_iban() {
        use axum::http::{Request, StatusCode};
        use tower::ServiceExt;

        let echo = |request: axum::extract::Request| async move {
            let header = |name: &str| request.headers()[name].to_str().unwrap().to_owned();
            psd2_fallback_xs2a::ApiError::new(
                StatusCode::UNAUTHORIZED,
                "CONSENT_INVALID",
                format!(
                    "consent {} of customer {} does not cover BE68539007547034 (path {})",
                    header("consent-id"),
                    header("psu-id"),
                    request.uri().path(),
                ),
            )
        };
        let app = axum::Router::new()
            .route("/v1/consents/{id}/status", axum::routing::get(echo))
            .route("/v1/accounts", axum::routing::get(echo))
            .layer(axum::middleware::from_fn(super::mask_refusals));
        for path in ["/v1/accounts", "/v1/consents/c-7f3a9e-path/status"] {
            let answer = app
                .clone()
                .oneshot(
                    Request::get(path)
                        .header("Consent-ID", "c-7f3a9e-header")
                        .header("PSU-ID", "1000001")
                        .body(axum::body::Body::empty())
                        .unwrap(),
                )
                .await
                .unwrap();
            assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
            let body = axum::body::to_bytes(answer.into_body(), 1 << 16)
                .await
                .unwrap();
            let body = String::from_utf8(body.to_vec()).unwrap();
            for hidden in [
                "c-7f3a9e-header",
                "c-7f3a9e-path",
                "1000001",
                "BE68539007547034",
            ] {
                assert!(!body.contains(hidden), "{path}: {hidden} in {body}");
            }
            assert!(body.contains("CONSENT_INVALID"), "{body}");
            assert!(body.contains("BE** **** 34"), "{body}");
        }
    }

    /// r13: a website login waiting at the bank's own page answers 503 with `Retry-After` and the
    /// NextGen error body's `_links.scaRedirect` (the page, for the customer's browser); an approval
    /// in the app has no link. The page is never in the logged cause.
    #[tokio::test]
    async fn a_login_waiting_at_the_banks_page_links_it_in_the_503() {
        use axum::http::StatusCode;
        use axum::response::IntoResponse;
        use psd2_fallback_engine::bank::BankError;

        let page = "https://bank.example/sca/login/a-1?state=s3cr3t";
        for link in [Some(page), None] {
            let error = super::bank_error(BankError::ApprovalPending {
                message: "Continue this login at your bank's page".to_owned(),
                retry_after: std::time::Duration::from_secs(2),
                page: link.map(secrecy::SecretString::from),
            });
            assert!(!format!("{:?}", error.cause).contains("s3cr3t"));
            let answer = error.into_response();
            assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(answer.headers()["retry-after"], "2");
            let body = axum::body::to_bytes(answer.into_body(), 1 << 16)
                .await
                .unwrap();
            let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(body["tppMessages"][0]["code"], "SERVICE_UNAVAILABLE");
            match link {
                Some(page) => assert_eq!(body["_links"]["scaRedirect"]["href"], page),
                None => assert!(body.get("_links").is_none(), "{body}"),
            }
        }
    }

    /// r15: a call the website channel refuses over its bound answers 503 with `Retry-After` in
    /// whole seconds rounded up (a caller that comes back when told finds its turn come), at least 1.
    #[test]
    fn an_overloaded_website_says_when_to_come_back_rounded_up() {
        use axum::response::IntoResponse;
        use psd2_fallback_engine::bank::{BankError, Channel};
        use std::time::Duration;

        for (turn, header) in [
            (Duration::from_millis(2_100), "3"),
            (Duration::from_secs(4), "4"),
            (Duration::from_millis(20), "1"),
        ] {
            let answer = super::bank_error(BankError::Overloaded {
                channel: Channel::Screen,
                retry_after: turn,
            })
            .into_response();
            assert_eq!(answer.status(), axum::http::StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(answer.headers()["retry-after"], header, "{turn:?}");
        }
    }

    #[test]
    fn consent_ids_are_hashed_in_logged_paths() {
        let path = loggable_path("/banks/sandbox/v1/consents/c-7f3a9e/authorisations/a-1");
        assert!(!path.contains("c-7f3a9e"), "{path}");
        assert!(path.starts_with("/banks/sandbox/v1/consents/#"), "{path}");
        assert!(path.ends_with("/authorisations/a-1"), "{path}");
        assert_eq!(
            path,
            loggable_path("/banks/sandbox/v1/consents/c-7f3a9e/authorisations/a-1")
        );
        assert_eq!(loggable_path("/v1/consents"), "/v1/consents");
        assert_eq!(loggable_path("/v1/accounts/acc-01"), "/v1/accounts/acc-01");
    }
}
