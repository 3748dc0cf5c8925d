//! What a request says outside its body: headers (`X-Request-ID`, `PSU-ID`, `Consent-ID`,
//! `PSU-IP-Address`), query parameters (`bookingStatus`, `dateFrom`, `dateTo`, `pageIndex`,
//! `referenceDate`), the payment resource a path names, a pain.001 upload, and the small helpers that
//! move a model value's error to the field it came from.

use std::collections::HashMap;
use std::net::IpAddr;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use time::Date;

use psd2_fallback_engine::model::belgian::parse_iso_date;
use psd2_fallback_engine::model::{
    BookingStatus, ConsentId, InvalidValue, PaymentFile, PaymentKind, PaymentProduct,
    TransactionFilter,
};

use crate::error::{ApiError, ApiResult};

/// The bulk product for pain.001 payment files.
pub const PAIN001_PRODUCT: &str = "pain.001-sepa-credit-transfers";

// ---------------------------------------------------------------------------------------------------
// Headers and fields

/// A header's trimmed, non-empty text.
pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// The `X-Request-ID` every request must carry, a UUID.
pub fn request_id(headers: &HeaderMap) -> ApiResult<&str> {
    match header(headers, "X-Request-ID") {
        Some(id) if uuid::Uuid::parse_str(id).is_ok() => Ok(id),
        Some(_) => Err(ApiError::format("X-Request-ID", "must be a UUID")),
        None => Err(ApiError::format("X-Request-ID", "header missing")),
    }
}

/// The customer (`PSU-ID`), required.
pub fn psu_id(headers: &HeaderMap) -> ApiResult<String> {
    header(headers, "PSU-ID")
        .map(str::to_owned)
        .ok_or_else(|| ApiError::format("PSU-ID", "header missing"))
}

/// The consent (`Consent-ID`), required.
pub fn consent_id(headers: &HeaderMap) -> ApiResult<ConsentId> {
    header(headers, "Consent-ID")
        .map(ConsentId::new)
        .ok_or_else(|| ApiError::format("Consent-ID", "header missing"))
}

/// The customer's address when the TPP forwards it (`PSU-IP-Address`): the customer is present.
pub fn psu_ip(headers: &HeaderMap) -> Option<IpAddr> {
    header(headers, "PSU-IP-Address").and_then(|ip| ip.parse().ok())
}

/// The customer is present when the TPP forwards their IP address (`PSU-IP-Address`).
pub fn psu_present(headers: &HeaderMap) -> bool {
    psu_ip(headers).is_some()
}

/// A JSON body.
pub fn json<T: serde::de::DeserializeOwned>(body: &Bytes) -> ApiResult<T> {
    serde_json::from_slice(body).map_err(|e| ApiError::format("body", format!("invalid JSON: {e}")))
}

/// A model value, its error moved to the field at `path`.
pub fn at<T>(path: &str, result: Result<T, InvalidValue>) -> ApiResult<T> {
    result.map_err(|e| ApiError::format(path, e.reason))
}

/// An ISO date at `path`.
pub fn date_at(path: &str, text: &str) -> ApiResult<Date> {
    at(path, parse_iso_date(text))
}

/// How far ahead an order may be dated: banks take future-dated orders up to a year ahead.
pub const EXECUTION_HORIZON_DAYS: i64 = 365;

/// An execution date at `path` (`requestedExecutionDate`, a standing order's `startDate`): an ISO date
/// no later than [`EXECUTION_HORIZON_DAYS`] after today (UTC). Dates in the past are the bank's to
/// refuse: its business day is its own.
pub fn execution_date_at(path: &str, text: &str) -> ApiResult<Date> {
    let date = date_at(path, text)?;
    let horizon =
        time::OffsetDateTime::now_utc().date() + time::Duration::days(EXECUTION_HORIZON_DAYS);
    if date > horizon {
        return Err(ApiError::format(
            path,
            format!("is more than {EXECUTION_HORIZON_DAYS} days ahead (after {horizon})"),
        ));
    }
    Ok(date)
}

// ---------------------------------------------------------------------------------------------------
// Transactions and balances queries

/// What `bookingStatus` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookingQuery {
    /// Transactions, booked, pending or both (`None`).
    Transactions(Option<BookingStatus>),
    /// `information`: the standing orders of the account.
    Information,
}

/// The query of a transactions read: `bookingStatus` (required), `dateFrom` (required for
/// transactions), `dateTo`, and the filter they make.
pub fn transaction_query(
    query: &HashMap<String, String>,
) -> ApiResult<(BookingQuery, TransactionFilter)> {
    let booking_status = query
        .get("bookingStatus")
        .map(String::as_str)
        .ok_or_else(|| ApiError::format("bookingStatus", "is required"))?;
    let status = match booking_status {
        "booked" => Some(BookingStatus::Booked),
        "pending" => Some(BookingStatus::Pending),
        "both" => None,
        "information" => return Ok((BookingQuery::Information, TransactionFilter::default())),
        other => {
            return Err(ApiError::format(
                "bookingStatus",
                format!("{other:?} is not booked, pending, both or information"),
            ));
        }
    };
    let date_from = query
        .get("dateFrom")
        .ok_or_else(|| ApiError::format("dateFrom", "is required"))?;
    let filter = TransactionFilter {
        date_from: Some(date_at("dateFrom", date_from)?),
        date_to: query
            .get("dateTo")
            .map(|d| date_at("dateTo", d))
            .transpose()?,
        status,
        ..TransactionFilter::default()
    };
    Ok((BookingQuery::Transactions(status), filter))
}

/// `pageIndex`, 0 when absent.
pub fn page_index(query: &HashMap<String, String>) -> ApiResult<usize> {
    match query.get("pageIndex") {
        None => Ok(0),
        Some(p) => p
            .parse()
            .map_err(|_| ApiError::format("pageIndex", format!("{p:?} is not a page number"))),
    }
}

/// `referenceDate` on balances: the closing booked balance of an earlier day.
pub fn reference_date(query: &HashMap<String, String>) -> ApiResult<Option<Date>> {
    query
        .get("referenceDate")
        .map(|d| date_at("referenceDate", d))
        .transpose()
}

// ---------------------------------------------------------------------------------------------------
// Payment resources and files

/// The payment resource a path names: service (`payments`, `periodic-payments`, `bulk-payments`) and
/// product.
pub fn resource(service: &str, product: &str) -> ApiResult<PaymentKind> {
    let single = || {
        PaymentProduct::from_code(product).ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "PRODUCT_UNKNOWN",
                format!("unknown payment product {product:?}"),
            )
        })
    };
    match service {
        "payments" => Ok(PaymentKind::Single(single()?)),
        "periodic-payments" => Ok(PaymentKind::Periodic(single()?)),
        "bulk-payments" if product == PAIN001_PRODUCT => Ok(PaymentKind::File),
        "bulk-payments" => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "PRODUCT_UNKNOWN",
            format!("unknown bulk product {product:?}; use {PAIN001_PRODUCT}"),
        )),
        _ => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "SERVICE_INVALID",
            format!("unknown payment service {service:?}"),
        )),
    }
}

/// A pain.001 upload: sent as XML, UTF-8, at most `max_bytes`, valid (schema, counts, sums, IBANs).
pub fn payment_file(headers: &HeaderMap, body: &Bytes, max_bytes: usize) -> ApiResult<PaymentFile> {
    let content_type = header(headers, "Content-Type").unwrap_or_default();
    if !content_type.contains("xml") {
        return Err(ApiError::format(
            "Content-Type",
            "a pain.001 file is sent as application/xml",
        ));
    }
    if body.len() > max_bytes {
        return Err(ApiError::format(
            "body",
            format!(
                "the file has {} bytes; at most {max_bytes} are accepted",
                body.len()
            ),
        ));
    }
    let text =
        std::str::from_utf8(body).map_err(|_| ApiError::format("body", "the file is not UTF-8"))?;
    PaymentFile::parse(text).map_err(|e| ApiError::format("body", e.to_string()))
}

/// How long checking one payment file may take before it is refused.
pub const PAYMENT_FILE_TIME_BOUND: std::time::Duration = std::time::Duration::from_secs(10);

/// [`payment_file`], off the async runtime: the schema validation of a large file is CPU work, and
/// done on a runtime thread it would stall every other request (two large uploads once kept `/health`
/// from answering). A check that takes longer than [`PAYMENT_FILE_TIME_BOUND`] is refused naming
/// `body`.
pub async fn payment_file_checked(
    headers: &HeaderMap,
    body: &Bytes,
    max_bytes: usize,
) -> ApiResult<PaymentFile> {
    let (headers, body) = (headers.clone(), body.clone());
    let check = tokio::task::spawn_blocking(move || payment_file(&headers, &body, max_bytes));
    match tokio::time::timeout(PAYMENT_FILE_TIME_BOUND, check).await {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err(ApiError::format("body", "the file could not be checked")),
        Err(_) => Err(ApiError::format(
            "body",
            format!(
                "checking the file took longer than {} s",
                PAYMENT_FILE_TIME_BOUND.as_secs()
            ),
        )),
    }
}
