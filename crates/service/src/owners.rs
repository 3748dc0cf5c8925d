//! Who made which consent and payment through the service: the records behind its promise that a
//! caller reaches only the consents and payments it created, across restarts too.
//!
//! [`OwnerStore`] is the small trait a store implements; [`SqliteOwnerStore`] is the embedded default,
//! and `owners_postgres::PostgresOwnerStore` the one replicas share, in the journal's PostgreSQL
//! database, with the same one-owner-per-resource constraint. Every call is durable when it returns (WAL, `synchronous = FULL`), and a resource
//! keeps its first owner: a second record of it changes nothing.
//!
//! Where it lives: its own SQLite file beside the engine's journal, named by [`owners_path`]
//! (`psd2-fallback.db` → `psd2-fallback.owners.db`), opened with [`SqliteOwnerStore::beside_journal`].
//! Not in the journal's file, for two reasons: the journal's file holds the engine's tables only, and a
//! second writer on that file could make the journal's read-then-write transactions (the unattended-
//! access counter) fail, since SQLite answers a read transaction that tries to write after another
//! connection wrote with `SQLITE_BUSY_SNAPSHOT`, without waiting.
//!
//! Journals written before the service kept its own store hold these records in their own `owners` and
//! `consent_requests` tables. A new owners file imports them once, reading the journal read-only, so
//! callers keep their resources across that upgrade; `PRAGMA user_version` marks the import as done.
//!
//! The rows, which only this module knows: `owners (bank, resource, id, payment_kind, caller, psu,
//! created_at)`, one per (bank, `consent` or `payment`, id); `consent_requests (bank, id, accounts,
//! balances, transactions, recurring, valid_until, frequency_per_day)`, what a consent asked for (IBANs
//! separated by spaces), for `GET /v1/consents/{id}`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use time::{Date, OffsetDateTime};

use psd2_fallback_engine::journal::{accounts_column, split_accounts_column};
use psd2_fallback_engine::model::{
    ConsentAccess, ConsentRequest, Iban, PaymentKind, PaymentProduct, PaymentRef,
};

/// An owner store operation that failed: the store could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("owner store: {0}")]
pub struct OwnerStoreError(String);

impl OwnerStoreError {
    pub(crate) fn new(what: impl Into<String>) -> Self {
        OwnerStoreError(what.into())
    }
}

impl From<rusqlite::Error> for OwnerStoreError {
    fn from(error: rusqlite::Error) -> Self {
        OwnerStoreError(error.to_string())
    }
}

/// What the owner store returns.
pub type OwnerStoreResult<T> = Result<T, OwnerStoreError>;

/// Who made a consent or payment resource through the service: the caller (a TPP application) and the
/// customer. Kept so that one caller never reaches another's resources, across restarts too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceOwner {
    /// The caller's name, as configured.
    pub caller: String,
    /// The customer the resource was made for.
    pub psu: String,
}

/// What an owner store does. Implementations must make each call durable before returning.
pub trait OwnerStore: Send + Sync + fmt::Debug {
    /// Records who made a consent at a bank, and what it asked for. A consent already recorded keeps
    /// its first owner.
    fn record_consent_owner(
        &self,
        bank: &str,
        consent: &str,
        owner: &ResourceOwner,
        request: &ConsentRequest,
    ) -> OwnerStoreResult<()>;
    /// Who made a consent at a bank, if the store knows.
    fn consent_owner(&self, bank: &str, consent: &str) -> OwnerStoreResult<Option<ResourceOwner>>;
    /// What a consent recorded with [`OwnerStore::record_consent_owner`] asked for.
    fn consent_request(
        &self,
        bank: &str,
        consent: &str,
    ) -> OwnerStoreResult<Option<ConsentRequest>>;
    /// How many consents at a bank have their `validUntil` from `from` to `until` (both included): the
    /// status page's "consents expiring" count.
    fn consents_expiring(&self, bank: &str, from: Date, until: Date) -> OwnerStoreResult<usize>;
    /// Every consent whose `validUntil` is `until` or earlier: (bank, consent, caller, `validUntil`).
    fn consents_until(&self, until: Date) -> OwnerStoreResult<Vec<(String, String, String, Date)>>;
    /// Records who made a payment resource (of any kind) at a bank. A resource already recorded keeps
    /// its first owner.
    fn record_payment_owner(
        &self,
        bank: &str,
        payment: &PaymentRef,
        owner: &ResourceOwner,
    ) -> OwnerStoreResult<()>;
    /// Who made a payment resource at a bank, and of which kind it is, if the store knows.
    fn payment_owner(
        &self,
        bank: &str,
        payment: &str,
    ) -> OwnerStoreResult<Option<(PaymentKind, ResourceOwner)>>;
}

/// The owners file that goes with a journal file: the journal's name with `.owners` before its
/// extension (`psd2-fallback.db` → `psd2-fallback.owners.db`, `journal` → `journal.owners`).
pub fn owners_path(journal: &Path) -> PathBuf {
    beside(journal, "owners")
}

/// A file of the service's beside a journal file: the journal's name with `.{label}` before its
/// extension.
pub(crate) fn beside(journal: &Path, label: &str) -> PathBuf {
    let stem = journal
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match journal.extension() {
        Some(extension) => format!("{stem}.{label}.{}", extension.to_string_lossy()),
        None => format!("{stem}.{label}"),
    };
    journal.with_file_name(name)
}

/// The embedded owner store: one SQLite file.
pub struct SqliteOwnerStore {
    connection: Mutex<Connection>,
}

impl fmt::Debug for SqliteOwnerStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SqliteOwnerStore")
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS owners (
    bank TEXT NOT NULL,
    resource TEXT NOT NULL,
    id TEXT NOT NULL,
    payment_kind TEXT,
    caller TEXT NOT NULL,
    psu TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (bank, resource, id)
);
CREATE TABLE IF NOT EXISTS consent_requests (
    bank TEXT NOT NULL,
    id TEXT NOT NULL,
    accounts TEXT NOT NULL,
    balances TEXT NOT NULL,
    transactions TEXT NOT NULL,
    recurring INTEGER NOT NULL,
    valid_until TEXT NOT NULL,
    frequency_per_day INTEGER NOT NULL,
    PRIMARY KEY (bank, id)
);
";

/// `PRAGMA user_version` once the records of an older journal were imported (or there were none).
const IMPORTED_FROM_JOURNAL: i64 = 1;

fn timestamp(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .expect("a UTC time formats as RFC 3339")
}

pub(crate) fn kind_to_row(kind: PaymentKind) -> String {
    match kind {
        PaymentKind::Single(p) => format!("payments/{}", p.code()),
        PaymentKind::Periodic(p) => format!("periodic-payments/{}", p.code()),
        PaymentKind::File => "bulk-payments".to_owned(),
    }
}

pub(crate) fn kind_from_row(text: &str) -> Option<PaymentKind> {
    if text == "bulk-payments" {
        return Some(PaymentKind::File);
    }
    let (service, product) = text.split_once('/')?;
    let product = PaymentProduct::from_code(product)?;
    match service {
        "payments" => Some(PaymentKind::Single(product)),
        "periodic-payments" => Some(PaymentKind::Periodic(product)),
        _ => None,
    }
}

/// Opens (or creates) one of the service's SQLite files, readable by its owner only, with `schema`.
/// Writes are durable when a call returns: WAL with `synchronous = FULL`.
pub(crate) fn open_durable(path: &Path, schema: &str) -> OwnerStoreResult<Connection> {
    psd2_fallback_engine::journal::owner_only(path)
        .map_err(|e| OwnerStoreError(format!("{}: {e}", path.display())))?;
    let connection =
        Connection::open(path).map_err(|e| OwnerStoreError(format!("{}: {e}", path.display())))?;
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", "FULL")?;
    connection.busy_timeout(std::time::Duration::from_secs(5))?;
    connection.execute_batch(schema)?;
    Ok(connection)
}

/// What a consent asked for, from its `consent_requests` row: the IBAN lists (accounts, balances,
/// transactions; separated by spaces; `accounts` led by the consent's scope word when it has one,
/// as the journal keeps it: `journal::accounts_column`), `recurring`, `valid_until` (`YYYY-MM-DD`), `frequency_per_day`.
pub(crate) fn consent_request_of(
    [accounts, balances, transactions]: [&str; 3],
    recurring: bool,
    valid_until: &str,
    frequency: u32,
) -> OwnerStoreResult<ConsentRequest> {
    let bad =
        |what: &str| OwnerStoreError(format!("consent_requests.{what} holds an unknown value"));
    let (scope, accounts) = split_accounts_column(accounts);
    let ibans = |text: &str, what: &str| {
        text.split_whitespace()
            .map(|i| Iban::parse(i).map_err(|_| bad(what)))
            .collect::<OwnerStoreResult<Vec<_>>>()
    };
    Ok(ConsentRequest {
        access: ConsentAccess {
            accounts: ibans(accounts, "accounts")?,
            balances: ibans(balances, "balances")?,
            transactions: ibans(transactions, "transactions")?,
            scope,
        },
        recurring,
        valid_until: Date::parse(
            valid_until,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .map_err(|_| bad("valid_until"))?,
        frequency_per_day: frequency,
    })
}

/// The IBANs of a list, separated by spaces, as a `consent_requests` row holds them.
pub(crate) fn iban_list(list: &[Iban]) -> String {
    list.iter()
        .map(|i| i.as_str().to_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

impl SqliteOwnerStore {
    /// Opens (or creates) an owners file. Writes are durable when a call returns: WAL with
    /// `synchronous = FULL`.
    pub fn open(path: &Path) -> OwnerStoreResult<Self> {
        Ok(Self {
            connection: Mutex::new(open_durable(path, SCHEMA)?),
        })
    }

    /// Opens (or creates) the owners file of a journal ([`owners_path`]). The first time, it imports
    /// the records an older journal kept in its own tables.
    pub fn beside_journal(journal: &Path) -> OwnerStoreResult<Self> {
        let store = Self::open(&owners_path(journal))?;
        store.import_once(journal)?;
        Ok(store)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Copies the `owners` and `consent_requests` rows of an older journal, unless done before. The
    /// journal is opened read-only; a journal without those tables (or no journal yet) has nothing to
    /// give.
    fn import_once(&self, journal: &Path) -> OwnerStoreResult<()> {
        let mut connection = self.lock();
        let transaction = connection.transaction()?;
        let version: i64 = transaction.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version >= IMPORTED_FROM_JOURNAL {
            return Ok(());
        }
        if journal.is_file() {
            let old = Connection::open_with_flags(
                journal,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(|e| OwnerStoreError(format!("{}: {e}", journal.display())))?;
            old.busy_timeout(std::time::Duration::from_secs(5))?;
            let has = |table: &str| -> rusqlite::Result<bool> {
                old.query_row(
                    "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                    [table],
                    |r| r.get::<_, i64>(0),
                )
                .map(|n| n > 0)
            };
            if has("owners")? {
                let mut rows = old.prepare(
                    "SELECT bank, resource, id, payment_kind, caller, psu, created_at FROM owners",
                )?;
                let mut insert = transaction.prepare(
                    "INSERT INTO owners (bank, resource, id, payment_kind, caller, psu, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
                )?;
                let mut found = rows.query([])?;
                while let Some(row) = found.next()? {
                    insert.execute(params![
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, Option<String>>(3)?,
                        row.get::<_, String>(4)?,
                        row.get::<_, String>(5)?,
                        row.get::<_, String>(6)?,
                    ])?;
                }
            }
            if has("consent_requests")? {
                let mut rows = old.prepare(
                    "SELECT bank, id, accounts, balances, transactions, recurring, valid_until, frequency_per_day
                     FROM consent_requests",
                )?;
                let mut insert = transaction.prepare(
                    "INSERT INTO consent_requests (bank, id, accounts, balances, transactions, recurring, valid_until, frequency_per_day)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT DO NOTHING",
                )?;
                let mut found = rows.query([])?;
                while let Some(row) = found.next()? {
                    insert.execute(params![
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, String>(3)?,
                        row.get::<_, String>(4)?,
                        row.get::<_, bool>(5)?,
                        row.get::<_, String>(6)?,
                        row.get::<_, u32>(7)?,
                    ])?;
                }
            }
        }
        transaction.pragma_update(None, "user_version", IMPORTED_FROM_JOURNAL)?;
        transaction.commit()?;
        Ok(())
    }
}

impl OwnerStore for SqliteOwnerStore {
    fn record_consent_owner(
        &self,
        bank: &str,
        consent: &str,
        owner: &ResourceOwner,
        request: &ConsentRequest,
    ) -> OwnerStoreResult<()> {
        let mut connection = self.lock();
        let transaction = connection.transaction()?;
        transaction.execute(
            "INSERT INTO owners (bank, resource, id, payment_kind, caller, psu, created_at)
             VALUES (?1, 'consent', ?2, NULL, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
            params![
                bank,
                consent,
                owner.caller,
                owner.psu,
                timestamp(OffsetDateTime::now_utc())
            ],
        )?;
        let ibans = iban_list;
        let access = &request.access;
        transaction.execute(
            "INSERT INTO consent_requests (bank, id, accounts, balances, transactions, recurring, valid_until, frequency_per_day)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT DO NOTHING",
            params![
                bank,
                consent,
                accounts_column(access),
                ibans(&access.balances),
                ibans(&access.transactions),
                request.recurring,
                request.valid_until.to_string(),
                request.frequency_per_day,
            ],
        )?;
        transaction.commit()?;
        Ok(())
    }

    fn consent_owner(&self, bank: &str, consent: &str) -> OwnerStoreResult<Option<ResourceOwner>> {
        Ok(self
            .lock()
            .query_row(
                "SELECT caller, psu FROM owners WHERE bank = ?1 AND resource = 'consent' AND id = ?2",
                params![bank, consent],
                |row| {
                    Ok(ResourceOwner {
                        caller: row.get(0)?,
                        psu: row.get(1)?,
                    })
                },
            )
            .optional()?)
    }

    fn consent_request(
        &self,
        bank: &str,
        consent: &str,
    ) -> OwnerStoreResult<Option<ConsentRequest>> {
        let row = self
            .lock()
            .query_row(
                "SELECT accounts, balances, transactions, recurring, valid_until, frequency_per_day
                 FROM consent_requests WHERE bank = ?1 AND id = ?2",
                params![bank, consent],
                |row| {
                    Ok((
                        [
                            row.get::<_, String>(0)?,
                            row.get::<_, String>(1)?,
                            row.get::<_, String>(2)?,
                        ],
                        row.get::<_, bool>(3)?,
                        row.get::<_, String>(4)?,
                        row.get::<_, u32>(5)?,
                    ))
                },
            )
            .optional()?;
        let Some(([accounts, balances, transactions], recurring, valid_until, frequency)) = row
        else {
            return Ok(None);
        };
        consent_request_of(
            [&accounts, &balances, &transactions],
            recurring,
            &valid_until,
            frequency,
        )
        .map(Some)
    }

    fn consents_until(&self, until: Date) -> OwnerStoreResult<Vec<(String, String, String, Date)>> {
        let connection = self.lock();
        let mut statement = connection.prepare(
            "SELECT r.bank, r.id, o.caller, r.valid_until FROM consent_requests r
             JOIN owners o ON o.bank = r.bank AND o.resource = 'consent' AND o.id = r.id
             WHERE r.valid_until <= ?1 ORDER BY r.valid_until",
        )?;
        let rows = statement.query_map(params![until.to_string()], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (bank, id, caller, until) = row?;
            let until = psd2_fallback_engine::model::belgian::parse_iso_date(&until)
                .map_err(|e| OwnerStoreError(format!("consent_requests.valid_until: {e}")))?;
            out.push((bank, id, caller, until));
        }
        Ok(out)
    }

    fn consents_expiring(&self, bank: &str, from: Date, until: Date) -> OwnerStoreResult<usize> {
        // `valid_until` is an ISO date, so text order is date order.
        let count: i64 = self.lock().query_row(
            "SELECT COUNT(*) FROM consent_requests WHERE bank = ?1 AND valid_until BETWEEN ?2 AND ?3",
            params![bank, from.to_string(), until.to_string()],
            |row| row.get(0),
        )?;
        Ok(usize::try_from(count).unwrap_or_default())
    }

    fn record_payment_owner(
        &self,
        bank: &str,
        payment: &PaymentRef,
        owner: &ResourceOwner,
    ) -> OwnerStoreResult<()> {
        self.lock().execute(
            "INSERT INTO owners (bank, resource, id, payment_kind, caller, psu, created_at)
             VALUES (?1, 'payment', ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
            params![
                bank,
                payment.id.to_string(),
                kind_to_row(payment.kind),
                owner.caller,
                owner.psu,
                timestamp(OffsetDateTime::now_utc())
            ],
        )?;
        Ok(())
    }

    fn payment_owner(
        &self,
        bank: &str,
        payment: &str,
    ) -> OwnerStoreResult<Option<(PaymentKind, ResourceOwner)>> {
        let row = self
            .lock()
            .query_row(
                "SELECT payment_kind, caller, psu FROM owners WHERE bank = ?1 AND resource = 'payment' AND id = ?2",
                params![bank, payment],
                |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        ResourceOwner {
                            caller: row.get(1)?,
                            psu: row.get(2)?,
                        },
                    ))
                },
            )
            .optional()?;
        row.map(|(kind, owner)| {
            kind_from_row(&kind)
                .map(|kind| (kind, owner))
                .ok_or_else(|| {
                    OwnerStoreError(format!(
                        "owners.payment_kind holds an unknown value {kind:?}"
                    ))
                })
        })
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use psd2_fallback_engine::model::PaymentId;

    /// A temporary folder, removed on drop (the store tests need real files).
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> Self {
            let path =
                std::env::temp_dir().join(format!("psd2-fallback-owners-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(&path).unwrap();
            Self(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn owner(caller: &str, psu: &str) -> ResourceOwner {
        ResourceOwner {
            caller: caller.into(),
            psu: psu.into(),
        }
    }

    fn request() -> ConsentRequest {
        ConsentRequest {
            access: ConsentAccess {
                accounts: vec![Iban::parse("BE68539007547034").unwrap()],
                balances: vec![Iban::parse("BE68539007547034").unwrap()],
                transactions: vec![],
                scope: Default::default(),
            },
            recurring: true,
            valid_until: time::macros::date!(2027 - 01 - 31),
            frequency_per_day: 4,
        }
    }

    fn periodic(id: &str) -> PaymentRef {
        PaymentRef {
            kind: PaymentKind::Periodic(PaymentProduct::SepaCreditTransfer),
            id: PaymentId::new(id),
        }
    }

    #[test]
    fn consents_expiring_are_counted_by_bank_and_their_valid_until() {
        use time::macros::date;
        let dir = TempDir::new();
        let store = SqliteOwnerStore::open(&dir.0.join("owners.sqlite")).unwrap();
        let mut soon = request();
        soon.valid_until = date!(2027 - 01 - 03);
        let mut later = request();
        later.valid_until = date!(2027 - 02 - 01);
        let who = owner("budget-app", "1001");
        store
            .record_consent_owner("kbc", "c-1", &who, &soon)
            .unwrap();
        store
            .record_consent_owner("kbc", "c-2", &who, &later)
            .unwrap();
        store
            .record_consent_owner("ing", "c-3", &who, &soon)
            .unwrap();
        let week = (date!(2027 - 01 - 01), date!(2027 - 01 - 08));
        assert_eq!(store.consents_expiring("kbc", week.0, week.1).unwrap(), 1);
        assert_eq!(store.consents_expiring("ing", week.0, week.1).unwrap(), 1);
        assert_eq!(store.consents_expiring("bnp", week.0, week.1).unwrap(), 0);
        // Both ends are included.
        let day = date!(2027 - 01 - 03);
        assert_eq!(store.consents_expiring("kbc", day, day).unwrap(), 1);
    }

    #[test]
    fn owners_file_names_follow_the_journal() {
        assert_eq!(
            owners_path(Path::new("/var/lib/psd2/psd2-fallback.db")),
            Path::new("/var/lib/psd2/psd2-fallback.owners.db")
        );
        assert_eq!(
            owners_path(Path::new("journal")),
            Path::new("journal.owners")
        );
    }

    #[test]
    fn owners_are_kept_across_reopening_and_keep_their_first_owner() {
        let dir = TempDir::new();
        let journal = dir.0.join("journal.sqlite");
        let (a, b) = (
            owner("budget-app", "1001"),
            owner("accounting-tool", "1002"),
        );
        let payment = periodic("pmt-1");
        {
            let store = SqliteOwnerStore::beside_journal(&journal).unwrap();
            store
                .record_consent_owner("bank", "c-1", &a, &request())
                .unwrap();
            store
                .record_consent_owner("bank", "c-1", &b, &request())
                .unwrap();
            store.record_payment_owner("bank", &payment, &b).unwrap();
        }
        assert!(
            owners_path(&journal).is_file(),
            "the records are in their own file"
        );
        let store = SqliteOwnerStore::beside_journal(&journal).unwrap();
        assert_eq!(store.consent_owner("bank", "c-1").unwrap(), Some(a));
        assert_eq!(
            store.consent_request("bank", "c-1").unwrap(),
            Some(request())
        );
        assert_eq!(store.consent_request("bank", "c-2").unwrap(), None);
        assert_eq!(store.consent_owner("other", "c-1").unwrap(), None);
        assert_eq!(store.consent_owner("bank", "pmt-1").unwrap(), None);
        assert_eq!(
            store.payment_owner("bank", "pmt-1").unwrap(),
            Some((payment.kind, b))
        );
        assert_eq!(store.payment_owner("bank", "c-1").unwrap(), None);
    }

    /// Regression guard for the move of the owner records out of the engine's journal: a journal that
    /// still holds them hands them over once, and the callers keep their resources.
    #[test]
    fn the_records_of_an_older_journal_are_imported_once() {
        let dir = TempDir::new();
        let journal = dir.0.join("journal.sqlite");
        {
            let old = Connection::open(&journal).unwrap();
            old.execute_batch(SCHEMA).unwrap();
            old.execute(
                "INSERT INTO owners VALUES ('bank', 'consent', 'c-1', NULL, 'budget-app', '1001', '2026-01-01T00:00:00Z')",
                [],
            )
            .unwrap();
            old.execute(
                "INSERT INTO owners VALUES ('bank', 'payment', 'pmt-1', 'payments/sepa-credit-transfers', 'budget-app', '1001', '2026-01-01T00:00:00Z')",
                [],
            )
            .unwrap();
            old.execute(
                "INSERT INTO consent_requests VALUES ('bank', 'c-1', 'BE68539007547034', 'BE68539007547034', '', 1, '2027-01-31', 4)",
                [],
            )
            .unwrap();
        }
        {
            let store = SqliteOwnerStore::beside_journal(&journal).unwrap();
            assert_eq!(
                store.consent_owner("bank", "c-1").unwrap(),
                Some(owner("budget-app", "1001"))
            );
            assert_eq!(
                store.consent_request("bank", "c-1").unwrap(),
                Some(request())
            );
            assert_eq!(
                store.payment_owner("bank", "pmt-1").unwrap(),
                Some((
                    PaymentKind::Single(PaymentProduct::SepaCreditTransfer),
                    owner("budget-app", "1001")
                ))
            );
        }
        // A row the old journal gains later is not imported again: the import ran once.
        Connection::open(&journal)
            .unwrap()
            .execute(
                "INSERT INTO owners VALUES ('bank', 'consent', 'c-2', NULL, 'accounting-tool', '1002', '2026-01-02T00:00:00Z')",
                [],
            )
            .unwrap();
        let store = SqliteOwnerStore::beside_journal(&journal).unwrap();
        assert_eq!(store.consent_owner("bank", "c-2").unwrap(), None);
        assert_eq!(
            store.consent_owner("bank", "c-1").unwrap(),
            Some(owner("budget-app", "1001"))
        );
    }

    #[test]
    fn a_journal_without_owner_tables_gives_nothing_and_is_not_changed() {
        let dir = TempDir::new();
        let journal = dir.0.join("journal.sqlite");
        Connection::open(&journal)
            .unwrap()
            .execute_batch("CREATE TABLE intents (key TEXT PRIMARY KEY);")
            .unwrap();
        let store = SqliteOwnerStore::beside_journal(&journal).unwrap();
        assert_eq!(store.consent_owner("bank", "c-1").unwrap(), None);
        let tables: Vec<String> = Connection::open(&journal)
            .unwrap()
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(tables, ["intents"]);
    }
}
