//! SCA as banks really do it, over real HTTP: the sandbox bank's redirect page and banking app, the
//! engine's API client reading each approach into its typed steps, and the service passing each
//! approach through to its callers in Berlin Group shape. No password is given where the approach
//! needs none.

use std::sync::Arc;
use std::time::Duration;

use psd2_fallback_engine::model::{
    ConsentAccess, ConsentId, ConsentRequest, ConsentStatus, Currency, EndToEndId, PaymentProduct,
    PaymentRef, PaymentRequest, PaymentStatus, ScaApproach, ScaPreference, ScaStatus, ScaStep,
    ScaTarget,
};
use psd2_fallback_engine::{Bank, PsuContext};
use psd2_fallback_sandbox::ledger::{EXPIRED, REFUSED_IN_APP};
use psd2_fallback_sandbox::{Sandbox, SandboxConfig, SandboxSca, card_reader_response};
use psd2_fallback_service::ServiceLimits;
use rust_decimal::dec;
use serde_json::Value;

use crate::support::service::{BANK, TOKEN_A, api_bank, fast_health, start};
use crate::support::{TODAY, password, psu};

const ANNA: &str = "1000001";
const LUC: &str = "1000002";

async fn sandbox_with(sca: SandboxSca, approval_expiry: Duration) -> Sandbox {
    Sandbox::start(SandboxConfig {
        today: Some(TODAY),
        settle_after: Duration::from_millis(200),
        sca,
        approval_expiry,
        ..SandboxConfig::default()
    })
    .await
    .expect("the sandbox starts")
}

/// A customer, present, who gives no password: the approach must not need one.
fn without_password(customer: &str, sca: ScaPreference) -> PsuContext {
    let mut psu = psu(customer);
    psu.password = None;
    psu.sca = sca;
    psu
}

fn decoupled() -> ScaPreference {
    ScaPreference {
        decoupled_preferred: Some(true),
        ..ScaPreference::default()
    }
}

fn redirect() -> ScaPreference {
    ScaPreference {
        redirect_preferred: Some(true),
        redirect_uri: Some("https://tpp.example/back?ok".to_owned()),
        nok_redirect_uri: Some("https://tpp.example/back?nok".to_owned()),
        ..ScaPreference::default()
    }
}

pub(crate) async fn consent(bank: &dyn Bank, sandbox: &Sandbox, psu: &PsuContext) -> ConsentId {
    let customer = psu.psu_id.as_str();
    bank.create_consent(
        psu,
        &ConsentRequest {
            access: ConsentAccess::full(vec![sandbox.ledger().accounts(customer)[0].iban.clone()]),
            recurring: true,
            valid_until: TODAY + time::Duration::days(90),
            frequency_per_day: 4,
        },
    )
    .await
    .unwrap()
}

pub(crate) async fn payment(bank: &dyn Bank, sandbox: &Sandbox, psu: &PsuContext) -> PaymentRef {
    let customer = psu.psu_id.as_str();
    let other = if customer == ANNA { LUC } else { ANNA };
    bank.initiate_payment(
        psu,
        &PaymentRequest {
            product: PaymentProduct::SepaCreditTransfer,
            debtor: sandbox.ledger().accounts(customer)[0].iban.clone(),
            creditor_name: "Someone".into(),
            creditor: sandbox.ledger().accounts(other)[0].iban.clone(),
            amount: psd2_fallback_engine::model::Amount::new(
                dec!(12.34),
                Currency::from_code("EUR").unwrap(),
            )
            .unwrap(),
            remittance: Some("sca test".into()),
            requested_execution_date: None,
            end_to_end_id: EndToEndId::generate(),
        },
    )
    .await
    .unwrap()
    .payment
}

/// The customer decides in the sandbox's banking app (`PUT /_sandbox/app/{customer}/{decision}`).
pub(crate) async fn in_app(sandbox: &Sandbox, customer: &str, decision: &str) -> reqwest::Response {
    reqwest::Client::new()
        .put(format!(
            "{}/_sandbox/app/{customer}/{decision}",
            sandbox.web_url()
        ))
        .send()
        .await
        .unwrap()
}

/// Polls an authorisation, at the step's pace, until it has ended (at most 10 s).
pub(crate) async fn poll_until_ended(
    bank: &dyn Bank,
    psu: &PsuContext,
    target: &ScaTarget,
    step: &ScaStep,
) -> psd2_fallback_engine::model::ScaProgress {
    let every = match step {
        ScaStep::Decoupled { poll_every, .. } => *poll_every,
        _ => Duration::from_millis(100),
    }
    .min(Duration::from_millis(100));
    let id = step.authorisation_id().expect("an authorisation");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let progress = bank.authorisation_status(psu, target, id).await.unwrap();
        if progress.has_ended() || tokio::time::Instant::now() > deadline {
            return progress;
        }
        tokio::time::sleep(every).await;
    }
}

#[tokio::test]
async fn decoupled_consents_of_two_customers_at_once_end_approved_and_refused() {
    let sandbox = sandbox_with(SandboxSca::Choice, Duration::from_secs(60)).await;
    let bank = api_bank(&sandbox.api_url(), None);
    let (anna, luc) = (
        without_password(ANNA, decoupled()),
        without_password(LUC, decoupled()),
    );
    let start = |psu: PsuContext| {
        let (bank, sandbox) = (&bank, &sandbox);
        async move {
            let consent = consent(bank, sandbox, &psu).await;
            let target = ScaTarget::Consent(consent.clone());
            let step = bank.start_authorisation(&psu, &target).await.unwrap();
            (psu, consent, target, step)
        }
    };
    let (a, l) = tokio::join!(start(anna), start(luc));
    for (_, _, _, step) in [&a, &l] {
        let ScaStep::Decoupled { message, .. } = step else {
            panic!("decoupled asked, {step:?} given");
        };
        assert_eq!(message, "Please confirm in your banking app");
    }
    let pending = bank
        .authorisation_status(&a.0, &a.2, a.3.authorisation_id().unwrap())
        .await
        .unwrap();
    assert_eq!(pending.status, ScaStatus::Started);
    // Each customer's app holds their own approval only.
    let waiting: Value = reqwest::get(format!("{}/_sandbox/app/{ANNA}", sandbox.web_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(waiting["pending"].as_array().unwrap().len(), 1);
    assert_eq!(
        waiting["pending"][0]["authorisationId"],
        a.3.authorisation_id().unwrap().as_str()
    );
    assert_eq!(in_app(&sandbox, ANNA, "approve").await.status(), 200);
    assert_eq!(in_app(&sandbox, LUC, "refuse").await.status(), 200);
    let (approved, refused) = tokio::join!(
        poll_until_ended(&bank, &a.0, &a.2, &a.3),
        poll_until_ended(&bank, &l.0, &l.2, &l.3)
    );
    assert_eq!(approved.status, ScaStatus::Finalised);
    assert_eq!(refused.status, ScaStatus::Failed);
    assert_eq!(refused.message.as_deref(), Some(REFUSED_IN_APP));
    assert_eq!(
        bank.consent_status(&a.0, &a.1).await.unwrap(),
        ConsentStatus::Valid
    );
    assert_eq!(
        bank.consent_status(&l.0, &l.1).await.unwrap(),
        ConsentStatus::Rejected
    );
    // Nothing waits in the app any more: another decision is refused, naming the customer.
    let again = in_app(&sandbox, ANNA, "approve").await;
    assert_eq!(again.status(), 404);
    assert!(again.text().await.unwrap().contains(ANNA));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_decoupled_payment_nobody_approves_expires_and_is_rejected() {
    let sandbox = sandbox_with(SandboxSca::Decoupled, Duration::from_millis(400)).await;
    let bank = api_bank(&sandbox.api_url(), None);
    // The bank decides: decoupled although the caller gave a password and asked for nothing.
    let anna = psu(ANNA);
    let paid = payment(&bank, &sandbox, &anna).await;
    let target = ScaTarget::Payment(paid.clone());
    let step = bank.start_authorisation(&anna, &target).await.unwrap();
    assert_eq!(step.approach(), ScaApproach::Decoupled);
    let ended = poll_until_ended(&bank, &anna, &target, &step).await;
    assert_eq!(ended.status, ScaStatus::Failed);
    assert_eq!(ended.message.as_deref(), Some(EXPIRED));
    assert_eq!(
        bank.payment_status(&anna, &paid).await.unwrap(),
        PaymentStatus::Rejected
    );
    // Too late to approve.
    assert_eq!(in_app(&sandbox, ANNA, "approve").await.status(), 404);
    sandbox.shutdown().await;
}

/// The bank's redirect page: its challenge, read from the page's markup.
fn challenge_on(page: &str) -> String {
    let marker = "data-challenge=\"";
    let start = page.find(marker).expect("the page shows a challenge") + marker.len();
    page[start..start + 8].to_owned()
}

#[tokio::test]
async fn a_redirect_returns_to_the_tpp_only_with_its_own_state() {
    let sandbox = sandbox_with(SandboxSca::Choice, Duration::from_secs(60)).await;
    let bank = api_bank(&sandbox.api_url(), None);
    let anna = without_password(ANNA, redirect());
    let paid = payment(&bank, &sandbox, &anna).await;
    let target = ScaTarget::Payment(paid.clone());
    let step = bank.start_authorisation(&anna, &target).await.unwrap();
    let ScaStep::Redirect { url, .. } = &step else {
        panic!("redirect asked, {step:?} given");
    };
    assert!(url.starts_with(&sandbox.web_url()), "{url}");
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let (page_url, state) = url.split_once("?state=").expect("the URL carries a state");
    // Another state, or none, finds no authorisation: neither the page nor the form.
    for wrong in [format!("{page_url}?state=guessed"), page_url.to_owned()] {
        assert_eq!(browser.get(&wrong).send().await.unwrap().status(), 404);
    }
    let page = browser.get(url).send().await.unwrap().text().await.unwrap();
    let response = card_reader_response(ANNA, &challenge_on(&page));
    let submit = |state: String, password: &'static str| {
        browser
            .post(page_url)
            .form(&[
                ("state", state),
                ("password", password.to_owned()),
                ("response", response.clone()),
                ("action", "sign".to_owned()),
            ])
            .send()
    };
    assert_eq!(
        submit("guessed".to_owned(), password(ANNA))
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        bank.authorisation_status(&anna, &target, step.authorisation_id().unwrap())
            .await
            .unwrap()
            .status,
        ScaStatus::Started,
        "a wrong state changes nothing"
    );
    let back = submit(state.to_owned(), password(ANNA)).await.unwrap();
    assert_eq!(back.status(), 303);
    assert_eq!(
        back.headers()["location"].to_str().unwrap(),
        "https://tpp.example/back?ok"
    );
    let ended = poll_until_ended(&bank, &anna, &target, &step).await;
    assert_eq!(ended.status, ScaStatus::Finalised);
    assert_ne!(
        bank.payment_status(&anna, &paid).await.unwrap(),
        PaymentStatus::Received
    );
    // Once signed, the page is closed.
    assert_eq!(
        submit(state.to_owned(), password(ANNA))
            .await
            .unwrap()
            .status(),
        409
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_redirect_cancelled_at_the_bank_returns_to_the_nok_uri_and_fails() {
    let sandbox = sandbox_with(SandboxSca::Redirect, Duration::from_secs(60)).await;
    let bank = api_bank(&sandbox.api_url(), None);
    let luc = without_password(LUC, redirect());
    let consent = consent(&bank, &sandbox, &luc).await;
    let target = ScaTarget::Consent(consent.clone());
    let step = bank.start_authorisation(&luc, &target).await.unwrap();
    let ScaStep::Redirect { url, .. } = &step else {
        panic!("redirect, {step:?} given");
    };
    let (page_url, state) = url.split_once("?state=").unwrap();
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let back = browser
        .post(page_url)
        .form(&[("state", state), ("action", "cancel")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        back.headers()["location"].to_str().unwrap(),
        "https://tpp.example/back?nok"
    );
    let ended = poll_until_ended(&bank, &luc, &target, &step).await;
    assert_eq!(ended.status, ScaStatus::Failed);
    assert_eq!(
        bank.consent_status(&luc, &consent).await.unwrap(),
        ConsentStatus::Rejected
    );
    sandbox.shutdown().await;
}

/// A raw call to the service, as an XS2A client would make it.
fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    customer: &str,
) -> reqwest::RequestBuilder {
    http.request(method, url)
        .bearer_auth(TOKEN_A)
        .header("X-Request-ID", uuid::Uuid::new_v4().to_string())
        .header("PSU-ID", customer)
        .header("PSU-IP-Address", "192.0.2.7")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_service_passes_each_approach_through_in_berlin_group_shape() {
    let sandbox = sandbox_with(SandboxSca::Choice, Duration::from_secs(60)).await;
    let stand_in = Arc::new(api_bank(&sandbox.api_url(), None));
    let service = start(&sandbox, stand_in, ServiceLimits::default(), fast_health()).await;
    let client = api_bank(&service.bank_url(), Some(TOKEN_A));
    let http = reqwest::Client::new();

    // Decoupled, as an XS2A client sees it on the wire: the approach header, the bank's message, and
    // the service's own link to poll.
    let anna = without_password(ANNA, decoupled());
    let consent = consent(&client, &sandbox, &anna).await;
    let base = format!("{}/v1/consents/{consent}", service.bank_url());
    let started = call(
        &http,
        reqwest::Method::POST,
        format!("{base}/authorisations"),
        ANNA,
    )
    .header("TPP-Decoupled-Preferred", "true")
    .send()
    .await
    .unwrap();
    assert_eq!(started.status(), 201);
    assert_eq!(started.headers()["ASPSP-SCA-Approach"], "DECOUPLED");
    let body: Value = started.json().await.unwrap();
    assert_eq!(body["psuMessage"], "Please confirm in your banking app");
    let poll = body["_links"]["scaStatus"]["href"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        poll.starts_with(&format!(
            "/banks/{BANK}/v1/consents/{consent}/authorisations/"
        )),
        "{poll}"
    );
    let status = |path: String| {
        let http = http.clone();
        let url = format!("{}{path}", service.url);
        async move {
            let answer: Value = call(&http, reqwest::Method::GET, url, ANNA)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            answer["scaStatus"].as_str().unwrap_or_default().to_owned()
        }
    };
    assert_eq!(status(poll.clone()).await, "started");
    assert_eq!(in_app(&sandbox, ANNA, "approve").await.status(), 200);
    assert_eq!(status(poll).await, "finalised");

    // A caller's bad preference is refused, naming the header.
    let refused = call(
        &http,
        reqwest::Method::POST,
        format!("{base}/authorisations"),
        ANNA,
    )
    .header("TPP-Decoupled-Preferred", "maybe")
    .send()
    .await
    .unwrap();
    assert_eq!(refused.status(), 400);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("TPP-Decoupled-Preferred")
    );

    // Redirect, through the engine's own client talking to the service: the bank's page, the TPP's
    // return URI, then the status polled through the service.
    let luc = without_password(LUC, redirect());
    let paid = payment(&client, &sandbox, &luc).await;
    let target = ScaTarget::Payment(paid.clone());
    let step = client.start_authorisation(&luc, &target).await.unwrap();
    let ScaStep::Redirect { url, .. } = &step else {
        panic!("redirect, {step:?} given");
    };
    assert!(
        url.starts_with(&sandbox.web_url()),
        "the bank's own page: {url}"
    );
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = browser.get(url).send().await.unwrap().text().await.unwrap();
    let (page_url, state) = url.split_once("?state=").unwrap();
    let back = browser
        .post(page_url)
        .form(&[
            ("state", state.to_owned()),
            ("password", password(LUC).to_owned()),
            ("response", card_reader_response(LUC, &challenge_on(&page))),
            ("action", "sign".to_owned()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        back.headers()["location"].to_str().unwrap(),
        "https://tpp.example/back?ok"
    );
    let ended = poll_until_ended(&client, &luc, &target, &step).await;
    assert_eq!(ended.status, ScaStatus::Finalised);
    assert_ne!(
        client.payment_status(&luc, &paid).await.unwrap(),
        PaymentStatus::Received
    );
    service.stop().await;
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_choice_of_method_leads_to_the_card_reader_or_the_app_through_the_service() {
    let sandbox = sandbox_with(SandboxSca::Methods, Duration::from_secs(60)).await;
    let stand_in = Arc::new(api_bank(&sandbox.api_url(), None));
    let service = start(&sandbox, stand_in, ServiceLimits::default(), fast_health()).await;
    let client = api_bank(&service.bank_url(), Some(TOKEN_A));
    let choose = |step: &ScaStep| match step {
        ScaStep::ChooseMethod { methods, .. } => methods
            .iter()
            .map(|m| (m.id.clone(), m.kind.clone()))
            .collect::<Vec<_>>(),
        other => panic!("a choice of methods, not {other:?}"),
    };
    let offered = vec![
        ("card-reader".to_owned(), "CHIP_OTP".to_owned()),
        ("app".to_owned(), "PUSH_OTP".to_owned()),
    ];

    // Anna chooses the card reader: a challenge, answered.
    let anna = psu(ANNA);
    let consent = consent(&client, &sandbox, &anna).await;
    let target = ScaTarget::Consent(consent.clone());
    let step = client.start_authorisation(&anna, &target).await.unwrap();
    assert_eq!(choose(&step), offered);
    let id = step.authorisation_id().unwrap().clone();
    let unknown = client
        .select_sca_method(&anna, &target, &id, "sms")
        .await
        .unwrap_err();
    assert!(
        unknown.to_string().contains("authenticationMethodId"),
        "{unknown}"
    );
    let challenge = client
        .select_sca_method(&anna, &target, &id, "card-reader")
        .await
        .unwrap()
        .into_challenge()
        .expect("the card reader's challenge");
    let answer =
        psd2_fallback_engine::model::ScaAnswer::new(card_reader_response(ANNA, &challenge.data));
    assert_eq!(
        client
            .authorise(&anna, &target, &id, &answer)
            .await
            .unwrap(),
        ScaStatus::Finalised
    );

    // Luc chooses the app: the authorisation becomes decoupled.
    let luc = psu(LUC);
    let paid = payment(&client, &sandbox, &luc).await;
    let target = ScaTarget::Payment(paid.clone());
    let step = client.start_authorisation(&luc, &target).await.unwrap();
    let id = step.authorisation_id().unwrap().clone();
    let step = client
        .select_sca_method(&luc, &target, &id, "app")
        .await
        .unwrap();
    assert_eq!(step.approach(), ScaApproach::Decoupled);
    assert_eq!(in_app(&sandbox, LUC, "approve").await.status(), 200);
    assert_eq!(
        poll_until_ended(&client, &luc, &target, &step).await.status,
        ScaStatus::Finalised
    );
    service.stop().await;
    sandbox.shutdown().await;
}
