//! Isolation by (caller, consent) in the service, through the API and through the website: two
//! callers, two customers. Each check is made with the API up and again with it gated down (served by
//! the website), and must get the same answer: what the bank's API refuses, the website refuses too.
//!
//! Regressions of the isolation defects: (1) the website ignored consents (a rejected consent read
//! everything, a one-account consent read all accounts, a new consent was valid without SCA); (2)
//! passwords were kept per customer, so any caller's authorisation — even with a wrong password —
//! replaced them; (3) funds confirmation needed no consent and took any `PSU-ID`.

use psd2_fallback_engine::model::{
    Amount, ConsentAccess, ConsentId, ConsentRequest, EndToEndId, Iban, PaymentProduct,
    PaymentRequest, ScaAnswer, ScaStatus, ScaTarget,
};
use psd2_fallback_engine::{Bank, BankError};
use psd2_fallback_service::ServiceLimits;
use rust_decimal::dec;
use serde_json::{Value, json};
use time::Duration as Days;

use crate::support::service::{TOKEN_A, TOKEN_B, api_bank, fast_health, screen_channel, start};
use crate::support::{TODAY, ibans, psu, sandbox, sign};

const ANNA: &str = "1000001";
const LUC: &str = "1000002";

fn consent_request(access: ConsentAccess) -> ConsentRequest {
    ConsentRequest {
        access,
        recurring: true,
        valid_until: TODAY + Days::days(90),
        frequency_per_day: 4,
    }
}

/// One request of a caller and the answer it must get: the status and, for a refusal, the code.
struct Case {
    what: &'static str,
    token: &'static str,
    method: reqwest::Method,
    path: String,
    consent: Option<String>,
    body: Option<Value>,
    status: u16,
    code: Option<&'static str>,
}

async fn check(http: &reqwest::Client, base: &str, cases: &[Case], mode: &str) {
    for case in cases {
        let mut request = http
            .request(case.method.clone(), format!("{base}{}", case.path))
            .bearer_auth(case.token)
            .header("X-Request-ID", uuid::Uuid::new_v4().to_string())
            .header("PSU-IP-Address", "192.0.2.7");
        if let Some(consent) = &case.consent {
            request = request.header("Consent-ID", consent);
        }
        if let Some(body) = &case.body {
            request = request.json(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let code = body["tppMessages"][0]["code"].as_str();
        assert_eq!(
            (status, code),
            (case.status, case.code),
            "{mode}: {}: {body}",
            case.what
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_isolation_two_callers_two_customers_get_what_the_api_gives_on_both_channels() {
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
    let base = service.bank_url();
    let a = api_bank(&base, Some(TOKEN_A));
    let b = api_bank(&base, Some(TOKEN_B));
    let anna = psu(ANNA);
    let (anna_ibans, luc_ibans) = (ibans(&sandbox, ANNA), ibans(&sandbox, LUC));

    // Caller A: a valid consent on all of Anna's accounts.
    let full = a
        .create_consent(
            &anna,
            &consent_request(ConsentAccess::full(anna_ibans.clone())),
        )
        .await
        .unwrap();
    assert_eq!(
        sign(&a, &anna, &ScaTarget::Consent(full.clone())).await,
        ScaStatus::Finalised
    );
    // Caller B: a valid consent on Anna's first account only.
    let one = b
        .create_consent(
            &anna,
            &consent_request(ConsentAccess::full(vec![anna_ibans[0].clone()])),
        )
        .await
        .unwrap();
    assert_eq!(
        sign(&b, &anna, &ScaTarget::Consent(one.clone())).await,
        ScaStatus::Finalised
    );
    // Caller B: a consent whose SCA was answered wrongly, so the bank never made it valid.
    let refused = b
        .create_consent(
            &anna,
            &consent_request(ConsentAccess::full(anna_ibans.clone())),
        )
        .await
        .unwrap();
    let target = ScaTarget::Consent(refused.clone());
    let challenge = b
        .start_authorisation(&anna, &target)
        .await
        .unwrap()
        .into_challenge()
        .unwrap();
    let wrong = b
        .authorise(
            &anna,
            &target,
            &challenge.authorisation_id,
            &ScaAnswer::new("00000000".to_owned()),
        )
        .await;
    assert!(
        !matches!(wrong, Ok(ScaStatus::Finalised)),
        "a wrong answer is not finalised: {wrong:?}"
    );
    // Caller B: a consent authorised with a wrong password: refused, and A's password is untouched.
    let guessed = b
        .create_consent(
            &anna,
            &consent_request(ConsentAccess::full(anna_ibans.clone())),
        )
        .await
        .unwrap();
    let mut guessing = anna.clone();
    guessing.password = Some(secrecy::SecretString::from("not-annas-password".to_owned()));
    assert!(
        b.start_authorisation(&guessing, &ScaTarget::Consent(guessed.clone()))
            .await
            .is_err()
    );

    // Caller A: a valid consent of Luc's (A now holds Luc's proven password; B never did).
    let luc = psu(LUC);
    let lucs = a
        .create_consent(
            &luc,
            &consent_request(ConsentAccess::full(luc_ibans.clone())),
        )
        .await
        .unwrap();
    assert_eq!(
        sign(&a, &luc, &ScaTarget::Consent(lucs)).await,
        ScaStatus::Finalised
    );

    let http = reqwest::Client::new();
    let accounts = |token, consent: &ConsentId, status, code| Case {
        what: "accounts",
        token,
        method: reqwest::Method::GET,
        path: "/v1/accounts".to_owned(),
        consent: Some(consent.as_str().to_owned()),
        body: None,
        status,
        code,
    };
    let balances = |what, token, consent: &ConsentId, account: &str, status, code| Case {
        what,
        token,
        method: reqwest::Method::GET,
        path: format!("/v1/accounts/{account}/balances"),
        consent: Some(consent.as_str().to_owned()),
        body: None,
        status,
        code,
    };
    let funds = |what, consent: Option<&ConsentId>, iban: &Iban, status, code| Case {
        what,
        token: TOKEN_B,
        method: reqwest::Method::POST,
        path: "/v1/funds-confirmations".to_owned(),
        consent: consent.map(|c| c.as_str().to_owned()),
        body: Some(json!({
            "account": {"iban": iban.as_str()},
            "instructedAmount": {"currency": "EUR", "amount": "1.00"},
        })),
        status,
        code,
    };
    let cases = vec![
        accounts(TOKEN_A, &full, 200, None),
        accounts(TOKEN_B, &one, 200, None),
        accounts(TOKEN_B, &full, 403, Some("CONSENT_UNKNOWN")),
        accounts(TOKEN_B, &refused, 401, Some("CONSENT_INVALID")),
        accounts(TOKEN_B, &guessed, 401, Some("CONSENT_INVALID")),
        balances("A's balances", TOKEN_A, &full, "acc-02", 200, None),
        balances("B in scope", TOKEN_B, &one, "acc-01", 200, None),
        balances(
            "B out of scope",
            TOKEN_B,
            &one,
            "acc-02",
            401,
            Some("CONSENT_INVALID"),
        ),
        balances(
            "B under a refused consent",
            TOKEN_B,
            &refused,
            "acc-01",
            401,
            Some("CONSENT_INVALID"),
        ),
        funds("funds in scope", Some(&one), &anna_ibans[0], 200, None),
        funds(
            "funds out of scope",
            Some(&one),
            &anna_ibans[1],
            401,
            Some("CONSENT_INVALID"),
        ),
        funds(
            "funds of another customer",
            Some(&one),
            &luc_ibans[0],
            401,
            Some("CONSENT_INVALID"),
        ),
        funds(
            "funds without a consent",
            None,
            &luc_ibans[0],
            400,
            Some("FORMAT_ERROR"),
        ),
    ];
    check(&http, &base, &cases, "api").await;
    let api_answer: Value = http
        .get(format!("{base}/v1/accounts"))
        .bearer_auth(TOKEN_B)
        .header("X-Request-ID", uuid::Uuid::new_v4().to_string())
        .header("Consent-ID", one.as_str())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    // The API goes down: the website answers, and refuses, the same.
    service.gate.set_down(true);
    check(&http, &base, &cases, "website").await;
    let site_answer: Value = http
        .get(format!("{base}/v1/accounts"))
        .bearer_auth(TOKEN_B)
        .header("X-Request-ID", uuid::Uuid::new_v4().to_string())
        .header("Consent-ID", one.as_str())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(site_answer["accounts"].as_array().unwrap().len(), 1);
    assert_eq!(
        site_answer, api_answer,
        "a one-account consent lists one account"
    );

    // Caller B never authorised anything for Luc: the website does not log in as Luc for B with the
    // password A's authorisation proved.
    let from_luc = PaymentRequest {
        product: PaymentProduct::SepaCreditTransfer,
        debtor: luc_ibans[0].clone(),
        creditor_name: "Anna Janssens".into(),
        creditor: anna_ibans[0].clone(),
        amount: Amount::eur(dec!(3.00)).unwrap(),
        remittance: Some("not B's to make".into()),
        requested_execution_date: None,
        end_to_end_id: EndToEndId::generate(),
    };
    match b.initiate_payment(&luc, &from_luc).await {
        Err(BankError::Rejected { code, message }) => {
            assert_eq!(code, "FORMAT_ERROR", "{message}");
            assert!(message.contains("password"), "{message}");
        }
        other => panic!("B must not pay from Luc's account with A's password: {other:?}"),
    }

    // On the website too, a wrong password is refused and replaces nothing: A still reads (logging in
    // again with its own), B's consent stays unusable.
    let guessed_on_site = b
        .create_consent(
            &anna,
            &consent_request(ConsentAccess::full(anna_ibans.clone())),
        )
        .await
        .unwrap();
    assert!(
        b.start_authorisation(&guessing, &ScaTarget::Consent(guessed_on_site.clone()))
            .await
            .is_err()
    );
    check(
        &http,
        &base,
        &[
            balances("A after B's guess", TOKEN_A, &full, "acc-01", 200, None),
            accounts(TOKEN_B, &guessed_on_site, 401, Some("CONSENT_INVALID")),
        ],
        "website, after a wrong password",
    )
    .await;

    // A consent made while the API is down is not valid until its own SCA, although sessions of
    // the same customer are logged in; after it, it reads.
    let fresh = b
        .create_consent(
            &anna,
            &consent_request(ConsentAccess::full(anna_ibans.clone())),
        )
        .await
        .unwrap();
    check(
        &http,
        &base,
        &[accounts(TOKEN_B, &fresh, 401, Some("CONSENT_INVALID"))],
        "website, new consent",
    )
    .await;
    assert_eq!(
        sign(&b, &anna, &ScaTarget::Consent(fresh.clone())).await,
        ScaStatus::Finalised
    );
    check(
        &http,
        &base,
        &[accounts(TOKEN_B, &fresh, 200, None)],
        "website, new consent signed",
    )
    .await;
    service.stop().await;
    sandbox.shutdown().await;
}
