//! The second website's sessions: its own cookie (`mb_sessie`, only under the website's path), a form
//! token per session, the three login steps, and what a customer has filled in but not confirmed.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};
use tokio::time::Instant;

use super::page::BASE;
use crate::markup::cookie;
pub(crate) use crate::visit::{Drafts, Signing};
use psd2_fallback_engine::model::PaymentId;

/// The session cookie's name.
const SESSION_COOKIE: &str = "mb_sessie";

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
#[derive(Debug, Clone)]
pub(crate) struct Session {
    /// The token every form of the session carries (`formtoken`).
    pub(crate) token: String,
    /// The last request, for idle expiry.
    seen: Instant,
    pub(crate) step: Step,
    pub(crate) drafts: Drafts,
    pub(crate) signing: HashMap<PaymentId, Signing>,
}

/// Every session of the website, by cookie value.
#[derive(Debug)]
pub(crate) struct Sessions {
    map: Mutex<HashMap<String, Session>>,
    idle: Duration,
}

impl Sessions {
    pub(crate) fn new(idle: Duration) -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            idle,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Session>> {
        self.map
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The live session of a request (its idle timer reset), and whether a cookie named a dead one.
    pub(crate) fn find(&self, headers: &HeaderMap) -> (Option<(String, Session)>, bool) {
        let Some(id) = cookie(headers, SESSION_COOKIE) else {
            return (None, false);
        };
        let now = Instant::now();
        let mut map = self.lock();
        map.retain(|_, s| now.duration_since(s.seen) <= self.idle);
        match map.get_mut(&id) {
            Some(session) => {
                session.seen = now;
                (Some((id, session.clone())), false)
            }
            None => (None, true),
        }
    }

    /// Starts a session at a login step; returns its id.
    pub(crate) fn start(&self, step: Step) -> String {
        let id = uuid::Uuid::new_v4().simple().to_string();
        self.lock().insert(
            id.clone(),
            Session {
                token: uuid::Uuid::new_v4().to_string(),
                seen: Instant::now(),
                step,
                drafts: Drafts::default(),
                signing: HashMap::new(),
            },
        );
        id
    }

    /// Changes a live session; `None` when it is gone.
    pub(crate) fn change<T>(&self, id: &str, change: impl FnOnce(&mut Session) -> T) -> Option<T> {
        self.lock().get_mut(id).map(change)
    }

    /// Ends a session.
    pub(crate) fn end(&self, id: &str) {
        self.lock().remove(id);
    }
}

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
