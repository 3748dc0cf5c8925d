//! The events for applications, kept until delivered: bank degraded and recovered (from switches),
//! consent expiring and expired, an account's unattended-read budget low and exhausted, a payment in
//! doubt and settled; each for every caller (a bank's events) or for one caller (its own
//! consents). Callers read them on `/events` (resuming after `Last-Event-ID`) and receive them as
//! webhooks; a delivery is kept until the caller's receiver answers 2xx, so a restart loses none
//! (at least once: a receiver may see an event twice, and tells by its id).
//!
//! Where it lives: its own SQLite file beside the journal, named by [`outbox_path`]
//! (`psd2-fallback.db` → `psd2-fallback.outbox.db`), like the owner store and for the same reasons: the
//! journal's file holds the engine's tables only. Every call is durable when it returns (WAL,
//! `synchronous = FULL`).
//!
//! Across replicas sharing a PostgreSQL journal the outbox is in that database instead
//! ([`PostgresOutbox`](crate::PostgresOutbox), `outbox_postgres`): one event per key and one
//! delivery at a time whichever replica records or delivers. [`Outbox`] is either.
//!
//! The rows, which only this module knows: `events (id, key, caller, bank, kind, body, at)` — `key`
//! makes an event recorded once (a consent expires once), `caller` is empty for every caller;
//! `deliveries (event, caller, attempts, next_at, delivered_at)`, one per event and caller with a
//! webhook.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use hmac::{Hmac, Mac};
use rusqlite::{Connection, OptionalExtension, params};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use sha2::Sha256;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::owners::{OwnerStoreResult, open_durable};

/// The outbox file that goes with a journal file: `.outbox` before the extension.
pub fn outbox_path(journal: &Path) -> PathBuf {
    crate::owners::beside(journal, "outbox")
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    caller TEXT NOT NULL,
    bank TEXT NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    event INTEGER NOT NULL,
    caller TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at INTEGER NOT NULL,
    delivered_at TEXT,
    PRIMARY KEY (event, caller)
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (delivered_at, next_at);
";

/// An event for applications.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AppEvent {
    /// Its id, increasing: `id:` on `/events`, `X-Event-ID` on a webhook.
    pub(crate) id: i64,
    /// The caller it is for; empty: every caller.
    pub(crate) caller: String,
    /// `bank.degraded`, `bank.recovered`, `consent.expiring`, `consent.expired`, `budget.low`,
    /// `budget.exhausted`, `payment.in_doubt`, `payment.settled`, `certificate.expiring`.
    pub(crate) kind: String,
    /// The event as JSON (`id`, `type`, `bank`, `at` and what the kind carries).
    pub(crate) body: Value,
}

/// A delivery that is due.
#[derive(Debug, Clone)]
pub(crate) struct Due {
    /// The event.
    pub(crate) event: AppEvent,
    /// The caller to deliver to.
    pub(crate) caller: String,
    /// Attempts so far.
    pub(crate) attempts: u32,
}

/// The outbox: events and their deliveries, in SQLite.
#[derive(Debug)]
pub struct SqliteOutbox {
    connection: Mutex<Connection>,
}

pub(crate) fn now_ms() -> i64 {
    i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

impl SqliteOutbox {
    /// Opens (or creates) an outbox file, readable by its owner only.
    pub fn open(path: &Path) -> OwnerStoreResult<Self> {
        Ok(Self {
            connection: Mutex::new(open_durable(path, SCHEMA)?),
        })
    }

    /// Opens (or creates) the outbox of a journal ([`outbox_path`]).
    pub fn beside_journal(journal: &Path) -> OwnerStoreResult<Self> {
        Self::open(&outbox_path(journal))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records an event once per `key` (none if the key was recorded before), with a delivery for each
    /// of `webhooks` (the callers with a webhook it is for). The new event, if any.
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
        let caller = caller.unwrap_or_default();
        let mut connection = self.lock();
        let transaction = connection.transaction()?;
        let added = transaction.execute(
            "INSERT INTO events (key, caller, bank, kind, body, at) VALUES (?1, ?2, ?3, ?4, '', ?5)
             ON CONFLICT (key) DO NOTHING",
            params![key, caller, bank, kind, at],
        )?;
        if added == 0 {
            return Ok(None);
        }
        let id = transaction.last_insert_rowid();
        let mut body = serde_json::json!({"id": id, "type": kind, "bank": bank, "at": at});
        if let (Some(body), Value::Object(fields)) = (body.as_object_mut(), fields) {
            body.extend(fields);
        }
        transaction.execute(
            "UPDATE events SET body = ?1 WHERE id = ?2",
            params![body.to_string(), id],
        )?;
        for to in webhooks
            .iter()
            .filter(|w| caller.is_empty() || *w == caller)
        {
            transaction.execute(
                "INSERT INTO deliveries (event, caller, next_at) VALUES (?1, ?2, ?3)",
                params![id, to, now_ms()],
            )?;
        }
        transaction.commit()?;
        Ok(Some(AppEvent {
            id,
            caller: caller.to_owned(),
            kind: kind.to_owned(),
            body,
        }))
    }

    /// Whether an event was recorded under `key`.
    pub(crate) fn recorded(&self, key: &str) -> OwnerStoreResult<bool> {
        Ok(self
            .lock()
            .query_row("SELECT 1 FROM events WHERE key = ?1", params![key], |_| {
                Ok(())
            })
            .optional()?
            .is_some())
    }

    /// The events a caller may see after `after`, oldest first, at most `limit`.
    pub(crate) fn for_caller(
        &self,
        caller: &str,
        after: i64,
        limit: usize,
    ) -> OwnerStoreResult<Vec<AppEvent>> {
        let connection = self.lock();
        let mut statement = connection.prepare(
            "SELECT id, caller, kind, body FROM events WHERE id > ?1 AND (caller = '' OR caller = ?2)
             ORDER BY id LIMIT ?3",
        )?;
        let rows = statement.query_map(
            params![after, caller, i64::try_from(limit).unwrap_or(i64::MAX)],
            |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, String>(3)?,
                ))
            },
        )?;
        let mut out = Vec::new();
        for row in rows {
            let (id, caller, kind, body) = row?;
            out.push(AppEvent {
                id,
                caller,
                kind,
                body: serde_json::from_str(&body).unwrap_or(Value::Null),
            });
        }
        Ok(out)
    }

    /// The deliveries due now, oldest event first, at most `limit`.
    pub(crate) fn due(&self, limit: usize) -> OwnerStoreResult<Vec<Due>> {
        let connection = self.lock();
        let mut statement = connection.prepare(
            "SELECT e.id, e.caller, e.kind, e.body, d.caller, d.attempts FROM deliveries d
             JOIN events e ON e.id = d.event
             WHERE d.delivered_at IS NULL AND d.next_at <= ?1 ORDER BY e.id LIMIT ?2",
        )?;
        let rows = statement.query_map(
            params![now_ms(), i64::try_from(limit).unwrap_or(i64::MAX)],
            |row| {
                Ok(Due {
                    event: AppEvent {
                        id: row.get(0)?,
                        caller: row.get(1)?,
                        kind: row.get(2)?,
                        body: serde_json::from_str(&row.get::<_, String>(3)?)
                            .unwrap_or(Value::Null),
                    },
                    caller: row.get(4)?,
                    attempts: row.get(5)?,
                })
            },
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// When the next undelivered delivery is due (milliseconds since the epoch), if any.
    pub(crate) fn next_due(&self) -> OwnerStoreResult<Option<i64>> {
        Ok(self
            .lock()
            .query_row(
                "SELECT MIN(next_at) FROM deliveries WHERE delivered_at IS NULL",
                [],
                |row| row.get::<_, Option<i64>>(0),
            )
            .optional()?
            .flatten())
    }

    /// Marks a delivery done.
    pub(crate) fn delivered(&self, event: i64, caller: &str) -> OwnerStoreResult<()> {
        let at = OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .unwrap_or_default();
        self.lock().execute(
            "UPDATE deliveries SET delivered_at = ?1 WHERE event = ?2 AND caller = ?3",
            params![at, event, caller],
        )?;
        Ok(())
    }

    /// Counts a failed attempt and sets when to try again.
    pub(crate) fn failed(
        &self,
        event: i64,
        caller: &str,
        retry_in: std::time::Duration,
    ) -> OwnerStoreResult<()> {
        let next = now_ms().saturating_add(i64::try_from(retry_in.as_millis()).unwrap_or(i64::MAX));
        self.lock().execute(
            "UPDATE deliveries SET attempts = attempts + 1, next_at = ?1 WHERE event = ?2 AND caller = ?3",
            params![next, event, caller],
        )?;
        Ok(())
    }
}

/// Where the events for applications are kept: a SQLite file of this process, or the PostgreSQL
/// database replicas share.
#[derive(Debug)]
pub enum Outbox {
    /// One process's outbox.
    Sqlite(SqliteOutbox),
    /// The replicas' outbox.
    Postgres(crate::PostgresOutbox),
}

impl From<SqliteOutbox> for Outbox {
    fn from(outbox: SqliteOutbox) -> Self {
        Outbox::Sqlite(outbox)
    }
}

impl From<crate::PostgresOutbox> for Outbox {
    fn from(outbox: crate::PostgresOutbox) -> Self {
        Outbox::Postgres(outbox)
    }
}

impl Outbox {
    /// Records an event once per `key`, with a delivery for each of `webhooks` it is for
    /// ([`SqliteOutbox::record`]).
    pub(crate) fn record(
        &self,
        key: &str,
        caller: Option<&str>,
        bank: &str,
        kind: &str,
        fields: Value,
        webhooks: &[String],
    ) -> OwnerStoreResult<Option<AppEvent>> {
        match self {
            Outbox::Sqlite(o) => o.record(key, caller, bank, kind, fields, webhooks),
            Outbox::Postgres(o) => o.record(key, caller, bank, kind, fields, webhooks),
        }
    }

    /// Whether an event was recorded under `key`.
    pub(crate) fn recorded(&self, key: &str) -> OwnerStoreResult<bool> {
        match self {
            Outbox::Sqlite(o) => o.recorded(key),
            Outbox::Postgres(o) => o.recorded(key),
        }
    }

    /// The events a caller may see after `after`, oldest first, at most `limit`.
    pub(crate) fn for_caller(
        &self,
        caller: &str,
        after: i64,
        limit: usize,
    ) -> OwnerStoreResult<Vec<AppEvent>> {
        match self {
            Outbox::Sqlite(o) => o.for_caller(caller, after, limit),
            Outbox::Postgres(o) => o.for_caller(caller, after, limit),
        }
    }

    /// The deliveries due now (across replicas: claimed by no live claim), oldest first.
    pub(crate) fn due(&self, limit: usize) -> OwnerStoreResult<Vec<Due>> {
        match self {
            Outbox::Sqlite(o) => o.due(limit),
            Outbox::Postgres(o) => o.due(limit),
        }
    }

    /// Claims a due delivery before it is attempted: always granted to a process alone; across
    /// replicas, to one replica at a time.
    pub(crate) fn claim(&self, event: i64, caller: &str) -> OwnerStoreResult<bool> {
        match self {
            Outbox::Sqlite(_) => Ok(true),
            Outbox::Postgres(o) => o.claim(event, caller),
        }
    }

    /// When the next undelivered delivery is due (milliseconds since the epoch), if any.
    pub(crate) fn next_due(&self) -> OwnerStoreResult<Option<i64>> {
        match self {
            Outbox::Sqlite(o) => o.next_due(),
            Outbox::Postgres(o) => o.next_due(),
        }
    }

    /// Marks a delivery done (and gives its claim up).
    pub(crate) fn delivered(&self, event: i64, caller: &str) -> OwnerStoreResult<()> {
        match self {
            Outbox::Sqlite(o) => o.delivered(event, caller),
            Outbox::Postgres(o) => o.delivered(event, caller),
        }
    }

    /// Counts a failed attempt, sets when to try again (and gives the claim up).
    pub(crate) fn failed(
        &self,
        event: i64,
        caller: &str,
        retry_in: std::time::Duration,
    ) -> OwnerStoreResult<()> {
        match self {
            Outbox::Sqlite(o) => o.failed(event, caller, retry_in),
            Outbox::Postgres(o) => o.failed(event, caller, retry_in),
        }
    }
}

/// Where a caller wants its events, and the key that signs them.
#[derive(Clone)]
pub struct Webhook {
    /// The receiver's URL (`http(s)://…`).
    pub url: reqwest::Url,
    /// The HMAC-SHA256 key (secret).
    pub key: SecretString,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("url", &shown(&self.url))
            .finish_non_exhaustive()
    }
}

/// A URL as logs show it: scheme, host, port and path, without user, password or query.
pub(crate) fn shown(url: &reqwest::Url) -> String {
    format!(
        "{}://{}{}{}",
        url.scheme(),
        url.host_str().unwrap_or_default(),
        url.port().map(|p| format!(":{p}")).unwrap_or_default(),
        url.path()
    )
}

/// The hex HMAC-SHA256 of `body` under `key`.
pub fn signature(key: &SecretString, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.expose_secret().as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The callers with a webhook, by name.
pub(crate) type Webhooks = HashMap<String, Webhook>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_in_hex() {
        // RFC 4231, test case 2.
        let key = SecretString::from("Jefe".to_owned());
        assert_eq!(
            signature(&key, b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn an_event_is_recorded_once_and_delivered_to_its_callers_only() {
        let path =
            std::env::temp_dir().join(format!("psd2-fallback-outbox-{}.db", uuid::Uuid::new_v4()));
        let outbox = SqliteOutbox::open(&path).unwrap();
        let hooks = vec!["a".to_owned(), "b".to_owned()];
        let bank = outbox
            .record(
                "k1",
                None,
                "kbc",
                "bank.degraded",
                serde_json::json!({}),
                &hooks,
            )
            .unwrap()
            .unwrap();
        assert!(
            outbox
                .record(
                    "k1",
                    None,
                    "kbc",
                    "bank.degraded",
                    serde_json::json!({}),
                    &hooks
                )
                .unwrap()
                .is_none()
        );
        assert!(outbox.recorded("k1").unwrap());
        assert!(!outbox.recorded("k2").unwrap());
        let own = outbox
            .record(
                "k2",
                Some("a"),
                "kbc",
                "consent.expiring",
                serde_json::json!({"consentId": "c-1"}),
                &hooks,
            )
            .unwrap()
            .unwrap();
        assert_eq!(own.body["consentId"], "c-1");
        assert_eq!(own.body["type"], "consent.expiring");
        let due = || -> Vec<(i64, String)> {
            outbox
                .due(10)
                .unwrap()
                .into_iter()
                .map(|d| (d.event.id, d.caller))
                .collect()
        };
        assert_eq!(
            due(),
            vec![
                (bank.id, "a".into()),
                (bank.id, "b".into()),
                (own.id, "a".into())
            ]
        );
        let seen_by_b: Vec<i64> = outbox
            .for_caller("b", 0, 10)
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(seen_by_b, vec![bank.id]);
        assert_eq!(outbox.for_caller("a", bank.id, 10).unwrap()[0].id, own.id);
        outbox
            .failed(bank.id, "a", std::time::Duration::from_secs(60))
            .unwrap();
        outbox.delivered(own.id, "a").unwrap();
        assert_eq!(due(), vec![(bank.id, "b".into())]);
        drop(outbox);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}
