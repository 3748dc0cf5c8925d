//! The journal's promises, checked the same way on both stores: the embedded SQLite file and a real
//! PostgreSQL server started for the test. Each check also runs with two store instances on one
//! database (two processes on one file, two replicas on one server) where that is what it is about.

use std::sync::Arc;

use psd2_fallback_engine::bank::Channel;
use psd2_fallback_engine::health::{Mode, SwitchCause, SwitchEvent, SwitchReason};
use psd2_fallback_engine::journal::{
    AccessEntry, Intent, IntentState, JournalError, JournalKeys, JournalStore, Operation,
    PostgresJournal, SqliteJournal,
};
use psd2_fallback_engine::model::{
    Consent, ConsentAccess, ConsentId, ConsentRequest, ConsentStatus, Iban, PaymentId, PaymentKind,
    PaymentProduct, PaymentRef, PaymentStatus,
};
use secrecy::SecretString;
use time::OffsetDateTime;

use crate::support::postgres::Postgres;

/// One database and the way to open another store instance on it.
struct Store {
    name: &'static str,
    open: Box<dyn Fn() -> Arc<dyn JournalStore>>,
    /// What must live as long as the store: the SQLite folder, or the PostgreSQL server.
    _keep: Box<dyn std::any::Any>,
}

struct Folder(std::path::PathBuf);

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh SQLite journal and, when PostgreSQL is installed (always under CI), a fresh PostgreSQL one.
fn stores() -> Vec<Store> {
    let folder = std::env::temp_dir().join(format!("psd2fb-journal-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&folder).unwrap();
    let file = folder.join("journal.sqlite");
    let mut stores = vec![Store {
        name: "sqlite",
        open: Box::new(move || Arc::new(SqliteJournal::open(&file).unwrap())),
        _keep: Box::new(Folder(folder)),
    }];
    if let Some(server) = Postgres::start() {
        let url = server.url();
        let key = hex_key();
        stores.push(Store {
            name: "postgres",
            open: Box::new(move || Arc::new(postgres_journal(&url, &key))),
            _keep: Box::new(server),
        });
    }
    stores
}

fn hex_key() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

fn postgres_journal(url: &SecretString, key: &str) -> PostgresJournal {
    PostgresJournal::connect(url, JournalKeys::parse(key, "test").unwrap(), 4).unwrap()
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

fn payment(id: &str) -> PaymentRef {
    PaymentRef {
        kind: PaymentKind::Single(PaymentProduct::SepaCreditTransfer),
        id: PaymentId::new(id),
    }
}

#[test]
fn an_intent_is_recorded_once_and_survives_reopening() {
    for store in stores() {
        let journal = (store.open)();
        let first = journal.record_intent(&intent("k1")).unwrap();
        assert_eq!(first.state, IntentState::Recorded, "{}", store.name);
        journal
            .update_intent(
                "k1",
                IntentState::InDoubt(Channel::Api),
                Some(&payment("pmt-000001")),
                None,
                "no answer",
            )
            .unwrap();
        let again = journal.record_intent(&intent("k1")).unwrap();
        assert_eq!(
            again.state,
            IntentState::InDoubt(Channel::Api),
            "{}",
            store.name
        );
        drop(journal);
        let reopened = (store.open)();
        let open = reopened.open_intents().unwrap();
        assert_eq!(open.len(), 1, "{}", store.name);
        assert_eq!(open[0].payment, Some(payment("pmt-000001")));
        reopened
            .update_intent(
                "k1",
                IntentState::Accepted,
                None,
                Some(PaymentStatus::AcceptedSettlementCompleted),
                "found",
            )
            .unwrap();
        assert!(
            reopened.open_intents().unwrap().is_empty(),
            "{}",
            store.name
        );
        let stored = reopened.intent("k1").unwrap().unwrap();
        assert_eq!(
            stored.payment,
            Some(payment("pmt-000001")),
            "{}",
            store.name
        );
        assert_eq!(
            stored.status,
            Some(PaymentStatus::AcceptedSettlementCompleted)
        );
        let error = reopened
            .update_intent("nope", IntentState::Rejected, None, None, "")
            .unwrap_err();
        assert!(
            matches!(error, JournalError::UnknownIntent { .. }),
            "{}: {error:?}",
            store.name
        );
    }
}

/// An end-to-end id reused by the same debtor with other content is not a new intent: the earlier
/// one is returned, unless it was rejected.
#[test]
fn an_end_to_end_id_reused_with_other_content_returns_the_earlier_intent() {
    for store in stores() {
        let journal = (store.open)();
        journal.record_intent(&intent("k1")).unwrap();
        let other = Intent {
            fingerprint: "f2".to_owned(),
            ..intent("k2")
        };
        assert_eq!(
            journal.record_intent(&other).unwrap().key,
            "k1",
            "{}",
            store.name
        );
        assert!(journal.intent("k2").unwrap().is_none(), "nothing written");
        let elsewhere = Intent {
            debtor: "BE68539007547034".to_owned(),
            ..other.clone()
        };
        assert_eq!(journal.record_intent(&elsewhere).unwrap().key, "k2");
        journal
            .update_intent("k1", IntentState::Rejected, None, None, "no funds")
            .unwrap();
        let after = Intent {
            key: "k3".to_owned(),
            ..other
        };
        assert_eq!(
            journal.record_intent(&after).unwrap().key,
            "k3",
            "{}",
            store.name
        );
        assert_eq!(journal.record_intent(&intent("k1")).unwrap().key, "k3");
    }
}

/// Two processes (two replicas) record the same writes at once: one intent per key, and of two
/// contents under one end-to-end id, one lives.
#[test]
fn concurrent_writes_from_two_instances_make_one_intent_and_one_content() {
    for store in stores() {
        let (a, b) = ((store.open)(), (store.open)());
        let results: Vec<Intent> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|i| {
                    let journal = if i % 2 == 0 { a.clone() } else { b.clone() };
                    scope.spawn(move || {
                        let mut write = intent(&format!("k{}", i % 2));
                        write.fingerprint = format!("f{}", i % 2);
                        journal.record_intent(&write).unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let winner = &results[0].key;
        assert!(
            results.iter().all(|r| &r.key == winner),
            "{}: one content lives: {:?}",
            store.name,
            results.iter().map(|r| &r.key).collect::<Vec<_>>()
        );
        assert_eq!(a.open_intents().unwrap().len(), 1, "{}", store.name);
    }
}

#[test]
fn a_consent_is_kept_with_its_access_and_status() {
    for store in stores() {
        let journal = (store.open)();
        let iban = Iban::parse("BE68539007547034").unwrap();
        let consent = Consent {
            id: ConsentId::new("c-1"),
            request: ConsentRequest {
                access: ConsentAccess {
                    accounts: vec![iban.clone()],
                    balances: vec![iban.clone()],
                    transactions: vec![],
                    scope: Default::default(),
                },
                recurring: true,
                valid_until: time::macros::date!(2027 - 02 - 21),
                frequency_per_day: 2,
            },
            status: ConsentStatus::Received,
        };
        journal.record_consent("bank", "1000001", &consent).unwrap();
        assert_eq!(
            journal.consent("bank", "c-1").unwrap(),
            Some(("1000001".to_owned(), consent.clone())),
            "{}",
            store.name
        );
        assert_eq!(journal.consent("other", "c-1").unwrap(), None);
        journal
            .set_consent_status("bank", "c-1", ConsentStatus::Valid)
            .unwrap();
        journal
            .set_consent_status("bank", "unknown", ConsentStatus::Valid)
            .unwrap();
        let (_, stored) = (store.open)().consent("bank", "c-1").unwrap().unwrap();
        assert_eq!(stored.status, ConsentStatus::Valid, "{}", store.name);
        assert_eq!(stored.request, consent.request);
        journal.record_consent("bank", "1000001", &consent).unwrap();
        assert_eq!(
            journal.consent("bank", "c-1").unwrap().unwrap().1.status,
            ConsentStatus::Received,
            "{}: recorded again, replaced",
            store.name
        );
        assert_eq!(journal.consent("bank", "unknown").unwrap(), None);
    }
}

#[test]
fn unattended_reads_are_counted_up_to_the_limit() {
    for store in stores() {
        let journal = (store.open)();
        let day = time::macros::date!(2026 - 11 - 23);
        for n in 1..=4 {
            assert_eq!(
                journal
                    .count_unattended("sandbox", "1000001", "acc-01", day, 4)
                    .unwrap(),
                Ok(n),
                "{}",
                store.name
            );
        }
        assert_eq!(
            journal
                .count_unattended("sandbox", "1000001", "acc-01", day, 4)
                .unwrap(),
            Err(4),
            "{}",
            store.name
        );
        assert_eq!(
            journal
                .count_unattended("sandbox", "1000001", "acc-02", day, 4)
                .unwrap(),
            Ok(1)
        );
        assert_eq!(
            journal
                .count_unattended("sandbox", "1000001", "acc-01", day.next_day().unwrap(), 4)
                .unwrap(),
            Ok(1)
        );
        assert_eq!(
            journal
                .count_unattended("sandbox", "1000009", "acc-09", day, 0)
                .unwrap(),
            Err(0),
            "{}: a limit of 0 refuses the first read",
            store.name
        );
    }
}

/// The Art. 36(5) counter is one counter: reads counted at once through two instances (two
/// replicas) never pass the limit together.
#[test]
fn the_unattended_limit_holds_across_two_instances_counting_at_once() {
    for store in stores() {
        let (a, b) = ((store.open)(), (store.open)());
        let day = time::macros::date!(2026 - 11 - 23);
        let outcomes: Vec<Result<u32, u32>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..12)
                .map(|i| {
                    let journal = if i % 2 == 0 { a.clone() } else { b.clone() };
                    scope.spawn(move || {
                        journal
                            .count_unattended("sandbox", "1000001", "BE68539007547034", day, 4)
                            .unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut counted: Vec<u32> = outcomes.iter().filter_map(|o| o.ok()).collect();
        counted.sort_unstable();
        assert_eq!(counted, [1, 2, 3, 4], "{}", store.name);
        assert!(
            outcomes.iter().filter(|o| o.is_err()).all(|o| *o == Err(4)),
            "{}: {outcomes:?}",
            store.name
        );
    }
}

#[test]
fn switches_and_accesses_are_logged() {
    for store in stores() {
        let journal = (store.open)();
        // Instants are kept to the microsecond.
        let now = OffsetDateTime::now_utc();
        let at = now
            .replace_nanosecond(now.nanosecond() / 1000 * 1000)
            .unwrap();
        let event = SwitchEvent {
            sequence: 1,
            bank: "sandbox".to_owned(),
            from: Mode::Api,
            to: Mode::Fallback,
            reason: SwitchReason::ProbeFailed,
            evidence: "503".to_owned(),
            at,
            downtime_started: Some(at - time::Duration::seconds(3)),
        };
        let id = journal.record_switch(&event).unwrap();
        let later = SwitchEvent {
            sequence: 2,
            from: Mode::Fallback,
            to: Mode::Api,
            reason: SwitchReason::Override(psd2_fallback_engine::health::Override::ForceApi),
            at: at + time::Duration::seconds(1),
            downtime_started: None,
            ..event.clone()
        };
        journal.record_switch(&later).unwrap();
        let hour = time::Duration::hours(1);
        let stored = journal.switches("sandbox", at - hour, at + hour).unwrap();
        assert_eq!(stored.len(), 2, "{}", store.name);
        assert_eq!(
            (stored[0].id, stored[0].from, stored[0].to, stored[0].cause),
            (id, Mode::Api, Mode::Fallback, SwitchCause::Measured),
            "{}",
            store.name
        );
        assert_eq!(stored[0].downtime_started, event.downtime_started);
        assert_eq!(
            stored[0].at, at,
            "{}: the instant is kept exactly",
            store.name
        );
        assert_eq!(stored[1].cause, SwitchCause::Override);
        assert!(
            journal
                .switches("other", at - hour, at + hour)
                .unwrap()
                .is_empty()
        );
        assert!(
            journal
                .switches("sandbox", at + hour, at + hour + hour)
                .unwrap()
                .is_empty()
        );
        journal
            .log_access(&AccessEntry {
                at,
                bank: "sandbox".to_owned(),
                psu: "1000001".to_owned(),
                data: "balances acc-01".to_owned(),
                switch_event: Some(id),
            })
            .unwrap();
        let log = journal.access_log(at.date()).unwrap();
        assert_eq!(log.len(), 1, "{}", store.name);
        assert_eq!(
            (log[0].switch_event, log[0].psu.as_str(), log[0].at),
            (Some(id), "1000001", at)
        );
        assert!(
            journal
                .access_log(at.date().next_day().unwrap())
                .unwrap()
                .is_empty()
        );
    }
}

/// PostgreSQL: what keeps one payment per intent is in the database, so it holds whatever process
/// writes: an intent's payment is never replaced by another, and a payment belongs to one intent.
#[test]
fn postgres_constraints_keep_one_payment_per_intent() {
    let Some(server) = Postgres::start() else {
        return;
    };
    let journal = postgres_journal(&server.url(), &hex_key());
    journal.record_intent(&intent("k1")).unwrap();
    let accept = |key: &str, id: &str| {
        journal.update_intent(key, IntentState::Accepted, Some(&payment(id)), None, "")
    };
    accept("k1", "pmt-1").unwrap();
    accept("k1", "pmt-1").expect("the same payment again is fine");
    let error = accept("k1", "pmt-2").unwrap_err();
    assert!(
        error.to_string().contains("an intent has one payment"),
        "{error}"
    );
    journal
        .record_intent(&Intent {
            end_to_end_id: "E2E-2".to_owned(),
            ..intent("k2")
        })
        .unwrap();
    let error = accept("k2", "pmt-1").unwrap_err();
    assert!(
        error.to_string().contains("intents_one_intent_per_payment"),
        "{error}"
    );
    // The exclusion constraint refuses a second live content under one end-to-end id even when a
    // writer skips the store's own check.
    let refused = server.psql(
        "DO $$ BEGIN
             INSERT INTO intents (key, bank, psu, end_to_end_id, debtor, operation, fingerprint, request, state, note)
             VALUES ('k9', 'sandbox', 'x', 'E2E-1', 'BE33738234567846', 'payment', 'other', '{}', 'recorded', '');
             RAISE NOTICE 'inserted';
         EXCEPTION WHEN exclusion_violation THEN RAISE NOTICE 'refused'; END $$;
         SELECT count(*) FROM intents WHERE key = 'k9';",
    );
    assert_eq!(refused, "0");
    assert_eq!(
        journal.intent("k1").unwrap().unwrap().payment,
        Some(payment("pmt-1"))
    );
}

/// PostgreSQL: replicas starting together migrate once; a replica with another journal key is
/// refused; the database URL's password is in no error and no `Debug`.
#[test]
fn postgres_replicas_migrate_once_share_one_key_and_keep_the_password_secret() {
    let Some(server) = Postgres::start() else {
        return;
    };
    let key = hex_key();
    let url = server.url();
    let journals: Vec<PostgresJournal> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..3)
            .map(|_| scope.spawn(|| postgres_journal(&url, &key)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // Each version once, though three replicas started together.
    assert_eq!(
        server
            .psql("SELECT string_agg(version::text, ',' ORDER BY version) FROM journal_migrations"),
        "1,2,3"
    );
    assert!(!format!("{:?}", journals[0]).contains(server.password()));
    let error = PostgresJournal::connect(&url, JournalKeys::generate().unwrap(), 2).unwrap_err();
    assert!(
        error.to_string().contains("the journal key differs"),
        "{error}"
    );
    let wrong = SecretString::from(format!(
        "postgres://postgres:{}x@127.0.0.1:1/postgres",
        server.password()
    ));
    let error = PostgresJournal::connect(&wrong, JournalKeys::generate().unwrap(), 2).unwrap_err();
    let text = format!("{error} {error:?}");
    assert!(!text.contains(server.password()), "{text}");
    assert!(text.contains("PostgreSQL"), "{text}");
    let garbage = SecretString::from("postgres://user:s3cr3t@host:notaport/db".to_owned());
    let error =
        PostgresJournal::connect(&garbage, JournalKeys::generate().unwrap(), 2).unwrap_err();
    assert!(!format!("{error} {error:?}").contains("s3cr3t"), "{error}");
    assert!(error.to_string().contains("the journal URL"), "{error}");
    // No PSU id or IBAN as a key in clear here either.
    journals[0]
        .count_unattended(
            "sandbox",
            "1000001",
            "BE68539007547034",
            OffsetDateTime::now_utc().date(),
            4,
        )
        .unwrap()
        .unwrap();
    let keys = server.psql("SELECT psu || account FROM unattended");
    assert!(
        !keys.contains("1000001") && !keys.contains("BE68"),
        "{keys}"
    );
}

/// PostgreSQL: the service's owner records live in the journal's database; of two replicas recording
/// one consent or payment at once, one owner is kept, and every replica reads the same.
#[test]
fn postgres_owner_records_keep_one_owner_across_replicas() {
    use psd2_fallback_service::{OwnerStore, PostgresOwnerStore, ResourceOwner};
    let Some(server) = Postgres::start() else {
        return;
    };
    let key = hex_key();
    let replicas: Vec<PostgresOwnerStore> = (0..2)
        .map(|_| {
            PostgresOwnerStore::beside(Arc::new(postgres_journal(&server.url(), &key))).unwrap()
        })
        .collect();
    let owner = |caller: &str| ResourceOwner {
        caller: caller.to_owned(),
        psu: "1000001".to_owned(),
    };
    let request = ConsentRequest {
        access: ConsentAccess {
            accounts: vec![Iban::parse("BE68539007547034").unwrap()],
            balances: vec![],
            transactions: vec![],
            scope: Default::default(),
        },
        recurring: false,
        valid_until: time::macros::date!(2027 - 01 - 01),
        frequency_per_day: 1,
    };
    std::thread::scope(|scope| {
        for (i, replica) in replicas.iter().enumerate() {
            let (owner, request) = (owner(&format!("caller-{i}")), request.clone());
            scope.spawn(move || {
                for n in 0..20 {
                    replica
                        .record_consent_owner("bank", &format!("c-{n}"), &owner, &request)
                        .unwrap();
                    replica
                        .record_payment_owner("bank", &payment(&format!("p-{n}")), &owner)
                        .unwrap();
                }
            });
        }
    });
    for n in 0..20 {
        let consent = replicas[0]
            .consent_owner("bank", &format!("c-{n}"))
            .unwrap();
        assert_eq!(
            consent,
            replicas[1]
                .consent_owner("bank", &format!("c-{n}"))
                .unwrap()
        );
        let (kind, paid) = replicas[1]
            .payment_owner("bank", &format!("p-{n}"))
            .unwrap()
            .unwrap();
        assert_eq!(kind, payment("x").kind);
        assert!(consent.is_some() && paid.caller.starts_with("caller-"));
    }
    assert_eq!(
        server.psql("SELECT count(*) FROM owners"),
        "40",
        "one owner each"
    );
    assert_eq!(
        replicas[0].consent_request("bank", "c-3").unwrap(),
        Some(request)
    );
    assert_eq!(replicas[0].consent_owner("bank", "c-99").unwrap(), None);
    assert_eq!(server.psql("SELECT count(*) FROM service_migrations"), "1");
}

/// The service's `journal` setting: a path is the SQLite default; a PostgreSQL URL is a secret (not
/// in `Debug`), and without its key file the service refuses to start, naming the setting.
#[tokio::test]
async fn the_journal_setting_names_sqlite_or_postgres_and_hides_the_password() {
    use psd2_fallback_service::{JournalLocation, ServiceConfig};
    let base = |journal: &str| {
        format!(
            "listen = \"127.0.0.1:0\"\njournal = \"{journal}\"\n[[banks]]\nname = \"sandbox\"\napi_base_url = \"http://127.0.0.1:9/\"\nallow_plain_http = true\n"
        )
    };
    let file = std::path::Path::new("psd2-fallback.toml");
    let sqlite = ServiceConfig::parse(&base("journal.db"), file).unwrap();
    assert_eq!(
        sqlite.journal.file(),
        Some(std::path::Path::new("journal.db"))
    );
    let postgres =
        ServiceConfig::parse(&base("postgres://psd2:hunter2@127.0.0.1:9/psd2"), file).unwrap();
    assert!(matches!(postgres.journal, JournalLocation::Postgres(_)));
    let shown = format!("{postgres:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    let Err(error) = postgres.build(None).await else {
        panic!("a PostgreSQL journal without its key file starts")
    };
    assert!(error.to_string().contains("journal_key_file"), "{error}");
    assert!(!error.to_string().contains("hunter2"));
}
