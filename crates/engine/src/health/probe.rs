//! Active checks of a bank's API: the [`Probe`] (the API channel's is `ApiBank::health_probe`) and
//! [`spawn_prober`], which runs it in the background and feeds [`Health`]. A probe also confirms a
//! tripped policy before it switches.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::{CallOutcome, Health, Mode};
use crate::BoxFuture;

/// What kind of failure a probe met, so that on the API a probe counts like the request it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeFailure {
    /// No answer (no connection, a timeout, a 5xx without an error body).
    NotAnswered,
    /// The API answered that its service is unavailable (a 503 with its error body).
    ServiceUnavailable,
    /// The API answered with something unusable (a malformed body).
    Unusable,
}

/// What a probe does: asks the API once, `Ok` when it answered as a working API does, `Err` with what
/// went wrong otherwise.
type ProbeFn = dyn Fn() -> BoxFuture<'static, Result<(), (ProbeFailure, String)>> + Send + Sync;

/// One active check of a bank's API, as [`spawn_prober`] runs it. The API channel's is
/// `ApiBank::health_probe`, the one definition of a healthy API that every setup (the failover
/// builder, the service) uses; [`Probe::new`] makes others, for tests.
#[derive(Clone)]
pub struct Probe(Arc<ProbeFn>);

impl Probe {
    /// A probe that runs `check`: `Ok` for a healthy API, `Err` with the evidence otherwise (counted
    /// as no answer).
    pub fn new<F, Fut>(check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
    {
        Self::classified(move || {
            let checked = check();
            async move { checked.await.map_err(|e| (ProbeFailure::NotAnswered, e)) }
        })
    }

    /// A probe that runs `check`, which says what kind of failure it met.
    pub fn classified<F, Fut>(check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<(), (ProbeFailure, String)>> + Send + 'static,
    {
        Self(Arc::new(move || Box::pin(check())))
    }

    /// Probes once, without a time limit of its own (the prober applies `probe_timeout`).
    pub async fn check(&self) -> Result<(), String> {
        self.check_classified().await.map_err(|(_, e)| e)
    }

    /// Probes once, saying what kind of failure it met.
    pub async fn check_classified(&self) -> Result<(), (ProbeFailure, String)> {
        (self.0)().await
    }
}

impl fmt::Debug for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Probe")
    }
}

/// Probes the API in the background: every `probe_interval` plus jitter, with `probe_timeout`; on the
/// API a probe counts like a request, in `Fallback` the dwell time is checked, while `Probing` probes
/// decide recovery. Stops when the returned handle is aborted.
pub fn spawn_prober(health: Arc<Health>, probe: Probe) -> tokio::task::JoinHandle<()> {
    health.set_probe(probe.clone());
    tokio::spawn(async move {
        let mut seed = health.bank.bytes().fold(0x9E37_79B9_u64, |acc, b| {
            acc.wrapping_mul(31).wrapping_add(u64::from(b))
        });
        loop {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let jitter_ms = health.config.probe_jitter.as_millis() as u64;
            let jitter = Duration::from_millis(if jitter_ms == 0 { 0 } else { seed % jitter_ms });
            tokio::time::sleep(health.config.probe_interval + jitter).await;
            if health.measured() == Mode::Fallback && !health.dwell_over() {
                continue;
            }
            let started = Instant::now();
            let result =
                tokio::time::timeout(health.config.probe_timeout, probe.check_classified()).await;
            let elapsed = started.elapsed();
            match result {
                Ok(Ok(())) => health.record_probe(CallOutcome::Answered(elapsed), None),
                Ok(Err((kind, error))) => {
                    let outcome = match kind {
                        ProbeFailure::NotAnswered => CallOutcome::Failed(elapsed),
                        ProbeFailure::ServiceUnavailable => {
                            CallOutcome::ServiceUnavailable(elapsed)
                        }
                        ProbeFailure::Unusable => CallOutcome::Unusable(elapsed),
                    };
                    health.record_probe(outcome, Some(&error))
                }
                Err(_) => {
                    health.record_probe(CallOutcome::Failed(elapsed), Some("probe timed out"))
                }
            }
        }
    })
}
