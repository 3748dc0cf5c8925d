//! The resilience service over real HTTP: the project's own `ApiBank` talks to it exactly as to the
//! sandbox bank's API and gets the same results; callers are kept apart; bad requests name the field;
//! rate limits answer 429; an API outage in the middle of a client run is served through the other
//! channel, watched on `/health`, `/metrics` and `/events`, and overridden by an operator.

use std::num::NonZeroU32;
use std::time::Duration;

use psd2_fallback_engine::model::{
    AccountId, Amount, ConsentAccess, ConsentRequest, Currency, EndToEndId, ExecutionRule,
    Frequency, PaymentFile, PaymentKind, PaymentProduct, PaymentRequest, PaymentStatus, ScaStatus,
    ScaTarget, StandingOrderRequest, TransactionFilter,
};
use psd2_fallback_engine::{Bank, Channel, PsuContext};
use psd2_fallback_sandbox::Sandbox;
use psd2_fallback_service::{ServiceLimits, owners_path};
use rust_decimal::dec;
use serde_json::{Value, json};
use time::Duration as Days;
use time::macros::date;

use crate::support::service::{
    ADMIN, BANK, TOKEN_A, TOKEN_B, api_bank, api_bank_waiting, fast_health, screen_channel, start,
    start_on_journal,
};
use crate::support::{TODAY, ibans, pain001, psu, sandbox, sign};

const ANNA: &str = "1000001";
const LUC: &str = "1000002";

async fn consented(bank: &dyn Bank, sandbox: &Sandbox, customer: &str) -> PsuContext {
    let psu = psu(customer);
    let request = ConsentRequest {
        access: ConsentAccess::full(ibans(sandbox, customer)),
        recurring: true,
        valid_until: TODAY + Days::days(90),
        frequency_per_day: 4,
    };
    let consent = bank.create_consent(&psu, &request).await.unwrap();
    assert_eq!(
        sign(bank, &psu, &ScaTarget::Consent(consent.clone())).await,
        ScaStatus::Finalised
    );
    psu.with_consent(consent)
}

fn eur(value: rust_decimal::Decimal) -> Amount {
    Amount::new(value, Currency::from_code("EUR").unwrap()).unwrap()
}

fn payment(sandbox: &Sandbox, amount: rust_decimal::Decimal) -> PaymentRequest {
    PaymentRequest {
        product: PaymentProduct::SepaCreditTransfer,
        debtor: ibans(sandbox, ANNA)[0].clone(),
        creditor_name: "Luc Peeters".into(),
        creditor: ibans(sandbox, LUC)[0].clone(),
        amount: eur(amount),
        remittance: Some("service test".into()),
        requested_execution_date: None,
        end_to_end_id: EndToEndId::generate(),
    }
}

/// Every operation, run the same way against any `Bank`; returns what can be compared.
async fn workload(bank: &dyn Bank, sandbox: &Sandbox) -> Value {
    let anna = consented(bank, sandbox, ANNA).await;
    let accounts = bank.accounts(&anna).await.unwrap();
    let id = AccountId::new("acc-01");
    let balances = bank.balances(&anna, &id, None).await.unwrap();
    let closing = bank
        .balances(&anna, &id, Some(date!(2026 - 06 - 30)))
        .await
        .unwrap();
    let all = bank
        .transactions(&anna, &id, &TransactionFilter::default())
        .await
        .unwrap();
    let september = bank
        .transactions(
            &anna,
            &id,
            &TransactionFilter {
                date_from: Some(date!(2026 - 09 - 01)),
                date_to: Some(date!(2026 - 09 - 30)),
                ..Default::default()
            },
        )
        .await
        .unwrap();

    // A payment, signed.
    let paid = bank
        .initiate_payment(&anna, &payment(sandbox, dec!(12.34)))
        .await
        .unwrap();
    assert_eq!(paid.status, PaymentStatus::Received);
    let signed = sign(bank, &anna, &ScaTarget::Payment(paid.payment.clone())).await;
    let status = bank.payment_status(&anna, &paid.payment).await.unwrap();
    assert_ne!(status, PaymentStatus::Rejected);

    // A standing order, signed and cancelled.
    let order = StandingOrderRequest {
        payment: payment(sandbox, dec!(25.00)),
        start_date: TODAY + Days::days(7),
        end_date: None,
        frequency: Frequency::Monthly,
        day_of_execution: None,
        execution_rule: ExecutionRule::Following,
    };
    let created = bank.create_standing_order(&anna, &order).await.unwrap();
    assert!(matches!(created.payment.kind, PaymentKind::Periodic(_)));
    let order_signed = sign(bank, &anna, &ScaTarget::Payment(created.payment.clone())).await;
    let cancelled = bank
        .cancel_standing_order(&anna, &created.payment)
        .await
        .unwrap()
        .status;

    // A pain.001 file, signed.
    let xml = pain001(
        ibans(sandbox, ANNA)[0].as_str(),
        &[
            ("Alpha", ibans(sandbox, LUC)[0].as_str(), "3.00"),
            ("Beta", ibans(sandbox, LUC)[0].as_str(), "4.00"),
        ],
        "2026-11-23",
    );
    let file = PaymentFile::parse(&xml).unwrap();
    let uploaded = bank.upload_payment_file(&anna, &file).await.unwrap();
    let file_signed = sign(bank, &anna, &ScaTarget::Payment(uploaded.payment.clone())).await;
    let file_status = bank.payment_status(&anna, &uploaded.payment).await.unwrap();

    let funds = bank
        .confirm_funds(&anna, &ibans(sandbox, ANNA)[0], &eur(dec!(10.00)))
        .await
        .unwrap();
    let too_much = bank
        .confirm_funds(&anna, &ibans(sandbox, ANNA)[0], &eur(dec!(99999999.00)))
        .await
        .unwrap();

    json!({
        "accounts": format!("{accounts:?}"),
        "closing": format!("{closing:?}"),
        "transactions": all.len() > 80,
        "september": format!("{september:?}"),
        "balance kinds": balances.iter().map(|b| b.kind.code()).collect::<Vec<_>>(),
        "payment signed": signed.code(),
        "payment settled": status != PaymentStatus::Received,
        "standing order": [order_signed.code(), cancelled.code()],
        "file": [file_signed.code(), file_status != PaymentStatus::Received],
        "funds": [funds.funds_available, too_much.funds_available],
    })
}

#[tokio::test]
async fn api_bank_talks_to_the_service_unchanged_and_gets_the_same_results() {
    let sandbox = sandbox().await;
    let limits = ServiceLimits {
        transactions_page_size: 40,
        requests_per_second: NonZeroU32::new(1000).unwrap(),
        burst: NonZeroU32::new(1000).unwrap(),
        ..ServiceLimits::default()
    };
    let service = start(
        &sandbox,
        screen_channel(&sandbox).await,
        limits,
        fast_health(),
    )
    .await;

    let direct = api_bank(&sandbox.api_url(), None);
    let through = api_bank(&service.bank_url(), Some(TOKEN_A));
    let expected = workload(&direct, &sandbox).await;
    let served = workload(&through, &sandbox).await;
    for (key, value) in expected.as_object().unwrap() {
        assert_eq!(&served[key], value, "{key}");
    }
    assert_eq!(expected["transactions"], true, "several pages");

    // Reads of the same moment are equal, whichever way they went. The workloads' payments settle
    // 200 ms after signing (the sandbox's setting): let them, so the book stands still while compared.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (a, b) = (
        consented(&direct, &sandbox, ANNA).await,
        consented(&through, &sandbox, ANNA).await,
    );
    let id = AccountId::new("acc-01");
    assert_eq!(
        direct
            .transactions(&a, &id, &TransactionFilter::default())
            .await
            .unwrap(),
        through
            .transactions(&b, &id, &TransactionFilter::default())
            .await
            .unwrap()
    );
    assert_eq!(
        direct.balances(&a, &id, None).await.unwrap(),
        through.balances(&b, &id, None).await.unwrap()
    );

    // The pages of one read come from the service's cache: the bank is asked once per read.
    let anna = consented(&through, &sandbox, ANNA).await;
    let metrics = service.state.metrics();
    let before = metrics.calls(BANK, Channel::Api, "transactions", "ok");
    let all = through
        .transactions(
            &anna,
            &AccountId::new("acc-01"),
            &TransactionFilter::default(),
        )
        .await
        .unwrap();
    assert!(all.len() > 80);
    assert_eq!(
        metrics.calls(BANK, Channel::Api, "transactions", "ok"),
        before + 1
    );
    // Everything was served by the API channel.
    assert_eq!(metrics.calls(BANK, Channel::Screen, "accounts", "ok"), 0);

    // `referenceDate` on balances is the closing balance of that day, as the ledger says.
    let http = reqwest::Client::new();
    let day = date!(2026 - 06 - 30);
    let answer: Value = http
        .get(format!(
            "{}/v1/accounts/acc-01/balances?referenceDate=2026-06-30",
            service.bank_url()
        ))
        .bearer_auth(TOKEN_A)
        .header("X-Request-ID", uuid::Uuid::new_v4().to_string())
        .header("Consent-ID", anna.consent_id.as_ref().unwrap().as_str())
        .header("PSU-IP-Address", "192.0.2.7")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ledger = sandbox
        .ledger()
        .balances(ANNA, &AccountId::new("acc-01"), Some(day))
        .unwrap();
    assert_eq!(
        answer["balances"][0]["balanceAmount"]["amount"],
        ledger[0].amount.to_api_string()
    );
    assert_eq!(answer["balances"][0]["referenceDate"], "2026-06-30");
    service.stop().await;
    sandbox.shutdown().await;
}

fn request(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: &str,
) -> reqwest::RequestBuilder {
    http.request(method, url)
        .bearer_auth(token)
        .header("X-Request-ID", uuid::Uuid::new_v4().to_string())
}

async fn tpp_message(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    (status, body["tppMessages"][0].clone())
}

#[tokio::test]
async fn one_caller_never_reaches_another_callers_consents_or_payments() {
    let sandbox = sandbox().await;
    let service = start(
        &sandbox,
        screen_channel(&sandbox).await,
        ServiceLimits::default(),
        fast_health(),
    )
    .await;
    let a = api_bank(&service.bank_url(), Some(TOKEN_A));
    let anna = consented(&a, &sandbox, ANNA).await;
    let consent = anna.consent_id.clone().unwrap();
    let paid = a
        .initiate_payment(&anna, &payment(&sandbox, dec!(5.00)))
        .await
        .unwrap();

    let http = reqwest::Client::new();
    let base = service.bank_url();
    let payment_path = format!(
        "{base}/v1/payments/sepa-credit-transfers/{}",
        paid.payment.id
    );
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (
            request(
                &http,
                reqwest::Method::GET,
                format!("{base}/v1/accounts"),
                TOKEN_B,
            )
            .header("Consent-ID", consent.as_str()),
            403,
            "CONSENT_UNKNOWN",
        ),
        (
            request(
                &http,
                reqwest::Method::GET,
                format!("{base}/v1/consents/{consent}/status"),
                TOKEN_B,
            ),
            403,
            "CONSENT_UNKNOWN",
        ),
        (
            request(
                &http,
                reqwest::Method::POST,
                format!("{base}/v1/consents/{consent}/authorisations"),
                TOKEN_B,
            )
            .json(&json!({"psuData": {"password": "guess"}})),
            403,
            "CONSENT_UNKNOWN",
        ),
        (
            request(
                &http,
                reqwest::Method::GET,
                format!("{payment_path}/status"),
                TOKEN_B,
            ),
            404,
            "RESOURCE_UNKNOWN",
        ),
        (
            request(
                &http,
                reqwest::Method::DELETE,
                payment_path.clone(),
                TOKEN_B,
            ),
            404,
            "RESOURCE_UNKNOWN",
        ),
        (
            request(
                &http,
                reqwest::Method::GET,
                format!("{base}/v1/accounts"),
                "not-a-token",
            )
            .header("Consent-ID", consent.as_str()),
            401,
            "TOKEN_INVALID",
        ),
        (
            http.get(format!("{base}/v1/accounts"))
                .bearer_auth(TOKEN_A)
                .header("Consent-ID", consent.as_str()),
            400,
            "FORMAT_ERROR",
        ),
    ];
    for (i, (request, status, code)) in cases.into_iter().enumerate() {
        let (got, message) = tpp_message(request.send().await.unwrap()).await;
        assert_eq!(
            (got, message["code"].as_str().unwrap()),
            (status, code),
            "case {i}"
        );
    }
    // The owner still reaches both.
    assert_eq!(a.accounts(&anna).await.unwrap().len(), 2);
    assert_eq!(
        a.payment_status(&anna, &paid.payment).await.unwrap(),
        PaymentStatus::Received
    );
    service.stop().await;
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_restarted_service_still_keeps_callers_apart() {
    let sandbox = sandbox().await;
    let journal =
        std::env::temp_dir().join(format!("psd2-fallback-restart-{}.db", uuid::Uuid::new_v4()));
    let first = start_on_journal(
        &sandbox,
        screen_channel(&sandbox).await,
        ServiceLimits::default(),
        fast_health(),
        &journal,
    )
    .await;
    let a = api_bank(&first.bank_url(), Some(TOKEN_A));
    let anna = consented(&a, &sandbox, ANNA).await;
    let consent = anna.consent_id.clone().unwrap();
    let paid = a
        .initiate_payment(&anna, &payment(&sandbox, dec!(6.00)))
        .await
        .unwrap();
    first.stop().await;

    // A new service (a new port, nothing in memory) on the same journal and owners files.
    let second = start_on_journal(
        &sandbox,
        screen_channel(&sandbox).await,
        ServiceLimits::default(),
        fast_health(),
        &journal,
    )
    .await;
    let http = reqwest::Client::new();
    let base = second.bank_url();
    let payment_path = format!(
        "{base}/v1/payments/sepa-credit-transfers/{}",
        paid.payment.id
    );
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (
            request(
                &http,
                reqwest::Method::GET,
                format!("{base}/v1/accounts"),
                TOKEN_B,
            )
            .header("Consent-ID", consent.as_str()),
            403,
            "CONSENT_UNKNOWN",
        ),
        (
            request(
                &http,
                reqwest::Method::GET,
                format!("{base}/v1/consents/{consent}/status"),
                TOKEN_B,
            ),
            403,
            "CONSENT_UNKNOWN",
        ),
        (
            request(
                &http,
                reqwest::Method::GET,
                format!("{payment_path}/status"),
                TOKEN_B,
            ),
            404,
            "RESOURCE_UNKNOWN",
        ),
        (
            request(
                &http,
                reqwest::Method::GET,
                format!(
                    "{base}/v1/periodic-payments/sepa-credit-transfers/{}/status",
                    paid.payment.id
                ),
                TOKEN_A,
            ),
            404,
            "RESOURCE_UNKNOWN",
        ),
    ];
    for (i, (request, status, code)) in cases.into_iter().enumerate() {
        let (got, message) = tpp_message(request.send().await.unwrap()).await;
        assert_eq!(
            (got, message["code"].as_str().unwrap()),
            (status, code),
            "case {i}"
        );
    }
    // The owner still reaches both, through the restarted service.
    let a = api_bank(&second.bank_url(), Some(TOKEN_A));
    assert_eq!(a.accounts(&anna).await.unwrap().len(), 2);
    assert_eq!(
        a.payment_status(&anna, &paid.payment).await.unwrap(),
        PaymentStatus::Received
    );
    second.stop().await;
    sandbox.shutdown().await;
    for file in [journal.clone(), owners_path(&journal)] {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
        }
    }
}

#[tokio::test]
async fn consent_details_come_from_the_owner_store_and_the_bank_and_information_is_refused() {
    let sandbox = sandbox().await;
    let service = start(
        &sandbox,
        screen_channel(&sandbox).await,
        ServiceLimits::default(),
        fast_health(),
    )
    .await;
    let a = api_bank(&service.bank_url(), Some(TOKEN_A));
    let anna = consented(&a, &sandbox, ANNA).await;
    let consent = anna.consent_id.clone().unwrap();
    let http = reqwest::Client::new();
    let base = service.bank_url();
    let details = |token: &str| {
        request(
            &http,
            reqwest::Method::GET,
            format!("{base}/v1/consents/{consent}"),
            token,
        )
        .send()
    };
    let response = details(TOKEN_A).await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let refs: Vec<Value> = ibans(&sandbox, ANNA)
        .iter()
        .map(|i| json!({ "iban": i.as_str() }))
        .collect();
    assert_eq!(
        body,
        json!({
            "access": { "accounts": refs, "balances": refs, "transactions": refs },
            "recurringIndicator": true,
            "validUntil": (TODAY + Days::days(90)).to_string(),
            "frequencyPerDay": 4,
            "consentStatus": "valid",
            "_links": {
                "self": { "href": format!("/banks/{BANK}/v1/consents/{consent}") },
                "status": { "href": format!("/banks/{BANK}/v1/consents/{consent}/status") },
            },
        })
    );
    let (status, message) = tpp_message(details(TOKEN_B).await.unwrap()).await;
    assert_eq!(
        (status, message["code"].as_str()),
        (403, Some("CONSENT_UNKNOWN"))
    );

    // The account's standing orders (`bookingStatus=information`): no channel reads them; a 400 says so.
    let account = sandbox.ledger().accounts(ANNA)[0].id.as_str().to_owned();
    let (status, message) = tpp_message(
        request(
            &http,
            reqwest::Method::GET,
            format!("{base}/v1/accounts/{account}/transactions?bookingStatus=information"),
            TOKEN_A,
        )
        .header("Consent-ID", consent.as_str())
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(
        (status, message["path"].as_str()),
        (400, Some("bookingStatus"))
    );
    assert!(
        message["text"]
            .as_str()
            .unwrap()
            .contains("standing orders"),
        "{message}"
    );
    service.stop().await;
    sandbox.shutdown().await;
}

#[tokio::test]
async fn bad_requests_get_400_naming_the_field_and_the_reason() {
    let sandbox = sandbox().await;
    let limits = ServiceLimits {
        max_file_bytes: 4096,
        ..ServiceLimits::default()
    };
    let service = start(
        &sandbox,
        screen_channel(&sandbox).await,
        limits,
        fast_health(),
    )
    .await;
    let http = reqwest::Client::new();
    let anna_iban = ibans(&sandbox, ANNA)[0].to_string();
    let luc_iban = ibans(&sandbox, LUC)[0].to_string();
    let body = |creditor: &str, amount: &str, currency: &str, date: &str| {
        json!({
            "debtorAccount": {"iban": anna_iban},
            "instructedAmount": {"currency": currency, "amount": amount},
            "creditorAccount": {"iban": creditor},
            "creditorName": "Luc",
            "requestedExecutionDate": date,
        })
    };
    let payments = format!("{}/v1/payments/sepa-credit-transfers", service.bank_url());
    let json_cases = [
        (
            body("BE00 1234 5678 9012", "1.00", "EUR", "2026-11-24"),
            "creditorAccount.iban",
        ),
        (
            body(&luc_iban, "-5.00", "EUR", "2026-11-24"),
            "instructedAmount.amount",
        ),
        (
            body(&luc_iban, "1.00", "XYZ", "2026-11-24"),
            "instructedAmount.currency",
        ),
        (
            body(&luc_iban, "1.00", "EUR", "24/11/2026"),
            "requestedExecutionDate",
        ),
    ];
    for (payload, field) in json_cases {
        let (status, message) = tpp_message(
            request(&http, reqwest::Method::POST, payments.clone(), TOKEN_A)
                .header("PSU-ID", ANNA)
                .json(&payload)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 400, "{field}");
        assert_eq!(message["path"], field);
        assert!(!message["text"].as_str().unwrap().is_empty(), "{field}");
    }

    let files = format!(
        "{}/v1/bulk-payments/pain.001-sepa-credit-transfers",
        service.bank_url()
    );
    let good = pain001(&anna_iban, &[("Alpha", &luc_iban, "3.00")], "2026-11-23");
    let wrong_sum = good.replacen("<CtrlSum>3.00</CtrlSum>", "<CtrlSum>4.00</CtrlSum>", 1);
    let oversized = good.replace(
        "<Ustrd>Invoice 0</Ustrd>",
        &format!("<Ustrd>Invoice 0</Ustrd><!-- {} -->", "x".repeat(5000)),
    );
    for (xml, expect) in [
        (wrong_sum, "GrpHdr/CtrlSum"),
        (oversized, "at most 4096"),
        ("<Document>".to_owned(), "not well-formed"),
    ] {
        let (status, message) = tpp_message(
            request(&http, reqwest::Method::POST, files.clone(), TOKEN_A)
                .header("PSU-ID", ANNA)
                .header("Content-Type", "application/xml")
                .body(xml)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 400, "{expect}");
        assert_eq!(message["path"], "body");
        assert!(
            message["text"].as_str().unwrap().contains(expect),
            "{message}"
        );
    }
    service.stop().await;
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_caller_over_its_rate_gets_429_with_retry_after() {
    let sandbox = sandbox().await;
    let limits = ServiceLimits {
        requests_per_second: NonZeroU32::new(1).unwrap(),
        burst: NonZeroU32::new(2).unwrap(),
        ..ServiceLimits::default()
    };
    let service = start(
        &sandbox,
        screen_channel(&sandbox).await,
        limits,
        fast_health(),
    )
    .await;
    let http = reqwest::Client::new();
    let url = format!("{}/v1/consents/none/status", service.bank_url());
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..3 {
        let response = request(&http, reqwest::Method::GET, url.clone(), TOKEN_A)
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            retry_after = response
                .headers()
                .get("Retry-After")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
        }
    }
    assert_eq!(statuses, [403, 403, 429]);
    assert!(retry_after.is_some_and(|s| s >= 1));
    // Another caller has its own allowance.
    let other = request(&http, reqwest::Method::GET, url, TOKEN_B)
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 403);
    service.stop().await;
    sandbox.shutdown().await;
}

async fn health_mode(http: &reqwest::Client, url: &str) -> (String, String) {
    let health: Value = http
        .get(format!("{url}/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "up");
    let bank = &health["banks"][0];
    (
        bank["mode"].as_str().unwrap().to_owned(),
        bank["override"].as_str().unwrap().to_owned(),
    )
}

async fn wait_for_mode(http: &reqwest::Client, url: &str, mode: &str) {
    for _ in 0..200 {
        if health_mode(http, url).await.0 == mode {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the bank never reached mode {mode}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_outage_mid_run_is_served_by_the_other_channel_and_watched() {
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
    let http = reqwest::Client::new();
    // Tail the event stream from the start.
    let mut stream = http
        .get(format!("{}/events", service.url))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(
        stream.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );

    let client = api_bank(&service.bank_url(), Some(TOKEN_A));
    let anna = consented(&client, &sandbox, ANNA).await;
    let id = AccountId::new("acc-01");
    let before = client.balances(&anna, &id, None).await.unwrap();

    // The API goes down mid-run: every call is still served.
    service.gate.set_down(true);
    for _ in 0..4 {
        assert_eq!(client.balances(&anna, &id, None).await.unwrap(), before);
    }
    assert_eq!(client.accounts(&anna).await.unwrap().len(), 2);
    let paid = client
        .initiate_payment(&anna, &payment(&sandbox, dec!(1.50)))
        .await
        .unwrap();
    sign(&client, &anna, &ScaTarget::Payment(paid.payment.clone())).await;
    wait_for_mode(&http, &service.url, "fallback").await;
    let metrics = service.state.metrics();
    assert!(metrics.calls(BANK, Channel::Screen, "balances", "ok") >= 3);
    assert_eq!(
        metrics.calls(BANK, Channel::Screen, "initiate_payment", "ok"),
        1
    );

    // The switch is on the event stream, as one `switch` event.
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !seen.contains("\"to\":\"fallback\"") && tokio::time::Instant::now() < deadline {
        if let Ok(Ok(Some(chunk))) =
            tokio::time::timeout(Duration::from_secs(1), stream.chunk()).await
        {
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
    assert!(seen.contains("event: switch"), "{seen}");
    assert!(seen.contains("\"to\":\"fallback\""), "{seen}");

    // The API comes back: probes bring the bank back to it.
    service.gate.set_down(false);
    wait_for_mode(&http, &service.url, "api").await;
    let api_before = metrics.calls(BANK, Channel::Api, "balances", "ok");
    client.balances(&anna, &id, None).await.unwrap();
    assert_eq!(
        metrics.calls(BANK, Channel::Api, "balances", "ok"),
        api_before + 1
    );

    // /metrics, in Prometheus text format.
    let text = http
        .get(format!("{}/metrics", service.url))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for needle in [
        "psd2_fallback_bank_mode{bank=\"sandbox\",mode=\"api\"} 1",
        "psd2_fallback_switches_total{bank=\"sandbox\",reason=\"policy_tripped\"} 1",
        "psd2_fallback_switches_total{bank=\"sandbox\",reason=\"recovered\"} 1",
        "channel=\"screen\",operation=\"balances\",outcome=\"ok\"",
        "psd2_fallback_bank_request_duration_seconds_bucket",
        "psd2_fallback_journal_in_doubt 0",
        "psd2_fallback_browser_sessions_open{bank=\"sandbox\"} 0",
    ] {
        assert!(text.contains(needle), "{needle} missing from\n{text}");
    }

    // The operator's override: the admin token only.
    let route = format!("{}/admin/banks/{BANK}/override", service.url);
    let refused = http
        .put(&route)
        .bearer_auth(TOKEN_A)
        .body("force-fallback")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let bad = http
        .put(&route)
        .bearer_auth(ADMIN)
        .body("sideways")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let forced = http
        .put(&route)
        .bearer_auth(ADMIN)
        .body("force-fallback")
        .send()
        .await
        .unwrap();
    assert_eq!(forced.status(), 200);
    assert_eq!(
        health_mode(&http, &service.url).await,
        ("fallback".to_owned(), "force-fallback".to_owned())
    );
    let screen_before = metrics.calls(BANK, Channel::Screen, "accounts", "ok");
    client.accounts(&anna).await.unwrap();
    assert_eq!(
        metrics.calls(BANK, Channel::Screen, "accounts", "ok"),
        screen_before + 1
    );
    http.put(&route)
        .bearer_auth(ADMIN)
        .json(&json!({"override": "auto"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        health_mode(&http, &service.url).await,
        ("api".to_owned(), "auto".to_owned())
    );

    // A new subscriber gets the past switches from the journal first.
    let mut replay = http
        .get(format!("{}/events", service.url))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    let mut first = String::new();
    while !first.contains("\"to\":\"api\"") {
        let chunk = tokio::time::timeout(Duration::from_secs(5), replay.chunk())
            .await
            .expect("past events at once")
            .unwrap()
            .unwrap();
        first.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(first.contains("\"to\":\"fallback\""), "{first}");
    drop(stream);
    drop(replay);
    service.stop().await;
    sandbox.shutdown().await;
}

/// r12: with the bank's API down from the very start, a consent is created and authorised through
/// the website (the caller answers the website's login challenge), then serves the accounts, the
/// balances now and on a date, and the full history — the same values the bank's API gives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_api_down_from_the_start_a_consent_is_made_on_the_website_and_reads() {
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
    service.gate.set_down(true);
    let client = api_bank_waiting(&service.bank_url(), Some(TOKEN_A), Duration::from_secs(60));
    let anna = consented(&client, &sandbox, ANNA).await;

    // The reference: the bank's own API, reached directly under a consent of its own.
    let direct = crate::support::service::api_bank(&sandbox.api_url(), None);
    let reference = consented(&direct, &sandbox, ANNA).await;

    let accounts = client.accounts(&anna).await.unwrap();
    assert_eq!(accounts, direct.accounts(&reference).await.unwrap());
    assert_eq!(accounts.len(), 2);
    let id = AccountId::new("acc-01");
    let mut now = client.balances(&anna, &id, None).await.unwrap();
    let mut want = direct.balances(&reference, &id, None).await.unwrap();
    now.sort_by_key(|b| b.kind.code());
    want.sort_by_key(|b| b.kind.code());
    assert_eq!(now, want);
    let day = TODAY - Days::days(30);
    assert_eq!(
        client.balances(&anna, &id, Some(day)).await.unwrap(),
        direct.balances(&reference, &id, Some(day)).await.unwrap()
    );
    let history = client
        .transactions(&anna, &id, &TransactionFilter::default())
        .await
        .unwrap();
    assert!(history.len() > 100, "{}", history.len());
    assert_eq!(
        history,
        direct
            .transactions(&reference, &id, &TransactionFilter::default())
            .await
            .unwrap()
    );
    let metrics = service.state.metrics();
    assert_eq!(
        metrics.calls(BANK, Channel::Screen, "create_consent", "ok"),
        1
    );
    assert!(metrics.calls(BANK, Channel::Screen, "transactions", "ok") >= 1);
}

/// r12: a consent made on the website while the API is down, read unattended after the service
/// restarted: the engine keeps no password across restarts, so the answer is a plain "customer must
/// re-authenticate" (401 `CONSENT_INVALID`), never a format error or an outage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_an_unattended_website_read_asks_the_customer_to_re_authenticate() {
    let Some(_permit) = crate::support::browser::permit().await else {
        return;
    };
    let sandbox = sandbox().await;
    let journal =
        std::env::temp_dir().join(format!("psd2-fallback-reauth-{}.db", uuid::Uuid::new_v4()));
    let first = start_on_journal(
        &sandbox,
        screen_channel(&sandbox).await,
        ServiceLimits::default(),
        fast_health(),
        &journal,
    )
    .await;
    first.gate.set_down(true);
    let a = api_bank(&first.bank_url(), Some(TOKEN_A));
    let anna = consented(&a, &sandbox, ANNA).await;
    assert_eq!(a.accounts(&anna).await.unwrap().len(), 2);
    first.stop().await;

    let second = start_on_journal(
        &sandbox,
        screen_channel(&sandbox).await,
        ServiceLimits::default(),
        fast_health(),
        &journal,
    )
    .await;
    second.gate.set_down(true);
    let a = api_bank(&second.bank_url(), Some(TOKEN_A));
    let unattended = PsuContext::new(anna.psu_id.clone()).with_consent(anna.consent_id.unwrap());
    match a.accounts(&unattended).await {
        Err(psd2_fallback_engine::BankError::Rejected { code, message }) => {
            assert_eq!(code, "CONSENT_INVALID", "{message}");
            assert!(message.contains("re-authenticate"), "{message}");
        }
        other => panic!("expected a request to re-authenticate: {other:?}"),
    }
    second.stop().await;
    sandbox.shutdown().await;
    for file in [journal.clone(), owners_path(&journal)] {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
        }
    }
}
