//! The ledger's refusals as Berlin Group answers: each `LedgerError` becomes one HTTP status and one
//! `tppMessages` code.

use axum::http::StatusCode;

use crate::ledger::LedgerError;
use psd2_fallback_xs2a::ApiError;

impl From<LedgerError> for ApiError {
    fn from(error: LedgerError) -> Self {
        let text = error.to_string();
        match error {
            LedgerError::NotFound {
                what: "consent", ..
            } => ApiError::new(StatusCode::FORBIDDEN, "CONSENT_UNKNOWN", text),
            LedgerError::NotFound { .. } => {
                ApiError::new(StatusCode::NOT_FOUND, "RESOURCE_UNKNOWN", text)
            }
            LedgerError::Invalid(invalid) => ApiError::format(invalid.field, invalid.reason),
            LedgerError::CredentialsInvalid | LedgerError::ScaInvalid { .. } => {
                ApiError::new(StatusCode::UNAUTHORIZED, "PSU_CREDENTIALS_INVALID", text)
            }
            LedgerError::ScaClosed { .. } | LedgerError::WrongStatus { .. } => {
                ApiError::new(StatusCode::CONFLICT, "STATUS_INVALID", text)
            }
            LedgerError::InsufficientFunds { .. } => {
                ApiError::new(StatusCode::BAD_REQUEST, "PAYMENT_FAILED", text)
            }
            LedgerError::NotCancellable { .. } => {
                ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "CANCELLATION_INVALID", text)
            }
            LedgerError::ConsentInvalid { .. } => {
                ApiError::new(StatusCode::UNAUTHORIZED, "CONSENT_INVALID", text)
            }
            LedgerError::ConsentExpired { .. } => {
                ApiError::new(StatusCode::UNAUTHORIZED, "CONSENT_EXPIRED", text)
            }
            LedgerError::AccessExceeded { .. } => {
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "ACCESS_EXCEEDED", text)
            }
        }
    }
}
