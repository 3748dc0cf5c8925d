//! The API's middleware: the fault in force (down, hanging, slow, flapping, garbage, a bad field in
//! the account list, a refusal with a given 4xx status, or executing a request and dropping the
//! connection before the answer), then
//! `X-Request-ID`, required on every request and echoed on every answer.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::faults::ApiFault;
use crate::state::{DropConnection, Shared};
use psd2_fallback_xs2a::ApiError;

/// Applies the API fault in force, then checks `X-Request-ID` and echoes it on the answer.
pub(super) async fn request_id_and_faults(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let setting = *shared.api_fault.borrow();
    match setting.fault {
        ApiFault::Down => return service_unavailable(),
        ApiFault::Hang => {
            // Never answer; give the task back once the fault is lifted.
            let mut faults = shared.api_fault.subscribe();
            let _ = faults.changed().await;
            return service_unavailable();
        }
        ApiFault::Slow { ms } => tokio::time::sleep(Duration::from_millis(ms)).await,
        ApiFault::Flap { period_ms } => {
            let phase = setting.since.elapsed().as_millis() / u128::from(period_ms.max(1));
            if phase % 2 == 1 {
                return service_unavailable();
            }
        }
        ApiFault::Garbage => {
            return Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from("{\"accounts\": [{\"iban\": \"BE68 5390"))
                .expect("a static response");
        }
        ApiFault::Answer { status } => return refusal(status),
        ApiFault::Up | ApiFault::Refuse | ApiFault::ProcessedButNoAnswer | ApiFault::BadField => {}
    }
    let request_id = match psd2_fallback_xs2a::request_id(request.headers()) {
        Ok(id) => id.to_owned(),
        Err(error) => return error.into_response(),
    };
    let drop_connection = request.extensions().get::<DropConnection>().cloned();
    let account_list = request.method() == axum::http::Method::GET
        && request
            .uri()
            .path()
            .trim_end_matches('/')
            .ends_with("/v1/accounts");
    let mut response = next.run(request).await;
    if setting.fault == ApiFault::BadField && account_list && response.status() == StatusCode::OK {
        response = with_bad_iban(response).await;
    }
    if setting.fault == ApiFault::ProcessedButNoAnswer {
        // The request was executed; the answer is lost with the connection.
        if let Some(DropConnection(notify)) = drop_connection {
            notify.notify_one();
        }
        std::future::pending::<()>().await;
    }
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("X-Request-ID", value);
    }
    response
}

/// The account list with its first account's IBAN one check digit off, so it fails mod-97 (a
/// single changed digit always does).
async fn with_bad_iban(response: Response) -> Response {
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
        return service_unavailable();
    };
    let mut value: serde_json::Value = match serde_json::from_slice(&bytes) {
        Ok(value) => value,
        Err(_) => return Response::from_parts(parts, Body::from(bytes)),
    };
    if let Some(iban) = value
        .pointer_mut("/accounts/0/iban")
        .and_then(|iban| iban.as_str().map(str::to_owned))
    {
        let mut chars: Vec<char> = iban.chars().collect();
        if let Some(digit) = chars.get_mut(3).and_then(|c| c.to_digit(10)) {
            chars[3] = char::from_digit((digit + 1) % 10, 10).expect("a digit");
        }
        value["accounts"][0]["iban"] = serde_json::Value::String(chars.into_iter().collect());
    }
    let mut parts = parts;
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(value.to_string()))
}

/// A bank's refusal with a 4xx status, as `ApiFault::Answer` describes it.
fn refusal(status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let code = match status {
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            // The specification gives a 415 no body: there is no message code for it.
            return status.into_response();
        }
        StatusCode::TOO_MANY_REQUESTS => {
            let mut response =
                ApiError::new(status, "ACCESS_EXCEEDED", "too many requests").into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("7"));
            return response;
        }
        StatusCode::METHOD_NOT_ALLOWED => "SERVICE_INVALID",
        StatusCode::NOT_ACCEPTABLE => "REQUESTED_FORMATS_INVALID",
        StatusCode::CONFLICT => "STATUS_INVALID",
        _ => "FORMAT_ERROR",
    };
    ApiError::new(status, code, "refused by the bank").into_response()
}

fn service_unavailable() -> Response {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "SERVICE_UNAVAILABLE",
        "the service is temporarily unavailable",
    )
    .into_response()
}
