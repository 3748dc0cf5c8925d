//! The short-lived cache behind `_links.next`: the transactions of one read, kept under a page token
//! for `page_cache_ttl`, so the later pages of that read never ask the bank again (a second bank read
//! could count as a second unattended access, and could see another list).
//!
//! A kept read belongs to one caller, one bank and one account: a token presented for anything else is
//! unknown, as is an expired one. Expired reads are dropped whenever a token is looked up.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use psd2_fallback_engine::model::Transaction;

/// One transactions read, kept so its later pages are served without asking the bank again.
#[derive(Debug)]
struct Read {
    /// The caller that made the read; no other caller gets its pages.
    caller: String,
    /// The bank it was made at.
    bank: String,
    /// The account read.
    account: String,
    /// When the read is forgotten.
    expires: Instant,
    /// Every transaction of the read, in the bank's order.
    transactions: Arc<Vec<Transaction>>,
}

/// Transactions reads by page token.
#[derive(Debug)]
pub(crate) struct PageCache {
    /// How long a read is kept.
    ttl: Duration,
    /// The reads kept, by page token.
    reads: Mutex<HashMap<String, Read>>,
}

impl PageCache {
    /// An empty cache keeping each read for `ttl`.
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            reads: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Read>> {
        self.reads.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The transactions of the read kept under `token`, if it is this caller's read of this account at
    /// this bank and has not expired at `now`.
    pub(crate) fn get(
        &self,
        token: &str,
        caller: &str,
        bank: &str,
        account: &str,
        now: Instant,
    ) -> Option<Arc<Vec<Transaction>>> {
        let mut reads = self.lock();
        reads.retain(|_, r| r.expires > now);
        reads
            .get(token)
            .filter(|r| r.caller == caller && r.bank == bank && r.account == account)
            .map(|r| r.transactions.clone())
    }

    /// Keeps a read under `token` until `ttl` after `read_at`, the instant the read began.
    pub(crate) fn keep(
        &self,
        token: String,
        caller: &str,
        bank: &str,
        account: &str,
        read_at: Instant,
        transactions: Arc<Vec<Transaction>>,
    ) {
        self.lock().insert(
            token,
            Read {
                caller: caller.to_owned(),
                bank: bank.to_owned(),
                account: account.to_owned(),
                expires: read_at + self.ttl,
                transactions,
            },
        );
    }
}
