//! Where the website channel's time goes: browser launches, logins, and the waits for a permit to
//! use a browser, counted and summed so a benchmark (or an operator) can tell a channel bound by
//! launches from one bound by logins or by its permits.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// What the website channel spent its time on, since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowCosts {
    /// Browsers launched for a session (a spare handed out is not counted: it was launched ahead).
    pub launches: u64,
    /// Their launch time, summed.
    pub launching: Duration,
    /// Spares launched ahead (in idle time).
    pub launched_ahead: u64,
    /// Spares handed to a new session instead of a launch.
    pub spares_used: u64,
    /// Logins made (a login waiting in the bank's app is counted once it ends).
    pub logins: u64,
    /// Their time, from the login page's request to logged in (or refused), summed.
    pub logging_in: Duration,
    /// Flows that waited for a permit to use a browser (this bank's, then the shared pool's).
    pub permit_waits: u64,
    /// Those waits, summed.
    pub waiting: Duration,
    /// Flows that ended without ever needing a permit: every step went over HTTP on the session.
    pub without_browser: u64,
    /// Logins made ahead of the retry of calls refused over `max_wait` (`ScreenBankConfig`).
    pub logins_ahead: u64,
}

impl FlowCosts {
    /// Mean time of one launch, one login and one wait for a permit.
    pub fn means(&self) -> (Duration, Duration, Duration) {
        let mean = |total: Duration, n: u64| total / u32::try_from(n.max(1)).unwrap_or(u32::MAX);
        (
            mean(self.launching, self.launches),
            mean(self.logging_in, self.logins),
            mean(self.waiting, self.permit_waits),
        )
    }
}

/// The counters behind [`FlowCosts`], shared by a bank's clones.
#[derive(Debug, Default)]
pub(super) struct CostCounters {
    launches: AtomicU64,
    launch_micros: AtomicU64,
    spares_used: AtomicU64,
    launched_ahead: AtomicU64,
    logins: AtomicU64,
    login_micros: AtomicU64,
    permit_waits: AtomicU64,
    wait_micros: AtomicU64,
    without_browser: AtomicU64,
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl CostCounters {
    /// A browser launched for a session, in `took`.
    pub(super) fn launched(&self, took: Duration) {
        self.launches.fetch_add(1, Ordering::Relaxed);
        self.launch_micros
            .fetch_add(micros(took), Ordering::Relaxed);
    }

    /// A spare launched ahead.
    pub(super) fn launched_ahead(&self) {
        self.launched_ahead.fetch_add(1, Ordering::Relaxed);
    }

    /// A spare handed to a session.
    pub(super) fn spare_used(&self) {
        self.spares_used.fetch_add(1, Ordering::Relaxed);
    }

    /// A login made, in `took`.
    pub(super) fn logged_in(&self, took: Duration) {
        self.logins.fetch_add(1, Ordering::Relaxed);
        self.login_micros.fetch_add(micros(took), Ordering::Relaxed);
    }

    /// A flow waited `took` for its permit.
    pub(super) fn waited(&self, took: Duration) {
        self.permit_waits.fetch_add(1, Ordering::Relaxed);
        self.wait_micros.fetch_add(micros(took), Ordering::Relaxed);
    }

    /// A flow ended without a permit.
    pub(super) fn no_browser_needed(&self) {
        self.without_browser.fetch_add(1, Ordering::Relaxed);
    }

    /// The counts now.
    pub(super) fn snapshot(&self) -> FlowCosts {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        FlowCosts {
            launches: get(&self.launches),
            launching: Duration::from_micros(get(&self.launch_micros)),
            spares_used: get(&self.spares_used),
            launched_ahead: get(&self.launched_ahead),
            logins: get(&self.logins),
            logging_in: Duration::from_micros(get(&self.login_micros)),
            permit_waits: get(&self.permit_waits),
            waiting: Duration::from_micros(get(&self.wait_micros)),
            without_browser: get(&self.without_browser),
            logins_ahead: 0,
        }
    }
}

impl super::ScreenBank {
    /// Where the channel's time went since it started: launches, logins, waits for permits.
    pub fn flow_costs(&self) -> FlowCosts {
        FlowCosts {
            logins_ahead: self.inner.logins.made_ahead(),
            ..self.inner.costs.snapshot()
        }
    }

    /// Logs the customer in (see [`Self::timed_login`]) in a task of its own that owns the flow
    /// and hands it back: a caller that gives up (its client timed out and hung up) does not
    /// cancel the login half-way — it ends, and the session is logged in for the caller's next
    /// call instead of that work being thrown away and done again.
    pub(super) async fn login_to_the_end(
        &self,
        mut flow: super::sessions::Flow,
        psu: &crate::bank::PsuContext,
    ) -> crate::bank::BankResult<(super::sessions::Flow, super::fail::FlowResult<()>)> {
        let (bank, psu) = (self.clone(), psu.clone());
        tokio::spawn(async move {
            let login = bank.timed_login(&mut flow, &psu).await;
            (flow, login)
        })
        .await
        .map_err(|e| super::fail::unavailable(format!("the login task ended: {e}")))
    }

    /// Makes sure the customer is logged in (see `ensure_login`), timing a login when one is made.
    pub(super) async fn timed_login(
        &self,
        flow: &mut super::sessions::Flow,
        psu: &crate::bank::PsuContext,
    ) -> super::fail::FlowResult<()> {
        if flow.session.logged_in {
            return Ok(());
        }
        // The permits and the browser first (their waits and the launch are counted apart).
        flow.engage().await.map_err(super::fail::Fail::Bank)?;
        self.browser(flow).await?;
        let started = tokio::time::Instant::now();
        let result = self.ensure_login(flow, psu).await;
        if !matches!(
            &result,
            Err(super::fail::Fail::Bank(
                crate::bank::BankError::ApprovalPending { .. }
            ))
        ) {
            self.inner.costs.logged_in(started.elapsed());
        }
        result
    }
}
