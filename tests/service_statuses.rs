//! r11: a bank's refusal reaches the caller with the status it means: a 415 stays a 415 (not a 400), a
//! 429 stays a 429 with the bank's `Retry-After`, a 406 and a 409 stay what they are — on a read and on
//! a payment alike, always in the one `tppMessages` shape, and never as a reason to switch channels.

use std::sync::Arc;

use psd2_fallback_sandbox::ApiFault;
use psd2_fallback_service::ServiceLimits;
use serde_json::json;

use crate::support::sandbox;
use crate::support::service::{TOKEN_A, api_bank, fast_health, start};

const ANNA: &str = "1000001";

#[tokio::test]
async fn a_banks_refusal_reaches_the_caller_with_the_same_status() {
    let sandbox = sandbox().await;
    // The other channel is the bank's API too: whichever channel the service asked, the bank refuses.
    let stand_in = Arc::new(api_bank(&sandbox.api_url(), None));
    let service = start(&sandbox, stand_in, ServiceLimits::default(), fast_health()).await;
    // A consent of the caller's, made through the service.
    let client = api_bank(&service.bank_url(), Some(TOKEN_A));
    let anna = {
        let psu = crate::support::psu(ANNA);
        let request = psd2_fallback_engine::model::ConsentRequest {
            access: psd2_fallback_engine::model::ConsentAccess::full(
                (sandbox.ledger().accounts(ANNA).into_iter())
                    .map(|a| a.iban)
                    .collect(),
            ),
            recurring: true,
            valid_until: crate::support::TODAY + time::Duration::days(30),
            frequency_per_day: 4,
        };
        use psd2_fallback_engine::Bank;
        let id = client.create_consent(&psu, &request).await.unwrap();
        crate::support::sign(
            &client,
            &psu,
            &psd2_fallback_engine::model::ScaTarget::Consent(id.clone()),
        )
        .await;
        id
    };
    let debtor = sandbox.ledger().accounts(ANNA)[0].iban.as_str().to_owned();
    let creditor = sandbox.ledger().accounts("1000002")[0]
        .iban
        .as_str()
        .to_owned();
    let http = reqwest::Client::new();
    let read = || {
        http.get(format!("{}/banks/sandbox/v1/accounts", service.url))
            .bearer_auth(TOKEN_A)
            .header("X-Request-ID", uuid::Uuid::new_v4().to_string())
            .header("PSU-ID", ANNA)
            .header("PSU-IP-Address", "192.0.2.7")
            .header("Consent-ID", anna.as_str())
    };
    let pay = || {
        http.post(format!(
            "{}/banks/sandbox/v1/payments/sepa-credit-transfers",
            service.url
        ))
        .bearer_auth(TOKEN_A)
        .header("X-Request-ID", uuid::Uuid::new_v4().to_string())
        .header("PSU-ID", ANNA)
        .header("PSU-IP-Address", "192.0.2.7")
        .header("Consent-ID", anna.as_str())
        .json(&json!({
            "debtorAccount": {"iban": debtor},
            "instructedAmount": {"currency": "EUR", "amount": "1.00"},
            "creditorAccount": {"iban": creditor},
            "creditorName": "Luc Peeters",
        }))
    };
    // (bank's status, the caller's status, the caller's code)
    let cases = [
        (415, 415, "FORMAT_ERROR"),
        (429, 429, "ACCESS_EXCEEDED"),
        (406, 406, "REQUESTED_FORMATS_INVALID"),
        (409, 409, "STATUS_INVALID"),
        (400, 400, "FORMAT_ERROR"),
    ];
    let mut failures = Vec::new();
    for (bank, want, code) in cases {
        sandbox.set_api_fault(ApiFault::Answer { status: bank });
        for (what, request) in [("a read", read()), ("a payment", pay())] {
            let answer = request.send().await.unwrap();
            let status = answer.status().as_u16();
            let retry_after = answer
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            let body: serde_json::Value = answer.json().await.unwrap_or_default();
            let got = body["tppMessages"][0]["code"].as_str().unwrap_or_default();
            if status != want || got != code {
                failures.push(format!(
                    "bank {bank}, {what}: got {status} {got}, want {want} {code}: {body}"
                ));
            }
            if bank == 429 && retry_after.as_deref() != Some("7") {
                failures.push(format!(
                    "bank 429, {what}: Retry-After {retry_after:?}, want the bank's 7"
                ));
            }
        }
    }
    sandbox.set_api_fault(ApiFault::Up);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Refusals are answers: the bank never left its API.
    assert_eq!(
        service.health.mode(),
        psd2_fallback_engine::health::Mode::Api
    );
    service.stop().await;
    sandbox.shutdown().await;
}
