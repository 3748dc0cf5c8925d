//! Warm standby on the website channel: a customer's session prepared ahead of a switch — its
//! browser launched and logged in — so the first read after the switch costs a page, not a login;
//! and torn down when the API recovers before any switch. Also a session logged in ahead of the
//! retry of a call refused over `max_wait` (the admission in `deadline`), and how long a login takes.
//!
//! A warm-up reads no account data: it logs in (the website's own landing page loads in the
//! browser, and nothing is read off it) and stops. It is made under the consent it is for, checked
//! as a read is (valid, not expired, made for this customer), in that consent's own session, so a
//! warm session never serves another consent. It takes a place in the queue and a permit like any
//! flow, and never opens a browser beyond `max_sessions`: a warm-up never closes a session in use
//! to make room.

use std::sync::atomic::{AtomicU64, Ordering};

use super::ScreenBank;
use super::fail::Fail;
use super::flow::Effect;
use super::sessions::SessionKey;
use crate::bank::{BankError, BankResult, PsuContext};

/// What a warm-up did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WarmUp {
    /// The browser is launched and the customer logged in.
    LoggedIn,
    /// The session was logged in already: nothing to do.
    AlreadyLoggedIn,
    /// The browser is launched but the login needs the customer (no answer to its challenge
    /// unattended, or no password at hand).
    BrowserOnly,
    /// Nothing was prepared: the bank's browsers are all taken (`max_sessions`), or no password was
    /// given.
    Skipped,
}

/// Logins on the website channel, and what the warm standby prepared and tore down.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WarmCounts {
    /// Logins the channel made (for calls and warm-ups alike).
    pub logins: u64,
    /// Of them, made by warm-ups ahead of a switch.
    pub warm_logins: u64,
    /// Sessions prepared ahead and used by no call yet, now.
    pub warm_sessions: usize,
    /// Warm sessions closed because the API recovered before a switch.
    pub cooled: u64,
}

/// The counters behind [`WarmCounts`], shared by a bank's clones.
#[derive(Debug, Default)]
pub(super) struct WarmCounters {
    pub(super) logins: AtomicU64,
    warm_logins: AtomicU64,
    cooled: AtomicU64,
}

impl ScreenBank {
    /// Prepares the session a read for `psu` would use: its browser launched and the customer
    /// logged in (unattended through the relay), reading no account data. A consent that is not
    /// usable is refused as a read would be; a full queue is `Overloaded`.
    pub async fn warm_up(&self, psu: &PsuContext) -> BankResult<WarmUp> {
        self.usable_consent(psu)?;
        if psu.password.is_none() {
            return Ok(WarmUp::Skipped);
        }
        let key = SessionKey::of(psu);
        let known = self
            .inner
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(&key);
        if !known && self.sessions() >= self.inner.config.max_sessions.max(1) {
            return Ok(WarmUp::Skipped);
        }
        let mut flow = self.flow_for(psu).await?;
        if flow.session.logged_in {
            return Ok(WarmUp::AlreadyLoggedIn);
        }
        // Marked before the login, so a warm-up cancelled half-way leaves a session the cool-down
        // closes; a session a call already uses stays the call's.
        if flow.session.browser.is_none() {
            flow.session.warm = true;
        }
        match self.timed_login(&mut flow, psu).await {
            Ok(()) => {
                // The session is let go before the warm-up is counted: whoever sees the count sees
                // the session idle and warm (`warm_counts`).
                drop(flow);
                self.inner
                    .warm_counters
                    .warm_logins
                    .fetch_add(1, Ordering::Relaxed);
                Ok(WarmUp::LoggedIn)
            }
            Err(Fail::Bank(
                BankError::ScaRequired { .. } | BankError::ReauthenticationRequired { .. },
            )) => Ok(WarmUp::BrowserOnly),
            Err(fail) => Err(self.classify(&mut flow, psu, fail, Effect::Safe).await),
        }
    }

    /// Closes every session prepared ahead that no call has used (the API recovered before a
    /// switch); returns how many.
    pub async fn cool_down(&self) -> usize {
        let cold: Vec<_> = {
            let mut map = self
                .inner
                .sessions
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let keys: Vec<SessionKey> = map
                .iter()
                .filter(|(_, s)| s.try_lock().is_ok_and(|g| g.warm))
                .map(|(k, _)| k.clone())
                .collect();
            keys.iter().filter_map(|k| map.remove(k)).collect()
        };
        let mut closed = 0;
        for session in cold {
            let mut session = session.lock().await;
            session.logged_in = false;
            if let Some(browser) = session.browser.take() {
                browser.close().await;
            }
            closed += 1;
        }
        self.inner
            .warm_counters
            .cooled
            .fetch_add(closed as u64, Ordering::Relaxed);
        closed
    }

    /// Logins made, warm-ups, and warm sessions now.
    pub fn warm_counts(&self) -> WarmCounts {
        let warm_sessions = self
            .inner
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter(|s| s.try_lock().is_ok_and(|g| g.warm))
            .count();
        let c = &self.inner.warm_counters;
        WarmCounts {
            logins: c.logins.load(Ordering::Relaxed),
            warm_logins: c.warm_logins.load(Ordering::Relaxed),
            warm_sessions,
            cooled: c.cooled.load(Ordering::Relaxed),
        }
    }
}

/// A login's length before any was measured: a launch and three page loads on a loaded machine.
const FIRST_GUESS: std::time::Duration = std::time::Duration::from_secs(2);

impl ScreenBank {
    /// How long one login takes, as measured so far (with its share of browser launches): what
    /// `max_wait`'s admission counts a login as (`deadline`).
    pub(super) fn login_length(&self) -> std::time::Duration {
        let costs = self.inner.costs.snapshot();
        if costs.logins == 0 {
            return FIRST_GUESS;
        }
        let (launch, login, _) = costs.means();
        let launched = (costs.launches as f64 / costs.logins as f64).min(1.0);
        login + launch.mul_f64(launched)
    }

    /// Logs `psu` in ahead of the retry of a call refused over `max_wait`, in a task of its own, in
    /// the order calls came (its permit is taken like any login's), reading no account data.
    /// Nothing when the call brought no password, its consent is not usable, or the session is
    /// being logged in ahead already.
    pub(super) fn log_in_ahead(&self, psu: &PsuContext) {
        if psu.password.is_none() || self.usable_consent(psu).is_err() {
            return;
        }
        let key = SessionKey::of(psu);
        if !self.inner.logins.start_ahead(key.clone()) {
            return;
        }
        let (bank, psu) = (self.clone(), psu.clone());
        tokio::spawn(async move {
            let ticket = bank.inner.logins.enter();
            let mut made = false;
            if let Ok(mut flow) = bank.enter_session(&key, Some(ticket)).await
                && !flow.session.logged_in
            {
                match bank.timed_login(&mut flow, &psu).await {
                    Ok(()) => made = true,
                    Err(fail) => {
                        let error = bank.classify(&mut flow, &psu, fail, Effect::Safe).await;
                        tracing::info!(%error, "no login made ahead of a refused call's retry");
                    }
                }
            }
            bank.inner.logins.end_ahead(&key, made);
        });
    }
}
