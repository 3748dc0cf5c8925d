//! `ApiBank` against the sandbox bank's API: every operation round-trips and equals the ledger, and every
//! failure is classified the way the failover needs (the fault × operation table).

use std::time::Duration;

use psd2_fallback_engine::api::{ApiBank, ApiBankConfig, ApiConfigError, ClientIdentity};
use psd2_fallback_engine::model::{
    AccountId, Amount, Cancellation, ConsentAccess, ConsentRequest, ConsentStatus, EndToEndId,
    ExecutionRule, Frequency, Iban, PaymentFile, PaymentKind, PaymentProduct, PaymentRef,
    PaymentRequest, PaymentStatus, ScaAnswer, ScaStatus, ScaTarget, StandingOrderRequest,
    TransactionFilter,
};
use psd2_fallback_engine::{Bank, BankError, PsuContext};
use psd2_fallback_sandbox::{ApiFault, Sandbox, card_reader_response};
use rust_decimal::{Decimal, dec};
use time::Duration as Days;
use time::macros::date;

use crate::support::conformance::{Checker, Conforming};
use crate::support::{TODAY, pain001, password, psu, sandbox, transaction_filters};

const ANNA: &str = "1000001";
const LUC: &str = "1000002";

/// An `ApiBank` on the sandbox, through a conformance checker.
fn bank(sandbox: &Sandbox, timeout: Duration) -> Conforming<ApiBank> {
    let checker = Checker::sandbox(sandbox);
    let mut config = ApiBankConfig::new(checker.url.clone());
    config.request_timeout = timeout;
    let client = ApiBank::new(config).unwrap();
    Conforming { client, checker }
}

/// Signs a consent or payment through the bank, answering with the customer's card reader.
async fn sign(bank: &ApiBank, psu: &PsuContext, target: &ScaTarget) -> ScaStatus {
    let challenge = bank
        .start_authorisation(psu, target)
        .await
        .unwrap()
        .into_challenge()
        .unwrap();
    assert_eq!(challenge.method, "CHIP_OTP");
    let answer = ScaAnswer::new(card_reader_response(psu.psu_id.as_str(), &challenge.data));
    bank.authorise(psu, target, &challenge.authorisation_id, &answer)
        .await
        .unwrap()
}

async fn with_consent(bank: &ApiBank, customer: &str) -> PsuContext {
    let psu = psu(customer);
    let ibans = bank_accounts_ibans(customer);
    let request = ConsentRequest {
        access: ConsentAccess::full(ibans),
        recurring: true,
        valid_until: TODAY + Days::days(90),
        frequency_per_day: 4,
    };
    let consent = bank.create_consent(&psu, &request).await.unwrap();
    assert_eq!(
        bank.consent_status(&psu, &consent).await.unwrap(),
        ConsentStatus::Received
    );
    assert_eq!(
        sign(bank, &psu, &ScaTarget::Consent(consent.clone())).await,
        ScaStatus::Finalised
    );
    assert_eq!(
        bank.consent_status(&psu, &consent).await.unwrap(),
        ConsentStatus::Valid
    );
    psu.with_consent(consent)
}

fn bank_accounts_ibans(customer: &str) -> Vec<Iban> {
    // The sandbox seeds two accounts per customer; their IBANs come from its ledger.
    let ledger = psd2_fallback_sandbox::Ledger::new(TODAY, Duration::ZERO);
    ledger
        .accounts(customer)
        .into_iter()
        .map(|a| a.iban)
        .collect()
}

#[tokio::test]
async fn reads_equal_the_ledger() {
    let sandbox = sandbox().await;
    let bank = bank(&sandbox, Duration::from_secs(10));
    let anna = with_consent(&bank, ANNA).await;
    let ledger = sandbox.ledger();

    assert_eq!(bank.accounts(&anna).await.unwrap(), ledger.accounts(ANNA));
    let id = AccountId::new("acc-01");
    assert_eq!(
        bank.balances(&anna, &id, None).await.unwrap(),
        ledger.balances(ANNA, &id, None).unwrap()
    );
    for day in [
        date!(2026 - 11 - 22),
        date!(2026 - 06 - 30),
        date!(2025 - 11 - 01),
    ] {
        assert_eq!(
            bank.balances(&anna, &id, Some(day)).await.unwrap(),
            ledger.balances(ANNA, &id, Some(day)).unwrap(),
            "closing balance of {day}"
        );
    }
    let filters = transaction_filters();
    for filter in filters {
        let got = bank.transactions(&anna, &id, &filter).await.unwrap();
        let expected = ledger.transactions(ANNA, &id, &filter).unwrap();
        assert_eq!(got.len(), expected.len(), "{filter:?}");
        assert_eq!(got, expected, "{filter:?}");
    }
    let funds = |amount: Decimal| {
        let bank = bank.clone();
        let anna = anna.clone();
        async move {
            bank.confirm_funds(
                &anna,
                &Iban::parse("BE60738123456770").unwrap(),
                &Amount::eur(amount).unwrap(),
            )
            .await
            .unwrap()
            .funds_available
        }
    };
    assert!(funds(dec!(10)).await);
    assert!(!funds(dec!(10_000_000)).await);
    sandbox.shutdown().await;
}

/// r10-9: a bank that ignores `referenceDate` and `bookingStatus=booked` (answering with its pending
/// items too) still gives the engine an earlier day's closing balance from booked items only.
#[tokio::test]
async fn an_earlier_balance_derived_from_history_counts_booked_items_only() {
    let sandbox = psd2_fallback_sandbox::Sandbox::start(psd2_fallback_sandbox::SandboxConfig {
        today: Some(TODAY),
        // Payments stay pending for the whole test.
        settle_after: Duration::from_secs(3600),
        ..psd2_fallback_sandbox::SandboxConfig::default()
    })
    .await
    .unwrap();
    let direct = bank(&sandbox, Duration::from_secs(10));
    let anna = with_consent(&direct, ANNA).await;
    let id = AccountId::new("acc-01");
    let mut pay = payment_to_garage(dec!(123.45), None);
    pay.debtor = bank_accounts_ibans(ANNA)[0].clone();
    let started = direct.initiate_payment(&anna, &pay).await.unwrap();
    sign(&direct, &anna, &ScaTarget::Payment(started.payment.clone())).await;
    let pending = TransactionFilter {
        status: Some(psd2_fallback_engine::model::BookingStatus::Pending),
        ..TransactionFilter::default()
    };
    assert!(
        !direct
            .transactions(&anna, &id, &pending)
            .await
            .unwrap()
            .is_empty(),
        "the account has a pending item"
    );
    let gate = crate::support::gate::Gate::start(sandbox.api_url()).await;
    gate.rewrite("referenceDate=", "ignoredDate=");
    gate.rewrite("bookingStatus=booked", "bookingStatus=both");
    let mut config = ApiBankConfig::new(gate.url.clone());
    config.request_timeout = Duration::from_secs(10);
    let through_gate = ApiBank::new(config).unwrap();
    for day in [date!(2026 - 11 - 20), date!(2026 - 06 - 30)] {
        assert_eq!(
            through_gate.balances(&anna, &id, Some(day)).await.unwrap(),
            sandbox.ledger().balances(ANNA, &id, Some(day)).unwrap(),
            "closing balance of {day}, derived"
        );
    }
    sandbox.shutdown().await;
}

/// r10-7: identifiers a caller crafts never reach the bank as anything but one opaque path segment, and
/// never read as the bank failing: each is refused before sending (invalid input) or answered by the
/// bank as unknown (rejected) — never *unavailable*, which would count against the bank's health.
#[tokio::test]
async fn crafted_identifiers_are_refused_or_unknown_never_unavailable() {
    let sandbox = sandbox().await;
    let bank = bank(&sandbox, Duration::from_secs(10));
    let anna = with_consent(&bank, ANNA).await;
    let long = "a".repeat(300);
    let crafted = [
        "acc-01/../../consents",
        "acc-01?bookingStatus=x",
        "acc-01#balances",
        "%2e%2e",
        "..",
        ".",
        "",
        "acc 01",
        "acc-01\n",
        "acc-01\u{202e}",
        long.as_str(),
    ];
    for id in crafted {
        let error = bank
            .balances(&anna, &AccountId::new(id), None)
            .await
            .expect_err(id);
        assert!(
            matches!(
                error,
                BankError::InvalidInput(_) | BankError::Rejected { .. }
            ),
            "{id:?}: {error:?}"
        );
        let payment = PaymentRef {
            id: psd2_fallback_engine::model::PaymentId::new(id),
            kind: PaymentKind::Single(PaymentProduct::SepaCreditTransfer),
        };
        let error = bank.payment_status(&anna, &payment).await.expect_err(id);
        assert!(
            matches!(
                error,
                BankError::InvalidInput(_) | BankError::Rejected { .. }
            ),
            "{id:?}: {error:?}"
        );
    }
    // The ones that cannot be one path segment are refused naming the field, before anything is sent.
    for id in ["..", ".", "", "acc 01", long.as_str()] {
        match bank.balances(&anna, &AccountId::new(id), None).await {
            Err(BankError::InvalidInput(invalid)) => assert_eq!(invalid.field, "resourceId"),
            other => panic!("{id:?}: {other:?}"),
        }
    }
    // A real account still reads.
    assert!(
        bank.balances(&anna, &AccountId::new("acc-01"), None)
            .await
            .is_ok()
    );
    sandbox.shutdown().await;
}

fn payment_to_garage(amount: Decimal, date: Option<time::Date>) -> PaymentRequest {
    PaymentRequest {
        product: PaymentProduct::SepaCreditTransfer,
        debtor: Iban::parse("BE33738234567846").unwrap(),
        creditor_name: "Garage Vermeulen".to_owned(),
        creditor: Iban::parse("BE71096123456769").unwrap(),
        amount: Amount::eur(amount).unwrap(),
        remittance: Some("Onderhoud".to_owned()),
        requested_execution_date: date,
        end_to_end_id: EndToEndId::generate(),
    }
}

/// r5: the `X-Request-ID` ApiBank sends for a write carries the fingerprint of its content: a different
/// order with the same end-to-end id is never taken by the bank for the earlier one (the sandbox
/// de-duplicates by request id), while the same order sent again still is.
#[tokio::test]
async fn r5_the_request_id_sent_for_a_write_follows_its_content() {
    let sandbox = sandbox().await;
    let bank = bank(&sandbox, Duration::from_secs(10));
    let luc = psu(LUC);
    let first = payment_to_garage(dec!(3.00), None);
    let mut other = first.clone();
    other.amount = Amount::eur(dec!(4.00)).unwrap();
    let made = bank.initiate_payment(&luc, &first).await.unwrap();
    let again = bank.initiate_payment(&luc, &first).await.unwrap();
    assert_eq!(
        again.payment, made.payment,
        "the same order is the same payment"
    );
    let different = bank.initiate_payment(&luc, &other).await.unwrap();
    assert_ne!(
        different.payment, made.payment,
        "another order is not answered with the earlier payment"
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn writes_round_trip_and_land_in_the_ledger_once() {
    let sandbox = sandbox().await;
    let bank = bank(&sandbox, Duration::from_secs(10));
    let luc = psu(LUC);
    let request = payment_to_garage(dec!(80.25), None);
    let started = bank.initiate_payment(&luc, &request).await.unwrap();
    assert_eq!(started.status, PaymentStatus::Received);
    // Sending the same intent again reaches the same payment (the request id is derived from it).
    assert_eq!(
        bank.initiate_payment(&luc, &request).await.unwrap().payment,
        started.payment
    );
    assert_eq!(
        sign(&bank, &luc, &ScaTarget::Payment(started.payment.clone())).await,
        ScaStatus::Finalised
    );
    let mut status = bank.payment_status(&luc, &started.payment).await.unwrap();
    for _ in 0..100 {
        if status == PaymentStatus::AcceptedSettlementCompleted {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        status = bank.payment_status(&luc, &started.payment).await.unwrap();
    }
    assert_eq!(status, PaymentStatus::AcceptedSettlementCompleted);
    let booked = sandbox
        .ledger()
        .transactions(
            LUC,
            &AccountId::new("acc-03"),
            &TransactionFilter::default(),
        )
        .unwrap()
        .into_iter()
        .filter(|t| t.end_to_end_id.as_ref() == Some(&request.end_to_end_id))
        .count();
    assert_eq!(booked, 1);

    let later = bank
        .initiate_payment(
            &luc,
            &payment_to_garage(dec!(5), Some(TODAY + Days::days(10))),
        )
        .await
        .unwrap();
    sign(&bank, &luc, &ScaTarget::Payment(later.payment.clone())).await;
    assert_eq!(
        bank.cancel_payment(&luc, &later.payment).await.unwrap(),
        Cancellation::done()
    );
    assert_eq!(
        bank.payment_status(&luc, &later.payment).await.unwrap(),
        PaymentStatus::Cancelled
    );

    let order = StandingOrderRequest {
        payment: payment_to_garage(dec!(12), None),
        start_date: TODAY + Days::days(7),
        end_date: Some(TODAY + Days::days(200)),
        frequency: Frequency::Monthly,
        day_of_execution: Some(30),
        execution_rule: ExecutionRule::Preceding,
    };
    let created = bank.create_standing_order(&luc, &order).await.unwrap();
    assert!(matches!(
        created.payment.kind,
        PaymentKind::Periodic(PaymentProduct::SepaCreditTransfer)
    ));
    sign(&bank, &luc, &ScaTarget::Payment(created.payment.clone())).await;
    let held = sandbox
        .ledger()
        .standing_orders(LUC)
        .into_iter()
        .find(|o| o.id == created.payment.id)
        .unwrap();
    assert_eq!(
        (held.request.clone(), held.status),
        (
            StandingOrderRequest {
                payment: PaymentRequest {
                    requested_execution_date: None,
                    ..order.payment.clone()
                },
                ..order.clone()
            },
            PaymentStatus::AcceptedTechnical
        )
    );
    assert_eq!(
        bank.cancel_standing_order(&luc, &created.payment)
            .await
            .unwrap(),
        Cancellation::done()
    );

    let xml = pain001(
        "BE33738234567846",
        &[
            ("Alpha", "BE71096123456769", "3.00"),
            ("Beta", "BE71096123456769", "4.00"),
        ],
        "2026-11-23",
    );
    let file = PaymentFile::parse(&xml).unwrap();
    let uploaded = bank.upload_payment_file(&luc, &file).await.unwrap();
    assert_eq!(uploaded.payment.kind, PaymentKind::File);
    sign(&bank, &luc, &ScaTarget::Payment(uploaded.payment.clone())).await;
    let record = sandbox.ledger().payment(LUC, &uploaded.payment.id).unwrap();
    assert_ne!(record.status, PaymentStatus::Received);
    sandbox.shutdown().await;
}

/// What a call returned, reduced to what the failover acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Ok,
    /// Not answered, nothing executed.
    Unavailable,
    /// Answered: the service is unavailable (a 503 with its error body).
    ServiceUnavailable,
    /// Answered with something unusable; a read, nothing executed.
    Unusable,
    /// Answered with something unusable; a write that may have been executed.
    UnusableMaybeExecuted,
    OutcomeUnknown,
    Rejected,
    LimitReached,
}

fn class<T>(result: &Result<T, BankError>) -> Class {
    match result {
        Ok(_) => Class::Ok,
        Err(BankError::Unavailable { .. }) => Class::Unavailable,
        Err(BankError::ServiceUnavailable { .. }) => Class::ServiceUnavailable,
        Err(BankError::Unusable { write_sent, .. }) => {
            if *write_sent {
                Class::UnusableMaybeExecuted
            } else {
                Class::Unusable
            }
        }
        Err(BankError::OutcomeUnknown { .. }) => Class::OutcomeUnknown,
        Err(BankError::Rejected { .. }) => Class::Rejected,
        Err(BankError::LimitReached { .. }) => Class::LimitReached,
        Err(other) => panic!("unexpected error {other:?}"),
    }
}

/// Regression test: the service ran a probe of its own that took a garbled answer (HTTP 200 with
/// malformed JSON) for a working API. It now runs the engine's one probe, which agrees with
/// `ApiBank::probe` under every fault.
#[tokio::test]
async fn the_services_probe_is_the_engines_and_a_garbled_answer_is_unhealthy() {
    let sandbox = sandbox().await;
    // Long enough for a healthy answer on a loaded machine; a hang still ends in time.
    let patience = Duration::from_secs(3);
    let probe = psd2_fallback_service::api_probe(&sandbox.api_url(), patience).unwrap();
    let engine = bank(&sandbox, patience);
    for (fault, healthy) in [
        (ApiFault::Up, true),
        (ApiFault::Garbage, false),
        (ApiFault::Down, false),
        (ApiFault::Hang, false),
        (ApiFault::Up, true),
    ] {
        sandbox.set_api_fault(fault);
        let service = probe.check().await;
        assert_eq!(
            service.is_ok(),
            healthy,
            "service probe under {fault}: {service:?}"
        );
        let engines = engine.probe().await;
        assert_eq!(
            engines.is_ok(),
            healthy,
            "ApiBank::probe under {fault}: {engines:?}"
        );
    }
    sandbox.shutdown().await;
}

/// The fault × operation table: each sandbox fault, for a read and for a payment write.
#[tokio::test]
async fn every_fault_is_classified_for_reads_and_writes() {
    let sandbox = sandbox().await;
    let patient = bank(&sandbox, Duration::from_secs(10));
    let anna = with_consent(&patient, ANNA).await;
    let bank = bank(&sandbox, Duration::from_millis(500));
    let luc = psu(LUC);
    let table = [
        (ApiFault::Up, Class::Ok, Class::Ok),
        (
            ApiFault::Down,
            Class::ServiceUnavailable,
            Class::ServiceUnavailable,
        ),
        (ApiFault::Refuse, Class::Unavailable, Class::Unavailable),
        (ApiFault::Hang, Class::Unavailable, Class::OutcomeUnknown),
        (
            ApiFault::Slow { ms: 1_500 },
            Class::Unavailable,
            Class::OutcomeUnknown,
        ),
        (
            ApiFault::Garbage,
            Class::Unusable,
            Class::UnusableMaybeExecuted,
        ),
        // Only the account list is touched: a balance and a payment are fine.
        (ApiFault::BadField, Class::Ok, Class::Ok),
        (
            ApiFault::ProcessedButNoAnswer,
            Class::Unavailable,
            Class::OutcomeUnknown,
        ),
    ];
    for (fault, read_class, write_class) in table {
        sandbox.set_api_fault(fault);
        if fault == ApiFault::Refuse {
            // Closing the port takes effect within a few milliseconds.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let read = bank.balances(&anna, &AccountId::new("acc-01"), None).await;
        assert_eq!(class(&read), read_class, "read under {fault}: {read:?}");
        let request = payment_to_garage(dec!(1), None);
        let write = bank.initiate_payment(&luc, &request).await;
        assert_eq!(class(&write), write_class, "write under {fault}: {write:?}");
        // What the class promises about the ledger: unavailable means nothing was executed.
        let executed = sandbox
            .ledger()
            .find_by_end_to_end_id(LUC, request.end_to_end_id.as_str())
            .is_some();
        match write_class {
            Class::Unavailable | Class::ServiceUnavailable => {
                assert!(!executed, "{fault}: an unavailable write reached the bank")
            }
            Class::Ok => assert!(executed),
            _ => {}
        }
        if fault == ApiFault::ProcessedButNoAnswer {
            assert!(executed, "processed-but-no-answer executes the write");
        }
    }
    // The health probe agrees with the reads.
    for (fault, healthy) in [
        (ApiFault::Up, true),
        (ApiFault::Down, false),
        (ApiFault::Garbage, false),
        (ApiFault::BadField, true),
        (ApiFault::Hang, false),
    ] {
        sandbox.set_api_fault(fault);
        assert_eq!(bank.probe().await.is_ok(), healthy, "probe under {fault}");
    }
    // Flapping: some calls fail as unavailable, some succeed; never anything else.
    sandbox.set_api_fault(ApiFault::Flap { period_ms: 100 });
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..20 {
        seen.insert(format!(
            "{:?}",
            class(&bank.balances(&anna, &AccountId::new("acc-01"), None).await)
        ));
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        ["Ok", "ServiceUnavailable"]
    );
    sandbox.set_api_fault(ApiFault::Up);
    sandbox.shutdown().await;
}

/// r8: an account list answered at once with one IBAN failing mod-97 is an *unusable* answer naming
/// the field — the read goes to the other channel — never *unavailable* (a request not answered, which
/// the RTS rule counts). Every class says whether the call may go elsewhere.
#[tokio::test]
async fn an_answer_with_one_bad_field_is_unusable_and_names_it() {
    let sandbox = sandbox().await;
    let bank = bank(&sandbox, Duration::from_secs(10));
    let anna = with_consent(&bank, ANNA).await;
    sandbox.set_api_fault(ApiFault::BadField);
    let error = bank.accounts(&anna).await.unwrap_err();
    match &error {
        BankError::Unusable {
            field, write_sent, ..
        } => assert_eq!((field.as_str(), *write_sent), ("accounts[0].iban", false)),
        other => panic!("{other:?}"),
    }
    assert!(error.triggers_switch() && !error.is_outcome_unknown());
    assert!(error.to_string().contains("accounts[0].iban"), "{error}");
    sandbox.set_api_fault(ApiFault::Down);
    let down = bank.accounts(&anna).await.unwrap_err();
    assert!(
        matches!(&down, BankError::ServiceUnavailable { code, .. } if code == "SERVICE_UNAVAILABLE"),
        "{down:?}"
    );
    assert!(down.triggers_switch());
    sandbox.set_api_fault(ApiFault::Up);
    assert_eq!(
        bank.accounts(&anna).await.unwrap(),
        sandbox.ledger().accounts(ANNA)
    );
    sandbox.shutdown().await;
}

/// The bank's "no" is an answer: rejected, never unavailable.
#[tokio::test]
async fn business_errors_are_rejections() {
    let sandbox = sandbox().await;
    let bank = bank(&sandbox, Duration::from_secs(10));
    let luc = psu(LUC);
    let too_much = bank
        .initiate_payment(&luc, &payment_to_garage(dec!(900000), None))
        .await;
    assert!(
        matches!(&too_much, Err(BankError::Rejected { code, .. }) if code == "PAYMENT_FAILED"),
        "{too_much:?}"
    );
    assert!(!too_much.unwrap_err().triggers_switch());

    let started = bank
        .initiate_payment(&luc, &payment_to_garage(dec!(1), None))
        .await
        .unwrap();
    let target = ScaTarget::Payment(started.payment.clone());
    let challenge = bank
        .start_authorisation(&luc, &target)
        .await
        .unwrap()
        .into_challenge()
        .unwrap();
    let wrong = bank
        .authorise(
            &luc,
            &target,
            &challenge.authorisation_id,
            &ScaAnswer::new("00000000"),
        )
        .await;
    assert!(
        matches!(&wrong, Err(BankError::Rejected { code, .. }) if code == "PSU_CREDENTIALS_INVALID"),
        "{wrong:?}"
    );

    let unknown = PaymentRef {
        kind: PaymentKind::Single(PaymentProduct::SepaCreditTransfer),
        id: psd2_fallback_engine::model::PaymentId::new("pmt-nope"),
    };
    assert_eq!(
        class(&bank.payment_status(&luc, &unknown).await),
        Class::Rejected
    );

    let foreign = ConsentRequest {
        access: ConsentAccess::full(vec![Iban::parse("BE60738123456770").unwrap()]),
        recurring: true,
        valid_until: TODAY + Days::days(30),
        frequency_per_day: 4,
    };
    let refused = bank.create_consent(&luc, &foreign).await;
    assert!(
        matches!(&refused, Err(BankError::Rejected { code, message }) if code == "FORMAT_ERROR" && message.starts_with("access:")),
        "{refused:?}"
    );

    // A future payment that finds no funds on its day is RJCT: a status, not an error.
    let doomed = bank
        .initiate_payment(
            &luc,
            &payment_to_garage(dec!(900000), Some(TODAY + Days::days(2))),
        )
        .await
        .unwrap();
    sign(&bank, &luc, &ScaTarget::Payment(doomed.payment.clone())).await;
    sandbox.ledger().set_today(TODAY + Days::days(2)).unwrap();
    let mut status = bank.payment_status(&luc, &doomed.payment).await.unwrap();
    for _ in 0..100 {
        if status != PaymentStatus::AcceptedTechnical {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        status = bank.payment_status(&luc, &doomed.payment).await.unwrap();
    }
    assert_eq!(status, PaymentStatus::Rejected);

    // Unattended reads beyond the consent's frequency are a limit.
    let anna = with_consent(&bank, ANNA).await;
    let mut unattended = anna.clone();
    unattended.ip_address = None;
    let id = AccountId::new("acc-01");
    for _ in 0..4 {
        bank.balances(&unattended, &id, None).await.unwrap();
    }
    assert_eq!(
        class(&bank.balances(&unattended, &id, None).await),
        Class::LimitReached
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn errors_carry_no_secrets_and_bad_configuration_is_named() {
    let sandbox = sandbox().await;
    let bank = bank(&sandbox, Duration::from_secs(10));
    let secret_consent = "cns-super-secret-consent";
    let psu = psu(ANNA).with_consent(psd2_fallback_engine::model::ConsentId::new(secret_consent));
    let error = bank.accounts(&psu).await.unwrap_err();
    let shown = format!("{error} {error:?} {psu:?}");
    assert!(
        !shown.contains(secret_consent) && !shown.contains(password(ANNA)),
        "{shown}"
    );
    assert!(error.is_rejected());
    sandbox.set_api_fault(ApiFault::Down);
    let down = bank.accounts(&psu).await.unwrap_err();
    assert!(!down.to_string().contains(&bank.checker.url), "{down}");

    assert!(matches!(
        ApiBank::new(ApiBankConfig::new("ftp://bank")),
        Err(ApiConfigError::BaseUrl(_))
    ));
    let mut config = ApiBankConfig::new(sandbox.api_url());
    config.identity = Some(ClientIdentity::from_pem(
        b"-----BEGIN NOT A KEY-----".to_vec(),
    ));
    let error = ApiBank::new(config).unwrap_err();
    assert!(matches!(error, ApiConfigError::Identity(_)), "{error}");
    assert_eq!(
        format!("{:?}", ClientIdentity::from_pem(b"secret".to_vec())),
        "ClientIdentity(***)"
    );
    let missing =
        ClientIdentity::from_pem_file(std::path::Path::new("/nonexistent/qwac.pem")).unwrap_err();
    assert!(missing.to_string().contains("/nonexistent/qwac.pem"));
    sandbox.shutdown().await;
}

/// r11: a bank's API is reached over TLS unless it is on this machine or plain HTTP is allowed by
/// name, and a redirect is never followed — it would carry the customer's password elsewhere.
#[tokio::test]
async fn plain_http_to_another_host_is_refused_and_redirects_are_not_followed() {
    match ApiBank::new(ApiBankConfig::new("http://api.bank.example/psd2")) {
        Err(ApiConfigError::PlainHttp(url)) => assert_eq!(url, "http://api.bank.example/psd2"),
        other => panic!("{other:?}"),
    }
    let mut allowed = ApiBankConfig::new("http://api.bank.example/psd2");
    allowed.allow_plain_http = true;
    assert!(ApiBank::new(allowed).is_ok());
    for local in [
        "http://127.0.0.1:8081",
        "http://localhost:8081/psd2",
        "http://[::1]:8081",
        "https://api.bank.example",
    ] {
        assert!(ApiBank::new(ApiBankConfig::new(local)).is_ok(), "{local}");
    }

    // A bank that answers the password step with a redirect to another server.
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let elsewhere = {
        let hits = hits.clone();
        let app = axum::Router::new().fallback(move || {
            let hits = hits.clone();
            async move {
                hits.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                "thanks"
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        url
    };
    let redirecting = {
        let target = format!("{elsewhere}/collect");
        let app = axum::Router::new().fallback(move || {
            let target = target.clone();
            async move {
                (
                    axum::http::StatusCode::TEMPORARY_REDIRECT,
                    [(axum::http::header::LOCATION, target)],
                )
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        url
    };
    let bank = ApiBank::new(ApiBankConfig::new(redirecting)).unwrap();
    let anna = psu(ANNA).with_consent(psd2_fallback_engine::model::ConsentId::new("c-1"));
    let error = bank
        .start_authorisation(
            &anna,
            &ScaTarget::Consent(psd2_fallback_engine::model::ConsentId::new("c-1")),
        )
        .await
        .unwrap_err();
    assert!(!error.is_outcome_unknown(), "{error:?}");
    assert_eq!(
        hits.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "nothing reached the other server"
    );
}
