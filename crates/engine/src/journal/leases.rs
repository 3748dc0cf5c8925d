//! One health decision per bank across replicas sharing a PostgreSQL journal: the health lease.
//!
//! A bank's lease is one row of `health_leases`: its holder (a replica's name) and when it expires,
//! by the database's clock, so replicas' clocks never matter. A replica takes the lease when it is
//! free or expired and renews it while it lives, every fifth of the lease time; the holder alone
//! decides the bank's measured switches (`Health::set_deciding`), and a switch is journalled only
//! under the row's lock while the lease is still its own (`record_switch_as_holder`), so a replica that
//! lost the lease — paused, cut off, killed — can never journal a switch after its successor did.
//!
//! The journal's `switches` table is also how the decision travels: every replica reads the switches
//! journalled after the last it saw (polling, a fifth of the lease time, at most 1 s) and adopts those
//! another replica made (`Health::adopt`), announcing them on its own `/events`, metrics and `/health`.
//! One outage is one switch event in the journal whatever the number of replicas. An override set on
//! any replica is journalled once and followed by all.
//!
//! When the holder dies its lease runs out: another replica takes it within the lease time plus one
//! renewal, starts from the recorded state (`Health::follow`: on the fallback, the dwell starts again
//! from the takeover) and decides from there — the recovery is still one switch.
//!
//! Every replica's calls count in the decision: a replica that does not decide a bank reports the
//! outcome of each of its calls to the bank's API (rows of `health_reports`, written every fifth of
//! a second when it made calls), and the decider takes them (one `DELETE … RETURNING`, so each
//! report is counted once, by one decider) at the same pace and counts them as its own. An outage
//! that only a follower's traffic meets switches the bank within about half a second more than if the
//! decider had met it, and once. Reports older than two lease times (left while no replica held the
//! lease) are dropped uncounted.
//!
//! An intent in doubt is reconciled by one replica at a time: a claim is one row of `intent_claims`
//! (holder, until), taken by one statement when absent or run out, given up when the work is done.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::postgres::{pg, switch_row};
use super::{
    JournalError, JournalResult, JournalStore, PostgresJournal, StoredSwitch, cause_code, mode_code,
};
use crate::health::{Health, Mode, Override, Reported, SwitchCause, SwitchEvent, SwitchReason};

/// How often a follower writes its reports and the decider takes them.
const REPORT_EVERY: Duration = Duration::from_millis(200);

/// What the journal says of a bank's health: the state its switches led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Recorded {
    /// Measured health after the last measured switch (`Api` when there is none).
    measured: Mode,
    /// The override after the last override switch.
    override_: Override,
    /// The last switch that left the API: what justifies the fallback while it lasts.
    justification: Option<i64>,
    /// The last switch of the bank (0 when none).
    last: i64,
}

impl PostgresJournal {
    /// Takes the bank's health lease for `holder` for `lease`, or renews it when `holder` has it
    /// already; `false` when another replica holds it and it has not expired.
    pub fn take_health_lease(
        &self,
        bank: &str,
        holder: &str,
        lease: Duration,
    ) -> JournalResult<bool> {
        let (bank, holder) = (bank.to_owned(), holder.to_owned());
        let ms = lease.as_secs_f64() * 1000.0;
        self.run(move |client| async move {
            let row = client
                .query_opt(
                    "INSERT INTO health_leases (bank, holder, expires_at, taken_at)
                     VALUES ($1, $2, clock_timestamp() + $3::float8 * interval '1 millisecond',
                             clock_timestamp())
                     ON CONFLICT (bank) DO UPDATE SET
                         holder = EXCLUDED.holder,
                         expires_at = EXCLUDED.expires_at,
                         taken_at = CASE WHEN health_leases.holder = EXCLUDED.holder
                                         THEN health_leases.taken_at ELSE EXCLUDED.taken_at END
                     WHERE health_leases.holder = EXCLUDED.holder
                        OR health_leases.expires_at < clock_timestamp()
                     RETURNING holder",
                    &[&bank, &holder, &ms],
                )
                .await
                .map_err(pg("taking the health lease"))?;
            Ok(row.is_some())
        })
    }

    /// Gives the bank's health lease up, if `holder` has it, so another replica takes it at once.
    pub fn release_health_lease(&self, bank: &str, holder: &str) -> JournalResult<()> {
        let (bank, holder) = (bank.to_owned(), holder.to_owned());
        self.run(move |client| async move {
            client
                .execute(
                    "DELETE FROM health_leases WHERE bank = $1 AND holder = $2",
                    &[&bank, &holder],
                )
                .await
                .map_err(pg("giving the health lease up"))?;
            Ok(())
        })
    }

    /// Journals a switch of the bank only if `holder` holds its health lease, under the lease row's
    /// lock: `None` (nothing written) when it does not.
    pub fn record_switch_as_holder(
        &self,
        event: &SwitchEvent,
        holder: &str,
    ) -> JournalResult<Option<i64>> {
        let values = (
            event.bank.clone(),
            mode_code(event.from),
            mode_code(event.to),
            cause_code(event.reason.cause()),
            event.reason.to_string(),
            event.evidence.clone(),
            event.at,
            event.downtime_started,
        );
        let holder = holder.to_owned();
        self.run(move |mut client| async move {
            let (bank, from, to, cause, reason, evidence, at, downtime) = values;
            let what = "journalling a switch under the health lease";
            let transaction = client.transaction().await.map_err(pg(what))?;
            let held = transaction
                .query_opt(
                    "SELECT 1 FROM health_leases
                     WHERE bank = $1 AND holder = $2 AND expires_at > clock_timestamp()
                     FOR UPDATE",
                    &[&bank, &holder],
                )
                .await
                .map_err(pg(what))?
                .is_some();
            if !held {
                return Ok(None);
            }
            let id: i64 = transaction
                .query_one(
                    "INSERT INTO switches (bank, from_mode, to_mode, cause, reason, evidence, at, downtime_started)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                    &[&bank, &from, &to, &cause, &reason, &evidence, &at, &downtime],
                )
                .await
                .map_err(pg(what))?
                .try_get(0)?;
            transaction.commit().await.map_err(pg(what))?;
            Ok(Some(id))
        })
    }

    /// Reports the outcomes of this replica's calls to the bank's API, for the replica that decides
    /// the bank's health (one statement, whatever their number).
    pub fn report_outcomes(&self, bank: &str, reports: &[Reported]) -> JournalResult<()> {
        if reports.is_empty() {
            return Ok(());
        }
        let (bank, replica) = (bank.to_owned(), self.replica().to_owned());
        let kinds: Vec<&'static str> = reports.iter().map(Reported::kind).collect();
        let latencies: Vec<f64> = reports
            .iter()
            .map(|r| r.latency().as_secs_f64() * 1000.0)
            .collect();
        let errors: Vec<Option<String>> = reports.iter().map(|r| r.error.clone()).collect();
        self.run(move |client| async move {
            client
                .execute(
                    "INSERT INTO health_reports (bank, replica, outcome, latency_ms, error)
                     SELECT $1, $2, outcome, latency_ms, error
                     FROM unnest($3::text[], $4::float8[], $5::text[])
                          WITH ORDINALITY AS r (outcome, latency_ms, error, n)
                     ORDER BY n",
                    &[&bank, &replica, &kinds, &latencies, &errors],
                )
                .await
                .map_err(pg("reporting the outcomes of calls"))?;
            Ok(())
        })
    }

    /// Takes every report of the bank's calls (each is taken once, by one caller), oldest first,
    /// leaving out those older than `fresh`.
    pub fn take_reports(&self, bank: &str, fresh: Duration) -> JournalResult<Vec<Reported>> {
        let bank = bank.to_owned();
        let ms = fresh.as_secs_f64() * 1000.0;
        self.run(move |client| async move {
            let rows = client
                .query(
                    "DELETE FROM health_reports WHERE bank = $1
                     RETURNING id, outcome, latency_ms, error,
                               at > clock_timestamp() - $2::float8 * interval '1 millisecond'",
                    &[&bank, &ms],
                )
                .await
                .map_err(pg("taking the reports of calls"))?;
            let mut taken = Vec::with_capacity(rows.len());
            for row in &rows {
                let (id, kind, ms, error, fresh): (i64, String, f64, Option<String>, bool) = (
                    row.try_get(0)?,
                    row.try_get(1)?,
                    row.try_get(2)?,
                    row.try_get(3)?,
                    row.try_get(4)?,
                );
                let latency = Duration::from_secs_f64(ms.max(0.0) / 1000.0);
                if let Some(reported) = Reported::parse(&kind, latency, error).filter(|_| fresh) {
                    taken.push((id, reported));
                }
            }
            taken.sort_by_key(|(id, _)| *id);
            Ok(taken.into_iter().map(|(_, r)| r).collect())
        })
    }

    /// Claims an intent for this replica for `hold`, unless another replica's claim on it is live
    /// (one row per intent in `intent_claims`, taken by one statement).
    pub(super) fn claim(&self, key: &str, hold: Duration) -> JournalResult<bool> {
        let (key, holder) = (key.to_owned(), self.replica().to_owned());
        let ms = hold.as_secs_f64() * 1000.0;
        self.run(move |client| async move {
            let row = client
                .query_opt(
                    "INSERT INTO intent_claims (key, holder, until)
                     VALUES ($1, $2, clock_timestamp() + $3::float8 * interval '1 millisecond')
                     ON CONFLICT (key) DO UPDATE SET holder = EXCLUDED.holder, until = EXCLUDED.until
                     WHERE intent_claims.until < clock_timestamp()
                        OR intent_claims.holder = EXCLUDED.holder
                     RETURNING key",
                    &[&key, &holder, &ms],
                )
                .await
                .map_err(pg("claiming an intent"))?;
            Ok(row.is_some())
        })
    }

    /// Gives this replica's claim on an intent up.
    pub(super) fn release(&self, key: &str) -> JournalResult<()> {
        let (key, holder) = (key.to_owned(), self.replica().to_owned());
        self.run(move |client| async move {
            client
                .execute(
                    "DELETE FROM intent_claims WHERE key = $1 AND holder = $2",
                    &[&key, &holder],
                )
                .await
                .map_err(pg("giving a claim on an intent up"))?;
            Ok(())
        })
    }

    /// The bank's switches journalled after the one numbered `after`, oldest first.
    pub fn switches_after(&self, bank: &str, after: i64) -> JournalResult<Vec<StoredSwitch>> {
        let bank = bank.to_owned();
        self.run(move |client| async move {
            client
                .query(
                    "SELECT * FROM switches WHERE bank = $1 AND id > $2 ORDER BY id",
                    &[&bank, &after],
                )
                .await
                .map_err(pg("reading the switches"))?
                .iter()
                .map(switch_row)
                .collect()
        })
    }

    /// Where the bank's journalled switches left its health.
    fn recorded_health(&self, bank: &str) -> JournalResult<Recorded> {
        let bank = bank.to_owned();
        self.run(move |client| async move {
            let what = "reading the bank's recorded health";
            let last = |cause: SwitchCause| {
                let (client, bank) = (&client, &bank);
                async move {
                    client
                        .query_opt(
                            "SELECT * FROM switches WHERE bank = $1 AND cause = $2
                             ORDER BY id DESC LIMIT 1",
                            &[bank, &cause_code(cause)],
                        )
                        .await
                        .map_err(pg(what))?
                        .as_ref()
                        .map(switch_row)
                        .transpose()
                }
            };
            let measured = last(SwitchCause::Measured).await?;
            let override_ = last(SwitchCause::Override).await?;
            let row = client
                .query_one(
                    "SELECT
                         (SELECT max(id) FROM switches WHERE bank = $1 AND cause = 'measured'
                              AND from_mode = 'api'),
                         (SELECT coalesce(max(id), 0) FROM switches WHERE bank = $1)",
                    &[&bank],
                )
                .await
                .map_err(pg(what))?;
            let measured = measured.map_or(Mode::Api, |s| s.to);
            Ok(Recorded {
                measured,
                override_: override_
                    .and_then(|s| match SwitchReason::parse(&s.reason) {
                        Some(SwitchReason::Override(value)) => Some(value),
                        _ => None,
                    })
                    .unwrap_or_default(),
                justification: row.try_get::<_, Option<i64>>(0)?,
                last: row.try_get(1)?,
            })
        })
    }
}

/// A task aborted when this is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The switch event a journalled switch was, as its replica announced it.
fn event_of(stored: &StoredSwitch) -> Option<SwitchEvent> {
    Some(SwitchEvent {
        sequence: 0,
        bank: stored.bank.clone(),
        from: stored.from,
        to: stored.to,
        reason: SwitchReason::parse(&stored.reason)?,
        evidence: stored.evidence.clone(),
        at: stored.at,
        downtime_started: stored.downtime_started,
    })
}

/// One bank's health shared through the journal by this replica: it takes and renews the bank's
/// lease, decides while it holds it, and adopts the switches the others journal.
#[derive(Debug)]
pub struct HealthShare {
    journal: Arc<PostgresJournal>,
    health: Arc<Health>,
    /// This replica's name, as the lease's holder.
    replica: String,
    /// How long a lease lasts without renewal: the bound on a takeover.
    lease: Duration,
    /// The switches this replica journalled itself, not to be adopted again when read back.
    own: Mutex<HashSet<i64>>,
}

impl HealthShare {
    /// Shares `health` through `journal` as the journal's replica: from now on this replica journals a measured
    /// switch only while it holds the bank's lease (the journal's recorder is installed here, so call
    /// this before the failover is made), starts where the journal left the bank's health, and — in
    /// the task returned, until it is aborted — takes or renews the lease and adopts the others'
    /// switches every fifth of `lease` (at most 1 s). Waits on the database: call it off the async
    /// threads.
    pub fn start(
        journal: Arc<PostgresJournal>,
        health: Arc<Health>,
        lease: Duration,
    ) -> JournalResult<(Arc<Self>, tokio::task::JoinHandle<()>)> {
        let replica = journal.replica().to_owned();
        let recorded = journal.recorded_health(health.bank())?;
        health.set_deciding(false);
        health.follow(
            recorded.measured,
            recorded.override_,
            recorded.justification,
        );
        let share = Arc::new(Self {
            journal,
            health: health.clone(),
            replica,
            lease,
            own: Mutex::default(),
        });
        let recorder = Arc::downgrade(&share);
        health.set_recorder(move |event| recorder.upgrade().and_then(|s| s.record(event)));
        health.keep_reports();
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            JournalError::postgres("sharing health", "no runtime to run the lease on")
        })?;
        let reports = runtime.spawn(Arc::clone(&share).exchange_reports());
        let lease = runtime.spawn(Arc::clone(&share).run(recorded.last));
        // One task to abort: the lease's, which ends the reports' with it.
        let task = runtime.spawn(async move {
            let _reports = AbortOnDrop(reports);
            let _ = lease.await;
        });
        Ok((share, task))
    }

    /// This replica's name.
    pub fn replica(&self) -> &str {
        &self.replica
    }

    fn own(&self) -> std::sync::MutexGuard<'_, HashSet<i64>> {
        self.own.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The recorder: a measured switch under the lease, an override as it is.
    fn record(&self, event: &SwitchEvent) -> Option<i64> {
        // Held while the switch is written, so the round that reads it back finds it as this
        // replica's own and does not adopt it again.
        let mut own = self.own();
        let recorded = match event.reason.cause() {
            SwitchCause::Measured => self.journal.record_switch_as_holder(event, &self.replica),
            SwitchCause::Override => self.journal.record_switch(event).map(Some),
        };
        match recorded {
            Ok(Some(id)) => {
                own.insert(id);
                Some(id)
            }
            Ok(None) => {
                drop(own);
                self.health.set_deciding(false);
                None
            }
            Err(error) => {
                tracing::error!(%error, bank = %event.bank, "a switch event could not be journalled");
                None
            }
        }
    }

    /// Every [`REPORT_EVERY`], until aborted: as a follower, writes the outcomes of this replica's
    /// own calls; as the decider, takes every replica's reports and counts them.
    async fn exchange_reports(self: Arc<Self>) {
        loop {
            tokio::time::sleep(REPORT_EVERY).await;
            let share = Arc::clone(&self);
            let round = tokio::task::spawn_blocking(move || share.report_round()).await;
            match round {
                Ok(Ok(())) => {}
                Ok(Err(error)) => {
                    tracing::warn!(%error, bank = %self.health.bank(), "the outcomes of calls could not be exchanged with the other replicas");
                }
                Err(_) => return,
            }
        }
    }

    fn report_round(&self) -> JournalResult<()> {
        let bank = self.health.bank();
        let kept = self.health.take_reports();
        self.journal.report_outcomes(bank, &kept)?;
        if self.health.is_deciding() {
            for reported in self.journal.take_reports(bank, self.lease * 2)? {
                self.health.record_reported(&reported);
            }
        }
        Ok(())
    }

    /// The renewal interval: a fifth of the lease, between 50 ms and 1 s.
    fn tick(&self) -> Duration {
        (self.lease / 5).clamp(Duration::from_millis(50), Duration::from_secs(1))
    }

    async fn run(self: Arc<Self>, mut last: i64) {
        let mut first = true;
        loop {
            if !first {
                tokio::time::sleep(self.tick()).await;
            }
            first = false;
            let share = Arc::clone(&self);
            let step = tokio::task::spawn_blocking(move || share.step(last)).await;
            match step {
                Ok(Ok(seen)) => last = seen,
                Ok(Err(error)) => {
                    tracing::warn!(%error, bank = %self.health.bank(), "the health lease could not be renewed; not deciding");
                    self.health.set_deciding(false);
                }
                Err(_) => return,
            }
        }
    }

    /// One round: adopt the switches the others journalled since `last`, then take or renew the
    /// lease; on taking it, start from the recorded state. Returns the last switch seen.
    fn step(&self, mut last: i64) -> JournalResult<i64> {
        let bank = self.health.bank().to_owned();
        for stored in self.journal.switches_after(&bank, last)? {
            last = last.max(stored.id);
            if self.own().remove(&stored.id) {
                continue;
            }
            match event_of(&stored) {
                Some(event) => self.health.adopt(stored.id, event),
                None => {
                    tracing::warn!(bank = %bank, id = stored.id, reason = %stored.reason, "a journalled switch whose reason this version cannot read was not adopted");
                }
            }
        }
        let held = self
            .journal
            .take_health_lease(&bank, &self.replica, self.lease)?;
        match (held, self.health.is_deciding()) {
            (true, false) => {
                let recorded = self.journal.recorded_health(&bank)?;
                self.health.follow(
                    recorded.measured,
                    recorded.override_,
                    recorded.justification,
                );
                self.health.set_deciding(true);
                tracing::info!(bank = %bank, replica = %self.replica, "this replica holds the bank's health lease: it decides");
            }
            (false, true) => self.health.set_deciding(false),
            _ => {}
        }
        Ok(last)
    }
}
