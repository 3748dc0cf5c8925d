//! Consents that do not list accounts — `availableAccounts`, `allPsd2` and the bank-offered consent
//! (three empty lists; the customer picks the accounts at SCA) — through the service, over real HTTP,
//! for two callers and two customers, with the API up and again gated down (served by the website).
//! The bodies sent and answered conform to the Berlin Group specification's JSON schema.

use psd2_fallback_engine::model::{Iban, ScaStatus, ScaTarget};
use psd2_fallback_service::ServiceLimits;
use serde_json::{Value, json};

use crate::support::conformance::spec;
use crate::support::service::{TOKEN_A, TOKEN_B, api_bank, fast_health, screen_channel, start};
use crate::support::{TODAY, ibans, psu, sandbox, sign};

const ANNA: &str = "1000001";
const LUC: &str = "1000002";

/// A consent body with this `access`, for 90 days and 4 unattended reads a day.
fn consent_body(access: Value) -> Value {
    json!({
        "access": access,
        "recurringIndicator": true,
        "validUntil": (TODAY + time::Duration::days(90)).to_string(),
        "frequencyPerDay": 4,
        "combinedServiceIndicator": false,
    })
}

/// What violates the specification's schema in a request body or an answer, beyond the known
/// deviations.
fn violations(method: &str, path: &str, request: Option<&Value>, answer: (u16, &Value)) -> String {
    let spec = spec();
    let op = spec.operation(method, path).unwrap();
    let mut found = Vec::new();
    if let Some(body) = request {
        let bytes = serde_json::to_vec(body).unwrap();
        found.extend(
            spec.check_request(op, "application/json", &bytes)
                .violations,
        );
    }
    let bytes = serde_json::to_vec(answer.1).unwrap();
    found.extend(
        spec.check_response(op, answer.0, "application/json", &bytes)
            .violations,
    );
    // Deviations the conformance suite lists and explains (the service leaves out a
    // `lastActionDate` it does not know) are not this test's.
    found
        .iter()
        .filter(|v| v.known().is_none())
        .map(|v| format!("{v:?}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A caller of the service over HTTP.
struct Caller<'a> {
    http: &'a reqwest::Client,
    base: &'a str,
    token: &'static str,
}

impl Caller<'_> {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        consent: Option<&str>,
        psu_id: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(self.token)
            .header("X-Request-ID", uuid::Uuid::new_v4().to_string())
            .header("PSU-IP-Address", "192.0.2.7");
        if let Some(consent) = consent {
            request = request.header("Consent-ID", consent);
        }
        if let Some(psu_id) = psu_id {
            request = request.header("PSU-ID", psu_id);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Makes a consent for `customer` with this `access` (checking both bodies against the spec),
    /// then signs it through the service as the customer would.
    async fn signed_consent(&self, customer: &str, access: Value) -> String {
        let body = consent_body(access);
        let (status, answer) = self
            .send(
                reqwest::Method::POST,
                "/v1/consents",
                None,
                Some(customer),
                Some(&body),
            )
            .await;
        assert_eq!(status, 201, "{answer}");
        assert_eq!(
            violations("POST", "/v1/consents", Some(&body), (status, &answer)),
            ""
        );
        let id = answer["consentId"].as_str().unwrap().to_owned();
        let client = api_bank(self.base, Some(self.token));
        let target = ScaTarget::Consent(psd2_fallback_engine::model::ConsentId::new(id.clone()));
        assert_eq!(
            sign(&client, &psu(customer), &target).await,
            ScaStatus::Finalised
        );
        id
    }

    /// `GET path` under a consent: the status and the first `tppMessages` code.
    async fn read(&self, path: &str, consent: &str) -> (u16, Option<String>, Value) {
        let (status, body) = self
            .send(reqwest::Method::GET, path, Some(consent), None, None)
            .await;
        let code = body["tppMessages"][0]["code"].as_str().map(str::to_owned);
        (status, code, body)
    }

    /// The consent as the service answers `GET /v1/consents/{id}`, checked against the spec.
    async fn consent(&self, id: &str) -> Value {
        let path = format!("/v1/consents/{id}");
        let (status, body) = self
            .send(reqwest::Method::GET, &path, None, None, None)
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(violations("GET", &path, None, (status, &body)), "");
        body
    }
}

/// The IBANs an accounts list shows.
fn listed(body: &Value) -> Vec<String> {
    let mut out: Vec<String> = body["accounts"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x["iban"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn sorted(ibans: &[Iban]) -> Vec<String> {
    let mut out: Vec<String> = ibans.iter().map(|i| i.as_str().to_owned()).collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r12_available_all_psd2_and_bank_offered_consents_reach_what_they_give_on_both_channels() {
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
    let http = reqwest::Client::new();
    let a = Caller {
        http: &http,
        base: &base,
        token: TOKEN_A,
    };
    let b = Caller {
        http: &http,
        base: &base,
        token: TOKEN_B,
    };
    let (anna, luc) = (ibans(&sandbox, ANNA), ibans(&sandbox, LUC));
    let anna_ids: Vec<String> = sandbox
        .ledger()
        .accounts(ANNA)
        .into_iter()
        .map(|a| a.id.to_string())
        .collect();
    let luc_id = sandbox.ledger().accounts(LUC)[0].id.to_string();
    // At the bank's consent screen Anna ticks her first account only.
    sandbox
        .ledger()
        .choose_offered_accounts(ANNA, vec![anna[0].clone()])
        .unwrap();

    let available = a
        .signed_consent(ANNA, json!({"availableAccounts": "allAccounts"}))
        .await;
    let everything = b
        .signed_consent(ANNA, json!({"allPsd2": "allAccounts"}))
        .await;
    let lucs = a
        .signed_consent(LUC, json!({"allPsd2": "allAccounts"}))
        .await;
    let offered = b
        .signed_consent(
            ANNA,
            json!({"accounts": [], "balances": [], "transactions": []}),
        )
        .await;

    // The consents as the service shows them: a scope stays a scope; the bank-offered one lists
    // what Anna ticked.
    assert_eq!(
        a.consent(&available).await["access"],
        json!({"availableAccounts": "allAccounts"})
    );
    assert_eq!(
        b.consent(&everything).await["access"],
        json!({"allPsd2": "allAccounts"})
    );
    let offered_access = b.consent(&offered).await["access"].clone();
    assert_eq!(
        offered_access["accounts"],
        json!([{"iban": anna[0].as_str()}]),
        "{offered_access}"
    );
    // Another caller reaches none of them.
    let (status, body) = a
        .send(
            reqwest::Method::GET,
            &format!("/v1/consents/{everything}"),
            None,
            None,
            None,
        )
        .await;
    assert_eq!(status, 403, "{body}");

    for mode in ["api", "website"] {
        if mode == "website" {
            service.gate.set_down(true);
        }
        // availableAccounts: every account of Anna's is listed; no balance, no history.
        let (status, _, body) = a.read("/v1/accounts", &available).await;
        assert_eq!((mode, status), (mode, 200), "{body}");
        assert_eq!(listed(&body), sorted(&anna), "{mode}");
        for what in [
            "balances",
            "transactions?bookingStatus=both&dateFrom=2026-01-01",
        ] {
            let (status, code, body) = a
                .read(&format!("/v1/accounts/{}/{what}", anna_ids[0]), &available)
                .await;
            assert_eq!(
                (status, code.as_deref()),
                (401, Some("CONSENT_INVALID")),
                "{mode}: {what} under availableAccounts: {body}"
            );
        }
        // allPsd2: everything of Anna's, nothing of Luc's, and only for the caller that made it.
        let (status, _, body) = b.read("/v1/accounts", &everything).await;
        assert_eq!(status, 200, "{mode}: {body}");
        assert_eq!(listed(&body), sorted(&anna), "{mode}");
        for id in &anna_ids {
            for what in [
                "balances",
                "transactions?bookingStatus=both&dateFrom=2026-01-01",
            ] {
                let (status, _, body) = b
                    .read(&format!("/v1/accounts/{id}/{what}"), &everything)
                    .await;
                assert_eq!(status, 200, "{mode}: {what} of {id} under allPsd2: {body}");
            }
        }
        let (status, _, body) = b
            .read(&format!("/v1/accounts/{luc_id}/balances"), &everything)
            .await;
        assert!(
            (400..500).contains(&status),
            "{mode}: Luc's account under Anna's allPsd2: {status} {body}"
        );
        let (status, code, body) = a.read("/v1/accounts", &everything).await;
        assert_eq!(
            (status, code.as_deref()),
            (403, Some("CONSENT_UNKNOWN")),
            "{mode}: another caller's consent: {body}"
        );
        let (status, _, body) = a.read("/v1/accounts", &lucs).await;
        assert_eq!(status, 200, "{mode}: {body}");
        assert_eq!(listed(&body), sorted(&luc), "{mode}");
        // Bank-offered: the account Anna ticked, and no other.
        let (status, _, body) = b.read("/v1/accounts", &offered).await;
        assert_eq!(status, 200, "{mode}: {body}");
        assert_eq!(listed(&body), sorted(&anna[..1]), "{mode}");
        let (status, _, body) = b
            .read(&format!("/v1/accounts/{}/balances", anna_ids[0]), &offered)
            .await;
        assert_eq!(status, 200, "{mode}: {body}");
        let (status, code, body) = b
            .read(&format!("/v1/accounts/{}/balances", anna_ids[1]), &offered)
            .await;
        assert_eq!(
            (status, code.as_deref()),
            (401, Some("CONSENT_INVALID")),
            "{mode}: an account Anna did not tick: {body}"
        );
    }

    // While the API is down: an allPsd2 consent made and signed through the website reaches what
    // Luc sees once logged in, and nothing of Anna's; a bank-offered one reaches what Anna sees.
    let site_all = b
        .signed_consent(LUC, json!({"allPsd2": "allAccounts"}))
        .await;
    let (status, _, body) = b.read("/v1/accounts", &site_all).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(listed(&body), sorted(&luc));
    let (status, _, body) = b
        .read(
            &format!("/v1/accounts/{luc_id}/transactions?bookingStatus=both&dateFrom=2026-01-01"),
            &site_all,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = b
        .read(&format!("/v1/accounts/{}/balances", anna_ids[0]), &site_all)
        .await;
    assert!((400..500).contains(&status), "{status} {body}");
    let site_offered = a
        .signed_consent(
            ANNA,
            json!({"accounts": [], "balances": [], "transactions": []}),
        )
        .await;
    let (status, _, body) = a.read("/v1/accounts", &site_offered).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(listed(&body), sorted(&anna));
    let shown = a.consent(&site_offered).await;
    assert_eq!(
        shown["access"]["accounts"].as_array().map(Vec::len),
        Some(anna.len()),
        "{shown}"
    );
    service.stop().await;
    sandbox.shutdown().await;
}

#[tokio::test]
async fn r12_consent_access_forms_are_refused_by_name_when_malformed() {
    let sandbox = sandbox().await;
    let service = start(
        &sandbox,
        screen_channel(&sandbox).await,
        ServiceLimits::default(),
        fast_health(),
    )
    .await;
    let base = service.bank_url();
    let http = reqwest::Client::new();
    let a = Caller {
        http: &http,
        base: &base,
        token: TOKEN_A,
    };
    let anna = ibans(&sandbox, ANNA);
    let cases = [
        (json!({}), "access"),
        (json!({"allPsd2": "everything"}), "access.allPsd2"),
        (
            json!({"allPsd2": "allAccounts", "availableAccounts": "allAccounts"}),
            "access.allPsd2",
        ),
        (
            json!({"allPsd2": "allAccounts", "accounts": [{"iban": anna[0].as_str()}]}),
            "access.allPsd2",
        ),
        (
            json!({"availableAccounts": "allAccountsWithOwnerName"}),
            "access.availableAccounts",
        ),
        (
            json!({"availableAccounts": "allAccounts", "restrictedTo": ["CACC"]}),
            "access.restrictedTo",
        ),
        (json!({"allPsd2": 7}), "expected a string"),
    ];
    for (access, field) in cases {
        let (status, body) = a
            .send(
                reqwest::Method::POST,
                "/v1/consents",
                None,
                Some(ANNA),
                Some(&consent_body(access.clone())),
            )
            .await;
        assert_eq!(status, 400, "{access}: {body}");
        let message = &body["tppMessages"][0];
        let named = format!("{} {}", message["path"], message["text"]);
        assert!(
            named.contains(field),
            "{access}: {field} not named in {body}"
        );
    }
    service.stop().await;
    sandbox.shutdown().await;
}

/// The bank's mode as `/health` says it.
async fn mode(http: &reqwest::Client, url: &str) -> String {
    let health: Value = http
        .get(format!("{url}/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    health["banks"][0]["mode"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r12_a_consent_given_on_the_website_is_refused_by_name_once_the_api_is_back() {
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
    let http = reqwest::Client::new();
    let a = Caller {
        http: &http,
        base: &base,
        token: TOKEN_A,
    };
    let b = Caller {
        http: &http,
        base: &base,
        token: TOKEN_B,
    };
    // Caller B's consent through the API, before the outage.
    let through_api = b
        .signed_consent(LUC, json!({"allPsd2": "allAccounts"}))
        .await;
    // The API is down: caller A's consent is given on the website, and reads there.
    service.gate.set_down(true);
    let on_site = a
        .signed_consent(ANNA, json!({"allPsd2": "allAccounts"}))
        .await;
    let (status, _, body) = a.read("/v1/accounts", &on_site).await;
    assert_eq!(status, 200, "{body}");
    // The API is back: the website no longer serves; the API has never heard of A's consent.
    service.gate.set_down(false);
    for _ in 0..200 {
        if mode(&http, &service.url).await == "api" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(mode(&http, &service.url).await, "api");
    for _ in 0..2 {
        let (status, code, body) = a.read("/v1/accounts", &on_site).await;
        assert_eq!(
            (status, code.as_deref()),
            (401, Some("CONSENT_INVALID")),
            "{body}"
        );
        let text = body["tppMessages"][0]["text"].as_str().unwrap_or_default();
        assert!(
            text.contains("re-authenticate") && text.contains("new consent through the API"),
            "{body}"
        );
        assert!(!text.contains(&on_site), "the consent id is masked: {body}");
    }
    // Another caller's consent made through the API reads on, and A's consent stays A's alone.
    let (status, _, body) = b.read("/v1/accounts", &through_api).await;
    assert_eq!(status, 200, "{body}");
    let (status, code, _) = b.read("/v1/accounts", &on_site).await;
    assert_eq!((status, code.as_deref()), (403, Some("CONSENT_UNKNOWN")));
    service.stop().await;
    sandbox.shutdown().await;
}
