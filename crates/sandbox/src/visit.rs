//! Website sessions, as the bank keeps them for either website: a random cookie value per visitor, a
//! form token per session, expiry after idleness, where the visitor is in logging in (each website's
//! own steps, `L`), the orders filled in and not confirmed yet, and the signings in progress. Each
//! website keeps its own store under its own cookie.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use axum::http::HeaderMap;
use tokio::time::Instant;

use crate::markup::cookie;
use psd2_fallback_engine::model::{
    AuthorisationId, PaymentFile, PaymentId, PaymentRequest, StandingOrderRequest,
};

/// A signing in progress, per payment: the ledger's authorisation and its challenge.
#[derive(Debug, Clone)]
pub(crate) struct Signing {
    pub(crate) authorisation: AuthorisationId,
    pub(crate) challenge: String,
    pub(crate) attempts_left: u32,
}

/// What the customer filled in and has not confirmed yet. The draft id is the request id given to the
/// ledger, so confirming twice (a double click, a retried POST) makes one payment.
#[derive(Debug, Clone, Default)]
pub(crate) struct Drafts {
    pub(crate) payment: Option<(String, PaymentRequest)>,
    pub(crate) order: Option<(String, StandingOrderRequest)>,
    pub(crate) file: Option<(String, PaymentFile)>,
}

/// One visitor's session.
#[derive(Debug, Clone)]
pub(crate) struct Session<L> {
    /// The token every form of this session carries.
    pub(crate) csrf: String,
    /// The last request, for idle expiry.
    last_seen: Instant,
    /// Where the visitor is in logging in, in the website's own steps.
    pub(crate) login: L,
    pub(crate) drafts: Drafts,
    pub(crate) signing: HashMap<PaymentId, Signing>,
}

/// Every session, by cookie value.
#[derive(Debug)]
pub(crate) struct Sessions<L> {
    map: Mutex<HashMap<String, Session<L>>>,
    /// How long a session may stay idle.
    idle: Duration,
    /// The session cookie's name.
    cookie: &'static str,
}

/// What looking a session up found.
pub(crate) enum Lookup<L> {
    /// No session cookie.
    None,
    /// A cookie for a session that expired or never existed.
    Expired,
    /// A live session (its idle timer is reset).
    Live(String, Box<Session<L>>),
}

impl<L: Clone> Sessions<L> {
    /// No session yet; sessions idle longer than `idle` end; the cookie is named `cookie`.
    pub(crate) fn new(idle: Duration, cookie: &'static str) -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            idle,
            cookie,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Session<L>>> {
        self.map
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Finds the session of a request and marks it used; forgets expired sessions on the way.
    pub(crate) fn lookup(&self, headers: &HeaderMap) -> Lookup<L> {
        let Some(id) = cookie(headers, self.cookie) else {
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
    pub(crate) fn create(&self, login: L) -> String {
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
    pub(crate) fn get(&self, id: &str) -> Option<Session<L>> {
        self.lock().get(id).cloned()
    }

    /// Changes a live session; `None` when it is gone.
    pub(crate) fn update<T>(
        &self,
        id: &str,
        change: impl FnOnce(&mut Session<L>) -> T,
    ) -> Option<T> {
        self.lock().get_mut(id).map(change)
    }

    /// Ends a session.
    pub(crate) fn remove(&self, id: &str) {
        self.lock().remove(id);
    }
}
