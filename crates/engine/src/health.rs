//! Health: one state machine per bank that decides which channel serves it, and says why.
//!
//! `Api` → `Fallback` when the unavailability policy trips; `Fallback` → `Probing` when, after a dwell
//! time, the API answers a probe;
//! `Probing` → `Api` after N consecutive good probes, or back to `Fallback` on a bad one. The default
//! policy is the regulation's own (RTS 2018/389 Art. 33(1)): the dedicated interface is down when five
//! consecutive requests are not replied to within 30 seconds, counted across all callers (EBA/GL/2018/07
//! §2.2). Faster policies are added on top of it, never instead. A manual override is kept apart from
//! measured health, and a bank exempt under Art. 33(6) never falls back.
//!
//! Health tells the truth about what it counted. Three kinds of failure are kept apart
//! ([`CallOutcome`]): a request *not answered* (no connection, a timeout, a dropped connection, a 5xx
//! without an error body) is the only input to the RTS rule; the bank *answering that it is
//! unavailable* (a 503 with its error body) counts for the failure policies
//! ([`Policy::ConsecutiveFailures`], [`Policy::FailureRate`]) but is no request left unanswered; an
//! *unusable answer* (a malformed body, a field failing validation) counts only for its own policy,
//! [`Policy::UnusableAnswers`]. A request refused because of what the caller sent is never reported
//! here at all. Each switch reason states what was counted, in numbers.
//!
//! The RTS rule is the law's own presumption of unavailability and switches at once. Every other
//! policy is a heuristic of the operator's: when one trips, the engine probes the API itself (the
//! probe [`spawn_prober`] runs, or [`Health::set_probe`]) and switches only if the probe fails too,
//! putting the probe's evidence in the event.
//!
//! Time is `tokio::time`, so tests run with paused time. Every transition is a [`SwitchEvent`] on a
//! `broadcast` channel (and a `tracing` event); the effective mode is on a `watch` channel.
//!
//! A transition is decided under the state lock and queued; it is journalled (through the recorder the
//! failover installs) and announced after the lock is released, one at a time and in the order decided,
//! so a slow journal never holds up the outcomes of other calls. An event is journalled before it is
//! broadcast, and a call that caused a switch returns only once that switch is announced.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

mod policies;
mod probe;
mod shared;

pub use probe::{Probe, ProbeFailure, spawn_prober};
pub use shared::Reported;

use policies::trips;

/// Which channel serves a bank.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// The dedicated interface (the bank's API).
    Api,
    /// The customer interface (the website), because the API is unavailable.
    Fallback,
    /// Still on the website, while probes test whether the API is back.
    Probing,
}

impl Mode {
    /// The mode's name: `api`, `fallback`, `probing`.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Api => "api",
            Mode::Fallback => "fallback",
            Mode::Probing => "probing",
        }
    }

    /// Whether calls go to the API in this mode.
    pub fn uses_api(self) -> bool {
        self == Mode::Api
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A manual override of measured health, set by an operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Override {
    /// Follow measured health.
    #[default]
    Auto,
    /// Always the API, whatever its health.
    ForceApi,
    /// Always the website, whatever the API's health (never for an exempt bank).
    ForceFallback,
}

impl Override {
    /// The override's name: `auto`, `force-api`, `force-fallback`.
    pub fn name(self) -> &'static str {
        match self {
            Override::Auto => "auto",
            Override::ForceApi => "force-api",
            Override::ForceFallback => "force-fallback",
        }
    }
}

/// When the API counts as unavailable.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Policy {
    /// RTS Art. 33(1): `consecutive` requests in a row not answered within `within`.
    Rts {
        /// How many failures in a row (5 in the regulation).
        consecutive: u32,
        /// How long an answer may take and still count (30 s in the regulation).
        within: Duration,
    },
    /// `n` failed calls in a row (failed: not answered, or answered that the service is unavailable).
    ConsecutiveFailures {
        /// How many.
        n: u32,
    },
    /// At least `percent` % of the calls in the last `window` failed (as for `ConsecutiveFailures`),
    /// once there were `min_calls`.
    FailureRate {
        /// The sliding window.
        window: Duration,
        /// Calls needed before the rate means anything.
        min_calls: u32,
        /// The rate that trips, in percent.
        percent: u8,
    },
    /// At least `percent` % of the calls in the last `window` took longer than `slow`.
    SlowCallRate {
        /// The sliding window.
        window: Duration,
        /// Calls needed before the rate means anything.
        min_calls: u32,
        /// What counts as slow.
        slow: Duration,
        /// The rate that trips, in percent.
        percent: u8,
    },
    /// `consecutive` answers in a row that could not be used (a malformed body, a field failing
    /// validation). Answers, not outages: never part of the RTS rule.
    UnusableAnswers {
        /// How many in a row.
        consecutive: u32,
    },
}

impl Policy {
    /// The regulation's rule: five consecutive requests not replied to within 30 seconds.
    pub const RTS: Policy = Policy::Rts {
        consecutive: 5,
        within: Duration::from_secs(30),
    };
}

/// How one bank's health is judged.
#[derive(Debug, Clone)]
pub struct HealthConfig {
    /// Extra policies on top of the RTS rule, which always applies.
    pub extra_policies: Vec<Policy>,
    /// The RTS rule itself (the regulation's numbers unless a test shrinks them).
    pub rts: Policy,
    /// How long to stay in `Fallback` before probing the API.
    pub dwell: Duration,
    /// How many good probes in a row bring the API back.
    pub probes_to_recover: u32,
    /// How often to probe.
    pub probe_interval: Duration,
    /// Up to this much is added to each probe interval at random, so many instances do not probe together.
    pub probe_jitter: Duration,
    /// How long a probe may take.
    pub probe_timeout: Duration,
    /// `Some(reason)` when the bank is exempt from offering the fallback (RTS Art. 33(6)).
    pub exempt: Option<String>,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            extra_policies: Vec::new(),
            rts: Policy::RTS,
            dwell: Duration::from_secs(30),
            probes_to_recover: 3,
            probe_interval: Duration::from_secs(5),
            probe_jitter: Duration::from_secs(1),
            probe_timeout: Duration::from_secs(5),
            exempt: None,
        }
    }
}

/// What one request to the API came to. A request refused before it was sent (the caller's invalid
/// input) is no outcome: it is not reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    /// The API answered (any definite answer, a rejection included) in this time.
    Answered(Duration),
    /// Not answered: no connection, a timeout, a dropped connection, a 5xx without an error body.
    /// The only input to the RTS rule (with answers slower than its limit).
    Failed(Duration),
    /// The bank answered that it cannot serve the request now (a 503 with its error body): a failed
    /// call for the failure policies, but not a request left unanswered.
    ServiceUnavailable(Duration),
    /// The bank answered with something that could not be used (a malformed body, a field failing
    /// validation): counted by [`Policy::UnusableAnswers`] only.
    Unusable(Duration),
}

impl CallOutcome {
    fn latency(self) -> Duration {
        match self {
            CallOutcome::Answered(l)
            | CallOutcome::Failed(l)
            | CallOutcome::ServiceUnavailable(l)
            | CallOutcome::Unusable(l) => l,
        }
    }
}

/// Why the mode changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SwitchReason {
    /// An unavailability policy tripped.
    PolicyTripped(String),
    /// The dwell time in `Fallback` ended and the API answered a probe; probing starts.
    DwellElapsed,
    /// Enough good probes in a row.
    Recovered(u32),
    /// A probe failed while probing.
    ProbeFailed,
    /// An operator set an override.
    Override(Override),
}

impl fmt::Display for SwitchReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SwitchReason::PolicyTripped(policy) => write!(f, "policy tripped: {policy}"),
            SwitchReason::DwellElapsed => {
                f.write_str("dwell time elapsed and the API answered a probe: probing it")
            }
            SwitchReason::Recovered(n) => write!(f, "{n} consecutive good probes"),
            SwitchReason::ProbeFailed => f.write_str("a probe failed"),
            SwitchReason::Override(o) => write!(f, "manual override: {}", o.name()),
        }
    }
}

impl SwitchReason {
    /// Whether the switch came from measured health or from an operator's override.
    pub fn cause(&self) -> SwitchCause {
        match self {
            SwitchReason::Override(_) => SwitchCause::Override,
            SwitchReason::PolicyTripped(_)
            | SwitchReason::DwellElapsed
            | SwitchReason::Recovered(_)
            | SwitchReason::ProbeFailed => SwitchCause::Measured,
        }
    }
}

/// Where a switch came from. Only measured switches say anything about the API's availability: an
/// override chooses the channel without measuring anything, so the availability report (EBA/GL/2018/07)
/// never counts it as downtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SwitchCause {
    /// Measured health moved: a policy tripped, the dwell time ended, probes answered or failed. The
    /// event's `from` and `to` are measured modes.
    Measured,
    /// An operator set or cleared an override. The event's `from` and `to` are the modes in force.
    Override,
}

/// One change of mode: the justification of every use of the fallback (RTS Art. 33(5)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwitchEvent {
    /// A number unique within this process (the journal gives it a durable one).
    pub sequence: u64,
    /// The bank.
    pub bank: String,
    /// The mode before.
    pub from: Mode,
    /// The mode after.
    pub to: Mode,
    /// Why.
    pub reason: SwitchReason,
    /// What was measured: the failures counted, the last error, the probes.
    pub evidence: String,
    /// When (wall clock, UTC).
    pub at: OffsetDateTime,
    /// For a switch to `Fallback`: when the series of failures that caused it began — where downtime
    /// starts, per EBA/GL/2018/07 §2.4.
    pub downtime_started: Option<OffsetDateTime>,
}

#[derive(Debug)]
struct Sample {
    at: Instant,
    /// Not answered, or answered that the service is unavailable.
    failed: bool,
    /// Of the failed: not answered at all.
    not_answered: bool,
    latency: Duration,
}

#[derive(Debug)]
struct State {
    measured: Mode,
    override_: Override,
    entered: Instant,
    /// Failures (in the RTS sense) in a row, and when the series started.
    rts_run: u32,
    /// Failed calls in a row (not answered, or answered that the service is unavailable).
    failure_run: u32,
    /// Of `failure_run`, those not answered at all.
    failure_run_not_answered: u32,
    /// Unusable answers in a row, and what was wrong with the last one.
    unusable_run: u32,
    last_unusable: Option<String>,
    series_started: Option<OffsetDateTime>,
    /// What the last failed call met (for the failure policies' evidence).
    last_failure: Option<String>,
    /// What the last request not answered in time met (for the RTS rule's evidence).
    last_not_replied: Option<String>,
    /// A tripped policy is waiting for the probe that confirms it (at most one probe at a time).
    confirming: bool,
    window: VecDeque<Sample>,
    good_probes: u32,
    sequence: u64,
    /// Switches decided (or adopted) but not yet journalled and announced, oldest first. Filled
    /// under the state lock, emptied by `flush` outside it.
    outbox: VecDeque<Queued>,
}

/// A switch waiting to be journalled and announced.
#[derive(Debug)]
struct Queued {
    event: SwitchEvent,
    /// The mode in force after it.
    effective: Mode,
    /// The durable id of a switch another process decided and journalled (see `shared`): announced
    /// here, never journalled again.
    journalled: Option<i64>,
}

/// Makes a switch event durable and returns its durable id (the journal does this).
type RecordFn = dyn Fn(&SwitchEvent) -> Option<i64> + Send + Sync;

struct Recorder(Box<RecordFn>);

impl fmt::Debug for Recorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Recorder")
    }
}

/// The health of one bank.
#[derive(Debug)]
pub struct Health {
    bank: String,
    config: HealthConfig,
    state: Mutex<State>,
    mode: watch::Sender<Mode>,
    /// Whether the API is degrading: see [`Health::degrading`].
    degrading: watch::Sender<bool>,
    events: broadcast::Sender<SwitchEvent>,
    /// Called for every switch before it is announced, so the journal holds it first.
    recorder: std::sync::OnceLock<Recorder>,
    /// Held while switches are journalled and announced, so they go out one at a time, in order, and
    /// without the state lock.
    publishing: Mutex<()>,
    /// The durable id of the switch that put the bank on the fallback: the justification logged with
    /// every access through the website (RTS Art. 33(5)).
    justification: Mutex<Option<i64>>,
    /// The probe that confirms a tripped policy other than the RTS rule before it switches.
    probe: std::sync::OnceLock<Probe>,
    /// This health itself, for the task that runs a confirming probe.
    me: std::sync::Weak<Health>,
    /// Whether this process decides the bank's measured switches: always, alone; across replicas,
    /// only while it holds the bank's health lease (see `shared`). A replica that does not decide
    /// keeps counting (its counts are its evidence once it decides) but switches only as told.
    deciding: std::sync::atomic::AtomicBool,
    /// Across replicas, the outcomes of this process's own calls while it does not decide, kept for
    /// the replica that does (see `shared`: `Health::take_reports`); `None` for a process alone.
    reports: Mutex<Option<VecDeque<shared::Reported>>>,
}

impl Health {
    /// A bank's health, starting on the API.
    pub fn new(bank: impl Into<String>, config: HealthConfig) -> Arc<Self> {
        let (events, _) = broadcast::channel(256);
        Arc::new_cyclic(|me| Self {
            bank: bank.into(),
            config,
            state: Mutex::new(State {
                measured: Mode::Api,
                override_: Override::Auto,
                entered: Instant::now(),
                rts_run: 0,
                failure_run: 0,
                failure_run_not_answered: 0,
                unusable_run: 0,
                last_unusable: None,
                series_started: None,
                last_failure: None,
                last_not_replied: None,
                confirming: false,
                window: VecDeque::new(),
                good_probes: 0,
                sequence: 0,
                outbox: VecDeque::new(),
            }),
            mode: watch::Sender::new(Mode::Api),
            degrading: watch::Sender::new(false),
            events,
            recorder: std::sync::OnceLock::new(),
            publishing: Mutex::new(()),
            justification: Mutex::new(None),
            probe: std::sync::OnceLock::new(),
            me: me.clone(),
            deciding: std::sync::atomic::AtomicBool::new(true),
            reports: Mutex::new(None),
        })
    }

    /// Sets the probe that confirms a tripped policy (once; later calls are ignored).
    /// [`spawn_prober`] sets the probe it runs. Without one, a tripped policy switches unconfirmed and
    /// its event says so.
    pub fn set_probe(&self, probe: Probe) {
        let _ = self.probe.set(probe);
    }

    /// Sets what makes switch events durable (once; later calls are ignored). It is called for each
    /// switch before the switch is announced, outside the state lock, one switch at a time and in
    /// order; it returns the event's durable id.
    pub fn set_recorder(
        &self,
        record: impl Fn(&SwitchEvent) -> Option<i64> + Send + Sync + 'static,
    ) {
        let _ = self.recorder.set(Recorder(Box::new(record)));
    }

    /// The durable id of the switch event that justifies the current use of the fallback.
    pub fn justification(&self) -> Option<i64> {
        *self.justification.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The bank's name.
    pub fn bank(&self) -> &str {
        &self.bank
    }

    /// The configuration.
    pub fn config(&self) -> &HealthConfig {
        &self.config
    }

    /// The mode in force: the override if one is set, else measured health.
    pub fn mode(&self) -> Mode {
        *self.mode.borrow()
    }

    /// Measured health, whatever the override says.
    pub fn measured(&self) -> Mode {
        self.lock().measured
    }

    /// The override in force.
    pub fn override_mode(&self) -> Override {
        self.lock().override_
    }

    /// The mode in force, as it changes.
    pub fn watch(&self) -> watch::Receiver<Mode> {
        self.mode.subscribe()
    }

    /// Whether the API is *degrading*, as it changes: `true` from the first failed or unanswered call
    /// while measured health is still `Api` (or while a tripped policy waits for its probe), before
    /// any switch; `false` again once a call is answered and the count starts over (the API
    /// recovered without a switch), and once the bank has switched (the mode says the rest). What a
    /// fallback prepares ahead of a switch follows it (the warm standby, `failover::warm`).
    pub fn degrading(&self) -> watch::Receiver<bool> {
        self.degrading.subscribe()
    }

    /// Whether the API is degrading now (see [`Health::degrading`]).
    pub fn is_degrading(&self) -> bool {
        *self.degrading.borrow()
    }

    /// Every switch from now on.
    pub fn events(&self) -> broadcast::Receiver<SwitchEvent> {
        self.events.subscribe()
    }

    /// Why this bank never falls back, if it is exempt.
    pub fn exemption(&self) -> Option<&str> {
        self.config.exempt.as_deref()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records the outcome of a real request to the API (or of a probe while on the API).
    pub fn record(&self, outcome: CallOutcome, error: Option<&str>) {
        if !self.is_deciding() {
            self.keep_report(outcome, error);
        }
        self.decide(|state| self.judge(state, outcome, error));
    }

    /// Runs `decide` under the state lock, then journals and announces what it switched, outside the
    /// lock. A call that switched nothing does not wait for another call's switch to be published.
    fn decide(&self, decide: impl FnOnce(&mut State)) {
        let (queued, degrading) = {
            let mut state = self.lock();
            decide(&mut state);
            let degrading = state.measured == Mode::Api
                && (state.rts_run > 0 || state.failure_run > 0 || state.confirming);
            (!state.outbox.is_empty(), degrading)
        };
        if queued {
            self.flush();
        }
        self.degrading.send_if_modified(|was| {
            let changed = *was != degrading;
            *was = degrading;
            changed
        });
    }

    /// Counts an outcome against the policies and, on the API, switches to `Fallback` when one trips
    /// (the RTS rule at once, any other policy once a probe confirms it).
    fn judge(&self, state: &mut State, outcome: CallOutcome, error: Option<&str>) {
        let now = Instant::now();
        let latency = outcome.latency();
        let Policy::Rts {
            consecutive,
            within,
        } = self.config.rts
        else {
            unreachable!("the RTS policy is an Rts")
        };
        let not_answered = matches!(outcome, CallOutcome::Failed(_));
        let failed = not_answered || matches!(outcome, CallOutcome::ServiceUnavailable(_));
        // RTS Art. 33(1): not replied to within the limit, whatever the reply would have been.
        let not_replied = not_answered || latency > within;
        if (not_replied || failed) && state.rts_run == 0 && state.failure_run == 0 {
            state.series_started = Some(OffsetDateTime::now_utc());
        }
        if not_replied {
            state.last_not_replied = Some(match (not_answered, error) {
                (true, Some(e)) => e.to_owned(),
                (true, None) => "no answer".to_owned(),
                (false, e) => format!(
                    "an answer took {latency:?}{}",
                    e.map(|e| format!(" ({e})")).unwrap_or_default()
                ),
            });
        }
        if failed && let Some(e) = error {
            state.last_failure = Some(e.to_owned());
        }
        state.rts_run = if not_replied { state.rts_run + 1 } else { 0 };
        if failed {
            state.failure_run += 1;
            state.failure_run_not_answered += u32::from(not_answered);
        } else {
            state.failure_run = 0;
            state.failure_run_not_answered = 0;
        }
        match outcome {
            CallOutcome::Unusable(_) => {
                state.unusable_run += 1;
                state.last_unusable = error.map(str::to_owned);
            }
            CallOutcome::Answered(_) => state.unusable_run = 0,
            CallOutcome::Failed(_) | CallOutcome::ServiceUnavailable(_) => {}
        }
        if state.rts_run == 0 && state.failure_run == 0 {
            state.series_started = None;
        }
        state.window.push_back(Sample {
            at: now,
            failed,
            not_answered,
            latency,
        });
        let longest = self
            .config
            .extra_policies
            .iter()
            .filter_map(|p| match p {
                Policy::FailureRate { window, .. } | Policy::SlowCallRate { window, .. } => {
                    Some(*window)
                }
                _ => None,
            })
            .max()
            .unwrap_or(Duration::ZERO);
        while state
            .window
            .front()
            .is_some_and(|s| now.duration_since(s.at) > longest)
        {
            state.window.pop_front();
        }
        if state.measured != Mode::Api {
            return;
        }
        if state.rts_run >= consecutive {
            // The law's own presumption: no probe is asked to confirm it.
            let reason = format!(
                "RTS Art. 33(1): {} consecutive requests not answered within {within:?}",
                state.rts_run
            );
            let evidence = format!(
                "last request not answered in time: {}",
                state.last_not_replied.as_deref().unwrap_or("none recorded")
            );
            let started = state.series_started;
            self.transition(
                state,
                Mode::Fallback,
                SwitchReason::PolicyTripped(reason),
                evidence,
                started,
            );
            return;
        }
        if state.confirming {
            return;
        }
        let tripped = self
            .config
            .extra_policies
            .iter()
            .find_map(|policy| trips(policy, state, now));
        let Some((reason, evidence)) = tripped else {
            return;
        };
        let runtime = tokio::runtime::Handle::try_current().ok();
        match (self.probe.get(), self.me.upgrade(), runtime) {
            (Some(probe), Some(me), Some(runtime)) => {
                state.confirming = true;
                let probe = probe.clone();
                runtime.spawn(async move {
                    let started = Instant::now();
                    let result = tokio::time::timeout(me.config.probe_timeout, probe.check())
                        .await
                        .unwrap_or_else(|_| {
                            Err(format!("no answer within {:?}", me.config.probe_timeout))
                        });
                    me.decide(|state| me.confirmed(state, reason, evidence, result, started));
                });
            }
            (probe, _, _) => {
                let why = if probe.is_none() {
                    "no probe is configured"
                } else {
                    "no runtime to run the probe on"
                };
                let evidence = format!("{evidence}; not confirmed: {why}");
                let started = state.series_started;
                self.transition(
                    state,
                    Mode::Fallback,
                    SwitchReason::PolicyTripped(reason),
                    evidence,
                    started,
                );
            }
        }
    }

    /// Ends the confirmation of a tripped policy: the probe failed too, so the bank switches with the
    /// probe's evidence; or the probe was answered, so it does not, and the counts that tripped start
    /// again.
    fn confirmed(
        &self,
        state: &mut State,
        reason: String,
        evidence: String,
        probe: Result<(), String>,
        started: Instant,
    ) {
        state.confirming = false;
        if state.measured != Mode::Api {
            return;
        }
        match probe {
            Err(probe_error) => {
                let evidence = format!(
                    "{evidence}; confirmed: the API probe failed too after {:?}: {probe_error}",
                    started.elapsed()
                );
                let downtime_started = state.series_started;
                self.transition(
                    state,
                    Mode::Fallback,
                    SwitchReason::PolicyTripped(reason),
                    evidence,
                    downtime_started,
                );
            }
            Ok(()) => {
                tracing::info!(bank = %self.bank, %reason, %evidence, "a policy tripped but the API answered the probe: not switched");
                state.failure_run = 0;
                state.failure_run_not_answered = 0;
                state.unusable_run = 0;
                state.window.clear();
            }
        }
    }

    /// Whether the dwell time in `Fallback` is over, so the API may be probed.
    pub fn dwell_over(&self) -> bool {
        let state = self.lock();
        state.measured == Mode::Fallback && state.entered.elapsed() >= self.config.dwell
    }

    /// Records an active probe of the API. On the API, a probe counts like a request. In `Fallback`,
    /// once the dwell time is over, a probe the API answers starts `Probing` (a failed one just starts
    /// the dwell again, with no event: an outage that lasts makes no noise). While probing, good probes
    /// in a row bring the API back and a bad one returns to `Fallback`.
    pub fn record_probe(&self, outcome: CallOutcome, error: Option<&str>) {
        self.decide(|state| self.judge_probe(state, outcome, error));
    }

    fn judge_probe(&self, state: &mut State, outcome: CallOutcome, error: Option<&str>) {
        match state.measured {
            Mode::Api => self.judge(state, outcome, error),
            Mode::Fallback => {
                if state.entered.elapsed() < self.config.dwell {
                    return;
                }
                match outcome {
                    CallOutcome::Failed(_)
                    | CallOutcome::ServiceUnavailable(_)
                    | CallOutcome::Unusable(_) => state.entered = Instant::now(),
                    CallOutcome::Answered(_) => {
                        let evidence = format!(
                            "{:?} in fallback, then the API answered a probe",
                            state.entered.elapsed()
                        );
                        self.transition(
                            state,
                            Mode::Probing,
                            SwitchReason::DwellElapsed,
                            evidence,
                            None,
                        );
                        state.good_probes = 1;
                        if state.good_probes >= self.config.probes_to_recover {
                            self.recover(state);
                        }
                    }
                }
            }
            Mode::Probing => match outcome {
                CallOutcome::Answered(_) => {
                    state.good_probes += 1;
                    if state.good_probes >= self.config.probes_to_recover {
                        self.recover(state);
                    }
                }
                CallOutcome::Failed(_)
                | CallOutcome::ServiceUnavailable(_)
                | CallOutcome::Unusable(_) => {
                    let evidence = format!(
                        "probe failed after {} good ones: {}",
                        state.good_probes,
                        error.unwrap_or("no answer")
                    );
                    self.transition(
                        state,
                        Mode::Fallback,
                        SwitchReason::ProbeFailed,
                        evidence,
                        None,
                    );
                }
            },
        }
    }

    /// Back to the API after enough good probes: the failure counts start again from zero.
    fn recover(&self, state: &mut State) {
        let n = state.good_probes;
        let evidence = format!("{n} probes answered in a row");
        state.rts_run = 0;
        state.failure_run = 0;
        state.failure_run_not_answered = 0;
        state.unusable_run = 0;
        state.series_started = None;
        state.window.clear();
        self.transition(state, Mode::Api, SwitchReason::Recovered(n), evidence, None);
    }

    /// Sets or clears the manual override. Measured health goes on being tracked underneath.
    pub fn set_override(&self, value: Override) {
        self.decide(|state| {
            if state.override_ == value {
                return;
            }
            let before = self.effective(state);
            state.override_ = value;
            let after = self.effective(state);
            if before != after {
                state.sequence += 1;
                let event = SwitchEvent {
                    sequence: state.sequence,
                    bank: self.bank.clone(),
                    from: before,
                    to: after,
                    reason: SwitchReason::Override(value),
                    evidence: format!("measured health is {}", state.measured),
                    at: OffsetDateTime::now_utc(),
                    downtime_started: None,
                };
                state.outbox.push_back(Queued {
                    event,
                    effective: after,
                    journalled: None,
                });
            }
        });
    }

    fn effective(&self, state: &State) -> Mode {
        match (state.override_, self.config.exempt.is_some()) {
            (Override::ForceApi, _) | (_, true) => Mode::Api,
            (Override::ForceFallback, false) => Mode::Fallback,
            (Override::Auto, false) => state.measured,
        }
    }

    fn transition(
        &self,
        state: &mut State,
        to: Mode,
        reason: SwitchReason,
        evidence: String,
        downtime_started: Option<OffsetDateTime>,
    ) {
        if !self.is_deciding() {
            // Another replica decides this bank: its switch reaches this one through `adopt`.
            tracing::debug!(bank = %self.bank, to = %to, %reason, "not switched: another replica decides this bank's health");
            return;
        }
        let before = self.effective(state);
        let from = state.measured;
        state.measured = to;
        state.entered = Instant::now();
        state.good_probes = 0;
        state.sequence += 1;
        let after = self.effective(state);
        let event = SwitchEvent {
            sequence: state.sequence,
            bank: self.bank.clone(),
            from,
            to,
            reason,
            evidence,
            at: OffsetDateTime::now_utc(),
            downtime_started,
        };
        if before != after || self.config.exempt.is_none() {
            state.outbox.push_back(Queued {
                event,
                effective: after,
                journalled: None,
            });
        } else {
            tracing::warn!(bank = %self.bank, measured = %to, exemption = self.config.exempt.as_deref().unwrap_or(""), "the API is {} but the bank is exempt from the fallback", to);
        }
    }

    /// Journals and announces the queued switches, oldest first, without the state lock. Whoever holds
    /// `publishing` empties the whole queue, so a switch queued by another call while this one
    /// publishes is out before that call's own `flush` returns.
    fn flush(&self) {
        let _publishing = self.publishing.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            // The state lock is held only to take the next switch, never while it is published.
            let next = self.lock().outbox.pop_front();
            let Some(queued) = next else {
                return;
            };
            self.publish(queued);
        }
    }

    /// Journals one switch, then announces it: the journal always holds an event before anyone hears
    /// of it.
    fn publish(&self, queued: Queued) {
        let Queued {
            event,
            effective,
            journalled,
        } = queued;
        let id = match (journalled, self.recorder.get()) {
            (Some(id), _) => Some(id),
            (None, Some(Recorder(record))) => {
                let id = record(&event);
                if id.is_none()
                    && event.reason.cause() == SwitchCause::Measured
                    && !self.is_deciding()
                {
                    // The lease was lost before the switch was journalled: the replica that holds it
                    // now decides, and this one follows what it records.
                    tracing::warn!(bank = %event.bank, to = %event.to, "a switch decided as the lease ran out was not journalled, nor announced");
                    return;
                }
                id
            }
            (None, None) => None,
        };
        if journalled.is_some() || self.recorder.get().is_some() {
            let mut justification = self.justification.lock().unwrap_or_else(|p| p.into_inner());
            *justification = if effective == Mode::Api {
                None
            } else {
                justification.or(id)
            };
        }
        tracing::warn!(bank = %event.bank, from = %event.from, to = %event.to, reason = %event.reason, evidence = %event.evidence, "switch");
        self.mode.send_replace(effective);
        let _ = self.events.send(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> HealthConfig {
        HealthConfig {
            dwell: Duration::from_secs(10),
            probes_to_recover: 3,
            probe_interval: Duration::from_secs(1),
            probe_jitter: Duration::from_millis(200),
            probe_timeout: Duration::from_secs(2),
            ..HealthConfig::default()
        }
    }

    const OK: CallOutcome = CallOutcome::Answered(Duration::from_millis(20));
    const FAIL: CallOutcome = CallOutcome::Failed(Duration::from_millis(20));

    /// The degrading signal: up at the first failure on the API, down again when an answer resets
    /// the count (no switch), and down once the bank has switched (the mode tells the rest).
    #[tokio::test(start_paused = true)]
    async fn the_api_degrades_from_its_first_failure_until_an_answer_or_the_switch() {
        let health = Health::new("sandbox", config());
        let mut degrading = health.degrading();
        assert!(!*degrading.borrow_and_update());
        health.record(OK, None);
        assert!(!degrading.has_changed().unwrap());
        health.record(FAIL, Some("connection refused"));
        assert!(*degrading.borrow_and_update() && health.is_degrading());
        health.record(
            CallOutcome::ServiceUnavailable(Duration::from_millis(5)),
            None,
        );
        assert!(!degrading.has_changed().unwrap(), "still degrading");
        health.record(OK, None);
        assert!(!*degrading.borrow_and_update(), "recovered before a switch");
        for _ in 0..4 {
            health.record(FAIL, Some("connection refused"));
        }
        assert!(health.is_degrading() && health.mode() == Mode::Api);
        health.record(FAIL, Some("connection refused"));
        assert_eq!(health.mode(), Mode::Fallback);
        assert!(!health.is_degrading(), "switched: no longer degrading");
        health.record(FAIL, Some("connection refused"));
        assert!(
            !health.is_degrading(),
            "failures on the fallback degrade nothing"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn five_consecutive_failures_trip_the_rts_rule_and_one_answer_resets_the_count() {
        let health = Health::new("sandbox", config());
        let mut events = health.events();
        for _ in 0..4 {
            health.record(FAIL, Some("connection refused"));
        }
        health.record(OK, None);
        for _ in 0..4 {
            health.record(FAIL, Some("connection refused"));
        }
        assert_eq!(health.mode(), Mode::Api);
        health.record(FAIL, Some("connection refused"));
        assert_eq!(health.mode(), Mode::Fallback);
        let event = events.try_recv().unwrap();
        assert_eq!((event.from, event.to), (Mode::Api, Mode::Fallback));
        assert!(
            matches!(&event.reason, SwitchReason::PolicyTripped(p) if p.contains("RTS Art. 33(1)")),
            "{:?}",
            event.reason
        );
        assert!(event.evidence.contains("connection refused"));
        assert!(event.downtime_started.is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn answers_slower_than_thirty_seconds_count_as_not_replied() {
        let health = Health::new("sandbox", config());
        for _ in 0..5 {
            health.record(CallOutcome::Answered(Duration::from_secs(31)), None);
        }
        assert_eq!(health.mode(), Mode::Fallback);
    }

    #[tokio::test(start_paused = true)]
    async fn faster_policies_add_to_the_rts_rule() {
        let health = Health::new(
            "sandbox",
            HealthConfig {
                extra_policies: vec![Policy::ConsecutiveFailures { n: 2 }],
                ..config()
            },
        );
        health.record(FAIL, None);
        assert_eq!(health.mode(), Mode::Api);
        health.record(FAIL, None);
        assert_eq!(health.mode(), Mode::Fallback);

        let rate = Health::new(
            "sandbox",
            HealthConfig {
                extra_policies: vec![Policy::FailureRate {
                    window: Duration::from_secs(10),
                    min_calls: 10,
                    percent: 50,
                }],
                ..config()
            },
        );
        for i in 0..9 {
            rate.record(if i % 2 == 0 { FAIL } else { OK }, None);
        }
        assert_eq!(
            rate.mode(),
            Mode::Api,
            "fewer than the minimum number of calls"
        );
        rate.record(FAIL, None);
        assert_eq!(rate.mode(), Mode::Fallback);

        let slow = Health::new(
            "sandbox",
            HealthConfig {
                extra_policies: vec![Policy::SlowCallRate {
                    window: Duration::from_secs(10),
                    min_calls: 4,
                    slow: Duration::from_secs(2),
                    percent: 75,
                }],
                ..config()
            },
        );
        for _ in 0..3 {
            slow.record(CallOutcome::Answered(Duration::from_secs(3)), None);
        }
        slow.record(OK, None);
        assert_eq!(slow.mode(), Mode::Fallback);
    }

    const SAID_DOWN: CallOutcome = CallOutcome::ServiceUnavailable(Duration::from_millis(20));
    const UNUSABLE: CallOutcome = CallOutcome::Unusable(Duration::from_millis(20));

    /// Every switch reason is a literal statement of what was counted; each policy's text is pinned
    /// here (none of these has a probe, so each says it was not confirmed).
    #[tokio::test(start_paused = true)]
    async fn every_switch_reason_states_what_was_counted() {
        let slow = CallOutcome::Answered(Duration::from_secs(3));
        let iban = "accounts[0].iban: check digits do not match";
        type Case<'a> = (Option<Policy>, Vec<(CallOutcome, Option<&'a str>)>, &'a str);
        let cases: [Case<'_>; 5] = [
            (
                None,
                vec![(FAIL, Some("connection refused")); 5],
                "RTS Art. 33(1): 5 consecutive requests not answered within 30s",
            ),
            (
                Some(Policy::ConsecutiveFailures { n: 3 }),
                vec![(FAIL, None), (SAID_DOWN, None), (SAID_DOWN, None)],
                "3 consecutive calls failed: 1 not answered, 2 answered that the service is unavailable",
            ),
            (
                Some(Policy::FailureRate {
                    window: Duration::from_secs(10),
                    min_calls: 4,
                    percent: 50,
                }),
                vec![(OK, None), (FAIL, None), (OK, None), (SAID_DOWN, None)],
                "2 of the 4 calls in the last 10s failed (at least 50%): 1 not answered, 1 answered that the service is unavailable",
            ),
            (
                Some(Policy::SlowCallRate {
                    window: Duration::from_secs(10),
                    min_calls: 4,
                    slow: Duration::from_secs(2),
                    percent: 75,
                }),
                vec![(slow, None), (slow, None), (slow, None), (OK, None)],
                "3 of the 4 calls in the last 10s took longer than 2s (at least 75%)",
            ),
            (
                Some(Policy::UnusableAnswers { consecutive: 3 }),
                vec![(UNUSABLE, Some(iban)); 3],
                "3 consecutive answers unusable: accounts[0].iban: check digits do not match",
            ),
        ];
        for (policy, outcomes, reason) in cases {
            let health = Health::new(
                "sandbox",
                HealthConfig {
                    extra_policies: policy.into_iter().collect(),
                    ..config()
                },
            );
            let mut events = health.events();
            let (last, before) = outcomes.split_last().unwrap();
            for (outcome, error) in before {
                health.record(*outcome, *error);
            }
            assert_eq!(
                health.mode(),
                Mode::Api,
                "{reason}: not before the last call"
            );
            health.record(last.0, last.1);
            let event = events.try_recv().expect(reason);
            assert_eq!(event.reason, SwitchReason::PolicyTripped(reason.to_owned()));
            if policy.is_some() {
                assert!(
                    event
                        .evidence
                        .ends_with("not confirmed: no probe is configured"),
                    "{}",
                    event.evidence
                );
            }
        }
    }

    /// r8: answers that came at once but could not be used, and answers saying the service is
    /// unavailable, are no "requests not answered": the RTS rule never counts them.
    #[tokio::test(start_paused = true)]
    async fn unusable_or_unavailable_answers_never_count_toward_the_rts_rule() {
        let health = Health::new("sandbox", config());
        let mut events = health.events();
        for _ in 0..10 {
            health.record(
                UNUSABLE,
                Some("accounts[0].iban: check digits do not match"),
            );
        }
        for _ in 0..10 {
            health.record(SAID_DOWN, Some("503 SERVICE_UNAVAILABLE"));
        }
        // Interleaved with them, four requests not answered stay four.
        for outcome in [FAIL, FAIL, UNUSABLE, FAIL, FAIL] {
            health.record(outcome, None);
        }
        assert_eq!(health.mode(), Mode::Api);
        assert!(events.try_recv().is_err(), "no switch");
        // Answers slower than the limit are not replied to within it, whatever they said.
        for _ in 0..5 {
            health.record(CallOutcome::Unusable(Duration::from_secs(31)), None);
        }
        assert_eq!(health.mode(), Mode::Fallback);
    }

    /// A policy other than the RTS rule switches only when the engine's own probe fails too, and the
    /// event carries the probe's evidence; a probe the API answers keeps the bank on the API.
    #[tokio::test(start_paused = true)]
    async fn a_tripped_policy_switches_only_when_a_probe_confirms_it() {
        let health = Health::new(
            "sandbox",
            HealthConfig {
                extra_policies: vec![
                    Policy::ConsecutiveFailures { n: 2 },
                    Policy::UnusableAnswers { consecutive: 2 },
                ],
                ..config()
            },
        );
        let up = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let probe_up = up.clone();
        health.set_probe(Probe::new(move || {
            let up = probe_up.load(std::sync::atomic::Ordering::SeqCst);
            async move {
                if up {
                    Ok(())
                } else {
                    Err("HTTP 503 SERVICE_UNAVAILABLE".to_owned())
                }
            }
        }));
        let mut events = health.events();
        for outcome in [SAID_DOWN, SAID_DOWN, UNUSABLE, UNUSABLE] {
            health.record(outcome, Some("accounts[0].iban: check digits do not match"));
            // Lets the confirming probe run (paused time: nothing really waits).
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(health.mode(), Mode::Api, "the probe was answered");
        assert!(events.try_recv().is_err(), "no switch");

        up.store(false, std::sync::atomic::Ordering::SeqCst);
        health.record(
            UNUSABLE,
            Some("accounts[0].iban: check digits do not match"),
        );
        health.record(
            UNUSABLE,
            Some("accounts[0].iban: check digits do not match"),
        );
        let event = events.recv().await.unwrap();
        assert_eq!((event.from, event.to), (Mode::Api, Mode::Fallback));
        assert_eq!(
            event.reason,
            SwitchReason::PolicyTripped(
                "2 consecutive answers unusable: accounts[0].iban: check digits do not match"
                    .to_owned()
            )
        );
        assert!(
            event
                .evidence
                .contains("confirmed: the API probe failed too after")
                && event.evidence.ends_with("HTTP 503 SERVICE_UNAVAILABLE"),
            "{}",
            event.evidence
        );
        assert_eq!(health.mode(), Mode::Fallback);
    }

    /// The RTS rule is the law's presumption of unavailability: it switches at once, without asking a
    /// probe (which here would be answered).
    #[tokio::test(start_paused = true)]
    async fn the_rts_rule_switches_without_a_confirming_probe() {
        let health = Health::new("sandbox", config());
        health.set_probe(Probe::new(|| async { Ok(()) }));
        for _ in 0..5 {
            health.record(FAIL, Some("connection refused"));
        }
        assert_eq!(health.mode(), Mode::Fallback, "switched within the call");
    }

    #[tokio::test(start_paused = true)]
    async fn recovery_needs_dwell_then_consecutive_good_probes() {
        let health = Health::new("sandbox", config());
        let mut events = health.events();
        for _ in 0..5 {
            health.record(FAIL, None);
        }
        health.record_probe(OK, None);
        assert_eq!(health.mode(), Mode::Fallback, "still dwelling");
        tokio::time::advance(Duration::from_secs(10)).await;
        health.record_probe(FAIL, Some("503"));
        assert_eq!(
            health.mode(),
            Mode::Fallback,
            "a failed probe after the dwell changes nothing"
        );
        tokio::time::advance(Duration::from_secs(10)).await;
        health.record_probe(OK, None);
        assert_eq!(health.mode(), Mode::Probing);
        health.record_probe(OK, None);
        health.record_probe(FAIL, Some("503"));
        assert_eq!(health.mode(), Mode::Fallback, "a bad probe goes back");
        tokio::time::advance(Duration::from_secs(10)).await;
        for _ in 0..3 {
            health.record_probe(OK, None);
        }
        assert_eq!(health.mode(), Mode::Api);
        let modes: Vec<(Mode, Mode)> = std::iter::from_fn(|| events.try_recv().ok())
            .map(|e| (e.from, e.to))
            .collect();
        assert_eq!(
            modes,
            [
                (Mode::Api, Mode::Fallback),
                (Mode::Fallback, Mode::Probing),
                (Mode::Probing, Mode::Fallback),
                (Mode::Fallback, Mode::Probing),
                (Mode::Probing, Mode::Api)
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_prober_recovers_the_api_by_itself() {
        let health = Health::new("sandbox", config());
        let up = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let probe_up = up.clone();
        let prober = spawn_prober(
            health.clone(),
            Probe::new(move || {
                let up = probe_up.load(std::sync::atomic::Ordering::SeqCst);
                async move { if up { Ok(()) } else { Err("503".to_owned()) } }
            }),
        );
        let mut mode = health.watch();
        mode.wait_for(|m| *m == Mode::Fallback).await.unwrap();
        up.store(true, std::sync::atomic::Ordering::SeqCst);
        let started = Instant::now();
        mode.wait_for(|m| *m == Mode::Api).await.unwrap();
        let took = started.elapsed();
        assert!(
            took >= Duration::from_secs(10) && took <= Duration::from_secs(15),
            "{took:?}"
        );
        prober.abort();
    }

    /// Guards the lock order: the recorder (the journal's SQLite write) runs with the state lock free,
    /// before the event is broadcast and before the mode changes.
    #[tokio::test(start_paused = true)]
    async fn a_switch_is_journalled_outside_the_state_lock_and_before_it_is_broadcast() {
        let health = Health::new("sandbox", config());
        let mut events = health.events();
        let seen = Arc::new(Mutex::new(Vec::new()));
        {
            let weak = Arc::downgrade(&health);
            let seen = seen.clone();
            health.set_recorder(move |event| {
                let health = weak.upgrade().expect("the health outlives its recorder");
                seen.lock().unwrap().push((
                    event.sequence,
                    health.state.try_lock().is_ok(),
                    health.events.len(),
                    health.mode(),
                ));
                Some(7)
            });
        }
        for _ in 0..5 {
            health.record(FAIL, Some("connection refused"));
        }
        health.set_override(Override::ForceApi);
        assert_eq!(
            *seen.lock().unwrap(),
            [(1, true, 0, Mode::Api), (2, true, 1, Mode::Fallback)],
            "each switch is journalled with the state lock free, before it is broadcast and before the mode changes"
        );
        let first = events.try_recv().unwrap();
        assert_eq!((first.sequence, first.to), (1, Mode::Fallback));
        assert_eq!(events.try_recv().unwrap().sequence, 2);
        assert_eq!(health.mode(), Mode::Api);
    }

    /// While one call's switch is being journalled (a slow SQLite write), other calls go on: their
    /// outcomes are counted and the mode can be read. The switch is announced when the write is done.
    #[tokio::test(start_paused = true)]
    async fn a_slow_journal_does_not_hold_up_other_calls() {
        let health = Health::new("sandbox", config());
        let mut events = health.events();
        let (entered_tx, entered) = tokio::sync::oneshot::channel::<()>();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let entered_tx = Mutex::new(Some(entered_tx));
        let released = Mutex::new(released);
        health.set_recorder(move |_| {
            if let Some(tx) = entered_tx.lock().unwrap().take() {
                let _ = tx.send(());
            }
            // Released by the test, or by its end: a dropped sender ends the wait too.
            let _ = released.lock().unwrap().recv();
            Some(1)
        });
        for _ in 0..4 {
            health.record(FAIL, None);
        }
        let tripping = health.clone();
        let switching = tokio::task::spawn_blocking(move || tripping.record(FAIL, None));
        entered.await.unwrap();
        // The journal write is in progress: the state is free, nothing is announced yet.
        assert!(health.state.try_lock().is_ok(), "the state lock is free");
        health.record(OK, None);
        assert_eq!(health.measured(), Mode::Fallback);
        assert_eq!(
            health.mode(),
            Mode::Api,
            "not announced before it is journalled"
        );
        assert!(events.try_recv().is_err());
        release.send(()).unwrap();
        switching.await.unwrap();
        assert_eq!(health.mode(), Mode::Fallback);
        assert_eq!(events.try_recv().unwrap().to, Mode::Fallback);
        assert_eq!(health.justification(), Some(1));
    }

    #[tokio::test(start_paused = true)]
    async fn the_override_is_kept_apart_from_measured_health() {
        let health = Health::new("sandbox", config());
        health.set_override(Override::ForceFallback);
        assert_eq!(
            (health.mode(), health.measured()),
            (Mode::Fallback, Mode::Api)
        );
        for _ in 0..5 {
            health.record(FAIL, None);
        }
        assert_eq!(health.measured(), Mode::Fallback);
        health.set_override(Override::ForceApi);
        assert_eq!(health.mode(), Mode::Api);
        health.set_override(Override::Auto);
        assert_eq!(health.mode(), Mode::Fallback);
    }

    #[tokio::test(start_paused = true)]
    async fn an_exempt_bank_never_falls_back() {
        let health = Health::new(
            "sandbox",
            HealthConfig {
                exempt: Some("exempted by the NBB on 2026-03-01".to_owned()),
                ..config()
            },
        );
        let mut events = health.events();
        for _ in 0..10 {
            health.record(FAIL, None);
        }
        health.set_override(Override::ForceFallback);
        assert_eq!(health.mode(), Mode::Api);
        assert_eq!(
            health.measured(),
            Mode::Fallback,
            "health is still measured"
        );
        assert!(events.try_recv().is_err(), "no switch is announced");
        assert_eq!(
            health.exemption(),
            Some("exempted by the NBB on 2026-03-01")
        );
    }
}
