//! The availability report, in the regulator's terms (EBA/GL/2018/07 §2.2–2.4).
//!
//! Downtime starts at the first failed request of the series that made the engine switch to the
//! fallback (the switch event's `downtime_started`), and ends when the engine switches back to the API.
//! Daily availability is the share of a midnight-to-midnight (UTC) day the dedicated interface was up.

use time::{Date, Duration, OffsetDateTime, Time};

use crate::journal::{JournalResult, JournalStore, StoredSwitch};

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
/// switch to the fallback until the switch back to the API (or `until`, if still down).
pub fn outages(
    switches: &[StoredSwitch],
    until: OffsetDateTime,
) -> Vec<(OffsetDateTime, OffsetDateTime)> {
    let mut out = Vec::new();
    let mut open: Option<OffsetDateTime> = None;
    for s in switches {
        match (s.from.as_str(), s.to.as_str()) {
            ("api", "fallback") if open.is_none() => {
                open = Some(s.downtime_started.unwrap_or(s.at))
            }
            (_, "api") => {
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

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn switch(
        from: &str,
        to: &str,
        at: OffsetDateTime,
        started: Option<OffsetDateTime>,
    ) -> StoredSwitch {
        StoredSwitch {
            id: 0,
            bank: "sandbox".to_owned(),
            from: from.to_owned(),
            to: to.to_owned(),
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
                "api",
                "fallback",
                datetime!(2026-11-23 10:00:30 UTC),
                Some(datetime!(2026-11-23 10:00:00 UTC)),
            ),
            switch(
                "fallback",
                "probing",
                datetime!(2026-11-23 10:05:00 UTC),
                None,
            ),
            switch(
                "probing",
                "fallback",
                datetime!(2026-11-23 10:06:00 UTC),
                None,
            ),
            switch(
                "fallback",
                "probing",
                datetime!(2026-11-23 10:10:00 UTC),
                None,
            ),
            switch("probing", "api", datetime!(2026-11-23 10:15:00 UTC), None),
            switch(
                "api",
                "fallback",
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
        use crate::health::Mode::{Api, Fallback, Probing};
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
