//! The second website's sessions: its own cookie (`mb_sessie`, only under the website's path), a form
//! token per session, the three login steps, and what a customer has filled in but not confirmed.

use axum::http::HeaderValue;

use super::page::BASE;
pub(crate) use crate::visit::{Drafts, Lookup, Signing};

/// The session cookie's name.
pub(crate) const SESSION_COOKIE: &str = "mb_sessie";

/// The cookie the cookie wall sets once the visitor chose.
pub(crate) const CONSENT_COOKIE: &str = "mb_cookiekeuze";

/// Where a visitor is in logging in: customer number, then password, then card reader.
#[derive(Debug, Clone)]
pub(crate) enum Step {
    /// Nothing typed yet.
    Anonymous,
    /// The customer number is typed; the password is asked on the next page.
    Identified { customer: String },
    /// The password was right; the card reader's response is asked on the third page.
    Challenged {
        customer: String,
        name: String,
        challenge: String,
        attempts_left: u32,
    },
    /// Logged in.
    LoggedIn { customer: String, name: String },
}

/// One visitor's session.
pub(crate) type Session = crate::visit::Session<Step>;

/// Every session of the website, by cookie value.
pub(crate) type Sessions = crate::visit::Sessions<Step>;

/// The `Set-Cookie` value giving a visitor session `id` (or ending it, for `None`).
pub(crate) fn session_cookie(id: Option<&str>) -> HeaderValue {
    let value = match id {
        Some(id) => format!("{SESSION_COOKIE}={id}; Path={BASE}; HttpOnly; SameSite=Strict"),
        None => format!("{SESSION_COOKIE}=; Path={BASE}; Max-Age=0; HttpOnly; SameSite=Strict"),
    };
    HeaderValue::from_str(&value).expect("a session id is a valid header value")
}

/// The `Set-Cookie` value recording the cookie wall's choice (`alles` or `nodig`).
pub(crate) fn consent_cookie(all: bool) -> HeaderValue {
    let choice = if all { "alles" } else { "nodig" };
    HeaderValue::from_str(&format!(
        "{CONSENT_COOKIE}={choice}; Path={BASE}; Max-Age=31536000; SameSite=Lax"
    ))
    .expect("a valid header value")
}
