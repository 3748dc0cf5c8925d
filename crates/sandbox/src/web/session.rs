//! Website sessions: a random cookie per visitor, a CSRF token per session, expiry after idleness, the
//! drafts and signings a session carries, and the session cookie.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};
use tokio::time::Instant;

pub(crate) use crate::markup::cookie;

pub(crate) use crate::visit::{Drafts, Signing};
use psd2_fallback_engine::model::PaymentId;

/// The session cookie's name.
const SESSION_COOKIE: &str = "sbsession";

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
    /// Fully authenticated.
    Authenticated { customer: String, name: String },
}

/// One visitor's session.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    /// The token every form of this session carries.
    pub(crate) csrf: String,
    /// The last request, for idle expiry.
    last_seen: Instant,
    pub(crate) login: Login,
    pub(crate) drafts: Drafts,
    pub(crate) signing: HashMap<PaymentId, Signing>,
}

/// Every session, by cookie value.
#[derive(Debug)]
pub(crate) struct Sessions {
    map: Mutex<HashMap<String, Session>>,
    /// How long a session may stay idle.
    idle: Duration,
}

/// What looking a session up found.
pub(crate) enum Lookup {
    /// No session cookie.
    None,
    /// A cookie for a session that expired or never existed.
    Expired,
    /// A live session (its idle timer is reset).
    Live(String, Box<Session>),
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

    /// Finds the session of a request and marks it used; forgets expired sessions on the way.
    pub(crate) fn lookup(&self, headers: &HeaderMap) -> Lookup {
        let Some(id) = cookie(headers, SESSION_COOKIE) else {
            return Lookup::None;
        };
        let now = Instant::now();
        let mut map = self.lock();
        map.retain(|_, s| now.duration_since(s.last_seen) <= self.idle);
        match map.get_mut(&id) {
            Some(session) => {
                session.last_seen = now;
                Lookup::Live(id, Box::new(session.clone()))
            }
            None => Lookup::Expired,
        }
    }

    /// Starts a session; returns its id.
    pub(crate) fn create(&self, login: Login) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        let session = Session {
            csrf: uuid::Uuid::new_v4().simple().to_string(),
            last_seen: Instant::now(),
            login,
            drafts: Drafts::default(),
            signing: HashMap::new(),
        };
        self.lock().insert(id.clone(), session);
        id
    }

    /// A copy of a session.
    pub(crate) fn get(&self, id: &str) -> Option<Session> {
        self.lock().get(id).cloned()
    }

    /// Changes a live session; `None` when it is gone.
    pub(crate) fn update<T>(&self, id: &str, change: impl FnOnce(&mut Session) -> T) -> Option<T> {
        self.lock().get_mut(id).map(change)
    }

    /// Ends a session.
    pub(crate) fn remove(&self, id: &str) {
        self.lock().remove(id);
    }
}

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
