//! Where the service keeps its state: the journal setting (a SQLite file, the embedded default, or a
//! PostgreSQL database several replicas share) and the stores opened from it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use std::time::Duration;

use psd2_fallback_engine::health::Health;
use psd2_fallback_engine::journal::{
    HealthShare, JournalKeys, JournalStore, PostgresJournal, SqliteJournal,
};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::owners::{OwnerStore, SqliteOwnerStore};
use crate::owners_postgres::PostgresOwnerStore;

/// The environment variable whose value, when set, is the journal setting instead of the file's
/// (so a database password can come from a secret rather than the configuration file).
pub const JOURNAL_URL_VARIABLE: &str = "PSD2_FALLBACK_JOURNAL_URL";

/// The connections each replica keeps to a PostgreSQL journal at most.
const POOL_SIZE: usize = 8;

/// The `journal` setting: a SQLite file, or `postgres://user:password@host:port/database` (a secret:
/// its `Debug` shows only that it is PostgreSQL).
#[derive(Clone)]
pub enum JournalLocation {
    /// The embedded journal, in this file; the owner records in a file beside it.
    File(PathBuf),
    /// A PostgreSQL database; the owner records in the same database.
    Postgres(SecretString),
}

impl fmt::Debug for JournalLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JournalLocation::File(path) => f.debug_tuple("File").field(path).finish(),
            JournalLocation::Postgres(_) => f.write_str("Postgres(postgres://…)"),
        }
    }
}

impl JournalLocation {
    /// The setting as written: a URL naming PostgreSQL, or a path.
    pub fn parse(text: &str) -> Self {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            JournalLocation::Postgres(SecretString::from(text.to_owned()))
        } else {
            JournalLocation::File(PathBuf::from(text))
        }
    }

    /// The file, for the embedded journal.
    pub fn file(&self) -> Option<&Path> {
        match self {
            JournalLocation::File(path) => Some(path),
            JournalLocation::Postgres(_) => None,
        }
    }

    /// `PSD2_FALLBACK_JOURNAL_URL` when set, else this.
    pub(crate) fn or_environment(&self) -> Self {
        match std::env::var(JOURNAL_URL_VARIABLE) {
            Ok(text) if !text.trim().is_empty() => Self::parse(text.trim()),
            _ => self.clone(),
        }
    }
}

impl<'de> Deserialize<'de> for JournalLocation {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Ok(Self::parse(&text))
    }
}

/// What [`open`] opens: the journal, the owner records and, on PostgreSQL, the journal again as the
/// database the replicas share their banks' health through.
pub(crate) type Opened = (
    Arc<dyn JournalStore>,
    Arc<dyn OwnerStore>,
    Option<Arc<PostgresJournal>>,
);

/// The journal and the owner records a setting names; `key_file` is the PostgreSQL journal's key
/// (the same file for every replica); an error says which of the two settings is wrong.
pub(crate) async fn open(
    location: &JournalLocation,
    key_file: Option<&Path>,
) -> Result<Opened, (&'static str, String)> {
    match location {
        JournalLocation::File(path) => {
            let journal = SqliteJournal::open(path).map_err(|e| ("journal", e.to_string()))?;
            let owners =
                SqliteOwnerStore::beside_journal(path).map_err(|e| ("journal", e.to_string()))?;
            Ok((Arc::new(journal), Arc::new(owners), None))
        }
        JournalLocation::Postgres(url) => {
            let key_file = key_file.ok_or((
                "journal_key_file",
                "a PostgreSQL journal needs its key file (64 hexadecimal digits, the same for every replica)"
                    .to_owned(),
            ))?;
            let keys =
                JournalKeys::read(key_file).map_err(|e| ("journal_key_file", e.to_string()))?;
            let url = SecretString::from(url.expose_secret().to_owned());
            // Connecting and migrating wait on the database: off the async threads.
            let opened = tokio::task::spawn_blocking(move || -> Result<_, String> {
                let journal = PostgresJournal::connect(&url, keys, POOL_SIZE);
                let journal = Arc::new(journal.map_err(|e| e.to_string())?);
                let owners = PostgresOwnerStore::beside(journal.clone());
                Ok((journal, owners.map_err(|e| e.to_string())?))
            })
            .await
            .map_err(|e| ("journal", e.to_string()))?;
            let (journal, owners) = opened.map_err(|e| ("journal", e))?;
            Ok((journal.clone(), Arc::new(owners), Some(journal)))
        }
    }
}

/// Shares a bank's health with the other replicas on `journal` ([`HealthShare`]): this replica
/// decides the bank's switches only while it holds the bank's lease, and follows the others' the
/// rest of the time. Returns the task that renews the lease and reads the others' switches.
pub(crate) async fn share_health(
    journal: Arc<PostgresJournal>,
    health: Arc<Health>,
    lease: Duration,
) -> Result<tokio::task::JoinHandle<()>, String> {
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let _entered = runtime.enter();
        HealthShare::start(journal, health, lease).map(|(_, task)| task)
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())
}
