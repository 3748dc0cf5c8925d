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
use super::deadline::Ticket;
use super::driver::{Browser, DriverError, Gate};
use super::fail::{Fail, FlowResult};
use super::permits::Work;
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

/// The flows waiting for a permit to use a browser now, and a signal when none waits.
#[derive(Debug, Default)]
pub(super) struct QueueCount {
    waiting: AtomicUsize,
    idle: tokio::sync::Notify,
}

impl QueueCount {
    /// A place in the queue, given back when dropped; and how many were ahead.
    fn join(self: &Arc<Self>) -> (Queued, usize) {
        let ahead = self.waiting.fetch_add(1, Ordering::SeqCst);
        (Queued(self.clone()), ahead)
    }

    /// Flows waiting now.
    pub(super) fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// Returns once no flow waits.
    async fn idle(&self) {
        loop {
            let idle = self.idle.notified();
            if self.waiting() == 0 {
                return;
            }
            idle.await;
        }
    }
}

/// A flow's place in the queue for a browser, given back when dropped.
struct Queued(Arc<QueueCount>);

impl Drop for Queued {
    fn drop(&mut self) {
        if self.0.waiting.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// A customer's session, locked for one flow, and the flow's lease on a browser.
pub(super) struct Flow {
    /// Counts the flow among the logins in flight while it lasts (`deadline`), when it logs in.
    _ticket: Option<Ticket>,
    /// The customer's session, held for the whole flow so no other flow of theirs interleaves.
    pub(super) session: OwnedMutexGuard<Session>,
    /// The flow's permits, taken at its first browser action (the session's browser waits here).
    lease: Arc<Lease>,
}

impl Drop for Flow {
    fn drop(&mut self) {
        if self.lease.held().is_none() {
            self.lease.bank.inner.costs.no_browser_needed();
        }
    }
}

/// Why a flow was not admitted, and whether its login is to be made ahead of the call's retry.
struct Refused {
    error: BankError,
    ahead: bool,
}

/// The permits a flow acts in a browser with: one of this bank's `max_active`, then the shared
/// pool's when the bank is in one. They are taken at the flow's first browser action (a launch, a
/// page load, a click, reading the page), not when the flow starts: a read served over HTTP on the
/// session's cookies uses no browser, and never waits behind the logins and page loads that do.
/// Once taken they are kept to the flow's end, so a flow that started acting is not overtaken.
pub(super) struct Lease {
    /// The bank the flow runs at (its permits, its pool, its counters).
    bank: ScreenBank,
    /// The customer, for the pool's turns between customers.
    customer: String,
    /// Short work (the session was logged in when the flow started) or a launch or login first:
    /// short work is handed a freed permit first (see `permits`).
    work: Work,
    /// The permits, once taken.
    permits: std::sync::Mutex<Option<Arc<Held>>>,
    /// Serialises the taking (one flow acts at a time anyway).
    taking: Mutex<()>,
}

/// A lease's permits, given back when dropped.
pub(super) struct Held {
    _permit: super::permits::Permit,
    _pooled: Option<super::pool::PoolPermit>,
}

impl Lease {
    fn held(&self) -> Option<Arc<Held>> {
        self.permits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Takes the permits (at once when held already): this bank's, then the pool's, in turn, as
    /// a flow waiting in the queue (counted against `max_queue`) but never refused: the flow was
    /// admitted when it started.
    async fn take(&self) -> Result<(), BankError> {
        if self.held().is_some() {
            return Ok(());
        }
        let _one = self.taking.lock().await;
        if self.held().is_some() {
            return Ok(());
        }
        let inner = &self.bank.inner;
        let started = Instant::now();
        let _queued = inner.queue.join();
        let permit = inner.active.acquire(self.work).await;
        let pooled = match &inner.config.pool {
            Some(pool) => Some(pool.wait_turn(&inner.base, &self.customer).await?),
            None => None,
        };
        inner.costs.waited(started.elapsed());
        *self.permits.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(Held {
            _permit: permit,
            _pooled: pooled,
        }));
        Ok(())
    }
}

#[async_trait::async_trait]
impl Gate for Lease {
    async fn enter(&self) -> Result<(), DriverError> {
        self.take()
            .await
            .map_err(|e| DriverError::Unavailable(e.to_string()))
    }
}

impl Flow {
    /// Takes the flow's permits now (before a browser is launched: the launch is browser work).
    pub(super) async fn engage(&self) -> Result<(), BankError> {
        self.lease.take().await
    }

    /// Points the session's browser at this flow's lease: its actions wait for the permits.
    fn gate_browser(&self) {
        if let Some(browser) = &self.session.browser {
            let lease: Arc<dyn Gate> = self.lease.clone();
            browser.set_gate(Arc::downgrade(&lease));
        }
    }
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
        let spares: Vec<_> = self.inner.spare.lock().await.drain(..).collect();
        for spare in spares {
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

    /// Flows holding a permit to use a browser now, and flows waiting for one (what `max_queue`
    /// bounds).
    pub fn load(&self) -> (usize, usize) {
        (self.inner.active.running(), self.inner.queue.waiting())
    }

    /// Whether a blank spare browser is ready.
    pub async fn spare_ready(&self) -> bool {
        self.spares_ready().await > 0
    }

    /// How many blank spare browsers are ready.
    pub async fn spares_ready(&self) -> usize {
        self.inner.spare.lock().await.len()
    }

    /// Launches a blank browser for the next new customer, unless one is waiting.
    pub async fn refill_spare(&self) {
        self.fill_spares(1).await;
    }

    /// Launches blank browsers, one at a time, until `n` wait for new customers; returns how many
    /// wait. A spare is no one's session (it has never loaded a page) and is handed to one session
    /// only. Each launch is browser work: it takes one of this bank's permits, and only when no
    /// flow waits for one — spares are made in the channel's idle time, never ahead of a customer.
    pub async fn fill_spares(&self, n: usize) -> usize {
        let _filling = self.inner.filling.lock().await;
        loop {
            let ready = self.inner.spare.lock().await.len();
            if ready >= n {
                return ready;
            }
            let permit = loop {
                self.inner.queue.idle().await;
                let permit = self.inner.active.acquire(Work::Long).await;
                if self.inner.queue.waiting() == 0 {
                    break permit;
                }
            };
            let launched = self.inner.driver.new_browser().await;
            drop(permit);
            match launched {
                Ok(browser) => {
                    self.inner.costs.launched_ahead();
                    self.inner.spare.lock().await.push(browser);
                }
                Err(error) => {
                    tracing::warn!(%error, "no spare browser launched");
                    return ready;
                }
            }
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
        match self.admit(&key) {
            Ok(ticket) => self.enter_session(&key, ticket).await,
            Err(Refused { error, ahead }) => {
                if ahead {
                    self.log_in_ahead(psu);
                }
                Err(error)
            }
        }
    }

    /// Locks the session of `key` for one admitted flow (counted among the logins in flight by
    /// `ticket` while it lasts, when it logs in).
    pub(super) async fn enter_session(
        &self,
        key: &SessionKey,
        ticket: Option<Ticket>,
    ) -> Result<Flow, BankError> {
        let key = key.clone();
        let mut ticket = ticket;
        loop {
            // The session's lock first, then a permit: a caller waiting behind another flow of the
            // same session must not hold one of the few permits while it waits. (A waiting or
            // running flow holds exactly one clone of its session: `admit` counts them.)
            let held = self.session(&key).await.lock_owned().await;
            // Closed while this flow waited (idle, or to make room): take the session now in its
            // place, so no browser is ever launched in a session nothing will close.
            let current = self
                .inner
                .sessions
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&key)
                .is_some_and(|s| Arc::ptr_eq(s, OwnedMutexGuard::mutex(&held)));
            if !current {
                continue;
            }
            let work = match held.logged_in && held.browser.is_some() {
                true => Work::Short,
                false => Work::Long,
            };
            let flow = Flow {
                _ticket: ticket.take(),
                session: held,
                lease: Arc::new(Lease {
                    bank: self.clone(),
                    customer: key.psu.as_str().to_owned(),
                    work,
                    permits: std::sync::Mutex::new(None),
                    taking: Mutex::new(()),
                }),
            };
            flow.gate_browser();
            return Ok(flow);
        }
    }

    /// Admits a flow or refuses it at once with `Overloaded` (nothing waits). A flow whose
    /// session is logged in and free is admitted whatever the queue: it reads over HTTP on the
    /// session and, as a rule, needs no permit (when it does, it waits for one in turn). Any other
    /// flow is refused when every permit is held and `max_queue` flows wait for one, or the shared
    /// pool is full — and a flow whose session is in another flow (the same consent's) also when
    /// `max_queue` flows wait for that session already. A flow whose free session must log in
    /// first is refused, with its login made ahead, when `max_wait` is set and the logins ahead of
    /// it would not end within it (`deadline`); admitted, it holds a ticket among them.
    fn admit(&self, key: &SessionKey) -> Result<Option<Ticket>, Refused> {
        let refused = |retry_after, ahead| Refused {
            error: BankError::Overloaded {
                channel: Channel::Screen,
                retry_after,
            },
            ahead,
        };
        let overloaded = || refused(std::time::Duration::from_secs(1), false);
        let max_queue = self.inner.config.max_queue;
        let (busy, warm, logs_in) = {
            let sessions = self
                .inner
                .sessions
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            match sessions.get(key) {
                None => (None, false, true),
                Some(session) => match session.try_lock() {
                    // Every flow holding or waiting for the session holds a clone of it; the
                    // map holds one more.
                    Err(_) => (
                        Some(Arc::strong_count(session).saturating_sub(2)),
                        false,
                        false,
                    ),
                    Ok(s) => (
                        None,
                        self.inner.config.http_reads
                            && s.logged_in
                            && s.browser.is_some()
                            && !s.awaiting_app,
                        !(s.logged_in && s.browser.is_some()),
                    ),
                },
            }
        };
        let full = || {
            let pool_full = self.inner.config.pool.as_ref().is_some_and(|p| p.full());
            pool_full
                || (self.inner.active.running() >= self.inner.config.max_active.max(1)
                    && self.inner.queue.waiting() >= max_queue)
        };
        let slots = self.inner.config.max_active.max(1);
        match busy {
            None if warm => Ok(None),
            Some(waiting) if waiting >= max_queue => Err(overloaded()),
            _ if full() => Err(overloaded()),
            // The session is being logged in ahead of this very retry: its turn is told again.
            Some(_) if self.inner.config.max_wait.is_some() && self.inner.logins.is_ahead(key) => {
                Err(refused(
                    self.inner.logins.turn(slots, self.login_length()),
                    false,
                ))
            }
            None if logs_in => match self.inner.config.max_wait {
                None => Ok(None),
                Some(limit) => match self.inner.logins.admit(slots, self.login_length(), limit) {
                    Ok(ticket) => Ok(Some(ticket)),
                    Err(turn) => Err(refused(turn, true)),
                },
            },
            _ => Ok(None),
        }
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
            let spare = self.inner.spare.lock().await.pop();
            let browser = match spare {
                Some(b) => {
                    self.inner.costs.spare_used();
                    let bank = self.clone();
                    let n = self.inner.config.spares.max(1);
                    tokio::spawn(async move { bank.fill_spares(n).await });
                    b
                }
                None => {
                    // A launch is browser work: it waits for the flow's permits.
                    flow.engage().await.map_err(Fail::Bank)?;
                    let started = Instant::now();
                    let browser = self.inner.driver.new_browser().await?;
                    self.inner.costs.launched(started.elapsed());
                    browser
                }
            };
            flow.session.browser = Some(browser);
            flow.session.logged_in = false;
            flow.session.awaiting_app = false;
            flow.gate_browser();
        }
        flow.session.last_used = Some(Instant::now());
        Ok(flow.session.browser.as_ref().expect("set above"))
    }
}
