//! Admission by the time a call would wait (`ScreenBankConfig::max_wait`): a call whose session must
//! first log in is admitted only while the logins ahead of it, at `max_active` at once and each as
//! long as the logins measured so far, end within `max_wait`. Over it the call is refused at once
//! (`BankError::Overloaded`, the service's 503) with a `Retry-After` of when its turn would come —
//! and its login is made meanwhile, in the order it came, so its retry finds the session logged in
//! and is served over HTTP on it. A caller hears "come back in N s" at once instead of waiting past
//! its own timeout, and no login is thrown away with a caller that hung up.
//!
//! A logged-in session's calls are not counted here: they are short work (a page, or no browser).

use std::collections::HashSet;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The logins admitted and not ended, and the sessions (by key `K`) being logged in ahead of a
/// refused call's retry.
#[derive(Debug)]
pub(super) struct Logins<K> {
    in_flight: Arc<AtomicUsize>,
    ahead: Mutex<HashSet<K>>,
    made_ahead: AtomicU64,
}

impl<K> Default for Logins<K> {
    fn default() -> Self {
        Self {
            in_flight: Arc::default(),
            ahead: Mutex::new(HashSet::new()),
            made_ahead: AtomicU64::new(0),
        }
    }
}

/// One login counted in flight until dropped.
#[derive(Debug)]
pub(super) struct Ticket(Arc<AtomicUsize>);

impl Drop for Ticket {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl<K: Eq + Hash> Logins<K> {
    /// Counts one more login if, with `slots` at once and each taking `each`, it ends within
    /// `limit` (one round always fits: a login alone is never refused); else how long until its
    /// turn would come, for `Retry-After`.
    pub(super) fn admit(
        &self,
        slots: usize,
        each: Duration,
        limit: Duration,
    ) -> Result<Ticket, Duration> {
        let slots = slots.max(1);
        let rounds = (limit.as_secs_f64() / each.as_secs_f64().max(0.001)).floor() as usize;
        let capacity = slots.saturating_mul(rounds.max(1));
        match self
            .in_flight
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < capacity).then_some(n + 1)
            }) {
            Ok(_) => Ok(Ticket(self.in_flight.clone())),
            Err(_) => Err(self.turn(slots, each)),
        }
    }

    /// Counts one login without a bound (one made ahead for a refused call: it is queued already).
    pub(super) fn enter(&self) -> Ticket {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        Ticket(self.in_flight.clone())
    }

    /// Logins counted now.
    #[cfg(test)]
    fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Whether the session `key` is being logged in ahead of a refused call's retry.
    pub(super) fn is_ahead(&self, key: &K) -> bool {
        self.ahead
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(key)
    }

    /// When a login queued now would end, with `slots` at once and each taking `each`.
    pub(super) fn turn(&self, slots: usize, each: Duration) -> Duration {
        let ahead = self.in_flight.load(Ordering::SeqCst);
        each.mul_f64((ahead / slots.max(1) + 1) as f64)
    }

    /// Marks the session `key` as being logged in ahead; `false` when it is already.
    pub(super) fn start_ahead(&self, key: K) -> bool {
        self.ahead
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key)
    }

    /// The login ahead of `key` ended; `made` when the session is logged in.
    pub(super) fn end_ahead(&self, key: &K, made: bool) {
        self.ahead
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
        if made {
            self.made_ahead.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Logins made ahead of refused calls' retries.
    pub(super) fn made_ahead(&self) -> u64 {
        self.made_ahead.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two slots, logins of a second, eight seconds: sixteen logins fit; the seventeenth is told
    /// when its turn comes (nine rounds), and is admitted once one ends. A login alone always fits.
    #[test]
    fn logins_are_admitted_while_they_end_within_the_wait() {
        let logins = Logins::<u8>::default();
        let second = Duration::from_secs(1);
        let tickets: Vec<Ticket> = (0..16)
            .map(|_| logins.admit(2, second, Duration::from_secs(8)).unwrap())
            .collect();
        assert_eq!(logins.in_flight(), 16);
        let refused = logins.admit(2, second, Duration::from_secs(8)).unwrap_err();
        assert_eq!(refused, Duration::from_secs(9));
        drop(tickets.into_iter().next());
        assert!(logins.admit(2, second, Duration::from_secs(8)).is_ok());
        let alone = Logins::<u8>::default();
        let first = alone.admit(1, Duration::from_secs(30), second).unwrap();
        assert_eq!(
            alone.admit(1, Duration::from_secs(30), second).unwrap_err(),
            Duration::from_secs(60)
        );
        drop(first);
        assert_eq!(alone.in_flight(), 0);
    }
}
