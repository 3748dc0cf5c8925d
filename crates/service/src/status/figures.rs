//! What the status page shows of one bank, gathered from its health, the journal (switches, the
//! availability report, the access log, in-doubt writes) and the owner store (consents expiring).
//! Counts and modes only: nothing here names a customer, an account, a consent or a payment.

use psd2_fallback_engine::identity::CertificateFacts;
use time::{Date, Duration, OffsetDateTime};

use psd2_fallback_engine::health::Mode;
use psd2_fallback_engine::journal::IntentState;
use psd2_fallback_engine::report::daily_availability;

use crate::state::{ServedBank, ServiceState};

/// One switch on the timeline.
#[derive(Debug, Clone)]
pub(super) struct TimelineSwitch {
    /// When.
    pub(super) at: OffsetDateTime,
    /// The mode after it.
    pub(super) to: Mode,
    /// Why, in words (never the evidence, which may quote a bank's answer).
    pub(super) reason: String,
}

/// One bank's figures.
#[derive(Debug, Clone)]
pub(super) struct BankFigures {
    /// The bank's name.
    pub(super) name: String,
    /// The mode in force.
    pub(super) mode: Mode,
    /// When the last switch was (none in the last 30 days: unknown).
    pub(super) since: Option<OffsetDateTime>,
    /// Measured health.
    pub(super) measured: Mode,
    /// The operator's override (`auto`, `force-api`, `force-fallback`).
    pub(super) override_name: &'static str,
    /// Why the bank never falls back, if it is exempt.
    pub(super) exempt: Option<String>,
    /// The mode at the start of the timeline.
    pub(super) mode_at_start: Mode,
    /// The switches of the last 24 hours, oldest first.
    pub(super) switches: Vec<TimelineSwitch>,
    /// Availability (EBA/GL/2018/07) per day, the last 30 days, today last: (day, percent).
    pub(super) days: Vec<(Date, f64)>,
    /// Website reads logged today (RTS Art. 33(5)), per hour of the day (UTC).
    pub(super) accesses_per_hour: [u32; 24],
    /// Payment writes of this bank whose outcome is unknown.
    pub(super) in_doubt: usize,
    /// Consents whose `validUntil` falls within the next 7 days.
    pub(super) consents_expiring: usize,
    /// The TPP's certificates for the bank (`qwac`, `qseal`): whose, which roles, expiring when.
    pub(super) certificates: Vec<(String, CertificateFacts)>,
    /// What could not be read, in words (the page says so instead of failing).
    pub(super) problems: Vec<String>,
}

/// The end of the timeline and the span it covers.
pub(super) const TIMELINE: Duration = Duration::hours(24);

/// The figures of every bank, at `now`.
pub(super) fn gather(state: &ServiceState, now: OffsetDateTime) -> Vec<BankFigures> {
    let inner = &state.inner;
    let open = inner.journal.open_intents();
    let today = now.date();
    inner
        .banks
        .iter()
        .map(|bank| {
            let mut figures = bank_figures(state, bank, now);
            match &open {
                Ok(open) => {
                    figures.in_doubt = open
                        .iter()
                        .filter(|i| {
                            i.bank == bank.name && matches!(i.state, IntentState::InDoubt(_))
                        })
                        .count();
                }
                Err(error) => figures.problems.push(format!("open writes: {error}")),
            }
            match inner
                .owners
                .consents_expiring(&bank.name, today, today + Duration::days(7))
            {
                Ok(count) => figures.consents_expiring = count,
                Err(error) => figures.problems.push(format!("consents: {error}")),
            }
            figures
        })
        .collect()
}

fn bank_figures(state: &ServiceState, bank: &ServedBank, now: OffsetDateTime) -> BankFigures {
    let journal = state.inner.journal.as_ref();
    let health = &bank.health;
    let mut problems = Vec::new();
    let switches = journal
        .switches(&bank.name, now - Duration::days(30), now)
        .unwrap_or_else(|error| {
            problems.push(format!("switches: {error}"));
            Vec::new()
        });
    let since = switches.last().map(|s| s.at);
    let start = now - TIMELINE;
    let recent: Vec<TimelineSwitch> = switches
        .iter()
        .filter(|s| s.at >= start)
        .map(|s| TimelineSwitch {
            at: s.at,
            to: s.to,
            reason: s.reason.clone(),
        })
        .collect();
    let mode_at_start = switches
        .iter()
        .rfind(|s| s.at < start)
        .map(|s| s.to)
        .or_else(|| switches.iter().find(|s| s.at >= start).map(|s| s.from))
        .unwrap_or_else(|| health.mode());
    let today = now.date();
    let mut days = Vec::with_capacity(30);
    for back in (0..30).rev() {
        let day = today - Duration::days(back);
        match daily_availability(journal, &bank.name, day) {
            Ok(a) => days.push((day, a.availability_percent())),
            Err(error) => {
                problems.push(format!("availability: {error}"));
                break;
            }
        }
    }
    let mut accesses_per_hour = [0u32; 24];
    match journal.access_log(today) {
        Ok(entries) => {
            for entry in entries.iter().filter(|e| e.bank == bank.name) {
                accesses_per_hour[usize::from(entry.at.hour())] += 1;
            }
        }
        Err(error) => problems.push(format!("access log: {error}")),
    }
    BankFigures {
        name: bank.name.clone(),
        mode: health.mode(),
        since,
        measured: health.measured(),
        override_name: health.override_mode().name(),
        exempt: health.exemption().map(str::to_owned),
        mode_at_start,
        switches: recent,
        days,
        accesses_per_hour,
        in_doubt: 0,
        consents_expiring: 0,
        certificates: bank.certificates.clone(),
        problems,
    }
}
