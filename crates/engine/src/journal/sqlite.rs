//! The embedded journal: one SQLite file (WAL, every commit durable), its keys in a file beside it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};
use time::{Date, OffsetDateTime};

use super::{
    AccessEntry, ConsentRow, Intent, IntentRow, IntentState, JournalError, JournalKeys,
    JournalResult, JournalStore, StoredSwitch, SwitchRow, cause_code, kind_to_row, mode_code,
    parse_timestamp, timestamp,
};
use crate::health::SwitchEvent;
use crate::model::{Consent, ConsentStatus, PaymentRef, PaymentStatus};

/// The journal file's version (`PRAGMA user_version`) from which its keys are hashed.
const HASHED_KEYS: i64 = 1;

/// The embedded journal: one SQLite file.
pub struct SqliteJournal {
    connection: Mutex<Connection>,
    /// The secret of the keyed hashes, from the key file beside the journal.
    keys: JournalKeys,
}

impl fmt::Debug for SqliteJournal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SqliteJournal")
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS intents (
    key TEXT PRIMARY KEY,
    bank TEXT NOT NULL,
    psu TEXT NOT NULL,
    end_to_end_id TEXT NOT NULL,
    debtor TEXT NOT NULL,
    operation TEXT NOT NULL,
    request TEXT NOT NULL,
    state TEXT NOT NULL,
    channel TEXT,
    payment_kind TEXT,
    payment_id TEXT,
    status TEXT,
    note TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS intents_open ON intents (state);
CREATE INDEX IF NOT EXISTS intents_reference ON intents (bank, debtor, end_to_end_id);
CREATE TABLE IF NOT EXISTS switches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    bank TEXT NOT NULL,
    from_mode TEXT NOT NULL,
    to_mode TEXT NOT NULL,
    reason TEXT NOT NULL,
    evidence TEXT NOT NULL,
    at TEXT NOT NULL,
    downtime_started TEXT
);
CREATE INDEX IF NOT EXISTS switches_bank_at ON switches (bank, at);
CREATE TABLE IF NOT EXISTS access_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    day TEXT NOT NULL,
    bank TEXT NOT NULL,
    psu TEXT NOT NULL,
    data TEXT NOT NULL,
    switch_event INTEGER
);
CREATE INDEX IF NOT EXISTS access_log_day ON access_log (day);
CREATE TABLE IF NOT EXISTS unattended (
    bank TEXT NOT NULL,
    psu TEXT NOT NULL,
    account TEXT NOT NULL,
    day TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (bank, psu, account, day)
);
CREATE TABLE IF NOT EXISTS consents (
    bank TEXT NOT NULL,
    id TEXT NOT NULL,
    psu TEXT NOT NULL,
    accounts TEXT NOT NULL,
    balances TEXT NOT NULL,
    transactions TEXT NOT NULL,
    recurring INTEGER NOT NULL,
    valid_until TEXT NOT NULL,
    frequency_per_day INTEGER NOT NULL,
    status TEXT NOT NULL,
    PRIMARY KEY (bank, id)
);
";

/// Brings a journal file written by an earlier version up to this one's shape, in one transaction
/// (so two processes opening the same old file upgrade it once).
fn upgrade(connection: &Connection, keys: &JournalKeys) -> rusqlite::Result<()> {
    connection.execute_batch("BEGIN IMMEDIATE")?;
    let result = (|| {
        let version: i64 = connection.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version < HASHED_KEYS {
            hash_keys(connection, keys)?;
            connection.pragma_update(None, "user_version", HASHED_KEYS)?;
        }
        let has_cause = connection
            .prepare("SELECT 1 FROM pragma_table_info('switches') WHERE name = 'cause'")?
            .exists([])?;
        if !has_cause {
            // Earlier versions kept the cause only in the reason's words; an override's began with
            // "manual override:".
            connection.execute_batch(
                "ALTER TABLE switches ADD COLUMN cause TEXT NOT NULL DEFAULT 'measured';
                 UPDATE switches SET cause = 'override' WHERE reason LIKE 'manual override:%';",
            )?;
        }
        let has_fingerprint = connection
            .prepare("SELECT 1 FROM pragma_table_info('intents') WHERE name = 'fingerprint'")?
            .exists([])?;
        if !has_fingerprint {
            // Earlier versions keyed an intent by its end-to-end id alone.
            connection.execute_batch(
                "ALTER TABLE intents ADD COLUMN fingerprint TEXT NOT NULL DEFAULT '';",
            )?;
        }
        Ok(())
    })();
    match result {
        Ok(()) => connection.execute_batch("COMMIT"),
        Err(error) => {
            let _ = connection.execute_batch("ROLLBACK");
            Err(error)
        }
    }
}

/// Replaces the clear keys an earlier version wrote (intent keys naming customer and debtor, PSU ids
/// and account ids of the counters, consent ids) by their keyed hashes.
fn hash_keys(connection: &Connection, keys: &JournalKeys) -> rusqlite::Result<()> {
    let column = |sql: &str| -> rusqlite::Result<Vec<(String, String)>> {
        let mut statement = connection.prepare(sql)?;
        let rows = statement.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect()
    };
    for (key, _) in column("SELECT key, key FROM intents")? {
        connection.execute(
            "UPDATE intents SET key = ?2 WHERE key = ?1",
            params![key, keys.intent(&key)],
        )?;
    }
    for (bank, id) in column("SELECT bank, id FROM consents")? {
        connection.execute(
            "UPDATE consents SET id = ?3 WHERE bank = ?1 AND id = ?2",
            params![bank, id, keys.consent(&id)],
        )?;
    }
    type Counter = (String, String, String, String, u32);
    let counters: Vec<Counter> = {
        let mut statement =
            connection.prepare("SELECT bank, psu, account, day, count FROM unattended")?;
        let rows = statement.query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    connection.execute("DELETE FROM unattended", [])?;
    for (bank, psu, account, day, count) in counters {
        connection.execute(
            "INSERT INTO unattended (bank, psu, account, day, count) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![bank, keys.psu(&psu), keys.account(&account), day, count],
        )?;
    }
    Ok(())
}

/// The key file of a journal file: its name with `.key` appended.
fn key_file_of(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(".key");
    path.with_file_name(name)
}

impl IntentRow {
    fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            key: row.get("key")?,
            bank: row.get("bank")?,
            psu: row.get("psu")?,
            end_to_end_id: row.get("end_to_end_id")?,
            debtor: row.get("debtor")?,
            operation: row.get("operation")?,
            fingerprint: row.get("fingerprint")?,
            request: row.get("request")?,
            state: row.get("state")?,
            channel: row.get("channel")?,
            payment_kind: row.get("payment_kind")?,
            payment_id: row.get("payment_id")?,
            status: row.get("status")?,
            note: row.get("note")?,
        })
    }
}

impl SwitchRow {
    fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get("id")?,
            bank: row.get("bank")?,
            from: row.get("from_mode")?,
            to: row.get("to_mode")?,
            cause: row.get("cause")?,
            reason: row.get("reason")?,
            evidence: row.get("evidence")?,
            at: row.get("at")?,
            downtime_started: row.get("downtime_started")?,
        })
    }
}

impl SqliteJournal {
    /// Opens (or creates) the journal file. Writes are durable when a call returns: WAL with
    /// `synchronous = FULL`. The secret of its keyed hashes is in the file beside it with `.key`
    /// appended (made, readable by its owner only, when the journal is new or written by a version
    /// that kept its keys in clear — those keys are then hashed); a journal whose keys are hashed and
    /// whose key file is missing is refused ([`JournalError::KeyMissing`]).
    pub fn open(path: &Path) -> JournalResult<Self> {
        let open_error = |source| JournalError::Open {
            path: path.to_owned(),
            source,
        };
        owner_only(path)
            .map_err(|e| open_error(rusqlite::Error::ToSqlConversionFailure(Box::new(e))))?;
        let prepare = || {
            let connection = Connection::open(path)?;
            connection.pragma_update(None, "journal_mode", "WAL")?;
            connection.pragma_update(None, "synchronous", "FULL")?;
            connection.busy_timeout(std::time::Duration::from_secs(5))?;
            connection.execute_batch(SCHEMA)?;
            let version: i64 = connection.pragma_query_value(None, "user_version", |r| r.get(0))?;
            Ok((connection, version))
        };
        let (connection, version) = prepare().map_err(open_error)?;
        let key_file = key_file_of(path);
        let keys = if key_file.exists() {
            JournalKeys::read(&key_file)?
        } else if version >= HASHED_KEYS {
            return Err(JournalError::KeyMissing {
                journal: path.to_owned(),
                key_file,
            });
        } else {
            JournalKeys::read_or_create(&key_file)?
        };
        upgrade(&connection, &keys).map_err(open_error)?;
        Ok(Self {
            connection: Mutex::new(connection),
            keys,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl JournalStore for SqliteJournal {
    fn keys(&self) -> &JournalKeys {
        &self.keys
    }

    fn record_intent(&self, intent: &Intent) -> JournalResult<Intent> {
        let mut connection = self.lock();
        // One transaction that takes the write lock first, so two processes sharing the file check and
        // insert one at a time.
        let transaction =
            connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        // First the conflict: even an intent known already (say, rejected) is not sent again under an
        // end-to-end id that another live intent now holds with other content.
        let conflicting = transaction
            .query_row(
                "SELECT * FROM intents WHERE bank = ?1 AND debtor = ?2 AND end_to_end_id = ?3
                     AND operation = ?4 AND fingerprint <> ?5 AND fingerprint <> '' AND state <> 'rejected'
                 ORDER BY created_at, rowid LIMIT 1",
                params![
                    intent.bank,
                    intent.debtor,
                    intent.end_to_end_id,
                    intent.operation.code(),
                    intent.fingerprint
                ],
                IntentRow::read,
            )
            .optional()?;
        if let Some(conflicting) = conflicting {
            transaction.commit()?;
            return conflicting.into_intent();
        }
        let existing = transaction
            .query_row(
                "SELECT * FROM intents WHERE key = ?1",
                [&intent.key],
                IntentRow::read,
            )
            .optional()?;
        if let Some(existing) = existing {
            transaction.commit()?;
            return existing.into_intent();
        }
        let now = timestamp(OffsetDateTime::now_utc());
        let (state, channel) = intent.state.to_row();
        transaction.execute(
            "INSERT INTO intents (key, bank, psu, end_to_end_id, debtor, operation, request, state, channel, payment_kind, payment_id, status, note, created_at, updated_at, fingerprint)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?14, ?15)",
            params![
                intent.key,
                intent.bank,
                intent.psu,
                intent.end_to_end_id,
                intent.debtor,
                intent.operation.code(),
                intent.request,
                state,
                channel,
                intent.payment.as_ref().map(|p| kind_to_row(p.kind)),
                intent.payment.as_ref().map(|p| p.id.to_string()),
                intent.status.map(|s| s.code()),
                intent.note,
                now,
                intent.fingerprint,
            ],
        )?;
        let stored = transaction.query_row(
            "SELECT * FROM intents WHERE key = ?1",
            [&intent.key],
            IntentRow::read,
        )?;
        transaction.commit()?;
        stored.into_intent()
    }

    fn update_intent(
        &self,
        key: &str,
        state: IntentState,
        payment: Option<&PaymentRef>,
        status: Option<PaymentStatus>,
        note: &str,
    ) -> JournalResult<()> {
        let connection = self.lock();
        let (state, channel) = state.to_row();
        let changed = connection.execute(
            "UPDATE intents SET state = ?2, channel = ?3,
                 payment_kind = COALESCE(?4, payment_kind), payment_id = COALESCE(?5, payment_id),
                 status = COALESCE(?6, status), note = ?7, updated_at = ?8
             WHERE key = ?1",
            params![
                key,
                state,
                channel,
                payment.map(|p| kind_to_row(p.kind)),
                payment.map(|p| p.id.to_string()),
                status.map(|s| s.code()),
                note,
                timestamp(OffsetDateTime::now_utc())
            ],
        )?;
        if changed == 0 {
            return Err(JournalError::UnknownIntent {
                key: key.to_owned(),
            });
        }
        Ok(())
    }

    fn intent(&self, key: &str) -> JournalResult<Option<Intent>> {
        self.lock()
            .query_row(
                "SELECT * FROM intents WHERE key = ?1",
                [key],
                IntentRow::read,
            )
            .optional()?
            .map(IntentRow::into_intent)
            .transpose()
    }

    fn open_intents(&self) -> JournalResult<Vec<Intent>> {
        let connection = self.lock();
        let mut statement = connection.prepare("SELECT * FROM intents WHERE state IN ('recorded', 'attempting', 'in-doubt') ORDER BY created_at, rowid")?;
        let rows = statement.query_map([], IntentRow::read)?;
        rows.map(|row| row?.into_intent()).collect()
    }

    fn record_switch(&self, event: &SwitchEvent) -> JournalResult<i64> {
        let connection = self.lock();
        connection.execute(
            "INSERT INTO switches (bank, from_mode, to_mode, cause, reason, evidence, at, downtime_started) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                event.bank,
                mode_code(event.from),
                mode_code(event.to),
                cause_code(event.reason.cause()),
                event.reason.to_string(),
                event.evidence,
                timestamp(event.at),
                event.downtime_started.map(timestamp)
            ],
        )?;
        Ok(connection.last_insert_rowid())
    }

    fn switches(
        &self,
        bank: &str,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> JournalResult<Vec<StoredSwitch>> {
        let connection = self.lock();
        let mut statement = connection.prepare(
            "SELECT * FROM switches WHERE bank = ?1 AND at >= ?2 AND at < ?3 ORDER BY at, id",
        )?;
        let rows = statement.query_map(
            params![bank, timestamp(from), timestamp(to)],
            SwitchRow::read,
        )?;
        rows.map(|row| row?.into_switch()).collect()
    }

    fn log_access(&self, entry: &AccessEntry) -> JournalResult<()> {
        self.lock().execute(
            "INSERT INTO access_log (at, day, bank, psu, data, switch_event) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![timestamp(entry.at), entry.at.date().to_string(), entry.bank, entry.psu, entry.data, entry.switch_event],
        )?;
        Ok(())
    }

    fn access_log(&self, day: Date) -> JournalResult<Vec<AccessEntry>> {
        let connection = self.lock();
        let mut statement = connection.prepare(
            "SELECT at, bank, psu, data, switch_event FROM access_log WHERE day = ?1 ORDER BY id",
        )?;
        let rows = statement.query_map([day.to_string()], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
            ))
        })?;
        rows.map(|row| {
            let (at, bank, psu, data, switch_event) = row?;
            Ok(AccessEntry {
                at: parse_timestamp("access_log.at", &at)?,
                bank,
                psu,
                data,
                switch_event,
            })
        })
        .collect()
    }

    fn count_unattended(
        &self,
        bank: &str,
        psu: &str,
        account: &str,
        day: Date,
        limit: u32,
    ) -> JournalResult<Result<u32, u32>> {
        let (psu, account) = (self.keys.psu(psu), self.keys.account(account));
        let mut connection = self.lock();
        let transaction =
            connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let count: u32 = transaction
            .query_row("SELECT count FROM unattended WHERE bank = ?1 AND psu = ?2 AND account = ?3 AND day = ?4", params![bank, psu, account, day.to_string()], |r| r.get(0))
            .optional()?
            .unwrap_or(0);
        if count >= limit {
            return Ok(Err(count));
        }
        transaction.execute(
            "INSERT INTO unattended (bank, psu, account, day, count) VALUES (?1, ?2, ?3, ?4, 1)
             ON CONFLICT (bank, psu, account, day) DO UPDATE SET count = count + 1",
            params![bank, psu, account, day.to_string()],
        )?;
        transaction.commit()?;
        Ok(Ok(count + 1))
    }

    fn record_consent(&self, bank: &str, psu: &str, consent: &Consent) -> JournalResult<()> {
        let row = ConsentRow::of(psu, consent);
        self.lock().execute(
            "INSERT OR REPLACE INTO consents (bank, id, psu, accounts, balances, transactions, recurring, valid_until, frequency_per_day, status)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                bank,
                self.keys.consent(consent.id.as_str()),
                row.psu,
                row.accounts,
                row.balances,
                row.transactions,
                row.recurring,
                row.valid_until,
                row.frequency_per_day,
                row.status,
            ],
        )?;
        Ok(())
    }

    fn consent(&self, bank: &str, id: &str) -> JournalResult<Option<(String, Consent)>> {
        let row = self
            .lock()
            .query_row(
                "SELECT psu, accounts, balances, transactions, recurring, valid_until, frequency_per_day, status
                 FROM consents WHERE bank = ?1 AND id = ?2",
                params![bank, self.keys.consent(id)],
                |r| {
                    Ok(ConsentRow {
                        psu: r.get(0)?,
                        accounts: r.get(1)?,
                        balances: r.get(2)?,
                        transactions: r.get(3)?,
                        recurring: r.get(4)?,
                        valid_until: r.get(5)?,
                        frequency_per_day: r.get(6)?,
                        status: r.get(7)?,
                    })
                },
            )
            .optional()?;
        row.map(|row| row.into_consent(id)).transpose()
    }

    fn set_consent_status(&self, bank: &str, id: &str, status: ConsentStatus) -> JournalResult<()> {
        self.lock().execute(
            "UPDATE consents SET status = ?3 WHERE bank = ?1 AND id = ?2",
            params![bank, self.keys.consent(id), status.code()],
        )?;
        Ok(())
    }
}

/// Makes `path` a file only its owner can read and write (0600), creating it empty when missing, so a
/// database that holds customers' payments and identifiers is never world-readable. SQLite gives the
/// `-wal` and `-shm` files it creates beside it the same permissions.
pub fn owner_only(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bank::Channel;
    use crate::health::{Mode, SwitchCause, SwitchReason};
    use crate::journal::Operation;
    use crate::model::ConsentId;

    fn journal() -> (tempdir::TempDir, SqliteJournal) {
        let dir = tempdir::TempDir::new();
        let journal = SqliteJournal::open(&dir.path().join("journal.sqlite")).unwrap();
        (dir, journal)
    }

    /// A temporary folder, removed on drop (the journal tests need a real file).
    mod tempdir {
        pub(super) struct TempDir(std::path::PathBuf);
        impl TempDir {
            pub(super) fn new() -> Self {
                let path = std::env::temp_dir()
                    .join(format!("psd2-fallback-journal-{}", uuid::Uuid::new_v4()));
                std::fs::create_dir_all(&path).unwrap();
                Self(path)
            }
            pub(super) fn path(&self) -> &std::path::Path {
                &self.0
            }
        }
        impl Drop for TempDir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    fn intent(key: &str) -> Intent {
        Intent {
            key: key.to_owned(),
            bank: "sandbox".to_owned(),
            psu: "1000002".to_owned(),
            end_to_end_id: "E2E-1".to_owned(),
            debtor: "BE33738234567846".to_owned(),
            operation: Operation::Payment,
            fingerprint: "f1".to_owned(),
            request: "{}".to_owned(),
            state: IntentState::Recorded,
            payment: None,
            status: None,
            note: "recorded".to_owned(),
        }
    }

    #[test]
    fn an_unknown_code_is_an_error_naming_its_column() {
        let (_dir, journal) = journal();
        journal.record_intent(&intent("k1")).unwrap();
        let set = |sql: &str| journal.lock().execute(sql, []).unwrap();
        let unknown_column = |error: JournalError| match error {
            JournalError::UnknownCode { column, value } => (column, value),
            other => panic!("not an unknown code: {other:?}"),
        };

        set("UPDATE intents SET operation = 'teleport' WHERE key = 'k1'");
        let error = journal.intent("k1").unwrap_err();
        assert_eq!(
            error.to_string(),
            "journal: intents.operation holds an unknown value \"teleport\""
        );
        assert_eq!(
            unknown_column(error),
            ("intents.operation", "teleport".to_owned())
        );

        set("UPDATE intents SET operation = 'payment', state = 'pondering' WHERE key = 'k1'");
        assert_eq!(
            unknown_column(journal.intent("k1").unwrap_err()),
            ("intents.state", "pondering".to_owned())
        );
        set("UPDATE intents SET state = 'in-doubt', channel = 'carrier-pigeon' WHERE key = 'k1'");
        assert_eq!(
            unknown_column(journal.open_intents().unwrap_err()),
            ("intents.channel", "carrier-pigeon".to_owned())
        );
        set("UPDATE intents SET channel = 'api', status = 'MAYBE' WHERE key = 'k1'");
        assert_eq!(
            unknown_column(journal.intent("k1").unwrap_err()),
            ("intents.status", "MAYBE".to_owned())
        );

        let at = OffsetDateTime::now_utc();
        journal
            .record_switch(&SwitchEvent {
                sequence: 1,
                bank: "sandbox".to_owned(),
                from: Mode::Api,
                to: Mode::Fallback,
                reason: SwitchReason::ProbeFailed,
                evidence: String::new(),
                at,
                downtime_started: None,
            })
            .unwrap();
        let hour = time::Duration::hours(1);
        set("UPDATE switches SET to_mode = 'limbo'");
        assert_eq!(
            unknown_column(
                journal
                    .switches("sandbox", at - hour, at + hour)
                    .unwrap_err()
            ),
            ("switches.to_mode", "limbo".to_owned())
        );
        set("UPDATE switches SET to_mode = 'fallback', cause = 'whim'");
        assert_eq!(
            unknown_column(
                journal
                    .switches("sandbox", at - hour, at + hour)
                    .unwrap_err()
            ),
            ("switches.cause", "whim".to_owned())
        );
    }

    #[test]
    fn a_journal_error_keeps_its_source() {
        use std::error::Error as _;
        let dir = tempdir::TempDir::new();
        let error = SqliteJournal::open(&dir.path().join("absent").join("journal.sqlite"))
            .expect_err("a file in a missing folder cannot be opened");
        assert!(matches!(error, JournalError::Open { .. }), "{error:?}");
        let source = error.source().expect("the SQLite error is kept");
        assert!(source.downcast_ref::<rusqlite::Error>().is_some());

        let journal = SqliteJournal::open(&dir.path().join("journal.sqlite")).unwrap();
        journal.lock().execute_batch("DROP TABLE intents").unwrap();
        let error = journal.intent("k1").unwrap_err();
        assert!(matches!(error, JournalError::Store { .. }), "{error:?}");
        assert!(
            error
                .source()
                .and_then(|s| s.downcast_ref::<rusqlite::Error>())
                .is_some()
        );
        let error = journal
            .update_intent("nope", IntentState::Rejected, None, None, "")
            .unwrap_err();
        assert!(matches!(error, JournalError::Store { .. }), "{error:?}");
    }

    /// A switch keeps whether it was measured or an override; a journal written before the journal
    /// kept that is upgraded on open, its overrides found by their words.
    #[test]
    fn switches_keep_their_cause_and_old_journals_are_upgraded() {
        let dir = tempdir::TempDir::new();
        let path = dir.path().join("journal.sqlite");
        {
            let old = Connection::open(&path).unwrap();
            old.execute_batch(
                "CREATE TABLE switches (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    bank TEXT NOT NULL,
                    from_mode TEXT NOT NULL,
                    to_mode TEXT NOT NULL,
                    reason TEXT NOT NULL,
                    evidence TEXT NOT NULL,
                    at TEXT NOT NULL,
                    downtime_started TEXT
                );
                INSERT INTO switches (bank, from_mode, to_mode, reason, evidence, at)
                VALUES ('sandbox', 'api', 'fallback', 'manual override: force-fallback', '', '2026-11-23T10:00:00Z'),
                       ('sandbox', 'fallback', 'api', 'manual override: auto', '', '2026-11-23T10:05:00Z'),
                       ('sandbox', 'api', 'fallback', 'policy tripped: 2 consecutive failures', '', '2026-11-23T11:00:00Z');",
            )
            .unwrap();
        }
        let journal = SqliteJournal::open(&path).unwrap();
        let day = time::macros::datetime!(2026-11-23 00:00 UTC);
        let causes = |journal: &SqliteJournal| {
            journal
                .switches("sandbox", day, day + time::Duration::days(1))
                .unwrap()
                .into_iter()
                .map(|s| (s.to, s.cause))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            causes(&journal),
            [
                (Mode::Fallback, SwitchCause::Override),
                (Mode::Api, SwitchCause::Override),
                (Mode::Fallback, SwitchCause::Measured),
            ]
        );
        journal
            .record_switch(&SwitchEvent {
                sequence: 4,
                bank: "sandbox".to_owned(),
                from: Mode::Fallback,
                to: Mode::Api,
                reason: SwitchReason::Override(crate::health::Override::ForceApi),
                evidence: String::new(),
                at: time::macros::datetime!(2026-11-23 12:00 UTC),
                downtime_started: None,
            })
            .unwrap();
        drop(journal);
        let reopened = SqliteJournal::open(&path).unwrap();
        assert_eq!(
            causes(&reopened).last(),
            Some(&(Mode::Api, SwitchCause::Override))
        );
    }

    /// No consent id, IBAN or PSU id is a journal key in clear; a journal an earlier version wrote
    /// with clear keys is migrated on open, and its rows are found again by the same values.
    #[test]
    fn keys_are_hashed_and_clear_keys_of_an_old_journal_are_migrated() {
        let dir = tempdir::TempDir::new();
        let path = dir.path().join("journal.sqlite");
        {
            let old = Connection::open(&path).unwrap();
            old.execute_batch(SCHEMA).unwrap();
            old.execute_batch(
                "ALTER TABLE intents ADD COLUMN fingerprint TEXT NOT NULL DEFAULT '';
                 ALTER TABLE switches ADD COLUMN cause TEXT NOT NULL DEFAULT 'measured';
                 INSERT INTO unattended VALUES ('sandbox', '1000001', 'BE68539007547034', '2026-11-23', 3);
                 INSERT INTO consents VALUES ('sandbox', 'consent-77', '1000001', 'BE68539007547034', '', '', 1, '2027-01-01', 4, 'valid');
                 INSERT INTO intents (key, bank, psu, end_to_end_id, debtor, operation, request, state, channel, note, created_at, updated_at, fingerprint)
                 VALUES ('sandbox:1000001:payment:BE68539007547034:E2E-1:f', 'sandbox', '1000001', 'E2E-1', 'BE68539007547034', 'payment', '{}', 'in-doubt', 'api', '', '2026-11-23T10:00:00Z', '2026-11-23T10:00:00Z', 'f');",
            )
            .unwrap();
        }
        let journal = SqliteJournal::open(&path).unwrap();
        let day = time::macros::date!(2026 - 11 - 23);
        assert_eq!(
            journal
                .count_unattended("sandbox", "1000001", "BE68539007547034", day, 4)
                .unwrap(),
            Ok(4),
            "the old counter is found under its hashed key"
        );
        let (psu, consent) = journal.consent("sandbox", "consent-77").unwrap().unwrap();
        assert_eq!(
            (psu.as_str(), consent.status),
            ("1000001", ConsentStatus::Valid)
        );
        let key = journal
            .keys()
            .intent("sandbox:1000001:payment:BE68539007547034:E2E-1:f");
        assert_eq!(
            journal.intent(&key).unwrap().unwrap().state,
            IntentState::InDoubt(Channel::Api)
        );
        journal
            .record_consent(
                "sandbox",
                "1000002",
                &Consent {
                    id: ConsentId::new("consent-78"),
                    ..consent
                },
            )
            .unwrap();
        journal
            .count_unattended("sandbox", "1000002", "BE33738234567846", day, 4)
            .unwrap()
            .unwrap();
        let keys: Vec<String> = {
            let connection = journal.lock();
            let mut statement = connection
                .prepare(
                    "SELECT key FROM intents UNION ALL SELECT id FROM consents
                     UNION ALL SELECT psu || ' ' || account FROM unattended",
                )
                .unwrap();
            statement
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap()
        };
        assert_eq!(keys.len(), 5);
        for key in &keys {
            for clear in [
                "1000001",
                "1000002",
                "BE68539007547034",
                "BE33738234567846",
                "consent-7",
            ] {
                assert!(!key.contains(clear), "{clear} in clear in the key {key}");
            }
        }
        drop(journal);
        // Opened again, nothing is hashed twice.
        let reopened = SqliteJournal::open(&path).unwrap();
        assert!(reopened.consent("sandbox", "consent-78").unwrap().is_some());
        assert!(reopened.intent(&key).unwrap().is_some());
    }

    /// A journal whose keys are hashed is refused without its key file, naming it, rather than
    /// started afresh (which would lose every counter and make a retried payment look new).
    #[test]
    fn a_hashed_journal_without_its_key_file_is_refused() {
        let dir = tempdir::TempDir::new();
        let path = dir.path().join("journal.sqlite");
        drop(SqliteJournal::open(&path).unwrap());
        let key_file = dir.path().join("journal.sqlite.key");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
            0o600
        );
        std::fs::remove_file(&key_file).unwrap();
        let error = SqliteJournal::open(&path).unwrap_err();
        assert!(
            matches!(error, JournalError::KeyMissing { .. }),
            "{error:?}"
        );
        assert!(
            error.to_string().contains("journal.sqlite.key is missing"),
            "{error}"
        );
        std::fs::write(&key_file, "not a key").unwrap();
        let error = SqliteJournal::open(&path).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("a journal key is 64 hexadecimal digits"),
            "{error}"
        );
    }

    /// r11: the journal (and the WAL SQLite makes beside it) is its owner's alone, even when the file
    /// existed world-readable before.
    #[test]
    fn the_journal_files_are_readable_by_their_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("psd2-journal-mode-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("journal.db");
        std::fs::write(&path, b"").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let journal = SqliteJournal::open(&path).unwrap();
        journal.open_intents().unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        let wal = dir.join("journal.db-wal");
        assert!(wal.exists(), "WAL mode made its file");
        assert_eq!(mode(&wal), 0o600);
        drop(journal);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
