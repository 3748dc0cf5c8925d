//! The short-lived cache behind `_links.next`: the transactions of one read, kept under a page token
//! for `page_cache_ttl`, so the later pages of that read never ask the bank again (a second bank read
//! could count as a second unattended access, and could see another list).
//!
//! A kept read belongs to one caller, one bank and one account: a token presented for anything else is
//! unknown, as is an expired one. Expired reads are dropped whenever a token is looked up or a read
//! kept. The cache is bounded in reads and in bytes: keeping a read past either bound forgets the
//! reads that expire first (a read larger than the byte bound on its own is kept alone), so no
//! pattern of reads makes the service's memory grow without bound.

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
    /// What the read weighs, in bytes (an estimate: the values and their texts).
    bytes: usize,
}

/// How many bytes a read's transactions hold, near enough to bound the cache by.
fn weight(transactions: &[Transaction]) -> usize {
    transactions
        .iter()
        .map(|t| {
            std::mem::size_of::<Transaction>()
                + t.id.as_str().len()
                + t.remittance.as_ref().map_or(0, String::len)
                + t.bank_transaction_code.as_ref().map_or(0, String::len)
                + t.counterparty.as_ref().map_or(0, |c| c.name.len() + 34)
                + t.end_to_end_id.as_ref().map_or(0, |e| e.as_str().len())
        })
        .sum()
}

/// Transactions reads by page token.
#[derive(Debug)]
pub(crate) struct PageCache {
    /// How long a read is kept.
    ttl: Duration,
    /// The most reads kept at once.
    max_reads: usize,
    /// The most bytes kept at once.
    max_bytes: usize,
    /// The reads kept, by page token.
    reads: Mutex<HashMap<String, Read>>,
}

impl PageCache {
    /// An empty cache keeping each read for `ttl`, at most `max_reads` reads and `max_bytes` bytes.
    pub(crate) fn new(ttl: Duration, max_reads: usize, max_bytes: usize) -> Self {
        Self {
            ttl,
            max_reads: max_reads.max(1),
            max_bytes,
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
        let bytes = weight(&transactions);
        let mut reads = self.lock();
        reads.retain(|_, r| r.expires > read_at);
        let mut total: usize = reads.values().map(|r| r.bytes).sum::<usize>() + bytes;
        while !reads.is_empty() && (reads.len() + 1 > self.max_reads || total > self.max_bytes) {
            let Some(first) = reads
                .iter()
                .min_by_key(|(_, r)| r.expires)
                .map(|(token, _)| token.clone())
            else {
                break;
            };
            if let Some(gone) = reads.remove(&first) {
                total -= gone.bytes;
            }
        }
        reads.insert(
            token,
            Read {
                caller: caller.to_owned(),
                bank: bank.to_owned(),
                account: account.to_owned(),
                expires: read_at + self.ttl,
                transactions,
                bytes,
            },
        );
    }

    /// How many reads and bytes are kept now.
    #[cfg(test)]
    fn size(&self) -> (usize, usize) {
        let reads = self.lock();
        (reads.len(), reads.values().map(|r| r.bytes).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use psd2_fallback_engine::model::{Amount, BookingStatus, TransactionId};

    fn read(n: usize) -> Arc<Vec<Transaction>> {
        Arc::new(
            (0..n)
                .map(|i| Transaction {
                    id: TransactionId::new(format!("t-{i}")),
                    status: BookingStatus::Booked,
                    booking_date: None,
                    value_date: time::macros::date!(2026 - 11 - 23),
                    amount: Amount::parse_api("1.00", psd2_fallback_engine::model::Currency::EUR)
                        .unwrap(),
                    counterparty: None,
                    remittance: Some("x".repeat(100)),
                    bank_transaction_code: None,
                    end_to_end_id: None,
                    standing_order: None,
                })
                .collect(),
        )
    }

    /// r11: 150 reads of 500 transactions each leave the cache within its bounds, the newest kept.
    #[test]
    fn the_cache_stays_within_its_reads_and_bytes() {
        let one = weight(&read(500));
        let cache = PageCache::new(Duration::from_secs(120), 10, one * 4);
        let start = Instant::now();
        for i in 0..150 {
            cache.keep(
                format!("token-{i}"),
                "caller",
                "bank",
                "acc-01",
                start + Duration::from_millis(i),
                read(500),
            );
            let (reads, bytes) = cache.size();
            assert!(
                reads <= 10 && bytes <= one * 4,
                "{reads} reads, {bytes} bytes"
            );
        }
        assert_eq!(cache.size().0, 4, "the byte bound holds four reads");
        let now = start + Duration::from_millis(150);
        assert!(
            cache
                .get("token-149", "caller", "bank", "acc-01", now)
                .is_some()
        );
        assert!(
            cache
                .get("token-0", "caller", "bank", "acc-01", now)
                .is_none()
        );
        // A read larger than the byte bound on its own is kept alone.
        cache.keep("big".into(), "caller", "bank", "acc-01", now, read(5000));
        assert_eq!(cache.size().0, 1);
    }
}
