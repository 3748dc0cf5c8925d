//! The extra unavailability policies, judged on the counts: whether one trips, and the reason it
//! states (what was counted, in numbers) with its evidence.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use super::{Policy, Sample, State};

/// Whether an extra policy trips on the counts, and if so its reason — a statement of what was
/// counted, in numbers — and its evidence.
pub(super) fn trips(policy: &Policy, state: &State, now: Instant) -> Option<(String, String)> {
    let last_failure = || {
        format!(
            "last failure: {}",
            state.last_failure.as_deref().unwrap_or("none recorded")
        )
    };
    match *policy {
        Policy::Rts {
            consecutive,
            within,
        } => (state.rts_run >= consecutive).then(|| {
            (
                format!(
                    "{} consecutive requests not answered within {within:?}",
                    state.rts_run
                ),
                format!(
                    "last request not answered in time: {}",
                    state.last_not_replied.as_deref().unwrap_or("none recorded")
                ),
            )
        }),
        Policy::ConsecutiveFailures { n } => (state.failure_run >= n).then(|| {
            let answered = state.failure_run - state.failure_run_not_answered;
            (
                format!(
                    "{} consecutive calls failed: {} not answered, {answered} answered that the service is unavailable",
                    state.failure_run, state.failure_run_not_answered
                ),
                last_failure(),
            )
        }),
        Policy::FailureRate {
            window,
            min_calls,
            percent,
        } => rate(&state.window, now, window, min_calls, percent, |s| s.failed).map(
            |(bad, calls, recent)| {
                let not_answered = recent.iter().filter(|s| s.not_answered).count();
                (
                    format!(
                        "{bad} of the {calls} calls in the last {window:?} failed (at least {percent}%): {not_answered} not answered, {} answered that the service is unavailable",
                        bad - not_answered
                    ),
                    last_failure(),
                )
            },
        ),
        Policy::SlowCallRate {
            window,
            min_calls,
            slow,
            percent,
        } => rate(&state.window, now, window, min_calls, percent, |s| {
            s.latency > slow
        })
        .map(|(bad, calls, recent)| {
            let slowest = recent.iter().map(|s| s.latency).max().unwrap_or_default();
            (
                format!(
                    "{bad} of the {calls} calls in the last {window:?} took longer than {slow:?} (at least {percent}%)"
                ),
                format!("the slowest took {slowest:?}"),
            )
        }),
        Policy::UnusableAnswers { consecutive } => {
            (state.unusable_run >= consecutive).then(|| {
                let last = state.last_unusable.as_deref().unwrap_or("not recorded");
                (
                    format!(
                        "{} consecutive answers unusable: {last}",
                        state.unusable_run
                    ),
                    format!("the last unusable answer: {last}"),
                )
            })
        }
    }
}

/// When at least `percent` % of the calls in the last `span` are bad (once there are `min_calls`):
/// how many were bad, out of how many, and the calls counted.
fn rate(
    window: &VecDeque<Sample>,
    now: Instant,
    span: Duration,
    min_calls: u32,
    percent: u8,
    bad: impl Fn(&Sample) -> bool,
) -> Option<(usize, usize, Vec<&Sample>)> {
    let recent: Vec<&Sample> = window
        .iter()
        .filter(|s| now.duration_since(s.at) <= span)
        .collect();
    if recent.len() < min_calls as usize || recent.is_empty() {
        return None;
    }
    let calls = recent.len();
    let bad: Vec<&Sample> = recent.into_iter().filter(|s| bad(s)).collect();
    (bad.len() * 100 >= calls * usize::from(percent)).then_some((bad.len(), calls, bad))
}
