//! Health shared by replicas: one process decides a bank's switches, the others follow.
//!
//! Alone, a process decides every switch of its banks (the default). Replicas sharing a PostgreSQL
//! journal decide one bank each at a time: the holder of the bank's health lease
//! (`journal::HealthLeases`) is *deciding*; its switches are journalled only while it holds the lease,
//! and the others stop deciding, keep counting what their own calls meet, and take each switch the
//! decider journalled through [`Health::adopt`], which applies it and announces it on this process's
//! channels without journalling it again. [`Health::follow`] sets the recorded state silently, when a
//! replica starts or takes a lease over.

use std::sync::atomic::Ordering;

use tokio::time::Instant;

use super::{Health, Mode, Override, Queued, State, SwitchEvent, SwitchReason};

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
}
