//! The PostgreSQL journal: one database that several engine processes (service replicas) share.
//!
//! The driver is tokio-postgres with a deadpool pool, on a small runtime of the journal's own: the
//! [`JournalStore`] trait is synchronous (SQLite's calls are too), so each call is handed to that
//! runtime and waited for, which works from any thread, inside another runtime or not. Versioned
//! migrations run at start under an advisory lock, so replicas starting together migrate once.
//!
//! What keeps the promises across replicas is in the database, not in any process: the intent's key
//! is its primary key; an exclusion constraint keeps one content per live end-to-end id of a debtor;
//! a unique index keeps a payment to one intent and a trigger keeps an intent to one payment; the
//! Art. 36(5) counter is one row updated by one statement that refuses past the limit; a check row
//! refuses a replica whose journal key differs from the one the database was written with.

use std::future::Future;
use std::sync::mpsc;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use secrecy::{ExposeSecret, SecretString};
use time::{Date, OffsetDateTime};
use tokio_postgres::{NoTls, Row};

use super::{
    AccessEntry, ConsentRow, Intent, IntentRow, IntentState, JournalError, JournalKeys,
    JournalResult, JournalStore, StoredSwitch, cause_code, cause_of, kind_to_row, mode_code,
    mode_of,
};
use crate::health::SwitchEvent;
use crate::model::{Consent, ConsentStatus, PaymentRef, PaymentStatus};

/// The migrations, in order: a version is applied once, in one transaction with its record.
const MIGRATIONS: &[(i32, &str)] = &[
    (
        1,
        "
CREATE EXTENSION IF NOT EXISTS btree_gist;
CREATE TABLE intents (
    seq BIGSERIAL NOT NULL UNIQUE,
    key TEXT PRIMARY KEY,
    bank TEXT NOT NULL,
    psu TEXT NOT NULL,
    end_to_end_id TEXT NOT NULL,
    debtor TEXT NOT NULL,
    operation TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    request TEXT NOT NULL,
    state TEXT NOT NULL,
    channel TEXT,
    payment_kind TEXT,
    payment_id TEXT,
    status TEXT,
    note TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    -- One content per live end-to-end id of a debtor: a write reusing it with other content is refused.
    CONSTRAINT intents_one_content_per_reference EXCLUDE USING gist (
        bank WITH =, debtor WITH =, end_to_end_id WITH =, operation WITH =, fingerprint WITH <>
    ) WHERE (state <> 'rejected' AND fingerprint <> '')
);
-- A payment belongs to one intent.
CREATE UNIQUE INDEX intents_one_intent_per_payment ON intents (bank, payment_kind, payment_id)
    WHERE payment_id IS NOT NULL;
CREATE INDEX intents_open ON intents (created_at) WHERE state IN ('recorded', 'attempting', 'in-doubt');
-- An intent has one payment: once known, it is never replaced by another.
CREATE FUNCTION intents_keep_payment() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.payment_id IS NOT NULL AND NEW.payment_id IS DISTINCT FROM OLD.payment_id THEN
        RAISE EXCEPTION 'an intent has one payment: it is known already' USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER intents_keep_payment BEFORE UPDATE ON intents
    FOR EACH ROW EXECUTE FUNCTION intents_keep_payment();
CREATE TABLE switches (
    id BIGSERIAL PRIMARY KEY,
    bank TEXT NOT NULL,
    from_mode TEXT NOT NULL,
    to_mode TEXT NOT NULL,
    cause TEXT NOT NULL,
    reason TEXT NOT NULL,
    evidence TEXT NOT NULL,
    at TIMESTAMPTZ NOT NULL,
    downtime_started TIMESTAMPTZ
);
CREATE INDEX switches_bank_at ON switches (bank, at);
CREATE TABLE access_log (
    id BIGSERIAL PRIMARY KEY,
    at TIMESTAMPTZ NOT NULL,
    day DATE NOT NULL,
    bank TEXT NOT NULL,
    psu TEXT NOT NULL,
    data TEXT NOT NULL,
    switch_event BIGINT
);
CREATE INDEX access_log_day ON access_log (day);
CREATE TABLE unattended (
    bank TEXT NOT NULL,
    psu TEXT NOT NULL,
    account TEXT NOT NULL,
    day DATE NOT NULL,
    count INTEGER NOT NULL CHECK (count > 0),
    PRIMARY KEY (bank, psu, account, day)
);
CREATE TABLE consents (
    bank TEXT NOT NULL,
    id TEXT NOT NULL,
    psu TEXT NOT NULL,
    accounts TEXT NOT NULL,
    balances TEXT NOT NULL,
    transactions TEXT NOT NULL,
    recurring BOOLEAN NOT NULL,
    valid_until TEXT NOT NULL,
    frequency_per_day INTEGER NOT NULL,
    status TEXT NOT NULL,
    PRIMARY KEY (bank, id)
);
-- The keyed hash of a fixed text under the journal key the database was first written with.
CREATE TABLE journal_key_check (
    one BOOLEAN PRIMARY KEY DEFAULT true CHECK (one),
    check_value TEXT NOT NULL
);
",
    ),
    (2, HEALTH_LEASES),
    (3, HEALTH_REPORTS),
];

/// The journal's second migration: the health leases and the claims on intents in doubt (used by
/// `leases`).
const HEALTH_LEASES: &str = "
CREATE TABLE health_leases (
    bank TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    taken_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX switches_bank_id ON switches (bank, id);
CREATE TABLE intent_claims (
    key TEXT PRIMARY KEY REFERENCES intents (key) ON DELETE CASCADE,
    holder TEXT NOT NULL,
    until TIMESTAMPTZ NOT NULL
);
";

/// The journal's third migration: what the replicas that do not decide a bank's health report of
/// their calls to its API, until the decider counts it (used by `leases`).
const HEALTH_REPORTS: &str = "
CREATE TABLE health_reports (
    id BIGSERIAL PRIMARY KEY,
    bank TEXT NOT NULL,
    replica TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('answered', 'failed', 'unavailable', 'unusable')),
    latency_ms DOUBLE PRECISION NOT NULL,
    error TEXT,
    at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX health_reports_bank ON health_reports (bank, id);
";

/// This process's name as a replica: host, process id and a random part (a restarted process is
/// another replica). It holds leases and claims; it names no customer.
pub fn replica_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default();
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{}:{}:{}", host.trim(), std::process::id(), &random[..8])
}

/// The advisory lock the migrations run under (any constant the database's other users do not take).
const MIGRATION_LOCK: i64 = 0x7073_6432_6662_6a6c;

/// A journal on PostgreSQL, shared by every process pointed at the database.
pub struct PostgresJournal {
    pool: Pool,
    /// The runtime the pool's connections live on; shut down in the background on drop, so dropping
    /// the journal inside another runtime is fine.
    runtime: Option<tokio::runtime::Runtime>,
    /// The secret of the keyed hashes: every replica of one database must have the same.
    keys: JournalKeys,
    /// This process's name among the replicas ([`replica_name`]): the holder of its claims
    /// on intents and of its health leases.
    replica: String,
}

impl std::fmt::Debug for PostgresJournal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PostgresJournal")
    }
}

impl Drop for PostgresJournal {
    fn drop(&mut self) {
        self.pool.close();
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

pub(super) fn pg(what: &'static str) -> impl FnOnce(tokio_postgres::Error) -> JournalError {
    move |source| JournalError::Postgres {
        what,
        message: source.as_db_error().map_or_else(
            || {
                // The driver's word and its cause (a TLS handshake's: which certificate check
                // failed), never a URL.
                match std::error::Error::source(&source) {
                    Some(cause) => format!("{source}: {cause}"),
                    None => source.to_string(),
                }
            },
            |db| db.message().to_owned(),
        ),
        source: Box::new(source),
    }
}

/// What a failed statement says: the driver's error, which never holds the URL.
impl From<tokio_postgres::Error> for JournalError {
    fn from(source: tokio_postgres::Error) -> Self {
        pg("a statement")(source)
    }
}

impl PostgresJournal {
    /// Connects to the database at `url` (`postgres://user:password@host:port/database`; the URL is
    /// a secret, never in an error or a log; `?sslmode=require&sslrootcert=ca.pem` for TLS with the
    /// server verified against that CA, see `postgres_tls`) with a pool of at most `pool_size` connections, runs
    /// the migrations this version has and the database lacks, and checks that `keys` are the ones
    /// the database was written with (a database written with other keys is refused).
    pub fn connect(url: &SecretString, keys: JournalKeys, pool_size: usize) -> JournalResult<Self> {
        let (url, root) = super::postgres_tls::split_root_cert(url.expose_secret());
        let config: tokio_postgres::Config = url.parse().map_err(|_| {
            JournalError::postgres(
                "the journal URL",
                "it does not parse as postgres://user:password@host:port/database",
            )
        })?;
        drop(url);
        let require = config.get_ssl_mode() == tokio_postgres::config::SslMode::Require;
        let tls = super::postgres_tls::connector(require, root)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("journal-postgres")
            .enable_all()
            .build()
            .map_err(|e| JournalError::postgres("starting the journal's runtime", e.to_string()))?;
        let recycling = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = match tls {
            Some(tls) => Manager::from_config(config, tls, recycling),
            None => Manager::from_config(config, NoTls, recycling),
        };
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .create_timeout(Some(std::time::Duration::from_secs(10)))
            .wait_timeout(Some(std::time::Duration::from_secs(30)))
            .build()
            .map_err(|e| JournalError::postgres("building the pool", e.to_string()))?;
        let journal = Self {
            pool,
            runtime: Some(runtime),
            keys,
            replica: replica_name(),
        };
        let check = journal.keys.psu("journal key check");
        journal.migrate("journal_migrations", MIGRATIONS)?;
        journal.run(move |client| async move {
            let stored: String = client
                .query_one(
                    "INSERT INTO journal_key_check (check_value) VALUES ($1)
                     ON CONFLICT (one) DO UPDATE SET check_value = journal_key_check.check_value
                     RETURNING check_value",
                    &[&check],
                )
                .await
                .map_err(pg("checking the journal key"))?
                .try_get(0)?;
            if stored != check {
                return Err(JournalError::Key {
                    what: "the journal key differs from the one this database was written with \
                           (every replica must have the same)"
                        .to_owned(),
                });
            }
            Ok(())
        })?;
        Ok(journal)
    }

    /// This process's name among the replicas sharing the database.
    pub fn replica(&self) -> &str {
        &self.replica
    }

    /// Runs `work` with a pooled connection on the journal's runtime and waits for it: how every
    /// call of the journal reaches the database, and how a store beside the journal that shares its
    /// database (the service's owner records) reaches it too.
    pub fn run<T, F, Fut>(&self, work: F) -> JournalResult<T>
    where
        T: Send + 'static,
        F: FnOnce(Object) -> Fut + Send + 'static,
        Fut: Future<Output = JournalResult<T>> + Send + 'static,
    {
        let pool = self.pool.clone();
        let (done, result) = mpsc::sync_channel(1);
        let runtime = self
            .runtime
            .as_ref()
            .expect("the runtime lives as long as the journal");
        runtime.spawn(async move {
            let outcome = match pool.get().await {
                Ok(client) => work(client).await,
                // The database's own word when it refused the connection (a missing pg_hba.conf
                // entry, a wrong password): never the URL.
                Err(deadpool_postgres::PoolError::Backend(e)) => {
                    Err(pg("connecting to the database")(e))
                }
                Err(e) => Err(JournalError::postgres(
                    "taking a connection from the pool",
                    e.to_string(),
                )),
            };
            let _ = done.send(outcome);
        });
        result.recv().unwrap_or_else(|_| {
            Err(JournalError::postgres(
                "a statement",
                "the journal's runtime stopped",
            ))
        })
    }

    /// Applies the `migrations` (version, SQL) the database lacks, recording each in the table
    /// `ledger`, under an advisory lock and in one transaction, so replicas starting together
    /// migrate once; refuses a database that a newer version migrated further. The journal's own
    /// migrations go through it, and so do those of a store beside the journal.
    pub fn migrate(
        &self,
        ledger: &'static str,
        migrations: &'static [(i32, &'static str)],
    ) -> JournalResult<()> {
        self.run(move |mut client| async move { migrate(&mut client, ledger, migrations).await })
    }
}

/// Applies the migrations the database lacks, under an advisory lock, in one transaction; refuses a
/// database a newer version migrated further.
async fn migrate(
    client: &mut Object,
    ledger: &'static str,
    migrations: &'static [(i32, &'static str)],
) -> JournalResult<()> {
    let transaction = client.transaction().await.map_err(pg("migrating"))?;
    transaction
        .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(pg("migrating"))?;
    transaction
        .batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS {ledger} (
                 version INTEGER PRIMARY KEY,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
             )"
        ))
        .await
        .map_err(pg("migrating"))?;
    let applied: Vec<i32> = transaction
        .query(&format!("SELECT version FROM {ledger}"), &[])
        .await
        .map_err(pg("migrating"))?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    let known = migrations.last().map_or(0, |(v, _)| *v);
    if let Some(newer) = applied.iter().find(|v| **v > known) {
        return Err(JournalError::postgres(
            "migrating",
            format!("the database is at journal version {newer}, newer than this one's {known}"),
        ));
    }
    for (version, sql) in migrations {
        if applied.contains(version) {
            continue;
        }
        transaction
            .batch_execute(sql)
            .await
            .map_err(pg("migrating"))?;
        transaction
            .execute(
                &format!("INSERT INTO {ledger} (version) VALUES ($1)"),
                &[version],
            )
            .await
            .map_err(pg("migrating"))?;
    }
    transaction.commit().await.map_err(pg("migrating"))
}

fn intent_row(row: &Row) -> JournalResult<Intent> {
    IntentRow {
        key: row.try_get("key")?,
        bank: row.try_get("bank")?,
        psu: row.try_get("psu")?,
        end_to_end_id: row.try_get("end_to_end_id")?,
        debtor: row.try_get("debtor")?,
        operation: row.try_get("operation")?,
        fingerprint: row.try_get("fingerprint")?,
        request: row.try_get("request")?,
        state: row.try_get("state")?,
        channel: row.try_get("channel")?,
        payment_kind: row.try_get("payment_kind")?,
        payment_id: row.try_get("payment_id")?,
        status: row.try_get("status")?,
        note: row.try_get("note")?,
    }
    .into_intent()
}

pub(super) fn switch_row(row: &Row) -> JournalResult<StoredSwitch> {
    Ok(StoredSwitch {
        id: row.try_get("id")?,
        bank: row.try_get("bank")?,
        from: mode_of("switches.from_mode", row.try_get("from_mode")?)?,
        to: mode_of("switches.to_mode", row.try_get("to_mode")?)?,
        cause: cause_of(row.try_get("cause")?)?,
        reason: row.try_get("reason")?,
        evidence: row.try_get("evidence")?,
        at: row.try_get("at")?,
        downtime_started: row.try_get("downtime_started")?,
    })
}

/// A count as the database holds it (`INTEGER`).
fn count(value: i32) -> u32 {
    u32::try_from(value).unwrap_or(0)
}

impl JournalStore for PostgresJournal {
    fn keys(&self) -> &JournalKeys {
        &self.keys
    }

    fn claim_intent(&self, key: &str, hold: std::time::Duration) -> JournalResult<bool> {
        self.claim(key, hold)
    }

    fn release_intent(&self, key: &str) -> JournalResult<()> {
        self.release(key)
    }

    fn record_intent(&self, intent: &Intent) -> JournalResult<Intent> {
        let intent = intent.clone();
        self.run(move |mut client| async move {
            let transaction = client.transaction().await?;
            // Writes of one reference (bank, debtor, end-to-end id, operation) check and insert one
            // at a time, whichever replica makes them; the exclusion constraint backs this up.
            let reference = format!(
                "{}\n{}\n{}\n{}",
                intent.bank,
                intent.debtor,
                intent.end_to_end_id,
                intent.operation.code()
            );
            transaction
                .execute(
                    "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                    &[&reference],
                )
                .await?;
            let conflicting = transaction
                .query_opt(
                    "SELECT * FROM intents WHERE bank = $1 AND debtor = $2 AND end_to_end_id = $3
                         AND operation = $4 AND fingerprint <> $5 AND fingerprint <> ''
                         AND state <> 'rejected'
                     ORDER BY created_at, seq LIMIT 1",
                    &[
                        &intent.bank,
                        &intent.debtor,
                        &intent.end_to_end_id,
                        &intent.operation.code(),
                        &intent.fingerprint,
                    ],
                )
                .await?;
            if let Some(conflicting) = conflicting {
                transaction.commit().await?;
                return intent_row(&conflicting);
            }
            let (state, channel) = intent.state.to_row();
            transaction
                .execute(
                    "INSERT INTO intents (key, bank, psu, end_to_end_id, debtor, operation, fingerprint,
                         request, state, channel, payment_kind, payment_id, status, note)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
                     ON CONFLICT (key) DO NOTHING",
                    &[
                        &intent.key,
                        &intent.bank,
                        &intent.psu,
                        &intent.end_to_end_id,
                        &intent.debtor,
                        &intent.operation.code(),
                        &intent.fingerprint,
                        &intent.request,
                        &state,
                        &channel,
                        &intent.payment.as_ref().map(|p| kind_to_row(p.kind)),
                        &intent.payment.as_ref().map(|p| p.id.to_string()),
                        &intent.status.map(|s| s.code()),
                        &intent.note,
                    ],
                )
                .await?;
            let stored = transaction
                .query_one("SELECT * FROM intents WHERE key = $1", &[&intent.key])
                .await?;
            transaction.commit().await?;
            intent_row(&stored)
        })
    }

    fn update_intent(
        &self,
        key: &str,
        state: IntentState,
        payment: Option<&PaymentRef>,
        status: Option<PaymentStatus>,
        note: &str,
    ) -> JournalResult<()> {
        let key = key.to_owned();
        let (state, channel) = state.to_row();
        let kind = payment.map(|p| kind_to_row(p.kind));
        let id = payment.map(|p| p.id.to_string());
        let status = status.map(|s| s.code());
        let note = note.to_owned();
        self.run(move |client| async move {
            let changed = client
                .execute(
                    "UPDATE intents SET state = $2, channel = $3,
                         payment_kind = COALESCE($4, payment_kind), payment_id = COALESCE($5, payment_id),
                         status = COALESCE($6, status), note = $7, updated_at = clock_timestamp()
                     WHERE key = $1",
                    &[&key, &state, &channel, &kind, &id, &status, &note],
                )
                .await?;
            if changed == 0 {
                return Err(JournalError::UnknownIntent { key });
            }
            Ok(())
        })
    }

    fn intent(&self, key: &str) -> JournalResult<Option<Intent>> {
        let key = key.to_owned();
        self.run(move |client| async move {
            client
                .query_opt("SELECT * FROM intents WHERE key = $1", &[&key])
                .await?
                .as_ref()
                .map(intent_row)
                .transpose()
        })
    }

    fn open_intents(&self) -> JournalResult<Vec<Intent>> {
        self.run(move |client| async move {
            client
                .query(
                    "SELECT * FROM intents WHERE state IN ('recorded', 'attempting', 'in-doubt')
                     ORDER BY created_at, seq",
                    &[],
                )
                .await?
                .iter()
                .map(intent_row)
                .collect()
        })
    }

    fn record_switch(&self, event: &SwitchEvent) -> JournalResult<i64> {
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
        self.run(move |client| async move {
            let (bank, from, to, cause, reason, evidence, at, downtime) = values;
            Ok(client
                .query_one(
                    "INSERT INTO switches (bank, from_mode, to_mode, cause, reason, evidence, at, downtime_started)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                    &[&bank, &from, &to, &cause, &reason, &evidence, &at, &downtime],
                )
                .await?
                .try_get(0)?)
        })
    }

    fn switches(
        &self,
        bank: &str,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> JournalResult<Vec<StoredSwitch>> {
        let bank = bank.to_owned();
        self.run(move |client| async move {
            client
                .query(
                    "SELECT * FROM switches WHERE bank = $1 AND at >= $2 AND at < $3 ORDER BY at, id",
                    &[&bank, &from, &to],
                )
                .await?
                .iter()
                .map(switch_row)
                .collect()
        })
    }

    fn log_access(&self, entry: &AccessEntry) -> JournalResult<()> {
        let entry = entry.clone();
        self.run(move |client| async move {
            client
                .execute(
                    "INSERT INTO access_log (at, day, bank, psu, data, switch_event)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                    &[
                        &entry.at,
                        &entry.at.date(),
                        &entry.bank,
                        &entry.psu,
                        &entry.data,
                        &entry.switch_event,
                    ],
                )
                .await?;
            Ok(())
        })
    }

    fn access_log(&self, day: Date) -> JournalResult<Vec<AccessEntry>> {
        self.run(move |client| async move {
            client
                .query(
                    "SELECT at, bank, psu, data, switch_event FROM access_log WHERE day = $1 ORDER BY id",
                    &[&day],
                )
                .await?
                .iter()
                .map(|r| {
                    Ok(AccessEntry {
                        at: r.try_get(0)?,
                        bank: r.try_get(1)?,
                        psu: r.try_get(2)?,
                        data: r.try_get(3)?,
                        switch_event: r.try_get(4)?,
                    })
                })
                .collect()
        })
    }

    fn count_unattended(
        &self,
        bank: &str,
        psu: &str,
        account: &str,
        day: Date,
        limit: u32,
    ) -> JournalResult<Result<u32, u32>> {
        let key = (
            bank.to_owned(),
            self.keys.psu(psu),
            self.keys.account(account),
        );
        let limit = i32::try_from(limit).unwrap_or(i32::MAX);
        self.run(move |client| async move {
            let (bank, psu, account) = key;
            // One statement: the row is locked while it counts, whichever replica serves the read.
            if limit > 0 {
                let counted = client
                    .query_opt(
                        "INSERT INTO unattended (bank, psu, account, day, count) VALUES ($1, $2, $3, $4, 1)
                         ON CONFLICT (bank, psu, account, day)
                             DO UPDATE SET count = unattended.count + 1 WHERE unattended.count < $5
                         RETURNING count",
                        &[&bank, &psu, &account, &day, &limit],
                    )
                    .await?;
                if let Some(row) = counted {
                    return Ok(Ok(count(row.try_get(0)?)));
                }
            }
            let refused = client
                .query_opt(
                    "SELECT count FROM unattended WHERE bank = $1 AND psu = $2 AND account = $3 AND day = $4",
                    &[&bank, &psu, &account, &day],
                )
                .await?
                .map(|r| r.try_get(0))
                .transpose()?
                .unwrap_or(0);
            Ok(Err(count(refused)))
        })
    }

    fn record_consent(&self, bank: &str, psu: &str, consent: &Consent) -> JournalResult<()> {
        let row = ConsentRow::of(psu, consent);
        let key = (bank.to_owned(), self.keys.consent(consent.id.as_str()));
        self.run(move |client| async move {
            let (bank, id) = key;
            let frequency = i32::try_from(row.frequency_per_day).unwrap_or(i32::MAX);
            client
                .execute(
                    "INSERT INTO consents (bank, id, psu, accounts, balances, transactions, recurring,
                         valid_until, frequency_per_day, status)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                     ON CONFLICT (bank, id) DO UPDATE SET psu = $3, accounts = $4, balances = $5,
                         transactions = $6, recurring = $7, valid_until = $8, frequency_per_day = $9,
                         status = $10",
                    &[
                        &bank,
                        &id,
                        &row.psu,
                        &row.accounts,
                        &row.balances,
                        &row.transactions,
                        &row.recurring,
                        &row.valid_until,
                        &frequency,
                        &row.status,
                    ],
                )
                .await?;
            Ok(())
        })
    }

    fn consent(&self, bank: &str, id: &str) -> JournalResult<Option<(String, Consent)>> {
        let key = (bank.to_owned(), self.keys.consent(id));
        let id = id.to_owned();
        self.run(move |client| async move {
            let (bank, hashed) = key;
            let Some(r) = client
                .query_opt(
                    "SELECT psu, accounts, balances, transactions, recurring, valid_until,
                         frequency_per_day, status
                     FROM consents WHERE bank = $1 AND id = $2",
                    &[&bank, &hashed],
                )
                .await?
            else {
                return Ok(None);
            };
            ConsentRow {
                psu: r.try_get(0)?,
                accounts: r.try_get(1)?,
                balances: r.try_get(2)?,
                transactions: r.try_get(3)?,
                recurring: r.try_get(4)?,
                valid_until: r.try_get(5)?,
                frequency_per_day: count(r.try_get(6)?),
                status: r.try_get(7)?,
            }
            .into_consent(&id)
            .map(Some)
        })
    }

    fn set_consent_status(&self, bank: &str, id: &str, status: ConsentStatus) -> JournalResult<()> {
        let key = (bank.to_owned(), self.keys.consent(id));
        self.run(move |client| async move {
            let (bank, id) = key;
            client
                .execute(
                    "UPDATE consents SET status = $3 WHERE bank = $1 AND id = $2",
                    &[&bank, &id, &status.code()],
                )
                .await?;
            Ok(())
        })
    }
}
