//! Who may call the XS2A routes: callers known by the SHA-256 of their bearer token ([`TokenHash`],
//! [`Caller`]), a `governor` rate limit per caller, and the middleware that checks both and the
//! `X-Request-ID` of every request.
//!
//! The service never keeps a token, only its hash; the admin token of the operators' routes is checked
//! with the same [`TokenHash`] and [`bearer_token`].

use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use sha2::{Digest, Sha256};

use psd2_fallback_engine::model::InvalidValue;
use psd2_fallback_xs2a as xs2a;
use psd2_fallback_xs2a::ApiError;

/// The SHA-256 of a bearer token: all the service keeps of a caller's or the admin's token.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// The hash of a token.
    pub fn of(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    /// A hash written as 64 hexadecimal digits (as in the config file).
    pub fn from_hex(hex: &str) -> Result<Self, InvalidValue> {
        let hex = hex.trim();
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(InvalidValue::new(
                "token_sha256",
                "must be 64 hexadecimal digits (the SHA-256 of the token)",
            ));
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("checked hex digits");
        }
        Ok(Self(out))
    }

    /// The hash as 64 hexadecimal digits.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({}…)", &self.to_hex()[..8])
    }
}

/// A caller of the service (a TPP application), known by the hash of its bearer token.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Its name, in logs and as the owner of its consents and payments.
    pub name: String,
    /// The SHA-256 of its token.
    pub token: TokenHash,
}

/// The token of an `Authorization: Bearer …` header, trimmed.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// The callers let in, and how fast each may call.
pub(crate) struct Callers {
    /// Caller names by token hash.
    by_token: HashMap<TokenHash, String>,
    /// One rate per caller name: a sustained rate with a burst above it.
    limiter: DefaultKeyedRateLimiter<String>,
}

impl Callers {
    /// These callers, each allowed `per_second` requests sustained and `burst` above it.
    pub(crate) fn new(callers: Vec<Caller>, per_second: NonZeroU32, burst: NonZeroU32) -> Self {
        let quota = Quota::per_second(per_second).allow_burst(burst);
        Self {
            by_token: callers.into_iter().map(|c| (c.token, c.name)).collect(),
            limiter: RateLimiter::keyed(quota),
        }
    }

    /// The caller a bearer token belongs to, if any.
    pub(crate) fn name_of(&self, token: &str) -> Option<&str> {
        self.by_token.get(&TokenHash::of(token)).map(String::as_str)
    }

    /// How many callers are let in.
    pub(crate) fn len(&self) -> usize {
        self.by_token.len()
    }
}

/// The caller a request was authenticated as, put in the request's extensions by [`authenticate`].
#[derive(Debug, Clone)]
pub(crate) struct CallerName(pub(crate) String);

/// Every XS2A request: an `X-Request-ID`, a known caller's bearer token, within the caller's rate. The
/// answer carries the request's `X-Request-ID` back.
pub(crate) async fn authenticate(
    State(callers): State<Arc<Callers>>,
    mut request: Request,
    next: Next,
) -> Response {
    let request_id = match xs2a::request_id(request.headers()) {
        Ok(id) => id.to_owned(),
        Err(error) => return error.into_response(),
    };
    let token = bearer_token(request.headers());
    let Some(caller) = token.and_then(|t| callers.by_token.get(&TokenHash::of(t))) else {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "TOKEN_INVALID",
            "a known bearer token is required (Authorization: Bearer …)",
        )
        .into_response();
    };
    if let Err(not_until) = callers.limiter.check_key(caller) {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        return ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "ACCESS_EXCEEDED",
            format!("the rate limit of caller {caller} is reached"),
        )
        .with_retry_after(wait.as_secs_f64().ceil().max(1.0) as u64)
        .into_response();
    }
    request.extensions_mut().insert(CallerName(caller.clone()));
    let mut response = next.run(request).await;
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("X-Request-ID", value);
    }
    response
}
