//! The journal's cost per payment, SQLite beside PostgreSQL: what a payment writes (its intent before
//! the first attempt, then attempting, then accepted with its payment), timed one payment at a time
//! and from four writers at once (four callers, or four replicas on one database). Prints figures;
//! asserts nothing. `cargo bench --bench journal`. PostgreSQL is started from Debian's `postgresql`
//! package for the run (skipped, saying so, when it is not installed).

use std::sync::Arc;
use std::time::{Duration, Instant};

use psd2_fallback_engine::bank::Channel;
use psd2_fallback_engine::journal::{
    Intent, IntentState, JournalKeys, JournalStore, Operation, PostgresJournal, SqliteJournal,
};
use psd2_fallback_engine::model::{PaymentId, PaymentKind, PaymentProduct, PaymentRef};

#[path = "../tests/support/postgres.rs"]
#[allow(dead_code, unreachable_pub)]
mod postgres;

const PAYMENTS: usize = 300;

/// One payment's journal writes.
fn pay(journal: &dyn JournalStore, n: usize, writer: usize) {
    let key = journal.keys().intent(&format!("bench:{writer}:{n}"));
    journal
        .record_intent(&Intent {
            key: key.clone(),
            bank: "bench".to_owned(),
            psu: format!("psu-{writer}"),
            end_to_end_id: format!("E2E-{writer}-{n}"),
            debtor: "BE68539007547034".to_owned(),
            operation: Operation::Payment,
            fingerprint: format!("f-{writer}-{n}"),
            request: "{}".to_owned(),
            state: IntentState::Recorded,
            payment: None,
            status: None,
            note: String::new(),
        })
        .expect("recorded");
    journal
        .update_intent(&key, IntentState::Attempting(Channel::Api), None, None, "")
        .expect("attempting");
    let payment = PaymentRef {
        kind: PaymentKind::Single(PaymentProduct::SepaCreditTransfer),
        id: PaymentId::new(format!("pmt-{writer}-{n}")),
    };
    journal
        .update_intent(&key, IntentState::Accepted, Some(&payment), None, "")
        .expect("accepted");
}

fn measure(name: &str, journal: &Arc<dyn JournalStore>, writers: usize) {
    let started = Instant::now();
    std::thread::scope(|scope| {
        for writer in 0..writers {
            let journal = journal.clone();
            scope.spawn(move || {
                for n in 0..PAYMENTS / writers {
                    pay(&*journal, n, writer + writers * 1000);
                }
            });
        }
    });
    let elapsed = started.elapsed();
    let per = elapsed / u32::try_from(PAYMENTS).unwrap_or(1);
    println!(
        "{name:<12} {writers} writer(s): {PAYMENTS} payments in {:>8.1} ms — {:>7.3} ms per payment, {:>6.0} payments/s",
        ms(elapsed),
        ms(per),
        PAYMENTS as f64 / elapsed.as_secs_f64()
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let folder =
        std::env::temp_dir().join(format!("psd2fb-bench-journal-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&folder).expect("a folder");
    let sqlite: Arc<dyn JournalStore> =
        Arc::new(SqliteJournal::open(&folder.join("journal.sqlite")).expect("the SQLite journal"));
    println!("journal cost per payment (record, attempting, accepted: three durable writes)");
    measure("sqlite", &sqlite, 1);
    measure("sqlite", &sqlite, 4);
    match postgres::Postgres::start() {
        Some(server) => {
            let journal: Arc<dyn JournalStore> = Arc::new(
                PostgresJournal::connect(&server.url(), JournalKeys::generate().expect("keys"), 8)
                    .expect("the PostgreSQL journal"),
            );
            measure("postgres", &journal, 1);
            measure("postgres", &journal, 4);
        }
        None => println!("postgres     not installed: not measured"),
    }
    let _ = std::fs::remove_dir_all(&folder);
}
