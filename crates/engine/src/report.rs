//! The availability report, in the regulator's terms (EBA/GL/2018/07 §2.2–2.4).
//!
//! Downtime starts at the first failed request of the series that made the engine switch to the
//! fallback (the switch event's `downtime_started`), and ends when the engine switches back to the API.
//! Daily availability is the share of a midnight-to-midnight (UTC) day the dedicated interface was up.
//! Only switches of measured health count: an operator's override chooses a channel and says nothing
//! about the API, so a forced fallback is no downtime and forcing the API does not end an outage.

use time::{Date, Duration, OffsetDateTime, Time};

use crate::health::{Mode, SwitchCause};
use crate::journal::{AccessEntry, JournalResult, JournalStore, StoredSwitch};

/// One bank's availability on one day.
#[derive(Debug, Clone, PartialEq)]
pub struct DailyAvailability {
    /// The bank.
    pub bank: String,
    /// The day (UTC).
    pub day: Date,
    /// Seconds of the day the API was down.
    pub downtime_seconds: i64,
    /// The outages that touched the day: start and end (clipped to the day).
    pub outages: Vec<(OffsetDateTime, OffsetDateTime)>,
}

impl DailyAvailability {
    /// Downtime as a percentage of the day.
    pub fn downtime_percent(&self) -> f64 {
        self.downtime_seconds as f64 * 100.0 / 86_400.0
    }

    /// Uptime as a percentage of the day.
    pub fn availability_percent(&self) -> f64 {
        100.0 - self.downtime_percent()
    }
}

/// Outages from a bank's switch events: each runs from the start of the failure series that caused the
/// switch to the fallback until the switch back to the API (or `until`, if still down). Overrides are
/// left out: their modes are the ones in force, not measured health.
pub fn outages(
    switches: &[StoredSwitch],
    until: OffsetDateTime,
) -> Vec<(OffsetDateTime, OffsetDateTime)> {
    let mut out = Vec::new();
    let mut open: Option<OffsetDateTime> = None;
    for s in switches.iter().filter(|s| s.cause == SwitchCause::Measured) {
        match (s.from, s.to) {
            (Mode::Api, Mode::Fallback) if open.is_none() => {
                open = Some(s.downtime_started.unwrap_or(s.at))
            }
            (_, Mode::Api) => {
                if let Some(start) = open.take() {
                    out.push((start, s.at));
                }
            }
            _ => {}
        }
    }
    if let Some(start) = open {
        out.push((start, until.max(start)));
    }
    out
}

/// A bank's availability on a day, from the journal.
pub fn daily_availability(
    journal: &dyn JournalStore,
    bank: &str,
    day: Date,
) -> JournalResult<DailyAvailability> {
    let start = day.with_time(Time::MIDNIGHT).assume_utc();
    let end = start + Duration::days(1);
    // An outage that began before the day and lasts into it must be seen: read back far enough.
    let switches = journal.switches(bank, start - Duration::days(30), end)?;
    let now = OffsetDateTime::now_utc();
    let clipped: Vec<(OffsetDateTime, OffsetDateTime)> = outages(&switches, now.min(end))
        .into_iter()
        .filter_map(|(a, b)| {
            let (a, b) = (a.max(start), b.min(end));
            (b > a).then_some((a, b))
        })
        .collect();
    let downtime_seconds = clipped.iter().map(|(a, b)| (*b - *a).whole_seconds()).sum();
    Ok(DailyAvailability {
        bank: bank.to_owned(),
        day,
        downtime_seconds,
        outages: clipped,
    })
}

/// The regulator's figures of one bank on one day: availability, and the fallback accesses with the
/// switches that justified them (RTS Art. 33(5)).
#[derive(Debug, Clone, PartialEq)]
pub struct DayFigures {
    /// Downtime and availability (EBA/GL/2018/07).
    pub availability: DailyAvailability,
    /// The day's website accesses of this bank, in order.
    pub accesses: Vec<AccessEntry>,
    /// The switches the accesses name as their justification, by id (each once).
    pub justifying: Vec<StoredSwitch>,
}

/// The regulator's figures per bank and per day, `from` to `to` (both included), banks in the order
/// given.
pub fn regulator_figures(
    journal: &dyn JournalStore,
    banks: &[String],
    from: Date,
    to: Date,
) -> JournalResult<Vec<DayFigures>> {
    let mut out = Vec::new();
    let mut day = from;
    while day <= to {
        let accesses = journal.access_log(day)?;
        let start = day.with_time(Time::MIDNIGHT).assume_utc();
        for bank in banks {
            let availability = daily_availability(journal, bank, day)?;
            let accesses: Vec<AccessEntry> = accesses
                .iter()
                .filter(|a| &a.bank == bank)
                .cloned()
                .collect();
            let mut ids: Vec<i64> = accesses.iter().filter_map(|a| a.switch_event).collect();
            ids.sort_unstable();
            ids.dedup();
            let justifying = if ids.is_empty() {
                Vec::new()
            } else {
                // A justifying switch is at most 30 days older than the access it justifies.
                journal
                    .switches(bank, start - Duration::days(31), start + Duration::days(1))?
                    .into_iter()
                    .filter(|s| ids.contains(&s.id))
                    .collect()
            };
            out.push(DayFigures {
                availability,
                accesses,
                justifying,
            });
        }
        match day.next_day() {
            Some(next) => day = next,
            None => break,
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    use crate::health::Mode::{Api, Fallback, Probing};

    fn switch(
        from: Mode,
        to: Mode,
        at: OffsetDateTime,
        started: Option<OffsetDateTime>,
    ) -> StoredSwitch {
        StoredSwitch {
            id: 0,
            bank: "sandbox".to_owned(),
            from,
            to,
            cause: SwitchCause::Measured,
            reason: String::new(),
            evidence: String::new(),
            at,
            downtime_started: started,
        }
    }

    #[test]
    fn downtime_runs_from_the_first_failure_to_the_switch_back() {
        let switches = [
            switch(
                Api,
                Fallback,
                datetime!(2026-11-23 10:00:30 UTC),
                Some(datetime!(2026-11-23 10:00:00 UTC)),
            ),
            switch(Fallback, Probing, datetime!(2026-11-23 10:05:00 UTC), None),
            switch(Probing, Fallback, datetime!(2026-11-23 10:06:00 UTC), None),
            switch(Fallback, Probing, datetime!(2026-11-23 10:10:00 UTC), None),
            switch(Probing, Api, datetime!(2026-11-23 10:15:00 UTC), None),
            switch(
                Api,
                Fallback,
                datetime!(2026-11-23 23:50:00 UTC),
                Some(datetime!(2026-11-23 23:50:00 UTC)),
            ),
        ];
        let found = outages(&switches, datetime!(2026-11-24 00:20:00 UTC));
        assert_eq!(
            found,
            [
                (
                    datetime!(2026-11-23 10:00:00 UTC),
                    datetime!(2026-11-23 10:15:00 UTC)
                ),
                (
                    datetime!(2026-11-23 23:50:00 UTC),
                    datetime!(2026-11-24 00:20:00 UTC)
                ),
            ]
        );
    }

    /// An operator forcing the fallback is no outage of the API; an outage that starts while the
    /// override is on counts from its first failed request, and forcing the API does not end it: only
    /// measured recovery does.
    #[test]
    fn an_override_is_no_downtime_of_the_api() {
        let overridden = |from, to, at| StoredSwitch {
            cause: SwitchCause::Override,
            ..switch(from, to, at, None)
        };
        let forced_only = [
            overridden(Api, Fallback, datetime!(2026-11-23 09:00:00 UTC)),
            overridden(Fallback, Api, datetime!(2026-11-23 09:30:00 UTC)),
        ];
        assert_eq!(outages(&forced_only, datetime!(2026-11-24 00:00 UTC)), []);

        let switches = [
            overridden(Api, Fallback, datetime!(2026-11-23 09:00:00 UTC)),
            switch(
                Api,
                Fallback,
                datetime!(2026-11-23 10:00:30 UTC),
                Some(datetime!(2026-11-23 10:00:00 UTC)),
            ),
            overridden(Fallback, Api, datetime!(2026-11-23 10:05:00 UTC)),
            switch(Fallback, Probing, datetime!(2026-11-23 10:10:00 UTC), None),
            switch(Probing, Api, datetime!(2026-11-23 10:15:00 UTC), None),
        ];
        assert_eq!(
            outages(&switches, datetime!(2026-11-24 00:00 UTC)),
            [(
                datetime!(2026-11-23 10:00:00 UTC),
                datetime!(2026-11-23 10:15:00 UTC)
            )]
        );
    }

    /// The same through the journal and a real `Health`: a day with only an override-forced fallback
    /// is fully available.
    #[tokio::test(start_paused = true)]
    async fn a_forced_fallback_leaves_the_day_fully_available() {
        use crate::health::{Health, HealthConfig, Override};
        use std::sync::Arc;
        let dir =
            std::env::temp_dir().join(format!("psd2-fallback-report-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let journal = Arc::new(crate::journal::SqliteJournal::open(&dir.join("j.sqlite")).unwrap());
        let health = Health::new("sandbox", HealthConfig::default());
        let recorder = journal.clone();
        health.set_recorder(move |event| recorder.record_switch(event).ok());
        let before = OffsetDateTime::now_utc();
        health.set_override(Override::ForceFallback);
        assert_eq!(health.mode(), Mode::Fallback);
        tokio::time::advance(std::time::Duration::from_secs(60)).await;
        health.set_override(Override::Auto);
        let switches = journal
            .switches(
                "sandbox",
                before,
                OffsetDateTime::now_utc() + Duration::seconds(1),
            )
            .unwrap();
        assert_eq!(switches.len(), 2, "both switches are journalled");
        assert!(switches.iter().all(|s| s.cause == SwitchCause::Override));
        let day = daily_availability(&*journal, "sandbox", before.date()).unwrap();
        assert_eq!((day.downtime_seconds, day.outages.len()), (0, 0));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_day_counts_only_its_own_seconds() {
        let dir =
            std::env::temp_dir().join(format!("psd2-fallback-report-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let journal = crate::journal::SqliteJournal::open(&dir.join("j.sqlite")).unwrap();
        let event = |from, to, at: OffsetDateTime, started| crate::health::SwitchEvent {
            sequence: 0,
            bank: "sandbox".to_owned(),
            from,
            to,
            reason: crate::health::SwitchReason::DwellElapsed,
            evidence: String::new(),
            at,
            downtime_started: started,
        };
        journal
            .record_switch(&event(
                Api,
                Fallback,
                datetime!(2026-11-22 23:00:00 UTC),
                Some(datetime!(2026-11-22 23:00:00 UTC)),
            ))
            .unwrap();
        journal
            .record_switch(&event(
                Fallback,
                Probing,
                datetime!(2026-11-23 00:30:00 UTC),
                None,
            ))
            .unwrap();
        journal
            .record_switch(&event(
                Probing,
                Api,
                datetime!(2026-11-23 01:00:00 UTC),
                None,
            ))
            .unwrap();
        let day =
            daily_availability(&journal, "sandbox", time::macros::date!(2026 - 11 - 23)).unwrap();
        assert_eq!(day.downtime_seconds, 3_600);
        assert!((day.availability_percent() - (100.0 - 100.0 / 24.0)).abs() < 1e-9);
        let before =
            daily_availability(&journal, "sandbox", time::macros::date!(2026 - 11 - 22)).unwrap();
        assert_eq!(before.downtime_seconds, 3_600);
        let after =
            daily_availability(&journal, "sandbox", time::macros::date!(2026 - 11 - 24)).unwrap();
        assert_eq!(after.downtime_seconds, 0);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
