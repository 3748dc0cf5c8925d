//! The events for applications of replicas that share a PostgreSQL journal: one outbox in the
//! journal's database (tables of its own, migrated by their own versions), reached through the
//! journal's pool, so an event is made once and delivered once whichever replicas see what causes it.
//!
//! - **Once per key.** `outbox_events.key` is unique: of the replicas that record one switch (the
//!   decider, and each replica that adopts it) or one consent's expiry, the first insert makes the
//!   event and the others make nothing. Events are inserted one at a time (a transaction-scoped
//!   advisory lock), so their ids commit in order and a caller resuming `/events` after an id never
//!   misses a later-committed smaller one.
//! - **One delivery at a time.** Before it posts a delivery, a replica claims it: one `UPDATE` that
//!   succeeds only while the delivery is undelivered, due and not claimed by a live claim. The claim
//!   lasts [`CLAIM_HOLD`] (longer than a delivery's own timeout) and is given up when the attempt ends.
//! - **At least once.** A replica killed while it posts leaves its claim to run out; another replica
//!   then delivers the event again. A receiver may so see an event twice after a crash, with the same
//!   `X-Event-ID`, and drops the second.

use std::sync::Arc;
use std::time::Duration;

use psd2_fallback_engine::journal::{JournalError, PostgresJournal};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::outbox::{AppEvent, Due, now_ms};
use crate::owners::{OwnerStoreError, OwnerStoreResult};

/// How long a replica's claim on a delivery lasts: a webhook's own timeout (10 s) and a margin. A
/// replica that dies holding one delays that delivery by at most this.
pub(crate) const CLAIM_HOLD: Duration = Duration::from_secs(30);

/// The advisory lock event inserts take, one at a time (any constant the database's other users do not
/// take).
const EVENT_LOCK: i64 = 0x7073_6432_6662_6f62;

/// The outbox's tables, by version.
const MIGRATIONS: &[(i32, &str)] = &[(
    1,
    "
CREATE TABLE outbox_events (
    id BIGSERIAL PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    caller TEXT NOT NULL,
    bank TEXT NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE TABLE outbox_deliveries (
    event BIGINT NOT NULL REFERENCES outbox_events (id) ON DELETE CASCADE,
    caller TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at BIGINT NOT NULL,
    delivered_at TEXT,
    claimed_by TEXT,
    claimed_until TIMESTAMPTZ,
    PRIMARY KEY (event, caller)
);
CREATE INDEX outbox_deliveries_due ON outbox_deliveries (next_at) WHERE delivered_at IS NULL;
",
)];

/// The events for applications and their deliveries, in the PostgreSQL database the replicas share.
#[derive(Debug)]
pub struct PostgresOutbox {
    journal: Arc<PostgresJournal>,
}

fn store_error(error: JournalError) -> OwnerStoreError {
    OwnerStoreError::new(error.to_string())
}

fn pg(what: &'static str) -> impl FnOnce(tokio_postgres::Error) -> JournalError {
    move |source| JournalError::Postgres {
        what,
        message: source
            .as_db_error()
            .map_or_else(|| source.to_string(), |db| db.message().to_owned()),
        source: Box::new(source),
    }
}

fn event_of(row: &tokio_postgres::Row) -> Result<AppEvent, tokio_postgres::Error> {
    Ok(AppEvent {
        id: row.try_get(0)?,
        caller: row.try_get(1)?,
        kind: row.try_get(2)?,
        body: serde_json::from_str(&row.try_get::<_, String>(3)?).unwrap_or(Value::Null),
    })
}

impl PostgresOutbox {
    /// The outbox in `journal`'s database, its tables migrated.
    pub fn beside(journal: Arc<PostgresJournal>) -> OwnerStoreResult<Self> {
        journal
            .migrate("outbox_migrations", MIGRATIONS)
            .map_err(store_error)?;
        Ok(Self { journal })
    }

    /// See [`SqliteOutbox::record`](crate::SqliteOutbox): the same, once per key across replicas.
    pub(crate) fn record(
        &self,
        key: &str,
        caller: Option<&str>,
        bank: &str,
        kind: &str,
        fields: Value,
        webhooks: &[String],
    ) -> OwnerStoreResult<Option<AppEvent>> {
        let at = OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .unwrap_or_default();
        let caller = caller.unwrap_or_default().to_owned();
        let (key, bank, kind) = (key.to_owned(), bank.to_owned(), kind.to_owned());
        let to: Vec<String> = webhooks
            .iter()
            .filter(|w| caller.is_empty() || **w == caller)
            .cloned()
            .collect();
        self.journal
            .run(move |mut client| async move {
                let what = "recording an event for applications";
                let transaction = client.transaction().await.map_err(pg(what))?;
                transaction
                    .execute("SELECT pg_advisory_xact_lock($1)", &[&EVENT_LOCK])
                    .await
                    .map_err(pg(what))?;
                let Some(row) = transaction
                    .query_opt(
                        "INSERT INTO outbox_events (key, caller, bank, kind, body, at)
                     VALUES ($1, $2, $3, $4, '', $5)
                     ON CONFLICT (key) DO NOTHING RETURNING id",
                        &[&key, &caller, &bank, &kind, &at],
                    )
                    .await
                    .map_err(pg(what))?
                else {
                    return Ok(None);
                };
                let id: i64 = row.try_get(0)?;
                let mut body = serde_json::json!({"id": id, "type": kind, "bank": bank, "at": at});
                if let (Some(body), Value::Object(fields)) = (body.as_object_mut(), fields) {
                    body.extend(fields);
                }
                transaction
                    .execute(
                        "UPDATE outbox_events SET body = $1 WHERE id = $2",
                        &[&body.to_string(), &id],
                    )
                    .await
                    .map_err(pg(what))?;
                transaction
                    .execute(
                        "INSERT INTO outbox_deliveries (event, caller, next_at)
                     SELECT $1, unnest($2::text[]), $3",
                        &[&id, &to, &now_ms()],
                    )
                    .await
                    .map_err(pg(what))?;
                transaction.commit().await.map_err(pg(what))?;
                Ok(Some(AppEvent {
                    id,
                    caller,
                    kind,
                    body,
                }))
            })
            .map_err(store_error)
    }

    /// Whether an event was recorded under `key`.
    pub(crate) fn recorded(&self, key: &str) -> OwnerStoreResult<bool> {
        let key = key.to_owned();
        self.journal
            .run(move |client| async move {
                Ok(client
                    .query_opt("SELECT 1 FROM outbox_events WHERE key = $1", &[&key])
                    .await
                    .map_err(pg("reading the outbox"))?
                    .is_some())
            })
            .map_err(store_error)
    }

    /// The events a caller may see after `after`, oldest first, at most `limit`.
    pub(crate) fn for_caller(
        &self,
        caller: &str,
        after: i64,
        limit: usize,
    ) -> OwnerStoreResult<Vec<AppEvent>> {
        let caller = caller.to_owned();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.journal
            .run(move |client| async move {
                let rows = client
                    .query(
                        "SELECT id, caller, kind, body FROM outbox_events
                     WHERE id > $1 AND (caller = '' OR caller = $2) ORDER BY id LIMIT $3",
                        &[&after, &caller, &limit],
                    )
                    .await
                    .map_err(pg("reading the outbox"))?;
                Ok(rows.iter().map(event_of).collect::<Result<_, _>>()?)
            })
            .map_err(store_error)
    }

    /// The deliveries due now and claimed by no live claim, oldest event first, at most `limit`.
    pub(crate) fn due(&self, limit: usize) -> OwnerStoreResult<Vec<Due>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.journal
            .run(move |client| async move {
                let rows = client
                    .query(
                        "SELECT e.id, e.caller, e.kind, e.body, d.caller, d.attempts
                     FROM outbox_deliveries d JOIN outbox_events e ON e.id = d.event
                     WHERE d.delivered_at IS NULL AND d.next_at <= $1
                       AND (d.claimed_until IS NULL OR d.claimed_until < clock_timestamp())
                     ORDER BY e.id LIMIT $2",
                        &[&now_ms(), &limit],
                    )
                    .await
                    .map_err(pg("reading the outbox"))?;
                let mut due = Vec::with_capacity(rows.len());
                for row in &rows {
                    let attempts: i32 = row.try_get(5)?;
                    due.push(Due {
                        event: event_of(row)?,
                        caller: row.try_get(4)?,
                        attempts: u32::try_from(attempts).unwrap_or(0),
                    });
                }
                Ok(due)
            })
            .map_err(store_error)
    }

    /// Claims a delivery for this replica, for [`CLAIM_HOLD`]: `false` when it is delivered, not due,
    /// or claimed by a live claim (another replica's, or this one's).
    pub(crate) fn claim(&self, event: i64, caller: &str) -> OwnerStoreResult<bool> {
        let (caller, replica) = (caller.to_owned(), self.journal.replica().to_owned());
        let ms = CLAIM_HOLD.as_secs_f64() * 1000.0;
        self.journal
            .run(move |client| async move {
                Ok(client
                    .query_opt(
                        "UPDATE outbox_deliveries
                     SET claimed_by = $3,
                         claimed_until = clock_timestamp() + $4::float8 * interval '1 millisecond'
                     WHERE event = $1 AND caller = $2 AND delivered_at IS NULL AND next_at <= $5
                       AND (claimed_until IS NULL OR claimed_until < clock_timestamp())
                     RETURNING 1",
                        &[&event, &caller, &replica, &ms, &now_ms()],
                    )
                    .await
                    .map_err(pg("claiming a delivery"))?
                    .is_some())
            })
            .map_err(store_error)
    }

    /// When the next undelivered delivery is due (milliseconds since the epoch), if any.
    pub(crate) fn next_due(&self) -> OwnerStoreResult<Option<i64>> {
        self.journal
            .run(move |client| async move {
                Ok(client
                    .query_one(
                        "SELECT min(next_at) FROM outbox_deliveries WHERE delivered_at IS NULL",
                        &[],
                    )
                    .await
                    .map_err(pg("reading the outbox"))?
                    .try_get(0)?)
            })
            .map_err(store_error)
    }

    /// Marks a delivery done, and gives its claim up.
    pub(crate) fn delivered(&self, event: i64, caller: &str) -> OwnerStoreResult<()> {
        let at = OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .unwrap_or_default();
        let caller = caller.to_owned();
        self.journal
            .run(move |client| async move {
                client
                    .execute(
                        "UPDATE outbox_deliveries
                     SET delivered_at = $1, claimed_by = NULL, claimed_until = NULL
                     WHERE event = $2 AND caller = $3",
                        &[&at, &event, &caller],
                    )
                    .await
                    .map_err(pg("updating the outbox"))?;
                Ok(())
            })
            .map_err(store_error)
    }

    /// Counts a failed attempt, sets when to try again, and gives the claim up.
    pub(crate) fn failed(
        &self,
        event: i64,
        caller: &str,
        retry_in: Duration,
    ) -> OwnerStoreResult<()> {
        let next = now_ms().saturating_add(i64::try_from(retry_in.as_millis()).unwrap_or(i64::MAX));
        let caller = caller.to_owned();
        self.journal.run(move |client| async move {
            client
                .execute(
                    "UPDATE outbox_deliveries
                     SET attempts = attempts + 1, next_at = $1, claimed_by = NULL, claimed_until = NULL
                     WHERE event = $2 AND caller = $3 AND delivered_at IS NULL",
                    &[&next, &event, &caller],
                )
                .await
                .map_err(pg("updating the outbox"))?;
            Ok(())
        })
        .map_err(store_error)
    }
}
