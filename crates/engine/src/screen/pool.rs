//! The browser pool shared by every bank's website channel in a process: at most `max_active`
//! browser flows at once across all banks, handed out fairly — round robin between the banks
//! waiting, and within a bank between its customers waiting — so one bank (or one customer) with a
//! long queue never starves the others. At most `max_queue` flows wait across all banks; one more
//! is refused at once (`BankError::Overloaded`, the service's 503 with `Retry-After`).
//!
//! The default bound comes from the machine ([`BrowserPool::for_machine`]): the cores (a flow keeps
//! a core busy while a page renders) and the memory available (each browser in use costs its PSS,
//! measured by `scripts/browser-pss`).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

use crate::bank::{BankError, Channel};

/// Memory a browser in use is counted at: the lightest browser measured by `scripts/browser-pss`
/// (headless shell ≈ 120 MiB, full Chromium ≈ 300 MiB), with room for its pages.
const HEADLESS_SHELL_MIB: u64 = 160;
const CHROMIUM_MIB: u64 = 320;

/// How the pool's bound was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolBound {
    /// Browser flows at once across every bank.
    pub max_active: usize,
    /// Flows waiting at most across every bank.
    pub max_queue: usize,
}

impl PoolBound {
    /// The bound for a machine with `cores` and `available_mib` of memory, browsers costing
    /// `browser_mib` each, half the memory left to everything else: `min(2 × cores, memory / 2 /
    /// browser)`, at least one; 16 waiting per flow at most.
    pub fn for_machine(cores: usize, available_mib: u64, browser_mib: u64) -> Self {
        let by_memory = (available_mib / 2 / browser_mib.max(1)) as usize;
        let max_active = (2 * cores).min(by_memory).max(1);
        Self {
            max_active,
            max_queue: 16 * max_active,
        }
    }
}

/// The memory available now (`MemAvailable` in `/proc/meminfo`), in MiB.
fn available_mib() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

/// The browser pool (cheap to clone: clones share it).
#[derive(Clone)]
pub struct BrowserPool {
    inner: Arc<PoolInner>,
}

impl std::fmt::Debug for BrowserPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrowserPool")
            .field("bound", &self.inner.bound)
            .finish_non_exhaustive()
    }
}

struct PoolInner {
    bound: PoolBound,
    state: Mutex<PoolState>,
}

/// Who waits, in turn order.
#[derive(Default)]
struct PoolState {
    /// Flows holding a permit.
    running: usize,
    /// Banks with flows waiting, in turn order.
    banks: VecDeque<String>,
    /// Per bank: its customers waiting in turn order, and each one's flows in arrival order.
    waiting: HashMap<String, Lane>,
}

#[derive(Default)]
struct Lane {
    customers: VecDeque<String>,
    flows: HashMap<String, VecDeque<oneshot::Sender<PoolPermit>>>,
}

impl PoolState {
    /// Flows still waiting (the ones given up are dropped on the way).
    fn queued(&mut self) -> usize {
        let mut n = 0;
        for lane in self.waiting.values_mut() {
            for flows in lane.flows.values_mut() {
                flows.retain(|s| !s.is_closed());
                n += flows.len();
            }
        }
        n
    }

    /// The next flow to run: the bank whose turn it is, its customer whose turn it is, that
    /// customer's oldest flow; both move to the back of their turns.
    fn next(&mut self) -> Option<oneshot::Sender<PoolPermit>> {
        while let Some(bank) = self.banks.pop_front() {
            let Some(lane) = self.waiting.get_mut(&bank) else {
                continue;
            };
            let mut found = None;
            while let Some(customer) = lane.customers.pop_front() {
                let flows = lane.flows.entry(customer.clone()).or_default();
                let flow = flows.pop_front();
                if flows.is_empty() {
                    lane.flows.remove(&customer);
                } else {
                    lane.customers.push_back(customer);
                }
                if flow.is_some() {
                    found = flow;
                    break;
                }
            }
            if lane.customers.is_empty() {
                self.waiting.remove(&bank);
            } else {
                self.banks.push_back(bank);
            }
            if found.is_some() {
                return found;
            }
        }
        None
    }
}

/// One flow's place in the pool, given back (to the next flow in turn) when dropped.
pub(super) struct PoolPermit {
    pool: Option<Arc<PoolInner>>,
}

impl Drop for PoolPermit {
    fn drop(&mut self) {
        let Some(pool) = self.pool.take() else {
            return;
        };
        let mut state = pool.state.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(next) = state.next() {
            match next.send(PoolPermit {
                pool: Some(pool.clone()),
            }) {
                Ok(()) => return,
                // That flow gave up: defuse the permit and try the next one.
                Err(mut unsent) => drop(unsent.pool.take()),
            }
        }
        state.running -= 1;
    }
}

impl BrowserPool {
    /// A pool with this bound.
    pub fn new(bound: PoolBound) -> Self {
        Self {
            inner: Arc::new(PoolInner {
                bound: PoolBound {
                    max_active: bound.max_active.max(1),
                    max_queue: bound.max_queue,
                },
                state: Mutex::default(),
            }),
        }
    }

    /// A pool sized to this machine: its cores and the memory available now, browsers counted at
    /// the lightest one installed (see [`PoolBound::for_machine`]).
    pub fn for_machine() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let browser = match super::lightest_chromium().ends_with("chromium-headless-shell") {
            true => HEADLESS_SHELL_MIB,
            false => CHROMIUM_MIB,
        };
        let memory = available_mib().unwrap_or(2048);
        Self::new(PoolBound::for_machine(cores, memory, browser))
    }

    /// The bound in force.
    pub fn bound(&self) -> PoolBound {
        self.inner.bound
    }

    /// Flows running and waiting now.
    pub fn load(&self) -> (usize, usize) {
        let mut state = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
        (state.running, state.queued())
    }

    /// Whether a flow arriving now would be refused (`max_queue` flows wait already and no permit
    /// is free).
    pub(super) fn full(&self) -> bool {
        let mut state = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
        state.running >= self.inner.bound.max_active && state.queued() >= self.inner.bound.max_queue
    }

    /// A permit for one flow of `customer` at `bank`: at once when one is free and no one waits,
    /// else in turn; `Overloaded` at once when `max_queue` flows wait already.
    #[cfg(test)]
    pub(super) async fn acquire(
        &self,
        bank: &str,
        customer: &str,
    ) -> Result<PoolPermit, BankError> {
        self.take(bank, customer, true).await
    }

    /// A permit for a flow admitted already (it started, and now needs a browser): at once when
    /// one is free and no one waits, else in turn, never refused.
    pub(super) async fn wait_turn(
        &self,
        bank: &str,
        customer: &str,
    ) -> Result<PoolPermit, BankError> {
        self.take(bank, customer, false).await
    }

    async fn take(
        &self,
        bank: &str,
        customer: &str,
        refuse_over_bound: bool,
    ) -> Result<PoolPermit, BankError> {
        let waiting = {
            let mut state = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
            let queued = state.queued();
            if state.running < self.inner.bound.max_active && queued == 0 {
                state.running += 1;
                return Ok(PoolPermit {
                    pool: Some(self.inner.clone()),
                });
            }
            if refuse_over_bound && queued >= self.inner.bound.max_queue {
                return Err(BankError::Overloaded {
                    channel: Channel::Screen,
                    retry_after: Duration::from_secs(1),
                });
            }
            let (sender, receiver) = oneshot::channel();
            if !state.waiting.contains_key(bank) {
                state.banks.push_back(bank.to_owned());
            }
            let lane = state.waiting.entry(bank.to_owned()).or_default();
            let flows = lane.flows.entry(customer.to_owned()).or_default();
            if flows.is_empty() {
                lane.customers.push_back(customer.to_owned());
            }
            flows.push_back(sender);
            receiver
        };
        waiting.await.map_err(|_| BankError::Unavailable {
            channel: Channel::Screen,
            reason: "the browser pool was dropped".to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(max_active: usize, max_queue: usize) -> BrowserPool {
        BrowserPool::new(PoolBound {
            max_active,
            max_queue,
        })
    }

    #[test]
    fn the_bound_follows_cores_and_memory() {
        assert_eq!(PoolBound::for_machine(2, 8192, 160).max_active, 4);
        assert_eq!(PoolBound::for_machine(16, 2048, 320).max_active, 3);
        assert_eq!(PoolBound::for_machine(8, 100, 320).max_active, 1);
        assert_eq!(PoolBound::for_machine(2, 8192, 160).max_queue, 64);
    }

    /// Bank A queues ten flows of one customer before bank B queues two of two customers: turns
    /// alternate between the banks, then between B's customers, never all of A's first.
    #[tokio::test]
    async fn banks_and_customers_take_turns() {
        let pool = pool(1, 64);
        let first = pool.acquire("a", "anna").await.unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        let mut spawn = |bank: &'static str, customer: &'static str| {
            let (pool, order) = (pool.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let _permit = pool.acquire(bank, customer).await.unwrap();
                order.lock().unwrap().push(format!("{bank}/{customer}"));
                tokio::task::yield_now().await;
            }));
        };
        for _ in 0..4 {
            spawn("a", "anna");
        }
        spawn("b", "bob");
        spawn("b", "carol");
        spawn("b", "bob");
        // Every flow is queued before the first permit is given back.
        while pool.load().1 < 7 {
            tokio::task::yield_now().await;
        }
        drop(first);
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(
            *order.lock().unwrap(),
            [
                "a/anna", "b/bob", "a/anna", "b/carol", "a/anna", "b/bob", "a/anna"
            ]
        );
        assert_eq!(pool.load(), (0, 0));
    }

    /// A flow admitted already (it needs its browser mid-way) waits its turn even over the
    /// queue's bound, while a new flow is refused; it gets the permit when it is given back.
    #[tokio::test]
    async fn a_flow_admitted_already_waits_its_turn_over_the_bound() {
        let pool = pool(1, 0);
        let held = pool.acquire("a", "anna").await.unwrap();
        let waiting = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.wait_turn("b", "bob").await.map(|_| ()) })
        };
        while pool.load().1 < 1 {
            tokio::task::yield_now().await;
        }
        let refused = pool.acquire("c", "carol").await.err().unwrap();
        assert!(matches!(refused, BankError::Overloaded { .. }), "{refused}");
        drop(held);
        waiting.await.unwrap().unwrap();
        assert_eq!(pool.load(), (0, 0));
    }

    /// Over the queue's bound a flow is refused at once; a flow that gave up waiting leaves no
    /// permit behind.
    #[tokio::test]
    async fn over_the_bound_a_flow_is_refused_at_once_and_a_cancelled_wait_frees_its_place() {
        let pool = pool(1, 1);
        let held = pool.acquire("a", "anna").await.unwrap();
        let waiting = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.acquire("b", "bob").await.map(|_| ()) })
        };
        while pool.load().1 < 1 {
            tokio::task::yield_now().await;
        }
        let refused = pool.acquire("c", "carol").await.err().unwrap();
        assert!(matches!(refused, BankError::Overloaded { .. }), "{refused}");
        waiting.abort();
        let _ = waiting.await;
        assert_eq!(pool.load(), (1, 0));
        drop(held);
        assert_eq!(pool.load(), (0, 0));
        let again = pool.acquire("c", "carol").await.unwrap();
        assert_eq!(pool.load(), (1, 0));
        drop(again);
    }
}
