//! Sessions: one browser per consent of one customer (its own profile, made by the driver), never
//! shared between consents, the pool of permits that bounds the flows running at once, the spare
//! browser for the next new session, and the idle timeout.
//!
//! A session is keyed by [`SessionKey`]: the customer and the consent a call is made under. A call
//! without a consent (an embedder acting as the customer, or a payment) has the customer's own
//! session, which no consent's call ever uses: being logged in for one consent never serves another.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{Mutex, OwnedMutexGuard};
use tokio::time::Instant;

use super::ScreenBank;
use super::driver::Browser;
use super::fail::FlowResult;
use crate::bank::{BankError, Channel, PsuContext};
use crate::model::{ConsentId, PsuId};

/// Whose a browser session is: a customer, under one consent (or under none). Its `Debug` masks the
/// consent id.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(super) struct SessionKey {
    /// The customer logged in.
    pub(super) psu: PsuId,
    /// The consent the session serves; `None` for calls made without one.
    pub(super) consent: Option<ConsentId>,
}

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionKey")
            .field("psu", &self.psu)
            .field("consent", &self.consent.as_ref().map(|_| "***"))
            .finish()
    }
}

impl SessionKey {
    /// The session a call for `psu` uses.
    pub(super) fn of(psu: &PsuContext) -> Self {
        Self {
            psu: psu.psu_id.clone(),
            consent: psu.consent_id.clone(),
        }
    }
}

/// One session's browser.
#[derive(Debug, Default)]
pub(super) struct Session {
    /// The customer's browser; `None` until one is launched (or the spare taken), and again once it
    /// is closed.
    pub(super) browser: Option<Browser>,
    /// Whether the website knows the customer in this browser (no login needed before a flow).
    pub(super) logged_in: bool,
    /// When a flow last used the browser, for the idle timeout.
    pub(super) last_used: Option<Instant>,
    /// Prepared ahead of a switch (the warm standby) and used by no call since: what
    /// [`ScreenBank::cool_down`] closes when the API recovers before any switch.
    pub(super) warm: bool,
    /// Whether the browser shows a login waiting for the customer's approval in the bank's app: the
    /// next flow follows that page instead of logging in again.
    pub(super) awaiting_app: bool,
}

/// A flow's place in the queue for a browser, given back when dropped.
struct Queued(Arc<AtomicUsize>);

impl Drop for Queued {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A customer's session, locked for one flow, with a permit to use a browser.
pub(super) struct Flow {
    /// The customer's session, held for the whole flow so no other flow of theirs interleaves.
    pub(super) session: OwnedMutexGuard<Session>,
    /// One of the `max_active` permits, released when the flow ends.
    _permit: tokio::sync::OwnedSemaphorePermit,
    /// The shared pool's permit, when the bank is in one (taken after this bank's own).
    _pooled: Option<super::pool::PoolPermit>,
}

impl ScreenBank {
    /// Closes every browser and stops the driver; nothing is left running or on disk.
    pub async fn close(&self) {
        let sessions: Vec<_> = self
            .inner
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
            .map(|(_, s)| s)
            .collect();
        for session in sessions {
            if let Some(browser) = session.lock().await.browser.take() {
                browser.close().await;
            }
        }
        if let Some(spare) = self.inner.spare.lock().await.take() {
            spare.close().await;
        }
        self.inner.driver.shutdown();
    }

    /// The folder holding this bank's chromedriver and browsers' `HOME` and `TMPDIR` (local driver
    /// only): every process the screen channel starts names it, so it finds them and nothing else.
    pub fn driver_folder(&self) -> Option<&Path> {
        self.inner.driver.folder()
    }

    /// The memory (PSS, bytes) of this bank's chromedriver and browsers now (local driver only).
    pub fn browser_memory(&self) -> Option<u64> {
        self.inner.driver.memory()
    }

    /// How many sessions (consents, or customers acting without one) have a browser now.
    pub fn sessions(&self) -> usize {
        self.inner
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    /// Whether a blank spare browser is ready.
    pub async fn spare_ready(&self) -> bool {
        self.inner.spare.lock().await.is_some()
    }

    /// Launches a blank browser for the next new customer, unless one is waiting.
    pub async fn refill_spare(&self) {
        let mut spare = self.inner.spare.lock().await;
        if spare.is_none()
            && let Ok(browser) = self.inner.driver.new_browser().await
        {
            *spare = Some(browser);
        }
    }

    /// Locks the session of a call's customer and consent for one flow, closing idle sessions of
    /// others on the way. With `max_queue` flows already waiting and no permit free, the call is
    /// refused at once (`BankError::Overloaded`).
    pub(super) async fn flow(&self, psu: &PsuContext) -> Result<Flow, BankError> {
        let mut flow = self.flow_for(psu).await?;
        // A call uses the session now: no longer a warm-up's alone.
        flow.session.warm = false;
        Ok(flow)
    }

    /// [`ScreenBank::flow`] without marking the session as used by a call (the warm-up's).
    pub(super) async fn flow_for(&self, psu: &PsuContext) -> Result<Flow, BankError> {
        let key = SessionKey::of(psu);
        let _queued = self.enqueue()?;
        loop {
            let session = self.session(&key).await;
            // The session's lock first, then a permit: a caller waiting behind another flow of the
            // same session must not hold one of the few permits while it waits.
            let held = session.clone().lock_owned().await;
            // Closed while this flow waited (idle, or to make room): take the session now in its
            // place, so no browser is ever launched in a session nothing will close.
            let current = self
                .inner
                .sessions
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&key)
                .is_some_and(|s| Arc::ptr_eq(s, &session));
            if !current {
                continue;
            }
            let permit = self
                .inner
                .active
                .clone()
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            let pooled = match &self.inner.config.pool {
                Some(pool) => Some(pool.acquire(&self.inner.base, key.psu.as_str()).await?),
                None => None,
            };
            return Ok(Flow {
                session: held,
                _permit: permit,
                _pooled: pooled,
            });
        }
    }

    /// A place in the queue of flows waiting for a browser, or `Overloaded` when it is full.
    fn enqueue(&self) -> Result<Queued, BankError> {
        let queued = &self.inner.queued;
        let ahead = queued.fetch_add(1, Ordering::SeqCst);
        let place = Queued(queued.clone());
        let pool_full = self.inner.config.pool.as_ref().is_some_and(|p| p.full());
        if pool_full
            || (ahead >= self.inner.config.max_queue && self.inner.active.available_permits() == 0)
        {
            return Err(BankError::Overloaded {
                channel: Channel::Screen,
                retry_after: std::time::Duration::from_secs(1),
            });
        }
        Ok(place)
    }

    /// The session of `key` (made when there is none), closing idle sessions of others, and the
    /// least recently used ones beyond `max_sessions`, on the way.
    async fn session(&self, key: &SessionKey) -> Arc<Mutex<Session>> {
        let idle = self.inner.config.idle_timeout;
        let (session, stale) = {
            let mut map = self
                .inner
                .sessions
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let mut stale = Vec::new();
            map.retain(|id, s| {
                let keep = id == key
                    || s.try_lock()
                        .map(|g| g.last_used.is_none_or(|t| t.elapsed() < idle))
                        .unwrap_or(true);
                if !keep {
                    stale.push(s.clone());
                }
                keep
            });
            // Bounded: a new session beyond the limit closes the least recently used one that no
            // flow holds (sessions in flows stay; the bound is then exceeded until they end).
            let max = self.inner.config.max_sessions.max(1);
            while !map.contains_key(key) && map.len() >= max {
                let oldest = map
                    .iter()
                    .filter_map(|(id, s)| s.try_lock().ok().map(|g| (id.clone(), g.last_used)))
                    .min_by_key(|(_, used)| *used)
                    .map(|(id, _)| id);
                let Some(oldest) = oldest else { break };
                if let Some(s) = map.remove(&oldest) {
                    stale.push(s);
                }
            }
            (map.entry(key.clone()).or_default().clone(), stale)
        };
        for s in stale {
            if let Some(browser) = s.lock().await.browser.take() {
                browser.close().await;
            }
        }
        session
    }

    /// The customer's browser, launching one (or taking the spare) when there is none.
    pub(super) async fn browser<'f>(&self, flow: &'f mut Flow) -> FlowResult<&'f Browser> {
        if flow.session.browser.is_none() {
            let spare = self.inner.spare.lock().await.take();
            let browser = match spare {
                Some(b) => {
                    let bank = self.clone();
                    tokio::spawn(async move { bank.refill_spare().await });
                    b
                }
                None => self.inner.driver.new_browser().await?,
            };
            flow.session.browser = Some(browser);
            flow.session.logged_in = false;
            flow.session.awaiting_app = false;
        }
        flow.session.last_used = Some(Instant::now());
        Ok(flow.session.browser.as_ref().expect("set above"))
    }
}
