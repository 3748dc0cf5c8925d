//! Berlin Group error answers: [`ApiError`], one `tppMessages` entry with a status, a code, a text and,
//! when it has them, the field at fault, a `Retry-After` and the fields of an SCA challenge.

use std::borrow::Cow;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use psd2_fallback_engine::model::{InvalidValue, ScaChallenge};

use crate::render::challenge_json;

/// A Berlin Group error answer: a status and one `tppMessages` entry.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status of the answer.
    pub status: StatusCode,
    /// The Berlin Group message code (`FORMAT_ERROR`, `CONSENT_UNKNOWN`, …).
    pub code: Cow<'static, str>,
    /// The message text, for a person.
    pub text: String,
    /// What few errors carry, boxed to keep `Result`s small.
    more: Option<Box<More>>,
}

#[derive(Debug, Default)]
struct More {
    /// The field at fault.
    path: Option<String>,
    /// Extra fields merged into the body (an SCA challenge).
    extra: Option<Value>,
    /// Seconds to wait, sent as `Retry-After`.
    retry_after: Option<u64>,
}

impl ApiError {
    /// An error with a status, a Berlin Group code and a text.
    pub fn new(
        status: StatusCode,
        code: impl Into<Cow<'static, str>>,
        text: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code: code.into(),
            text: text.into(),
            more: None,
        }
    }

    fn more(&mut self) -> &mut More {
        self.more.get_or_insert_with(Box::default)
    }

    /// Adds `Retry-After` (seconds).
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.more().retry_after = Some(seconds);
        self
    }

    /// Merges these fields into the body.
    pub fn with_extra(mut self, extra: Value) -> Self {
        self.more().extra = Some(extra);
        self
    }

    /// A `400 FORMAT_ERROR` naming the field (`path`) and the reason.
    pub fn format(path: impl Into<String>, text: impl Into<String>) -> Self {
        let mut error = Self::new(StatusCode::BAD_REQUEST, "FORMAT_ERROR", text);
        error.more().path = Some(path.into());
        error
    }

    /// A `413 FORMAT_ERROR` naming `body`: the request body is larger than `limit` bytes.
    pub fn too_large(limit: usize) -> Self {
        let mut error = Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "FORMAT_ERROR",
            format!("the body is larger than the {limit} bytes accepted"),
        );
        error.more().path = Some("body".to_owned());
        error
    }

    /// A `404 RESOURCE_UNKNOWN`.
    pub fn unknown(text: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "RESOURCE_UNKNOWN", text)
    }

    /// A `401 SCA_REQUIRED`: the customer must answer `challenge` first. The body carries the challenge
    /// (`scaStatus`, `authorisationId`, `challengeData`) beside `tppMessages`, so the caller can relay it.
    pub fn sca_required(challenge: &ScaChallenge) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "SCA_REQUIRED",
            "the customer must answer a challenge first",
        )
        .with_extra(challenge_json(challenge))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let more = self.more.map(|m| *m).unwrap_or_default();
        let mut message = json!({"category": "ERROR", "code": self.code, "text": self.text});
        if let Some(path) = more.path {
            message["path"] = Value::String(path);
        }
        let mut body = json!({ "tppMessages": [message] });
        if let Some(Value::Object(extra)) = more.extra {
            for (k, v) in extra {
                body[k] = v;
            }
        }
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = more.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<InvalidValue> for ApiError {
    fn from(invalid: InvalidValue) -> Self {
        ApiError::format(invalid.field, invalid.reason)
    }
}

/// The result of a handler step.
pub type ApiResult<T> = Result<T, ApiError>;
