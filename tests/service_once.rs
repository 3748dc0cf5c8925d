//! Exactly-once through the service, tested from outside: a write is identified by (caller,
//! `X-Request-ID`) and a fingerprint of its content. A retry gets the first answer, a retry after a 502
//! gets the one payment, the same id with other content is a 409, an end-to-end id reused for another
//! order is refused naming the field, concurrent duplicates wait for the first.

use psd2_fallback_engine::journal::{JournalStore, SqliteJournal};
use psd2_fallback_engine::model::Iban;
use psd2_fallback_sandbox::{ApiFault, Sandbox, WebsiteFault};
use psd2_fallback_service::{ServiceLimits, owners_path};
use serde_json::{Value, json};

use crate::support::service::{
    Running, TOKEN_A, TOKEN_B, api_bank, fast_health, post_payment, screen_channel, start,
    start_on_journal,
};
use crate::support::{TODAY, pain001, sandbox, signed_consent};

const ANNA: &str = "1000001";
const LUC: &str = "1000002";

fn iban(sandbox: &Sandbox, customer: &str) -> Iban {
    sandbox.ledger().accounts(customer)[0].iban.clone()
}

/// A transfer from Anna to Luc as a caller sends it; without an end-to-end id when `e2e` is `None`.
fn order(sandbox: &Sandbox, e2e: Option<&str>, amount: &str) -> Value {
    let mut body = json!({
        "debtorAccount": {"iban": iban(sandbox, ANNA).as_str()},
        "instructedAmount": {"currency": "EUR", "amount": amount},
        "creditorAccount": {"iban": iban(sandbox, LUC).as_str()},
        "creditorName": "Luc Peeters",
        "remittanceInformationUnstructured": "exactly once"
    });
    if let Some(e2e) = e2e {
        body["endToEndIdentification"] = json!(e2e);
    }
    body
}

/// Posts a payment initiation; returns the status and the body.
async fn post(service: &Running, token: &str, request_id: &str, body: &Value) -> (u16, Value) {
    post_payment(service, token, ANNA, request_id, body).await
}

fn anna_payments(sandbox: &Sandbox) -> usize {
    sandbox.ledger().payments(ANNA).len()
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Anna makes and signs a consent through the service with caller A, giving her password: the
/// website channel can then log in as her.
async fn authorised(service: &Running, sandbox: &Sandbox) {
    signed_consent(&api_bank(&service.bank_url(), Some(TOKEN_A)), sandbox, ANNA).await;
}

/// r4: a retry with the same `X-Request-ID` (and no end-to-end id of the caller's) gets the same
/// answer and makes no second payment; the same id with other content is a 409; concurrent
/// duplicates wait for the first and all get its answer; another caller's same id is its own.
#[tokio::test]
async fn r4_a_retry_with_the_same_request_id_gets_the_first_answer() {
    let sandbox = sandbox().await;
    let service = start(
        &sandbox,
        screen_channel(&sandbox).await,
        ServiceLimits::default(),
        fast_health(),
    )
    .await;
    let before = anna_payments(&sandbox);
    let id = new_id();
    let first = post(&service, TOKEN_A, &id, &order(&sandbox, None, "4.00")).await;
    assert_eq!(first.0, 201, "{first:?}");
    let again = post(&service, TOKEN_A, &id, &order(&sandbox, None, "4.00")).await;
    assert_eq!(again, first, "the same answer, body and all");
    assert_eq!(anna_payments(&sandbox), before + 1, "one payment");

    let other = post(&service, TOKEN_A, &id, &order(&sandbox, None, "5.00")).await;
    assert_eq!(other.0, 409, "{other:?}");
    assert_eq!(other.1["tppMessages"][0]["code"], "STATUS_INVALID");
    assert_eq!(anna_payments(&sandbox), before + 1);

    // Concurrent duplicates: one payment, one answer for all.
    let id = new_id();
    let body = order(&sandbox, Some("E2E-CONCURRENT-R4"), "6.00");
    let answers =
        futures_util::future::join_all((0..4).map(|_| post(&service, TOKEN_A, &id, &body))).await;
    assert_eq!(answers[0].0, 201, "{:?}", answers[0]);
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
    assert_eq!(anna_payments(&sandbox), before + 2);

    // Another caller's request ids are its own.
    let theirs = post(&service, TOKEN_B, &id, &order(&sandbox, None, "7.00")).await;
    assert_eq!(theirs.0, 201, "{theirs:?}");
    assert_ne!(theirs.1["paymentId"], answers[0].1["paymentId"]);
    service.stop().await;
    sandbox.shutdown().await;
}

/// r6: concurrent identical initiations with their own request ids (one order, one end-to-end id) are
/// one payment, and every caller gets it — none hears "outcome unknown".
#[tokio::test]
async fn r6_concurrent_identical_initiations_all_get_the_one_payment() {
    let sandbox = sandbox().await;
    let service = start(
        &sandbox,
        screen_channel(&sandbox).await,
        ServiceLimits::default(),
        fast_health(),
    )
    .await;
    let before = anna_payments(&sandbox);
    let body = order(&sandbox, Some("E2E-R6-CONCURRENT"), "2.00");
    let ids: Vec<String> = (0..4).map(|_| new_id()).collect();
    let answers =
        futures_util::future::join_all(ids.iter().map(|id| post(&service, TOKEN_A, id, &body)))
            .await;
    for answer in &answers {
        assert_eq!(answer.0, 201, "{answer:?}");
        assert_eq!(answer.1["paymentId"], answers[0].1["paymentId"]);
    }
    assert_eq!(anna_payments(&sandbox), before + 1);
    service.stop().await;
    sandbox.shutdown().await;
}

/// r4: a payment answered 502 (the bank executed it and its answer was lost, and nothing could look it
/// up), then retried by the client with the same `X-Request-ID`, is the one payment.
#[tokio::test]
async fn r4_a_retry_after_502_gets_the_one_payment() {
    let Some(_permit) = crate::support::browser::permit().await else {
        return;
    };
    let sandbox = sandbox().await;
    let service = start(
        &sandbox,
        screen_channel(&sandbox).await,
        ServiceLimits::default(),
        fast_health(),
    )
    .await;
    // Anna gave her password at a consent's authorisation: the website can look her payments up.
    authorised(&service, &sandbox).await;
    let before = anna_payments(&sandbox);
    sandbox.set_api_fault(ApiFault::ProcessedButNoAnswer);
    sandbox.set_website_fault(WebsiteFault::Maintenance);
    let id = new_id();
    let body = order(&sandbox, None, "8.00");
    let lost = post(&service, TOKEN_A, &id, &body).await;
    assert_eq!(lost.0, 502, "{lost:?}");
    assert_eq!(anna_payments(&sandbox), before + 1, "the bank made it");
    sandbox.set_api_fault(ApiFault::Up);
    sandbox.set_website_fault(WebsiteFault::Up);
    let retried = post(&service, TOKEN_A, &id, &body).await;
    assert_eq!(retried.0, 201, "{retried:?}");
    let payments = sandbox.ledger().payments(ANNA);
    assert_eq!(payments.len(), before + 1, "still one payment");
    assert_eq!(
        retried.1["paymentId"],
        payments[0].payment.id.as_str(),
        "the one the bank made"
    );
    service.stop().await;
    sandbox.shutdown().await;
}

/// r5: an end-to-end id reused for a different order (amount) is refused naming the field, and so
/// is the same order from another caller — neither is answered with the earlier payment; after a
/// rejected order, a different order with its end-to-end id is made.
#[tokio::test]
async fn r5_an_end_to_end_id_reused_for_another_order_is_refused_naming_the_field() {
    let sandbox = sandbox().await;
    let service = start(
        &sandbox,
        screen_channel(&sandbox).await,
        ServiceLimits::default(),
        fast_health(),
    )
    .await;
    let before = anna_payments(&sandbox);
    let first = post(
        &service,
        TOKEN_A,
        &new_id(),
        &order(&sandbox, Some("E2E-R5"), "5.00"),
    )
    .await;
    assert_eq!(first.0, 201, "{first:?}");
    for (token, amount) in [(TOKEN_A, "7.00"), (TOKEN_B, "5.00")] {
        let refused = post(
            &service,
            token,
            &new_id(),
            &order(&sandbox, Some("E2E-R5"), amount),
        )
        .await;
        assert_eq!(refused.0, 400, "{refused:?}");
        let message = &refused.1["tppMessages"][0];
        assert_eq!(message["code"], "FORMAT_ERROR", "{refused:?}");
        assert_eq!(message["path"], "endToEndIdentification", "{refused:?}");
        assert!(
            !refused
                .1
                .to_string()
                .contains(first.1["paymentId"].as_str().unwrap()),
            "the earlier payment is not named: {refused:?}"
        );
    }
    assert_eq!(anna_payments(&sandbox), before + 1);

    let rejected = post(
        &service,
        TOKEN_A,
        &new_id(),
        &order(&sandbox, Some("E2E-R5-RJ"), "999999.00"),
    )
    .await;
    assert_eq!(rejected.0, 400, "{rejected:?}");
    let made = post(
        &service,
        TOKEN_A,
        &new_id(),
        &order(&sandbox, Some("E2E-R5-RJ"), "9.00"),
    )
    .await;
    assert_eq!(made.0, 201, "{made:?}");
    assert_eq!(anna_payments(&sandbox), before + 2);
    service.stop().await;
    sandbox.shutdown().await;
}

/// r5: a payment file whose MsgId was used for another file of the same account is refused naming
/// `body`, and not answered with the earlier file's id.
#[tokio::test]
async fn r5_a_msg_id_reused_for_another_file_is_refused_naming_the_body() {
    let sandbox = sandbox().await;
    let service = start(
        &sandbox,
        screen_channel(&sandbox).await,
        ServiceLimits::default(),
        fast_health(),
    )
    .await;
    let (anna, luc) = (iban(&sandbox, ANNA), iban(&sandbox, LUC));
    let first = pain001(
        anna.as_str(),
        &[("Alpha", luc.as_str(), "3.00")],
        &TODAY.to_string(),
    );
    let other = first.replace("3.00", "4.00");
    let post_file = |xml: String| {
        reqwest::Client::new()
            .post(format!(
                "{}/v1/bulk-payments/pain.001-sepa-credit-transfers",
                service.bank_url()
            ))
            .bearer_auth(TOKEN_A)
            .header("X-Request-ID", new_id())
            .header("PSU-ID", ANNA)
            .header("PSU-IP-Address", "192.0.2.7")
            .header("Content-Type", "application/xml")
            .body(xml)
            .send()
    };
    let made = post_file(first).await.unwrap();
    assert_eq!(made.status().as_u16(), 201);
    let made: Value = made.json().await.unwrap();
    let refused = post_file(other).await.unwrap();
    assert_eq!(refused.status().as_u16(), 400);
    let refused: Value = refused.json().await.unwrap();
    let message = &refused["tppMessages"][0];
    assert_eq!(message["path"], "body", "{refused}");
    assert!(
        message["text"].as_str().unwrap().contains("MsgId"),
        "{refused}"
    );
    assert!(
        !refused
            .to_string()
            .contains(made["paymentId"].as_str().unwrap()),
        "{refused}"
    );
    service.stop().await;
    sandbox.shutdown().await;
}

/// r4: the service dies after answering 502 for a payment the bank made; a new service on the same
/// journal (which reconciles open writes at start, each as its own customer) answers the client's
/// retry with the same `X-Request-ID` with the one payment — the intent was not taken for absent.
#[tokio::test]
async fn r4_a_retry_after_502_and_a_restart_gets_the_one_payment() {
    let Some(_permit) = crate::support::browser::permit().await else {
        return;
    };
    let sandbox = sandbox().await;
    let journal = std::env::temp_dir().join(format!("psd2-fallback-once-{}.db", new_id()));
    let first = start_on_journal(
        &sandbox,
        screen_channel(&sandbox).await,
        ServiceLimits::default(),
        fast_health(),
        &journal,
    )
    .await;
    authorised(&first, &sandbox).await;
    let before = anna_payments(&sandbox);
    sandbox.set_api_fault(ApiFault::ProcessedButNoAnswer);
    sandbox.set_website_fault(WebsiteFault::Maintenance);
    let id = new_id();
    let body = order(&sandbox, None, "11.00");
    let lost = post(&first, TOKEN_A, &id, &body).await;
    assert_eq!(lost.0, 502, "{lost:?}");
    first.stop().await;
    sandbox.set_api_fault(ApiFault::Up);
    sandbox.set_website_fault(WebsiteFault::Up);

    let second = start_on_journal(
        &sandbox,
        screen_channel(&sandbox).await,
        ServiceLimits::default(),
        fast_health(),
        &journal,
    )
    .await;
    let open = SqliteJournal::open(&journal)
        .unwrap()
        .open_intents()
        .unwrap();
    assert_eq!(open.len(), 1, "still in doubt after the restart: {open:?}");
    authorised(&second, &sandbox).await;
    let retried = post(&second, TOKEN_A, &id, &body).await;
    assert_eq!(retried.0, 201, "{retried:?}");
    let payments = sandbox.ledger().payments(ANNA);
    assert_eq!(payments.len(), before + 1, "one payment");
    assert_eq!(retried.1["paymentId"], payments[0].payment.id.as_str());
    second.stop().await;
    sandbox.shutdown().await;
    let _ = std::fs::remove_file(owners_path(&journal));
    let _ = std::fs::remove_file(&journal);
}
