//! The sandbox bank's API, from outside: every route answers with the status codes and field names of
//! the Berlin Group specification, its data equals the ledger's, and every fault mode is observable.

use std::collections::BTreeSet;
use std::time::Duration;

use psd2_fallback_engine::model::{
    AccountId, BalanceType, BookingStatus, PaymentId, PaymentStatus, TransactionFilter,
};
use psd2_fallback_sandbox::{ApiFault, card_reader_response};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Api, TODAY, pain001, password, sandbox};

const ANNA: &str = "1000001";
const LUC: &str = "1000002";
const LUC_IBAN: &str = "BE33738234567846";

async fn body(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn tpp_code(body: &Value) -> &str {
    body["tppMessages"][0]["code"].as_str().unwrap_or("<none>")
}

#[tokio::test]
async fn the_consent_flow_follows_embedded_sca() {
    let sandbox = sandbox().await;
    let api = Api::new(&sandbox);
    let (status, created) = body(
        api.post("/v1/consents")
            .header("PSU-ID", ANNA)
            .json(&json!({"access": {"allPsd2": "allAccounts"}, "recurringIndicator": true, "validUntil": "2027-01-31", "frequencyPerDay": 4, "combinedServiceIndicator": false}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(created["consentStatus"], "received");
    let id = created["consentId"].as_str().unwrap();
    let base = format!("/v1/consents/{id}");
    assert_eq!(
        created["_links"]["startAuthorisationWithPsuAuthentication"]["href"],
        format!("{base}/authorisations")
    );

    let wrong_password = api
        .post(&format!("{base}/authorisations"))
        .header("PSU-ID", ANNA)
        .json(&json!({"psuData": {"password": "nope"}}))
        .send()
        .await
        .unwrap();
    let (status, error) = body(wrong_password).await;
    assert_eq!(
        (status, tpp_code(&error)),
        (StatusCode::UNAUTHORIZED, "PSU_CREDENTIALS_INVALID")
    );

    let (status, started) = body(
        api.post(&format!("{base}/authorisations"))
            .header("PSU-ID", ANNA)
            .json(&json!({"psuData": {"password": password(ANNA)}}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(started["scaStatus"], "scaMethodSelected");
    assert_eq!(started["chosenScaMethod"]["authenticationType"], "CHIP_OTP");
    let challenge = started["challengeData"]["data"][0].as_str().unwrap();
    assert_eq!(challenge.len(), 8);
    let auth = started["authorisationId"].as_str().unwrap();
    let answer_path = format!("{base}/authorisations/{auth}");

    let (status, error) = body(
        api.put(&answer_path)
            .json(&json!({"scaAuthenticationData": "12345678"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, tpp_code(&error)),
        (StatusCode::UNAUTHORIZED, "PSU_CREDENTIALS_INVALID")
    );
    let (status, done) = body(
        api.put(&answer_path)
            .json(&json!({"scaAuthenticationData": card_reader_response(ANNA, challenge)}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, done["scaStatus"].as_str()),
        (StatusCode::OK, Some("finalised"))
    );

    let (_, sca) = body(api.get(&answer_path).send().await.unwrap()).await;
    assert_eq!(sca["scaStatus"], "finalised");
    let (_, list) = body(
        api.get(&format!("{base}/authorisations"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(list["authorisationIds"], json!([auth]));
    let (_, status_body) = body(api.get(&format!("{base}/status")).send().await.unwrap()).await;
    assert_eq!(status_body["consentStatus"], "valid");
    let (_, consent) = body(api.get(&base).send().await.unwrap()).await;
    assert_eq!(consent["frequencyPerDay"], 4);
    assert_eq!(consent["validUntil"], "2027-01-31");
    // An allPsd2 consent is answered as it was asked: the scope, not a list the bank made up.
    assert_eq!(consent["access"], json!({"allPsd2": "allAccounts"}));

    assert_eq!(
        api.delete(&base).send().await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    let (status, error) = body(
        api.get("/v1/accounts")
            .header("Consent-ID", id)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, tpp_code(&error)),
        (StatusCode::UNAUTHORIZED, "CONSENT_INVALID")
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn accounts_balances_and_transactions_equal_the_ledger() {
    let sandbox = sandbox().await;
    let api = Api::new(&sandbox);
    let consent = api.consent(ANNA, 4).await;
    let (status, listed) = body(
        api.get("/v1/accounts")
            .header("Consent-ID", &consent)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let accounts = sandbox.ledger().accounts(ANNA);
    let listed = listed["accounts"].as_array().unwrap();
    assert_eq!(listed.len(), accounts.len());
    for (wire, account) in listed.iter().zip(&accounts) {
        assert_eq!(wire["resourceId"], account.id.as_str());
        assert_eq!(wire["iban"], account.iban.as_str());
        assert_eq!(wire["currency"], "EUR");
        assert_eq!(wire["ownerName"], "Anna Peeters");
        assert_eq!(wire["cashAccountType"], "CACC");
        assert_eq!(
            wire["_links"]["balances"]["href"],
            format!("/v1/accounts/{}/balances", account.id)
        );
    }

    let id = AccountId::new("acc-01");
    let present = |r: reqwest::RequestBuilder| {
        r.header("Consent-ID", &consent)
            .header("PSU-IP-Address", "192.0.2.10")
    };
    let (_, balances) = body(
        present(api.get("/v1/accounts/acc-01/balances"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let ledger_balances = sandbox.ledger().balances(ANNA, &id, None).unwrap();
    let wire: Vec<&Value> = balances["balances"].as_array().unwrap().iter().collect();
    assert_eq!(wire.len(), ledger_balances.len());
    for (w, b) in wire.iter().zip(&ledger_balances) {
        assert_eq!(w["balanceType"], b.kind.code());
        assert_eq!(w["balanceAmount"]["amount"], b.amount.to_api_string());
        assert_eq!(w["balanceAmount"]["currency"], "EUR");
    }
    let (_, earlier) = body(
        present(api.get("/v1/accounts/acc-01/balances?referenceDate=2026-03-31"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let ledger_earlier = sandbox
        .ledger()
        .balances(ANNA, &id, Some(time::macros::date!(2026 - 03 - 31)))
        .unwrap();
    assert_eq!(
        earlier["balances"][0]["balanceType"],
        BalanceType::ClosingBooked.code()
    );
    assert_eq!(earlier["balances"][0]["referenceDate"], "2026-03-31");
    assert_eq!(
        earlier["balances"][0]["balanceAmount"]["amount"],
        ledger_earlier[0].amount.to_api_string()
    );

    // Follow `_links.next` to the end: the same transactions as the ledger, in the same order.
    let mut href = Some(
        "/v1/accounts/acc-01/transactions?dateFrom=2025-10-01&bookingStatus=booked".to_owned(),
    );
    let mut seen = Vec::new();
    let mut pages = 0;
    while let Some(path) = href {
        let (status, page) = body(present(api.get(&path)).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{path}: {page}");
        pages += 1;
        for t in page["transactions"]["booked"].as_array().unwrap() {
            seen.push((
                t["transactionId"].as_str().unwrap().to_owned(),
                t["transactionAmount"]["amount"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            ));
            assert!(t["bookingDate"].is_string() && t["valueDate"].is_string());
        }
        href = page["transactions"]["_links"]["next"]["href"]
            .as_str()
            .map(str::to_owned);
    }
    let filter = TransactionFilter {
        date_from: Some(time::macros::date!(2025 - 10 - 01)),
        status: Some(BookingStatus::Booked),
        ..TransactionFilter::default()
    };
    let expected: Vec<(String, String)> = sandbox
        .ledger()
        .transactions(ANNA, &id, &filter)
        .unwrap()
        .into_iter()
        .map(|t| (t.id.to_string(), t.amount.to_api_string()))
        .collect();
    assert!(expected.len() >= 1200, "{} transactions", expected.len());
    assert_eq!(pages, expected.len().div_ceil(100));
    assert_eq!(seen, expected);

    // Transactions made by a standing order say so; the standing orders themselves are "information".
    let (_, recurring) = body(
        present(
            api.get("/v1/accounts/acc-01/transactions?dateFrom=2026-11-01&bookingStatus=booked"),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    let rent = recurring["transactions"]["booked"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["creditorName"] == "Immo Schelde BV")
        .expect("the rent of November");
    assert_eq!(rent["bankTransactionCode"], "PMNT-ICDT-STDO");
    assert!(
        rent["additionalInformation"]
            .as_str()
            .unwrap()
            .starts_with("standing order so-")
    );
    let (_, info) = body(
        present(api.get("/v1/accounts/acc-01/transactions?bookingStatus=information"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let orders = info["transactions"]["information"].as_array().unwrap();
    assert_eq!(orders.len(), 4);
    assert!(orders.iter().all(|o| {
        o["additionalInformationStructured"]["standingOrderDetails"]["frequency"].is_string()
    }));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn header_and_consent_errors_are_tpp_messages() {
    let sandbox = sandbox().await;
    let api = Api::new(&sandbox);
    let no_id = api
        .http
        .get(format!("{}/v1/accounts", api.base))
        .send()
        .await
        .unwrap();
    let (status, error) = body(no_id).await;
    assert_eq!(
        (status, tpp_code(&error)),
        (StatusCode::BAD_REQUEST, "FORMAT_ERROR")
    );
    assert_eq!(error["tppMessages"][0]["path"], "X-Request-ID");
    assert_eq!(error["tppMessages"][0]["category"], "ERROR");
    let bad_id = api
        .http
        .get(format!("{}/v1/accounts", api.base))
        .header("X-Request-ID", "42")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_id.status(), StatusCode::BAD_REQUEST);

    let (status, error) = body(api.get("/v1/accounts").send().await.unwrap()).await;
    assert_eq!(
        (status, error["tppMessages"][0]["path"].as_str()),
        (StatusCode::BAD_REQUEST, Some("Consent-ID"))
    );
    let (status, error) = body(
        api.get("/v1/accounts")
            .header("Consent-ID", "cns-nope")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, tpp_code(&error)),
        (StatusCode::FORBIDDEN, "CONSENT_UNKNOWN")
    );
    let (status, error) = body(api.get("/v1/nothing-here").send().await.unwrap()).await;
    assert_eq!(
        (status, tpp_code(&error)),
        (StatusCode::NOT_FOUND, "RESOURCE_UNKNOWN")
    );

    // A consent of Anna's does not reach Luc's account.
    let consent = api.consent(ANNA, 4).await;
    let (status, error) = body(
        api.get("/v1/accounts/acc-03/balances")
            .header("Consent-ID", &consent)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, tpp_code(&error)),
        (StatusCode::NOT_FOUND, "RESOURCE_UNKNOWN")
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn unattended_reads_stop_at_the_consent_frequency() {
    let sandbox = sandbox().await;
    let api = Api::new(&sandbox);
    let consent = api.consent(ANNA, 2).await;
    let read = || {
        api.get("/v1/accounts/acc-01/balances")
            .header("Consent-ID", &consent)
    };
    assert_eq!(read().send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(read().send().await.unwrap().status(), StatusCode::OK);
    let (status, error) = body(read().send().await.unwrap()).await;
    assert_eq!(
        (status, tpp_code(&error)),
        (StatusCode::TOO_MANY_REQUESTS, "ACCESS_EXCEEDED")
    );
    // With the customer present, the read is theirs and not counted.
    assert_eq!(
        read()
            .header("PSU-IP-Address", "192.0.2.1")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    sandbox.shutdown().await;
}

fn payment_body(amount: &str, e2e: &str) -> Value {
    json!({
        "endToEndIdentification": e2e,
        "debtorAccount": {"iban": LUC_IBAN},
        "instructedAmount": {"currency": "EUR", "amount": amount},
        "creditorAccount": {"iban": "BE71096123456769"},
        "creditorName": "Garage Vermeulen",
        "remittanceInformationUnstructured": "Onderhoud",
    })
}

#[tokio::test]
async fn a_payment_is_initiated_signed_and_settled_once() {
    let sandbox = sandbox().await;
    let api = Api::new(&sandbox);
    let request_id = uuid::Uuid::new_v4().to_string();
    let initiate = || {
        api.http
            .post(format!("{}/v1/payments/sepa-credit-transfers", api.base))
            .header("X-Request-ID", &request_id)
            .header("PSU-ID", LUC)
            .header("PSU-IP-Address", "192.0.2.1")
            .json(&payment_body("123.45", "INV-2026-0042"))
    };
    let response = initiate().send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    // The sandbox lets the TPP choose the approach per authorisation: none is fixed yet, so none is
    // announced (the specification asks for the header only once the approach is fixed).
    assert!(response.headers().get("ASPSP-SCA-Approach").is_none());
    assert_eq!(
        response.headers()["X-Request-ID"].to_str().unwrap(),
        request_id
    );
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["transactionStatus"], "RCVD");
    let id = created["paymentId"].as_str().unwrap().to_owned();
    let base = format!("/v1/payments/sepa-credit-transfers/{id}");
    assert_eq!(
        created["_links"]["status"]["href"],
        format!("{base}/status")
    );

    // The same X-Request-ID again is the same payment, not a second one.
    let again: Value = initiate().send().await.unwrap().json().await.unwrap();
    assert_eq!(again["paymentId"], id.as_str());

    assert_eq!(api.sign(&base, LUC).await, "finalised");
    let (_, status) = body(api.get(&format!("{base}/status")).send().await.unwrap()).await;
    assert_eq!(status["transactionStatus"], "ACTC");
    let settled = wait_for_status(&api, &base, "ACSC").await;
    assert!(settled, "the payment never settled");
    let (_, detail) = body(api.get(&base).send().await.unwrap()).await;
    assert_eq!(detail["creditorName"], "Garage Vermeulen");
    assert_eq!(detail["instructedAmount"]["amount"], "123.45");
    let executed: Vec<_> = sandbox
        .ledger()
        .transactions(
            LUC,
            &AccountId::new("acc-03"),
            &TransactionFilter::default(),
        )
        .unwrap()
        .into_iter()
        .filter(|t| {
            t.end_to_end_id
                .as_ref()
                .is_some_and(|e| e.as_str() == "INV-2026-0042")
        })
        .collect();
    assert_eq!(executed.len(), 1);
    // An executed payment cannot be cancelled.
    let (status, error) = body(api.delete(&base).send().await.unwrap()).await;
    assert_eq!(
        (status, tpp_code(&error)),
        (StatusCode::METHOD_NOT_ALLOWED, "CANCELLATION_INVALID")
    );
    sandbox.shutdown().await;
}

async fn wait_for_status(api: &Api, base: &str, code: &str) -> bool {
    for _ in 0..100 {
        let (_, status) = body(api.get(&format!("{base}/status")).send().await.unwrap()).await;
        if status["transactionStatus"] == code {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn bad_payments_are_refused_naming_the_field() {
    let sandbox = sandbox().await;
    let api = Api::new(&sandbox);
    let mut bad_iban = payment_body("10.00", "A1");
    bad_iban["creditorAccount"]["iban"] = json!("BE71096123456760");
    let mut negative = payment_body("-10.00", "A2");
    negative["instructedAmount"]["amount"] = json!("-10.00");
    let mut currency = payment_body("10.00", "A3");
    currency["instructedAmount"]["currency"] = json!("EUX");
    let mut date = payment_body("10.00", "A4");
    date["requestedExecutionDate"] = json!("23/11/2026");
    let cases = [
        (
            bad_iban,
            StatusCode::BAD_REQUEST,
            "FORMAT_ERROR",
            Some("creditorAccount.iban"),
        ),
        (
            negative,
            StatusCode::BAD_REQUEST,
            "FORMAT_ERROR",
            Some("instructedAmount.amount"),
        ),
        (
            currency,
            StatusCode::BAD_REQUEST,
            "FORMAT_ERROR",
            Some("instructedAmount.currency"),
        ),
        (
            date,
            StatusCode::BAD_REQUEST,
            "FORMAT_ERROR",
            Some("requestedExecutionDate"),
        ),
        (
            payment_body("999999.00", "A5"),
            StatusCode::BAD_REQUEST,
            "PAYMENT_FAILED",
            None,
        ),
    ];
    for (request, status, code, path) in cases {
        let (got, error) = body(
            api.post("/v1/payments/sepa-credit-transfers")
                .header("PSU-ID", LUC)
                .json(&request)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!((got, tpp_code(&error)), (status, code), "{request}");
        assert_eq!(error["tppMessages"][0]["path"].as_str(), path, "{error}");
    }
    let (status, error) = body(
        api.post("/v1/payments/cheques")
            .header("PSU-ID", LUC)
            .json(&payment_body("1.00", "A6"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, tpp_code(&error)),
        (StatusCode::NOT_FOUND, "PRODUCT_UNKNOWN")
    );
    assert!(sandbox.ledger().payments(LUC).iter().all(|p| !matches!(
        p.payment.kind,
        psd2_fallback_engine::model::PaymentKind::Single(_)
    )));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_future_payment_can_be_cancelled_before_it_executes() {
    let sandbox = sandbox().await;
    let api = Api::new(&sandbox);
    let mut request = payment_body("50.00", "LATER-1");
    request["requestedExecutionDate"] = json!("2026-12-15");
    let (_, created) = body(
        api.post("/v1/payments/sepa-credit-transfers")
            .header("PSU-ID", LUC)
            .json(&request)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let base = format!(
        "/v1/payments/sepa-credit-transfers/{}",
        created["paymentId"].as_str().unwrap()
    );
    assert_eq!(api.sign(&base, LUC).await, "finalised");
    let consent = api.consent(LUC, 4).await;
    let (_, pending) = body(
        api.get("/v1/accounts/acc-03/transactions?dateFrom=2026-11-01&bookingStatus=pending")
            .header("Consent-ID", &consent)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        pending["transactions"]["pending"][0]["endToEndId"],
        "LATER-1"
    );
    assert_eq!(
        api.delete(&base).send().await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    let (_, status) = body(api.get(&format!("{base}/status")).send().await.unwrap()).await;
    assert_eq!(status["transactionStatus"], "CANC");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn standing_orders_are_created_listed_and_cancelled() {
    let sandbox = sandbox().await;
    let api = Api::new(&sandbox);
    let mut request = payment_body("15.00", "SO-TEST-1");
    request["startDate"] = json!("2026-12-01");
    request["frequency"] = json!("Monthly");
    request["dayOfExecution"] = json!("1");
    request["executionRule"] = json!("following");
    let (status, created) = body(
        api.post("/v1/periodic-payments/sepa-credit-transfers")
            .header("PSU-ID", LUC)
            .json(&request)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let base = format!(
        "/v1/periodic-payments/sepa-credit-transfers/{}",
        created["paymentId"].as_str().unwrap()
    );
    assert_eq!(api.sign(&base, LUC).await, "finalised");
    let (_, detail) = body(api.get(&base).send().await.unwrap()).await;
    assert_eq!(
        (
            detail["frequency"].as_str(),
            detail["startDate"].as_str(),
            detail["transactionStatus"].as_str()
        ),
        (Some("Monthly"), Some("2026-12-01"), Some("ACTC"))
    );
    let mut bad = request.clone();
    bad["frequency"] = json!("Fortnightly");
    let (status, error) = body(
        api.post("/v1/periodic-payments/sepa-credit-transfers")
            .header("PSU-ID", LUC)
            .json(&bad)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, error["tppMessages"][0]["path"].as_str()),
        (StatusCode::BAD_REQUEST, Some("frequency"))
    );
    assert_eq!(
        api.delete(&base).send().await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    let (_, status) = body(api.get(&format!("{base}/status")).send().await.unwrap()).await;
    assert_eq!(status["transactionStatus"], "CANC");
    // The path's payment service must match the resource.
    let single_path = base.replace("periodic-payments", "payments");
    assert_eq!(
        api.get(&single_path).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_payment_file_is_uploaded_signed_and_executed() {
    let sandbox = sandbox().await;
    let api = Api::new(&sandbox);
    let xml = pain001(
        LUC_IBAN,
        &[
            ("Alpha", "BE71096123456769", "10.00"),
            ("Beta", "BE71096123456769", "20.50"),
        ],
        "2026-11-23",
    );
    let upload = |xml: String| {
        api.post("/v1/bulk-payments/pain.001-sepa-credit-transfers")
            .header("PSU-ID", LUC)
            .header("Content-Type", "application/xml")
            .body(xml)
    };
    let (status, created) = body(upload(xml.clone()).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let base = format!(
        "/v1/bulk-payments/pain.001-sepa-credit-transfers/{}",
        created["paymentId"].as_str().unwrap()
    );
    assert_eq!(api.sign(&base, LUC).await, "finalised");
    assert!(wait_for_status(&api, &base, "ACSC").await);
    let (_, detail) = body(api.get(&base).send().await.unwrap()).await;
    assert_eq!(detail["numberOfTransactions"], 2);
    assert!(
        detail["payments"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["transactionStatus"] == "ACSC")
    );

    let wrong_sum = xml.replacen("<CtrlSum>30.50</CtrlSum>", "<CtrlSum>31.00</CtrlSum>", 1);
    let (status, error) = body(upload(wrong_sum).send().await.unwrap()).await;
    assert_eq!(
        (status, tpp_code(&error)),
        (StatusCode::BAD_REQUEST, "FORMAT_ERROR")
    );
    assert!(
        error["tppMessages"][0]["text"]
            .as_str()
            .unwrap()
            .contains("GrpHdr/CtrlSum"),
        "{error}"
    );
    let foreign = pain001(
        "BE68539007547034",
        &[("Alpha", "BE71096123456769", "1.00")],
        "2026-11-23",
    );
    let (status, error) = body(upload(foreign).send().await.unwrap()).await;
    assert_eq!(
        (status, error["tppMessages"][0]["path"].as_str()),
        (StatusCode::BAD_REQUEST, Some("DbtrAcct"))
    );
    let as_json = api
        .post("/v1/bulk-payments/pain.001-sepa-credit-transfers")
        .header("PSU-ID", LUC)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(as_json.status(), StatusCode::BAD_REQUEST);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn funds_confirmation_answers_a_boolean() {
    let sandbox = sandbox().await;
    let api = Api::new(&sandbox);
    let ask = |amount: &str| {
        api.post("/v1/funds-confirmations").json(&json!({"account": {"iban": LUC_IBAN}, "instructedAmount": {"currency": "EUR", "amount": amount}}))
    };
    let (status, yes) = body(ask("10.00").send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    // A boolean, as the schema says — not the string some mock servers echo from the examples.
    assert_eq!(yes["fundsAvailable"], json!(true));
    let (_, no) = body(ask("999999.00").send().await.unwrap()).await;
    assert_eq!(no["fundsAvailable"], json!(false));
    sandbox.shutdown().await;
}

/// Every API fault, seen from outside the way a client sees it.
#[tokio::test]
async fn every_api_fault_is_observable() {
    let sandbox = sandbox().await;
    // Straight to the port: a closed port cannot be seen through a proxy.
    let api = Api::direct(&sandbox, Duration::from_millis(400));
    let consent = Api::new(&sandbox).consent(ANNA, 100).await;
    let read = || {
        api.get("/v1/accounts/acc-01/balances")
            .header("Consent-ID", &consent)
            .send()
    };

    assert_eq!(read().await.unwrap().status(), StatusCode::OK);

    sandbox.set_api_fault(ApiFault::Down);
    let (status, error) = body(read().await.unwrap()).await;
    assert_eq!(
        (status, tpp_code(&error)),
        (StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE")
    );

    sandbox.set_api_fault(ApiFault::Refuse);
    let refused = wait_until(|| async { read().await.is_err_and(|e| e.is_connect()) }).await;
    assert!(refused, "the port stayed open");
    sandbox.set_api_fault(ApiFault::Up);
    assert!(
        wait_until(|| async { read().await.is_ok_and(|r| r.status() == StatusCode::OK) }).await,
        "the port never reopened"
    );

    sandbox.set_api_fault(ApiFault::Hang);
    let hung = read().await.unwrap_err();
    assert!(hung.is_timeout(), "{hung:?}");
    let payments_before = sandbox.ledger().payments(LUC).len();
    let hung_write = api
        .post("/v1/payments/sepa-credit-transfers")
        .header("PSU-ID", LUC)
        .json(&payment_body("1.00", "HANG-1"))
        .send()
        .await
        .unwrap_err();
    assert!(hung_write.is_timeout());
    assert_eq!(
        sandbox.ledger().payments(LUC).len(),
        payments_before,
        "a hung request was executed"
    );

    sandbox.set_api_fault(ApiFault::Slow { ms: 1_000 });
    assert!(read().await.unwrap_err().is_timeout());
    let patient = Api::new(&sandbox);
    assert_eq!(
        patient
            .get("/v1/accounts/acc-01/balances")
            .header("Consent-ID", &consent)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );

    sandbox.set_api_fault(ApiFault::Garbage);
    let garbage = read().await.unwrap();
    assert_eq!(garbage.status(), StatusCode::OK);
    assert!(serde_json::from_slice::<Value>(&garbage.bytes().await.unwrap()).is_err());

    sandbox.set_api_fault(ApiFault::Flap { period_ms: 150 });
    let mut seen = BTreeSet::new();
    for _ in 0..40 {
        seen.insert(read().await.unwrap().status().as_u16());
        if seen.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    assert_eq!(seen, BTreeSet::from([200, 503]));

    sandbox.set_api_fault(ApiFault::ProcessedButNoAnswer);
    let lost = api
        .post("/v1/payments/sepa-credit-transfers")
        .header("PSU-ID", LUC)
        .json(&payment_body("2.00", "LOST-1"))
        .send()
        .await
        .unwrap_err();
    assert!(
        !lost.is_timeout() && !lost.is_connect(),
        "the connection should close without an answer: {lost:?}"
    );
    let recorded = sandbox
        .ledger()
        .find_by_end_to_end_id(LUC, "LOST-1")
        .expect("the payment was executed");
    assert_eq!(recorded.status, PaymentStatus::Received);

    sandbox.set_api_fault(ApiFault::Up);
    assert_eq!(read().await.unwrap().status(), StatusCode::OK);
    sandbox.shutdown().await;
}

async fn wait_until<F, Fut>(mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if condition().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn faults_are_set_through_the_admin_route() {
    let sandbox = sandbox().await;
    let http = reqwest::Client::new();
    let admin = format!("{}/_sandbox/faults/api", sandbox.web_url());
    let set = http
        .put(&admin)
        .json(&json!({"mode": "slow", "ms": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), StatusCode::OK);
    assert_eq!(sandbox.api_fault(), ApiFault::Slow { ms: 5 });
    let got: Value = http.get(&admin).send().await.unwrap().json().await.unwrap();
    assert_eq!(got, json!({"mode": "slow", "ms": 5}));
    let bad = http
        .put(&admin)
        .json(&json!({"mode": "sideways"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert!(bad.text().await.unwrap().contains("sideways"));
    http.put(&admin)
        .json(&json!({"mode": "down"}))
        .send()
        .await
        .unwrap();
    let api = Api::new(&sandbox);
    assert_eq!(
        api.get("/v1/accounts").send().await.unwrap().status(),
        StatusCode::SERVICE_UNAVAILABLE
    );

    let clock = format!("{}/_sandbox/clock", sandbox.web_url());
    let moved: Value = http
        .put(&clock)
        .json(&json!({"today": "2026-11-30"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(moved["today"], "2026-11-30");
    assert_eq!(sandbox.ledger().today(), TODAY + time::Duration::days(7));
    let back = http
        .put(&clock)
        .json(&json!({"today": "2026-11-01"}))
        .send()
        .await
        .unwrap();
    assert_eq!(back.status(), StatusCode::BAD_REQUEST);
    let _ = PaymentId::new("unused");
    sandbox.shutdown().await;
}
