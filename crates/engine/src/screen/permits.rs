//! A bank's browser permits: at most `max_active` flows act in a browser at once. A freed permit
//! goes first to a flow of a session logged in already (a page the browser must render, a form:
//! short work) and then to a flow that must launch a browser or log in (seconds of work), so a
//! customer being served is not held behind other customers' logins — but never more than
//! [`SHORT_IN_A_ROW`] times in a row while a login waits, so logins are never starved.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

/// Short flows served in a row at most while a long one waits.
pub(super) const SHORT_IN_A_ROW: usize = 3;

/// What a flow will do with its permit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Work {
    /// A flow of a logged-in session: a page or a form.
    Short,
    /// A launch or a login first.
    Long,
}

/// The permits of one bank (shared by its clones).
#[derive(Debug)]
pub(super) struct Permits {
    max: usize,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    free: usize,
    short: VecDeque<oneshot::Sender<Permit>>,
    long: VecDeque<oneshot::Sender<Permit>>,
    short_in_a_row: usize,
}

impl State {
    /// The next waiting flow to hand a permit to, in priority order.
    fn next(&mut self) -> Option<oneshot::Sender<Permit>> {
        let short_turn = !self.short.is_empty()
            && (self.long.is_empty() || self.short_in_a_row < SHORT_IN_A_ROW);
        if short_turn {
            self.short_in_a_row += 1;
            self.short.pop_front()
        } else {
            self.short_in_a_row = 0;
            self.long.pop_front()
        }
    }
}

/// One flow's permit, handed to the next flow in turn when dropped.
#[derive(Debug)]
pub(super) struct Permit {
    permits: Option<Arc<Permits>>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let Some(permits) = self.permits.take() else {
            return;
        };
        let mut state = permits.state.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(next) = state.next() {
            match next.send(Permit {
                permits: Some(permits.clone()),
            }) {
                Ok(()) => return,
                // That flow gave up waiting: defuse the permit and try the next one.
                Err(mut unsent) => drop(unsent.permits.take()),
            }
        }
        state.free += 1;
    }
}

impl Permits {
    /// `max` permits (at least one).
    pub(super) fn new(max: usize) -> Arc<Self> {
        let max = max.max(1);
        Arc::new(Self {
            max,
            state: Mutex::new(State {
                free: max,
                ..State::default()
            }),
        })
    }

    /// Permits held now.
    pub(super) fn running(&self) -> usize {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        self.max - state.free
    }

    /// A permit for `work`: at once when one is free, else in turn.
    pub(super) async fn acquire(self: &Arc<Self>, work: Work) -> Permit {
        let waiting = {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if state.free > 0 {
                state.free -= 1;
                return Permit {
                    permits: Some(self.clone()),
                };
            }
            let (sender, receiver) = oneshot::channel();
            match work {
                Work::Short => state.short.push_back(sender),
                Work::Long => state.long.push_back(sender),
            }
            receiver
        };
        waiting
            .await
            .expect("a waiting flow's sender is only dropped after a send")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With logins waiting, flows of logged-in sessions go first, but at most three in a row;
    /// a flow that gave up waiting is skipped; every permit comes back.
    #[tokio::test]
    async fn short_work_first_but_logins_are_not_starved() {
        let permits = Permits::new(1);
        let held = permits.acquire(Work::Long).await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        let mut spawn = |name: &'static str, work| {
            let (permits, order) = (permits.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let _permit = permits.acquire(work).await;
                order.lock().unwrap().push(name);
                tokio::task::yield_now().await;
            }));
        };
        spawn("login1", Work::Long);
        spawn("login2", Work::Long);
        for name in ["read1", "read2", "read3", "read4", "read5"] {
            spawn(name, Work::Short);
        }
        let gave_up = {
            let permits = permits.clone();
            tokio::spawn(async move { drop(permits.acquire(Work::Short).await) })
        };
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        gave_up.abort();
        let _ = gave_up.await;
        drop(held);
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(
            *order.lock().unwrap(),
            [
                "read1", "read2", "read3", "login1", "read4", "read5", "login2"
            ]
        );
        assert_eq!(permits.running(), 0);
    }
}
