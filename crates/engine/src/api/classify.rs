//! How `ApiBank` classifies a failed call: what reached the bank and what came back decide the
//! [`BankError`] — no answer, the bank saying it is unavailable, an unusable answer, a rejection, a
//! limit — and the bank's words are kept without the customer's secrets.

use std::time::Duration;

use reqwest::StatusCode;
use secrecy::ExposeSecret;

use super::Effect;
use super::wire::{self, Malformed};
use crate::bank::{BankError, Channel, PsuContext};

/// Masks the consent id and the password wherever the bank's words repeat them.
pub(super) fn scrub(error: BankError, psu: &PsuContext) -> BankError {
    let mut secrets: Vec<String> = Vec::new();
    if let Some(consent) = &psu.consent_id {
        secrets.push(consent.as_str().to_owned());
    }
    if let Some(password) = &psu.password {
        secrets.push(password.expose_secret().to_owned());
    }
    let clean = |text: String| crate::mask::mask(&text, &secrets);
    match error {
        BankError::Rejected { code, message } => BankError::Rejected {
            code,
            message: clean(message),
        },
        BankError::Unavailable { channel, reason } => BankError::Unavailable {
            channel,
            reason: clean(reason),
        },
        BankError::OutcomeUnknown { channel, reason } => BankError::OutcomeUnknown {
            channel,
            reason: clean(reason),
        },
        BankError::ServiceUnavailable {
            channel,
            code,
            message,
        } => BankError::ServiceUnavailable {
            channel,
            code,
            message: clean(message),
        },
        BankError::Unusable {
            channel,
            field,
            reason,
            write_sent,
        } => BankError::Unusable {
            channel,
            field,
            reason: clean(reason),
            write_sent,
        },
        BankError::LimitReached { limit, retry_after } => BankError::LimitReached {
            limit: clean(limit),
            retry_after,
        },
        other => other,
    }
}

/// A call that got no usable answer: a read can go elsewhere, a payment write may have happened.
pub(super) fn no_answer(effect: Effect, reason: String) -> BankError {
    match effect {
        Effect::Safe => BankError::Unavailable {
            channel: Channel::Api,
            reason,
        },
        Effect::MovesMoney => BankError::OutcomeUnknown {
            channel: Channel::Api,
            reason,
        },
    }
}

/// A call the bank answered with something unusable, naming the field: a read can go elsewhere, a
/// payment write may have happened.
pub(super) fn unusable(effect: Effect, error: Malformed) -> BankError {
    BankError::Unusable {
        channel: Channel::Api,
        field: error.field,
        reason: error.reason,
        write_sent: effect == Effect::MovesMoney,
    }
}

/// An HTTP answer that is not a success.
pub(super) fn answer_error(
    status: StatusCode,
    body: &[u8],
    effect: Effect,
    retry_after: Option<Duration>,
) -> BankError {
    let parsed: wire::ErrorBody = serde_json::from_slice(body).unwrap_or_default();
    let first = parsed.tpp_messages.first();
    let code = first
        .map(|m| m.code.clone())
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| status.as_u16().to_string());
    let text = first
        .and_then(|m| m.text.clone())
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned());
    let message = match first.and_then(|m| m.path.as_deref()) {
        Some(path) => format!("{path}: {text}"),
        None => text,
    };
    match status {
        // The bank saying, in its own words, that it cannot serve the request now.
        StatusCode::SERVICE_UNAVAILABLE if first.is_some() => BankError::ServiceUnavailable {
            channel: Channel::Api,
            code,
            message,
        },
        // A 503 without an error body (a load balancer, a gateway): the request was not answered.
        StatusCode::SERVICE_UNAVAILABLE => BankError::Unavailable {
            channel: Channel::Api,
            reason: format!("503 {message}, without an error body"),
        },
        StatusCode::TOO_MANY_REQUESTS => BankError::LimitReached {
            limit: format!("{code}: {message}"),
            retry_after,
        },
        s if s.is_client_error() => BankError::Rejected { code, message },
        s => no_answer(effect, format!("{} {code}: {message}", s.as_u16())),
    }
}
