//! The OAuth2 SCA approach (Berlin Group `OAUTH`) over real HTTP: the sandbox bank in `--sca oauth2`
//! (its metadata, authorization page and token endpoint), the engine's API client building the
//! authorization request with its own PKCE verifier and exchanging and renewing tokens, and the
//! service passing it to an XS2A client that follows only what the answers say: send the customer
//! to `_links.scaRedirect`, hand the code that comes back to `_links.confirmation`.

use std::sync::Arc;
use std::time::Duration;

use psd2_fallback_engine::model::{
    AuthorisationCode, PaymentStatus, ScaPreference, ScaStatus, ScaStep, ScaTarget,
};
use psd2_fallback_engine::{Bank, BankError, PsuContext};
use psd2_fallback_sandbox::{Sandbox, SandboxConfig, SandboxSca, card_reader_response};
use psd2_fallback_service::ServiceLimits;
use serde_json::{Value, json};

use crate::sca::{consent as new_consent, payment};
use crate::support::service::{TOKEN_A, api_bank, fast_health, start};
use crate::support::{TODAY, password, psu};

const ANNA: &str = "1000001";
const LUC: &str = "1000002";

async fn oauth_sandbox(access_token_expiry: Duration) -> Sandbox {
    Sandbox::start(SandboxConfig {
        today: Some(TODAY),
        settle_after: Duration::from_millis(200),
        sca: SandboxSca::OAuth2,
        access_token_expiry,
        ..SandboxConfig::default()
    })
    .await
    .expect("the sandbox starts")
}

/// A customer, present, who gives no password, and the TPP's redirect URI for them.
fn customer(number: &str) -> PsuContext {
    let mut psu = psu(number);
    psu.password = None;
    psu.sca = ScaPreference {
        redirect_uri: Some(format!("https://tpp.example/back/{number}")),
        ..ScaPreference::default()
    };
    psu
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The query parameters of a URL.
fn query(url: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn param(url: &str, name: &str) -> Option<String> {
    query(url)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// The customer at the bank's authorization page: logs in, answers the card reader, and is sent
/// back; the `Location` of the return (the TPP's redirect URI with `code` and `state`).
async fn authorise_at_bank(authorization_url: &str, number: &str) -> String {
    let browser = browser();
    let page = browser.get(authorization_url).send().await.unwrap();
    assert_eq!(page.status(), 200, "the authorization page opens");
    let page = page.text().await.unwrap();
    assert!(!page.contains("psuData"));
    let marker = "data-challenge=\"";
    let start = page.find(marker).expect("the page shows a challenge") + marker.len();
    let challenge = &page[start..start + 8];
    let mut form = query(authorization_url);
    form.push(("password".to_owned(), password(number).to_owned()));
    form.push((
        "response".to_owned(),
        card_reader_response(number, challenge),
    ));
    form.push(("action".to_owned(), "sign".to_owned()));
    let endpoint = authorization_url.split('?').next().unwrap();
    let back = browser.post(endpoint).form(&form).send().await.unwrap();
    assert_eq!(back.status(), 303);
    back.headers()["location"].to_str().unwrap().to_owned()
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

/// One customer's OAuth2 authorisation of `resource` (a consent or payment URL in the service), as
/// an XS2A client does it from the service's answers alone; the final `scaStatus`.
async fn authorise_through_service(
    http: &reqwest::Client,
    sandbox: &Sandbox,
    service_url: &str,
    resource: &str,
    number: &str,
) -> String {
    let redirect_uri = format!("https://tpp.example/back/{number}");
    let started = call(
        http,
        reqwest::Method::POST,
        format!("{resource}/authorisations"),
        number,
    )
    .header("TPP-Redirect-URI", &redirect_uri)
    .send()
    .await
    .unwrap();
    assert_eq!(started.status(), 201);
    assert_eq!(
        started.headers()["ASPSP-SCA-Approach"],
        "REDIRECT",
        "OAuth2 is subsumed by REDIRECT"
    );
    let body: Value = started.json().await.unwrap();
    let text = body.to_string();
    assert!(
        !text.contains("password") && !text.contains("psuData"),
        "no password is asked for: {text}"
    );
    assert_eq!(body["scaStatus"], "received");
    assert_eq!(
        body["_links"]["scaOAuth"]["href"],
        format!(
            "{}/.well-known/oauth-authorization-server",
            sandbox.api_url()
        ),
        "the bank's metadata, passed through"
    );
    let authorization = body["_links"]["scaRedirect"]["href"].as_str().unwrap();
    assert!(authorization.starts_with(&format!("{}/oauth/authorize?", sandbox.web_url())));
    assert_eq!(
        param(authorization, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert_eq!(
        param(authorization, "redirect_uri").as_deref(),
        Some(redirect_uri.as_str())
    );
    assert!(param(authorization, "code_verifier").is_none());
    let confirmation = body["_links"]["confirmation"]["href"].as_str().unwrap();

    let back = authorise_at_bank(authorization, number).await;
    assert!(back.starts_with(&redirect_uri), "{back}");
    let code = param(&back, "code").expect("a code");
    let state = param(&back, "state").expect("the state");
    assert_eq!(Some(&state), param(authorization, "state").as_ref());

    let confirmed = call(
        http,
        reqwest::Method::PUT,
        format!("{service_url}{confirmation}"),
        number,
    )
    .json(&json!({ "confirmationCode": code, "state": state }))
    .send()
    .await
    .unwrap();
    assert_eq!(confirmed.status(), 200);
    let confirmed: Value = confirmed.json().await.unwrap();
    confirmed["scaStatus"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn consents_and_payments_of_two_customers_complete_through_the_service_with_oauth2() {
    let sandbox = oauth_sandbox(Duration::from_secs(300)).await;
    let stand_in = Arc::new(api_bank(&sandbox.api_url(), None));
    let service = start(&sandbox, stand_in, ServiceLimits::default(), fast_health()).await;
    let client = api_bank(&service.bank_url(), Some(TOKEN_A));
    let http = reqwest::Client::new();

    let one = |number: &'static str| {
        let (client, http, sandbox, service) = (&client, &http, &sandbox, &service);
        async move {
            let psu = customer(number);
            let consent = new_consent(client, sandbox, &psu).await;
            let resource = format!("{}/v1/consents/{consent}", service.bank_url());
            let status =
                authorise_through_service(http, sandbox, &service.url, &resource, number).await;
            assert_eq!(status, "finalised", "{number}'s consent");
            // The service's client sends the consent's access token; the bank requires it.
            let reader = psu.clone().with_consent(consent.clone());
            let accounts = client.accounts(&reader).await.unwrap();
            assert!(!accounts.is_empty());
            let direct = reqwest::Client::new()
                .get(format!("{}/v1/accounts", sandbox.api_url()))
                .header("X-Request-ID", uuid::Uuid::new_v4().to_string())
                .header("Consent-ID", consent.as_str())
                .send()
                .await
                .unwrap();
            assert_eq!(direct.status(), 401, "the bank wants the bearer");
            assert!(direct.text().await.unwrap().contains("TOKEN_INVALID"));

            let paid = payment(client, sandbox, &psu).await;
            let resource = format!(
                "{}/v1/payments/sepa-credit-transfers/{}",
                service.bank_url(),
                paid.id
            );
            let status =
                authorise_through_service(http, sandbox, &service.url, &resource, number).await;
            assert_eq!(status, "finalised", "{number}'s payment");
            let after = client.payment_status(&psu, &paid).await.unwrap();
            assert!(
                !matches!(after, PaymentStatus::Received | PaymentStatus::Rejected),
                "{after:?}"
            );
        }
    };
    tokio::join!(one(ANNA), one(LUC));
    service.stop().await;
    sandbox.shutdown().await;
}

/// Starts an OAuth2 authorisation of `target` with the engine's client straight on the bank, and
/// lets the customer authorise: the step, and the code and state sent back.
async fn authorised(
    bank: &dyn Bank,
    psu: &PsuContext,
    target: &ScaTarget,
) -> (ScaStep, String, String) {
    let step = bank.start_authorisation(psu, target).await.unwrap();
    let ScaStep::OAuth {
        authorization: Some(authorization),
        ..
    } = &step
    else {
        panic!("an OAuth2 step with its request, {step:?} given");
    };
    let back = authorise_at_bank(&authorization.url, psu.psu_id.as_str()).await;
    let code = param(&back, "code").unwrap();
    let state = param(&back, "state").unwrap();
    (step, code, state)
}

#[tokio::test]
async fn a_foreign_state_a_reused_code_and_a_wrong_verifier_are_refused_clearly() {
    let sandbox = oauth_sandbox(Duration::from_secs(300)).await;
    let bank = api_bank(&sandbox.api_url(), None);
    let anna = customer(ANNA);
    let consent = new_consent(&bank, &sandbox, &anna).await;
    let target = ScaTarget::Consent(consent.clone());
    let (step, code, state) = authorised(&bank, &anna, &target).await;
    let id = step.authorisation_id().unwrap().clone();
    let code = AuthorisationCode::new(code);
    assert_eq!(format!("{code:?}"), "AuthorisationCode(***)");

    // A state that is not the authorisation's is refused before anything is sent, naming the field,
    // and does not spend the authorisation.
    let foreign = bank
        .exchange_authorisation_code(&anna, &target, &id, &code, "someone-elses-state")
        .await
        .unwrap_err();
    assert!(foreign.is_caused_by_caller(), "{foreign}");
    assert!(foreign.to_string().contains("state"), "{foreign}");
    let status = bank
        .exchange_authorisation_code(&anna, &target, &id, &code, &state)
        .await
        .unwrap();
    assert_eq!(status, ScaStatus::Finalised);
    let reader = anna.clone().with_consent(consent.clone());
    assert!(!bank.accounts(&reader).await.unwrap().is_empty());

    // Handing the code over twice: the engine has spent it already.
    let twice = bank
        .exchange_authorisation_code(&anna, &target, &id, &code, &state)
        .await
        .unwrap_err();
    assert!(twice.to_string().contains("authorisationId"), "{twice}");

    // Someone replays the code at the bank (with any verifier): refused as RFC 6749 says, and the
    // tokens it bought are revoked, so the engine's reads now meet TOKEN_INVALID.
    let token_endpoint = format!("{}/oauth/token", sandbox.api_url());
    let replay = reqwest::Client::new()
        .post(&token_endpoint)
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code_text(&code)),
            ("redirect_uri", "https://tpp.example/back/1000001"),
            ("client_id", "psd2-fallback"),
            ("code_verifier", &"a".repeat(43)),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 400);
    let said: Value = replay.json().await.unwrap();
    assert_eq!(said["error"], "invalid_grant");
    assert!(
        said["error_description"]
            .as_str()
            .unwrap()
            .contains("already used")
    );
    match bank.accounts(&reader).await.unwrap_err() {
        BankError::Rejected { code, .. } => assert_eq!(code, "TOKEN_INVALID"),
        other => panic!("{other}"),
    }

    // An outsider's own request with a wrong verifier, and one without S256, as the bank sees them.
    let luc = customer(LUC);
    let luc_consent = new_consent(&bank, &sandbox, &luc).await;
    let raw = reqwest::Client::new();
    let started = raw
        .post(format!(
            "{}/v1/consents/{luc_consent}/authorisations",
            sandbox.api_url()
        ))
        .header("X-Request-ID", uuid::Uuid::new_v4().to_string())
        .header("PSU-ID", LUC)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        started.headers()["ASPSP-SCA-Approach"],
        "REDIRECT",
        "OAuth2 is subsumed by REDIRECT"
    );
    let started: Value = started.json().await.unwrap();
    let metadata: Value = raw
        .get(started["_links"]["scaOAuth"]["href"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        metadata["code_challenge_methods_supported"],
        json!(["S256"])
    );
    let endpoint = metadata["authorization_endpoint"].as_str().unwrap();
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let request = |method: &str| {
        let mut url = reqwest::Url::parse(endpoint).unwrap();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", "outsider")
            .append_pair("redirect_uri", "https://outsider.example/cb")
            .append_pair("scope", &format!("AIS:{luc_consent}"))
            .append_pair("state", "xyz")
            .append_pair(
                "code_challenge",
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            )
            .append_pair("code_challenge_method", method);
        url.to_string()
    };
    let plain = browser().get(request("plain")).send().await.unwrap();
    assert_eq!(plain.status(), 303);
    let refused = plain.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        refused.starts_with("https://outsider.example/cb?"),
        "{refused}"
    );
    assert_eq!(param(&refused, "error").as_deref(), Some("invalid_request"));
    assert_eq!(param(&refused, "state").as_deref(), Some("xyz"));
    let back = authorise_at_bank(&request("S256"), LUC).await;
    let luc_code = param(&back, "code").unwrap();
    let exchange = |verifier: String| {
        let (raw, token_endpoint, luc_code) =
            (raw.clone(), token_endpoint.clone(), luc_code.clone());
        async move {
            raw.post(&token_endpoint)
                .form(&[
                    ("grant_type", "authorization_code".to_owned()),
                    ("code", luc_code),
                    ("redirect_uri", "https://outsider.example/cb".to_owned()),
                    ("client_id", "outsider".to_owned()),
                    ("code_verifier", verifier),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let wrong = exchange("b".repeat(43)).await;
    assert_eq!(wrong.status(), 400);
    let said: Value = wrong.json().await.unwrap();
    assert_eq!(said["error"], "invalid_grant");
    assert!(
        said["error_description"]
            .as_str()
            .unwrap()
            .contains("code_verifier")
    );
    // The code was spent by the wrong try: the right verifier comes too late.
    let late = exchange(verifier.to_owned()).await;
    assert_eq!(late.status(), 400);
    sandbox.shutdown().await;
}

/// The code's text, for a test that replays it at the bank.
fn code_text(code: &AuthorisationCode) -> &str {
    use secrecy::ExposeSecret;
    code.secret().expose_secret()
}

#[tokio::test]
async fn an_expired_token_is_renewed_and_a_refused_renewal_asks_for_a_new_authorisation() {
    // The bank says a token lasts 1 s (it rounds up) but ends it after 0.4 s: the engine meets
    // TOKEN_EXPIRED first, then renews ahead of time.
    let sandbox = oauth_sandbox(Duration::from_millis(400)).await;
    let bank = api_bank(&sandbox.api_url(), None);
    let anna = customer(ANNA);
    let consent = new_consent(&bank, &sandbox, &anna).await;
    let target = ScaTarget::Consent(consent.clone());
    let (step, code, state) = authorised(&bank, &anna, &target).await;
    let id = step.authorisation_id().unwrap().clone();
    let status = bank
        .exchange_authorisation_code(&anna, &target, &id, &AuthorisationCode::new(code), &state)
        .await
        .unwrap();
    assert_eq!(status, ScaStatus::Finalised);
    let reader = anna.clone().with_consent(consent.clone());
    bank.accounts(&reader).await.unwrap();
    tokio::time::sleep(Duration::from_millis(550)).await;
    // Expired at the bank, not yet in the engine's eyes: 401 TOKEN_EXPIRED, renewed, sent again.
    bank.accounts(&reader).await.unwrap();
    tokio::time::sleep(Duration::from_millis(900)).await;
    // Due in the engine's eyes: renewed before it is sent.
    bank.accounts(&reader).await.unwrap();

    // The customer withdraws the TPP's access at the bank: the next renewal is refused, and the
    // engine says the consent must be authorised again.
    let revoked = reqwest::Client::new()
        .delete(format!(
            "{}/_sandbox/oauth/{ANNA}/refresh-tokens",
            sandbox.web_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let error = bank.accounts(&reader).await.unwrap_err();
    let BankError::ReauthenticationRequired { reason } = &error else {
        panic!("{error}");
    };
    assert!(reason.contains("invalid_grant"), "{reason}");
    assert!(reason.contains("authorise the consent again"), "{reason}");
    assert!(
        !reason.contains(consent.as_str()),
        "the consent id stays out: {reason}"
    );

    // A new consent, authorised, gives new tokens, and reading works again.
    let consent = new_consent(&bank, &sandbox, &anna).await;
    let target = ScaTarget::Consent(consent.clone());
    let reader = anna.clone().with_consent(consent);
    let (step, code, state) = authorised(&bank, &anna, &target).await;
    let id = step.authorisation_id().unwrap().clone();
    bank.exchange_authorisation_code(&anna, &target, &id, &AuthorisationCode::new(code), &state)
        .await
        .unwrap();
    bank.accounts(&reader).await.unwrap();
    sandbox.shutdown().await;
}

#[tokio::test]
async fn without_a_redirect_uri_the_oauth2_approach_is_refused_naming_the_header() {
    let sandbox = oauth_sandbox(Duration::from_secs(300)).await;
    let bank = api_bank(&sandbox.api_url(), None);
    let mut anna = customer(ANNA);
    anna.sca = ScaPreference::default();
    let consent = new_consent(&bank, &sandbox, &anna).await;
    let error = bank
        .start_authorisation(&anna, &ScaTarget::Consent(consent))
        .await
        .unwrap_err();
    assert!(error.is_caused_by_caller(), "{error}");
    assert!(error.to_string().contains("TPP-Redirect-URI"), "{error}");
    sandbox.shutdown().await;
}
