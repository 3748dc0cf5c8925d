//! Warm standby: when the API starts to degrade (its first failed or unanswered calls, before any
//! switch — [`Health::degrading`]), the website channel is prepared for the customers who read
//! through the engine in the last `window`: each one's session (per consent) launched and logged
//! in, reading no account data, so the first read after a switch costs a page, not a login. When
//! the API recovers before a switch the warm-ups still running are cancelled and the sessions
//! they prepared are closed.
//!
//! What is prepared, and what is not:
//! - only a context whose last call succeeded and came with the customer's password: the context
//!   (password included, a secret, in memory only) is kept for `window` after that call and
//!   forgotten then, or at once when a call comes without a password;
//! - under its own consent, checked as a read is; a warm session never serves another consent (the
//!   website channel keys sessions by consent);
//! - not a consent whose unattended reads today are used up (RTS Art. 36(5)): the read it would
//!   serve would be refused. A warm-up is no read: it is never counted against that budget;
//! - within the bank's browser bounds (`max_sessions`, the queue): a warm-up never closes a
//!   session in use, and stops at the first `Overloaded`;
//! - each login ahead of a switch is in the access log, saying no account data was read.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use time::{Date, OffsetDateTime};
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::bank::{BankError, PsuContext};
use crate::health::Health;
use crate::journal::{AccessEntry, JournalStore};
use crate::screen::{ScreenBank, WarmUp};

/// How the warm standby prepares a bank's website channel.
#[derive(Debug, Clone)]
pub struct WarmStandbyConfig {
    /// Customers (per consent) whose last successful read is at most this old are prepared; their
    /// context is forgotten after it.
    pub window: Duration,
    /// Sessions prepared at most (the most recent customers first), within the channel's own
    /// `max_sessions`.
    pub max_sessions: usize,
    /// Warm-ups running at once.
    pub concurrency: usize,
    /// How long the API must stay answered (no longer degrading) before the warm sessions are
    /// torn down: under load, calls sent before a fault still come back answered in between the
    /// first failures, and one answer alone is no recovery.
    pub settle: Duration,
}

impl Default for WarmStandbyConfig {
    /// The last 15 minutes, 8 sessions, 2 at once, torn down after 5 s answered.
    fn default() -> Self {
        Self {
            window: Duration::from_secs(15 * 60),
            max_sessions: 8,
            concurrency: 2,
            settle: Duration::from_secs(5),
        }
    }
}

/// A customer (and consent) as the warm standby knows them.
type Key = (String, Option<String>);

/// A recent caller: the context of its last successful read.
struct Recent {
    psu: PsuContext,
    seen: Instant,
}

type RecentMap = Arc<Mutex<HashMap<Key, Recent>>>;
/// The day (UTC) each context's unattended reads ran out.
type SpentMap = Arc<Mutex<HashMap<Key, Date>>>;

fn key(psu: &PsuContext) -> Key {
    (
        psu.psu_id.as_str().to_owned(),
        psu.consent_id.as_ref().map(|c| c.as_str().to_owned()),
    )
}

/// The warm standby of one bank: the recent callers, and the task following the bank's health.
pub(crate) struct WarmStandby {
    recent: RecentMap,
    spent: SpentMap,
    window: Duration,
    /// `None` when no tokio runtime was running to start it on (then nothing is prepared).
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for WarmStandby {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WarmStandby")
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

impl Drop for WarmStandby {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

impl WarmStandby {
    /// Starts following `health` for `screen` (on the tokio runtime running, if any).
    pub(crate) fn start(
        bank: String,
        screen: ScreenBank,
        health: Arc<Health>,
        journal: Arc<dyn JournalStore>,
        config: WarmStandbyConfig,
    ) -> Self {
        let recent = RecentMap::default();
        let spent = SpentMap::default();
        let window = config.window;
        let prepare = Prepare {
            bank,
            screen,
            journal,
            recent: recent.clone(),
            spent: spent.clone(),
            config,
        };
        let task = match tokio::runtime::Handle::try_current() {
            Ok(runtime) => Some(runtime.spawn(follow(prepare, health))),
            Err(_) => {
                tracing::warn!(bank = %prepare.bank, "no tokio runtime: the warm standby is off");
                None
            }
        };
        Self {
            recent,
            spent,
            window,
            task,
        }
    }

    /// A read for `psu` succeeded: it is a recent caller (forgotten when it gave no password).
    pub(crate) fn seen(&self, psu: &PsuContext) {
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        recent.retain(|_, r| now.duration_since(r.seen) <= self.window);
        let key = key(psu);
        if psu.password.is_none() {
            recent.remove(&key);
            return;
        }
        recent.insert(
            key,
            Recent {
                psu: psu.clone(),
                seen: now,
            },
        );
    }

    /// The unattended reads of `psu` ran out today: not worth a warm-up until tomorrow.
    pub(crate) fn spent(&self, psu: &PsuContext) {
        let today = OffsetDateTime::now_utc().date();
        let mut spent = self.spent.lock().unwrap_or_else(|p| p.into_inner());
        spent.retain(|_, day| *day == today);
        spent.insert(key(psu), today);
    }
}

/// What a warm-up round needs.
#[derive(Clone)]
struct Prepare {
    bank: String,
    screen: ScreenBank,
    journal: Arc<dyn JournalStore>,
    recent: RecentMap,
    spent: SpentMap,
    config: WarmStandbyConfig,
}

impl Prepare {
    /// The contexts to prepare now: recent, not spent today, the most recent first.
    fn candidates(&self) -> Vec<PsuContext> {
        let now = Instant::now();
        let today = OffsetDateTime::now_utc().date();
        let spent = self.spent.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        recent.retain(|_, r| now.duration_since(r.seen) <= self.config.window);
        let mut list: Vec<_> = recent
            .iter()
            .filter(|(k, _)| spent.get(*k) != Some(&today))
            .map(|(_, r)| (r.seen, r.psu.clone()))
            .collect();
        list.sort_by_key(|r| std::cmp::Reverse(r.0));
        list.into_iter()
            .take(self.config.max_sessions)
            .map(|(_, psu)| psu)
            .collect()
    }

    /// Prepares one context; `false` when the channel is full and the round should stop.
    async fn one(&self, psu: PsuContext) -> bool {
        match self.screen.warm_up(&psu).await {
            Ok(WarmUp::LoggedIn) => {
                let entry = AccessEntry {
                    at: OffsetDateTime::now_utc(),
                    bank: self.bank.clone(),
                    psu: psu.psu_id.as_str().to_owned(),
                    data: "login ahead of a switch (warm standby): no account data read".to_owned(),
                    switch_event: None,
                };
                if let Err(error) = self.journal.log_access(&entry) {
                    tracing::error!(%error, "a warm-up login could not be logged");
                }
                true
            }
            Ok(_) => true,
            Err(BankError::Overloaded { .. }) => false,
            Err(error) => {
                tracing::info!(bank = %self.bank, customer = ?psu.psu_id, consent = psu.consent_id.is_some(), %error, "no warm session prepared");
                true
            }
        }
    }
}

/// Follows the bank's health: prepares when the API degrades on `Api`, cancels and cools down when
/// it recovers there, and leaves the prepared sessions to the fallback once switched.
async fn follow(prepare: Prepare, health: Arc<Health>) {
    let mut degrading = health.degrading();
    let mut mode = health.watch();
    let mut round: JoinSet<()> = JoinSet::new();
    let mut warming = false;
    loop {
        let is_degrading = *degrading.borrow_and_update();
        let on_api = mode.borrow_and_update().uses_api();
        if on_api && is_degrading && !warming {
            warming = true;
            let permits = Arc::new(Semaphore::new(prepare.config.concurrency.max(1)));
            let full = Arc::new(std::sync::atomic::AtomicBool::new(false));
            for psu in prepare.candidates() {
                let (prepare, permits, full) = (prepare.clone(), permits.clone(), full.clone());
                round.spawn(async move {
                    let Ok(_permit) = permits.acquire().await else {
                        return;
                    };
                    if full.load(std::sync::atomic::Ordering::SeqCst) {
                        return;
                    }
                    if !prepare.one(psu).await {
                        full.store(true, std::sync::atomic::Ordering::SeqCst);
                    }
                });
            }
        } else if on_api && !is_degrading && warming {
            // Answered again: a recovery only if no call fails for `settle`.
            let again = tokio::time::timeout(prepare.config.settle, async {
                degrading.wait_for(|d| *d).await.map(|_| ())
            })
            .await;
            let switched = !mode.borrow().uses_api();
            match again {
                Ok(Ok(_)) => continue,
                Ok(Err(_)) => return,
                Err(_) if switched => continue,
                Err(_) => {}
            }
            // Recovered before a switch: cancel what runs, wait until it stopped, close what it
            // prepared.
            warming = false;
            round.abort_all();
            while round.join_next().await.is_some() {}
            let closed = prepare.screen.cool_down().await;
            tracing::info!(bank = %prepare.bank, closed, "the API recovered before a switch: warm sessions closed");
        } else if !on_api && warming {
            // Switched: the prepared sessions now serve the fallback; warm-ups still running
            // finish by themselves.
            warming = false;
            round.detach_all();
        }
        tokio::select! {
            changed = degrading.changed() => if changed.is_err() { return },
            changed = mode.changed() => if changed.is_err() { return },
            Some(_) = round.join_next(), if !round.is_empty() => {}
        }
    }
}
