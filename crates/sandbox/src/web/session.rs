//! Website sessions: a random cookie per visitor, a CSRF token per session, expiry after idleness, the
//! drafts and signings a session carries, and the session cookie.

use axum::http::HeaderValue;

pub(crate) use crate::markup::cookie;
pub(crate) use crate::visit::{Lookup, Signing};

/// The session cookie's name.
pub(crate) const SESSION_COOKIE: &str = "sbsession";

/// Where a visitor is in logging in.
#[derive(Debug, Clone)]
pub(crate) enum Login {
    /// Not logged in (the session only carries the CSRF token of the login form and the banner).
    Anonymous,
    /// The password was right; the card-reader challenge is to be answered.
    Challenged {
        customer: String,
        name: String,
        challenge: String,
        attempts_left: u32,
    },
    /// The password was right; the login waits for the customer's approval in the banking app.
    AwaitingApp {
        customer: String,
        name: String,
        approval: psd2_fallback_engine::model::AuthorisationId,
        /// For a login that continues at the bank's own page: that page's address.
        redirect: Option<String>,
    },
    /// The password was right; the customer chooses how to confirm (card reader or banking app).
    ChoosingMethod { customer: String, name: String },
    /// Fully authenticated.
    Authenticated { customer: String, name: String },
}

/// One visitor's session.
pub(crate) type Session = crate::visit::Session<Login>;

/// Every session of the website, by cookie value.
pub(crate) type Sessions = crate::visit::Sessions<Login>;

/// The `Set-Cookie` value that gives a visitor a session.
pub(crate) fn session_cookie(id: &str) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax"
    ))
    .expect("a uuid is a valid header value")
}

/// The `Set-Cookie` value that ends a visitor's session.
pub(crate) fn clear_session_cookie() -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"
    ))
    .expect("a valid header value")
}
