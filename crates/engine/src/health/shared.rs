//! Health shared by replicas: one process decides a bank's switches, the others follow.
//!
//! Alone, a process decides every switch of its banks (the default). Replicas sharing a PostgreSQL
//! journal decide one bank each at a time: the holder of the bank's health lease
//! (`journal::HealthLeases`) is *deciding*; its switches are journalled only while it holds the lease,
//! and the others stop deciding, keep counting what their own calls meet, and take each switch the
//! decider journalled through [`Health::adopt`], which applies it and announces it on this process's
//! channels without journalling it again. [`Health::follow`] sets the recorded state silently, when a
//! replica starts or takes a lease over.
//!
//! Every replica's calls count: while a replica does not decide, the outcome of each of its own calls
//! to the API is also kept ([`Health::take_reports`]) for the journal to hand to the decider, which
//! counts it as its own ([`Health::record_reported`]). An outage only a follower's traffic meets still
//! switches the bank, once.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;

use super::{CallOutcome, Health, Mode, Override, Queued, State, SwitchEvent, SwitchReason};

/// The most outcomes a follower keeps between two reports (the oldest go first): enough for every
/// policy's run, bounded whatever the traffic.
const REPORTS_KEPT: usize = 4096;

/// The outcome of one call a replica that does not decide made to the bank's API, for the replica
/// that decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reported {
    /// What the call came to.
    pub outcome: CallOutcome,
    /// What it met, when it failed (the evidence of a switch it leads to).
    pub error: Option<String>,
}

impl Reported {
    /// The outcome's kind as a journal stores it: `answered`, `failed`, `unavailable` or `unusable`.
    pub fn kind(&self) -> &'static str {
        match self.outcome {
            CallOutcome::Answered(_) => "answered",
            CallOutcome::Failed(_) => "failed",
            CallOutcome::ServiceUnavailable(_) => "unavailable",
            CallOutcome::Unusable(_) => "unusable",
        }
    }

    /// The call's latency.
    pub fn latency(&self) -> Duration {
        self.outcome.latency()
    }

    /// A stored outcome read back ([`Reported::kind`]'s inverse); `None` for a kind this version
    /// does not know.
    pub fn parse(kind: &str, latency: Duration, error: Option<String>) -> Option<Self> {
        let outcome = match kind {
            "answered" => CallOutcome::Answered(latency),
            "failed" => CallOutcome::Failed(latency),
            "unavailable" => CallOutcome::ServiceUnavailable(latency),
            "unusable" => CallOutcome::Unusable(latency),
            _ => return None,
        };
        Some(Self { outcome, error })
    }
}

impl Override {
    /// The override named `auto`, `force-api` or `force-fallback` ([`Override::name`]'s inverse).
    pub fn from_name(name: &str) -> Option<Self> {
        [Override::Auto, Override::ForceApi, Override::ForceFallback]
            .into_iter()
            .find(|o| o.name() == name)
    }
}

impl Mode {
    /// The mode named `api`, `fallback` or `probing` ([`Mode::name`]'s inverse).
    pub fn from_name(name: &str) -> Option<Self> {
        [Mode::Api, Mode::Fallback, Mode::Probing]
            .into_iter()
            .find(|m| m.name() == name)
    }
}

impl SwitchReason {
    /// The reason a journal stored as text (its `Display`), read back: how a replica knows what another
    /// one decided. `None` for a text no reason displays as.
    pub fn parse(text: &str) -> Option<Self> {
        if let Some(policy) = text.strip_prefix("policy tripped: ") {
            return Some(SwitchReason::PolicyTripped(policy.to_owned()));
        }
        if let Some(name) = text.strip_prefix("manual override: ") {
            return Override::from_name(name).map(SwitchReason::Override);
        }
        if let Some(n) = text.strip_suffix(" consecutive good probes") {
            return n.parse().ok().map(SwitchReason::Recovered);
        }
        [SwitchReason::DwellElapsed, SwitchReason::ProbeFailed]
            .into_iter()
            .find(|r| r.to_string() == text)
    }
}

/// Measured health starts again from nothing: no failure counted, no window.
fn forget_counts(state: &mut State) {
    state.rts_run = 0;
    state.failure_run = 0;
    state.failure_run_not_answered = 0;
    state.unusable_run = 0;
    state.series_started = None;
    state.window.clear();
}

/// Puts measured health in `mode`, as entered now.
fn enter(state: &mut State, mode: Mode) {
    if state.measured != mode {
        state.measured = mode;
        state.entered = Instant::now();
        state.good_probes = 0;
        if mode == Mode::Api {
            forget_counts(state);
        }
    }
}

impl Health {
    /// Whether this process decides the bank's measured switches (always, unless told otherwise).
    pub fn is_deciding(&self) -> bool {
        self.deciding.load(Ordering::SeqCst)
    }

    /// Lets this process decide the bank's measured switches, or stops it: while it does not, its own
    /// counts never switch the bank (an override still does). A replica decides while it holds the
    /// bank's health lease.
    pub fn set_deciding(&self, deciding: bool) {
        let was = self.deciding.swap(deciding, Ordering::SeqCst);
        if was != deciding {
            tracing::info!(bank = %self.bank, deciding, "this replica's part in the bank's health");
        }
    }

    /// Keeps the outcome of this process's own calls while it does not decide, for the decider (from
    /// now on; a process alone keeps nothing).
    pub fn keep_reports(&self) {
        self.reports_lock().get_or_insert_with(VecDeque::new);
    }

    /// The outcomes kept since the last call, oldest first.
    pub fn take_reports(&self) -> Vec<Reported> {
        self.reports_lock()
            .as_mut()
            .map(|kept| kept.drain(..).collect())
            .unwrap_or_default()
    }

    /// Counts the outcome of a call another replica made, as if this process had made it: the
    /// decider's view of every replica's traffic. Never kept for a report again.
    pub fn record_reported(&self, reported: &Reported) {
        self.decide(|state| self.judge(state, reported.outcome, reported.error.as_deref()));
    }

    pub(super) fn keep_report(&self, outcome: CallOutcome, error: Option<&str>) {
        if let Some(kept) = self.reports_lock().as_mut() {
            if kept.len() >= REPORTS_KEPT {
                kept.pop_front();
            }
            kept.push_back(Reported {
                outcome,
                error: error.map(str::to_owned),
            });
        }
    }

    fn reports_lock(&self) -> std::sync::MutexGuard<'_, Option<VecDeque<Reported>>> {
        self.reports.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies a switch another process decided and journalled under `id` — measured health moves to
    /// `event.to`, or the override becomes the event's — and announces it (watch, broadcast, log)
    /// without journalling it again, so every replica says the same and the journal holds it once.
    pub fn adopt(&self, id: i64, mut event: SwitchEvent) {
        self.decide(|state| {
            let before = self.effective(state);
            match event.reason {
                SwitchReason::Override(value) => state.override_ = value,
                _ => enter(state, event.to),
            }
            let effective = self.effective(state);
            if before == effective && self.config.exempt.is_some() {
                return;
            }
            state.sequence += 1;
            event.sequence = state.sequence;
            state.outbox.push_back(Queued {
                event,
                effective,
                journalled: Some(id),
            });
        });
    }

    /// Sets measured health, the override and the switch that justifies the fallback as another
    /// process recorded them, silently (no event: the switches that led there were announced when they
    /// happened). For a replica that starts, or takes a bank's lease over, before it decides anything.
    pub fn follow(&self, measured: Mode, override_: Override, justification: Option<i64>) {
        let _publishing = self.publishing.lock().unwrap_or_else(|p| p.into_inner());
        let effective = {
            let mut state = self.lock();
            enter(&mut state, measured);
            state.override_ = override_;
            self.effective(&state)
        };
        *self.justification.lock().unwrap_or_else(|p| p.into_inner()) =
            justification.filter(|_| effective != Mode::Api);
        self.mode.send_if_modified(|mode| {
            let changed = *mode != effective;
            *mode = effective;
            changed
        });
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use time::OffsetDateTime;

    use super::*;
    use crate::health::{CallOutcome, HealthConfig, Policy};

    fn event(from: Mode, to: Mode, reason: SwitchReason) -> SwitchEvent {
        SwitchEvent {
            sequence: 0,
            bank: "sandbox".into(),
            from,
            to,
            reason,
            evidence: "measured elsewhere".into(),
            at: OffsetDateTime::now_utc(),
            downtime_started: None,
        }
    }

    #[test]
    fn every_reason_reads_back_as_it_displays() {
        for reason in [
            SwitchReason::PolicyTripped("RTS Art. 33(1): 5 consecutive requests".into()),
            SwitchReason::DwellElapsed,
            SwitchReason::Recovered(3),
            SwitchReason::ProbeFailed,
            SwitchReason::Override(Override::ForceFallback),
            SwitchReason::Override(Override::Auto),
        ] {
            assert_eq!(SwitchReason::parse(&reason.to_string()), Some(reason));
        }
        assert_eq!(SwitchReason::parse("the moon"), None);
        assert_eq!(SwitchReason::parse("manual override: sideways"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_replica_that_does_not_decide_counts_but_switches_only_as_told() {
        let config = HealthConfig {
            rts: Policy::Rts {
                consecutive: 2,
                within: Duration::from_secs(30),
            },
            ..HealthConfig::default()
        };
        let health = Health::new("sandbox", config);
        let recorded = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = recorded.clone();
        health.set_recorder(move |_| Some(counter.fetch_add(1, Ordering::SeqCst) as i64 + 1));
        let mut events = health.events();
        health.set_deciding(false);
        for _ in 0..5 {
            health.record(
                CallOutcome::Failed(Duration::from_millis(5)),
                Some("refused"),
            );
        }
        assert_eq!(health.mode(), Mode::Api, "it does not decide");
        assert!(events.try_recv().is_err());
        health.adopt(
            41,
            event(
                Mode::Api,
                Mode::Fallback,
                SwitchReason::PolicyTripped("elsewhere".into()),
            ),
        );
        assert_eq!(health.mode(), Mode::Fallback);
        assert_eq!(health.justification(), Some(41));
        let announced = events.try_recv().unwrap();
        assert_eq!((announced.from, announced.to), (Mode::Api, Mode::Fallback));
        assert_eq!(recorded.load(Ordering::SeqCst), 0, "never journalled again");
        // An override decided elsewhere is followed too.
        health.adopt(
            42,
            event(
                Mode::Fallback,
                Mode::Api,
                SwitchReason::Override(Override::ForceApi),
            ),
        );
        assert_eq!(
            (health.mode(), health.override_mode()),
            (Mode::Api, Override::ForceApi)
        );
        // Following the recorded state is silent.
        health.follow(Mode::Probing, Override::Auto, Some(41));
        assert_eq!(health.mode(), Mode::Probing);
        events.try_recv().unwrap();
        assert!(events.try_recv().is_err());
        // Deciding again, its own counts switch it, journalled.
        health.follow(Mode::Api, Override::Auto, None);
        health.set_deciding(true);
        for _ in 0..2 {
            health.record(
                CallOutcome::Failed(Duration::from_millis(5)),
                Some("refused"),
            );
        }
        assert_eq!(health.mode(), Mode::Fallback);
        assert_eq!(recorded.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_follower_keeps_its_calls_for_the_decider_which_counts_them_as_its_own() {
        let config = HealthConfig {
            rts: Policy::Rts {
                consecutive: 3,
                within: Duration::from_secs(30),
            },
            ..HealthConfig::default()
        };
        let failed = CallOutcome::Failed(Duration::from_millis(5));
        // Alone, nothing is kept.
        let alone = Health::new("sandbox", config.clone());
        alone.set_deciding(false);
        alone.record(failed, Some("refused"));
        assert!(alone.take_reports().is_empty());
        // A follower keeps what its calls met, while it does not decide, and no more than the bound.
        let follower = Health::new("sandbox", config.clone());
        follower.keep_reports();
        follower.record(failed, Some("ignored: it decides"));
        follower.set_deciding(false);
        follower.record(CallOutcome::Answered(Duration::from_millis(7)), None);
        for _ in 0..REPORTS_KEPT + 2 {
            follower.record(failed, Some("refused"));
        }
        let kept = follower.take_reports();
        assert_eq!(kept.len(), REPORTS_KEPT);
        assert!(kept.iter().all(|r| r.kind() == "failed"));
        assert!(follower.take_reports().is_empty(), "taken once");
        // Stored and read back, the same.
        for reported in [
            &kept[0],
            &Reported {
                outcome: CallOutcome::Unusable(Duration::from_millis(3)),
                error: None,
            },
        ] {
            assert_eq!(
                Reported::parse(reported.kind(), reported.latency(), reported.error.clone())
                    .as_ref(),
                Some(reported)
            );
        }
        assert_eq!(Reported::parse("sideways", Duration::ZERO, None), None);
        // The decider counts them: three reported failures switch it, with the follower's evidence.
        let decider = Health::new("sandbox", config);
        let mut events = decider.events();
        for reported in &kept[..2] {
            decider.record_reported(reported);
        }
        assert_eq!(decider.mode(), Mode::Api);
        decider.record_reported(&kept[2]);
        assert_eq!(decider.mode(), Mode::Fallback);
        let event = events.try_recv().unwrap();
        assert!(event.evidence.contains("refused"), "{}", event.evidence);
        assert!(decider.take_reports().is_empty(), "a decider keeps nothing");
    }
}
