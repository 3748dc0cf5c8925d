//! Issue 13's "done when", as a matrix: with the sandbox bank in each SCA mode (`--sca embedded`,
//! `redirect`, `decoupled`, `oauth2`, `methods`), an XS2A client talking to the service completes a
//! consent (then reads accounts and balances under it) and a payment (then checks its ISO 20022
//! status) — through the bank's API, and, during an outage (the API answers 503), through the bank's
//! website driven by a real Chromium, where the customer logs in and signs in the website's own way
//! (card reader, the banking app, a choice of the two, or the bank's own login page).
//!
//! The client in this module knows nothing of the mode: it follows the service's answers alone — the
//! start link the resource names (`startAuthorisationWithPsuAuthentication`: it sends the customer's
//! password; `startAuthorisation`: it sends none), `scaMethods` (it picks one), `challengeData` (the
//! customer's card reader answers), `_links.scaRedirect` (the customer's browser opens the page, logs
//! in and answers the card reader; a `code` coming back to the redirect URI goes to
//! `_links.confirmation`), a decoupled `psuMessage` (the customer approves on their phone) and the
//! `scaStatus` link to poll; a `503` is retried under the same request id, once the customer's browser
//! has opened the bank's page its `_links.scaRedirect` names, if it names one (the website's login
//! waiting there). The customer's devices are the only parts that know the sandbox: the
//! card reader (`card_reader_response`) and the banking app (`PUT /_sandbox/app/{customer}/approve`).

use std::time::Duration;

use psd2_fallback_sandbox::{ApiFault, Sandbox, SandboxConfig, SandboxSca, card_reader_response};
use psd2_fallback_service::{BankSetup, FallbackPassword, ServiceLimits};
use serde_json::{Value, json};

use crate::support::service::{TOKEN_A, fast_health, screen_channel, start_with};
use crate::support::{TODAY, browser, password};

/// Served through the API.
const ANNA: &str = "1000001";
/// Served through the website, during the outage.
const LUC: &str = "1000002";

/// How long the client waits for one answer (a website login and signing on a busy machine).
const ANSWER_WAIT: Duration = Duration::from_secs(60);
/// How long it polls an authorisation before giving up.
const POLL_LIMIT: Duration = Duration::from_secs(40);

/// The XS2A client: a TPP app for one customer, knowing the service's address, its own token and
/// redirect URI, and nothing of the bank's approach.
struct Client {
    http: reqwest::Client,
    service: String,
    bank: String,
    customer: &'static str,
    web: String,
    /// What the service's answers led the client to do, in order (for the matrix's report).
    trail: std::sync::Mutex<Vec<String>>,
    /// The bank's pages a `503` linked that the customer's browser has opened (each once).
    opened: std::sync::Mutex<std::collections::HashSet<String>>,
}

/// A step of an authorisation, as the client read it.
#[derive(Debug)]
struct Answer {
    status: u16,
    body: Value,
    /// The `ASPSP-SCA-Approach` header, or `-`.
    approach: String,
}

impl Client {
    fn new(service: &str, bank: &str, customer: &'static str, sandbox: &Sandbox) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(ANSWER_WAIT)
                .build()
                .unwrap(),
            service: service.to_owned(),
            bank: bank.to_owned(),
            customer,
            web: sandbox.web_url(),
            trail: std::sync::Mutex::new(Vec::new()),
            opened: std::sync::Mutex::new(std::collections::HashSet::new()),
        }
    }

    fn redirect_uri(&self) -> String {
        format!("https://tpp.example/back/{}", self.customer)
    }

    /// A link of the service's, as a full URL.
    fn url(&self, href: &str) -> String {
        if href.starts_with('/') {
            format!("{}{href}", self.service)
        } else {
            href.to_owned()
        }
    }

    /// Sends a call as the client does: its token, a request id (kept for retries), the customer.
    /// A `503` (the bank's API has just gone down and the service is switching, or the bank's website
    /// waits for the customer) is retried under the same request id, a few times, as a careful client
    /// does — once the customer has continued at the bank's page the `503` links (`scaRedirect`), if
    /// it links one.
    async fn send(
        &self,
        method: reqwest::Method,
        href: &str,
        consent: Option<&str>,
        body: Option<&Value>,
        extra: &[(&str, String)],
    ) -> Answer {
        let request_id = uuid::Uuid::new_v4().to_string();
        let mut tries = 0;
        loop {
            let mut request = self
                .http
                .request(method.clone(), self.url(href))
                .bearer_auth(TOKEN_A)
                .header("X-Request-ID", &request_id)
                .header("PSU-ID", self.customer)
                .header("PSU-IP-Address", "192.0.2.7");
            if let Some(consent) = consent {
                request = request.header("Consent-ID", consent);
            }
            for (name, value) in extra {
                request = request.header(*name, value);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let approach = response
                .headers()
                .get("ASPSP-SCA-Approach")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
                .to_owned();
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
            let body = response.json().await.unwrap_or(Value::Null);
            tries += 1;
            if status == 503 && tries < 6 {
                // The client shows the bank's words to the customer, who opens the bank's page the
                // answer links (once), or else looks at their phone and approves what waits there,
                // if anything; the client asks again when told.
                self.did("503-retry");
                match body["_links"]["scaRedirect"]["href"].as_str() {
                    Some(page) => {
                        if self.opened.lock().unwrap().insert(page.to_owned()) {
                            self.did("503:scaRedirect->browser");
                            self.customer_at_the_banks_page(page).await;
                        }
                    }
                    None => self.customer_looks_at_the_phone().await,
                }
                let wait = retry_after.map_or(Duration::from_millis(400), Duration::from_secs);
                tokio::time::sleep(wait.min(Duration::from_secs(2))).await;
                continue;
            }
            return Answer {
                status,
                body,
                approach,
            };
        }
    }

    /// Authorises the resource whose creation answered `created`; the final `scaStatus`. `prefer_last`
    /// picks the last of several methods offered (the first otherwise).
    async fn authorise(&self, created: &Value, prefer_last: bool) -> String {
        let links = &created["_links"];
        let (href, body) =
            if let Some(link) = links["startAuthorisationWithPsuAuthentication"]["href"].as_str() {
                (
                    link,
                    json!({"psuData": {"password": password(self.customer)}}),
                )
            } else {
                let link = links["startAuthorisation"]["href"]
                    .as_str()
                    .unwrap_or_else(|| panic!("a link to start the authorisation: {created}"));
                (link, json!({}))
            };
        let preferences = [
            ("TPP-Redirect-URI", self.redirect_uri()),
            (
                "TPP-Nok-Redirect-URI",
                format!("{}?nok", self.redirect_uri()),
            ),
        ];
        let started = self
            .send(reqwest::Method::POST, href, None, Some(&body), &preferences)
            .await;
        assert_eq!(started.status, 201, "the start: {}", started.body);
        self.did(&format!(
            "{}:{}",
            if body.get("psuData").is_some() {
                "password"
            } else {
                "no-password"
            },
            started.approach
        ));
        let mut step = started.body;
        for _ in 0..6 {
            let status = step["scaStatus"].as_str().unwrap_or_default().to_owned();
            if matches!(status.as_str(), "finalised" | "failed" | "exempted") {
                return status;
            }
            let links = step["_links"].clone();
            let link = |name: &str| links[name]["href"].as_str().map(str::to_owned);
            let next = if let Some(methods) = step["scaMethods"].as_array() {
                let method = if prefer_last {
                    methods.last()
                } else {
                    methods.first()
                };
                let id = method.unwrap()["authenticationMethodId"].clone();
                self.did(&format!("scaMethods->{}", id.as_str().unwrap_or_default()));
                let href = link("selectAuthenticationMethod").expect("where to choose");
                let body = json!({ "authenticationMethodId": id });
                self.send(reqwest::Method::PUT, &href, None, Some(&body), &[])
                    .await
            } else if let Some(challenge) = step["challengeData"]["data"][0].as_str() {
                self.did("challengeData->card-reader");
                let answer = card_reader_response(self.customer, challenge);
                let href = link("authoriseTransaction").expect("where to answer");
                let body = json!({ "scaAuthenticationData": answer });
                self.send(reqwest::Method::PUT, &href, None, Some(&body), &[])
                    .await
            } else if let Some(page) = link("scaRedirect") {
                self.did("scaRedirect->browser");
                let back = self.customer_at_the_banks_page(&page).await;
                match (back, link("confirmation")) {
                    (Some(back), Some(confirmation)) => {
                        let code = param(&back, "code").expect("a code came back");
                        let state = param(&back, "state").expect("the state came back");
                        self.did("code->confirmation");
                        let body = json!({ "confirmationCode": code, "state": state });
                        self.send(reqwest::Method::PUT, &confirmation, None, Some(&body), &[])
                            .await
                    }
                    _ => {
                        let poll = link("scaStatus").expect("a link to poll");
                        return self.poll(&poll).await;
                    }
                }
            } else if step["psuMessage"].is_string() && link("scaStatus").is_some() {
                self.did("psuMessage->app");
                self.approve_in_the_app().await;
                return self.poll(&link("scaStatus").unwrap()).await;
            } else {
                panic!("an answer the client cannot follow: {step}");
            };
            assert_eq!(next.status, 200, "the update: {}", next.body);
            step = next.body;
        }
        panic!("the authorisation did not end: {step}");
    }

    /// The customer's browser at the bank's page: fills the page's form (the password when it asks
    /// for one, the card reader's response to the challenge shown) and submits it with its first
    /// button; where the bank sent the browser back (`Location`), if it did.
    async fn customer_at_the_banks_page(&self, url: &str) -> Option<String> {
        let browser = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(ANSWER_WAIT)
            .build()
            .unwrap();
        let page = browser.get(url).send().await.unwrap();
        assert_eq!(page.status(), 200, "the bank's page opens: {url}");
        let page = page.text().await.unwrap();
        let challenge = between(&page, "<span id=\"challenge\"", "</span>")
            .and_then(|span| span.rsplit('>').next())
            .expect("the page shows a challenge")
            .to_owned();
        let form = between(&page, "<form", "</form>").expect("the page has a form");
        let action = attribute(form, "action").expect("the form's action");
        let mut fields: Vec<(String, String)> = Vec::new();
        for input in form.split("<input").skip(1) {
            let Some(name) = attribute(input, "name") else {
                continue;
            };
            let value = match name.as_str() {
                "password" => password(self.customer).to_owned(),
                "response" => card_reader_response(self.customer, &challenge),
                _ => html_unescape(&attribute(input, "value").unwrap_or_default()),
            };
            fields.push((name, value));
        }
        let button = form.split("<button").nth(1).expect("a button");
        fields.push((
            attribute(button, "name").unwrap(),
            attribute(button, "value").unwrap(),
        ));
        let target = if action.starts_with('/') {
            let origin = reqwest::Url::parse(url).unwrap();
            format!("{}{action}", origin.origin().ascii_serialization())
        } else {
            action
        };
        let submitted = browser.post(target).form(&fields).send().await.unwrap();
        let status = submitted.status().as_u16();
        assert!(
            matches!(status, 200 | 303),
            "the page took the form: {status}"
        );
        let back = submitted
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned());
        if let Some(back) = &back {
            assert!(back.starts_with(&self.redirect_uri()), "sent back: {back}");
        }
        back
    }

    /// What the answers led the client to do, without the retries (their number depends on timing).
    fn path(&self) -> String {
        let trail = self.trail.lock().unwrap();
        let steps: Vec<&str> = trail
            .iter()
            .map(String::as_str)
            .filter(|s| *s != "503-retry")
            .collect();
        steps.join(" ")
    }

    fn did(&self, what: &str) {
        self.trail.lock().unwrap().push(what.to_owned());
    }

    /// The customer approves on their phone whatever waits there (nothing, often).
    async fn customer_looks_at_the_phone(&self) {
        let _ = reqwest::Client::new()
            .put(format!(
                "{}/_sandbox/app/{}/approve",
                self.web, self.customer
            ))
            .send()
            .await;
    }

    /// The customer approves on their phone, once the approval has reached it.
    async fn approve_in_the_app(&self) {
        let phone = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + POLL_LIMIT;
        loop {
            let answer = phone
                .put(format!(
                    "{}/_sandbox/app/{}/approve",
                    self.web, self.customer
                ))
                .send()
                .await
                .unwrap();
            if answer.status() == 200 {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "nothing to approve: {}",
                answer.text().await.unwrap()
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Polls an authorisation's `scaStatus` until it has ended.
    async fn poll(&self, href: &str) -> String {
        self.did("poll-scaStatus");
        let deadline = tokio::time::Instant::now() + POLL_LIMIT;
        loop {
            let answer = self.send(reqwest::Method::GET, href, None, None, &[]).await;
            assert_eq!(answer.status, 200, "the poll: {}", answer.body);
            let status = answer.body["scaStatus"].as_str().unwrap().to_owned();
            if matches!(status.as_str(), "finalised" | "failed" | "exempted")
                || tokio::time::Instant::now() > deadline
            {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// The whole journey: a consent, authorised, read; a payment, authorised, its status checked. The
    /// consent's id.
    async fn journey(&self, iban: &str, creditor: &str, label: &str) -> String {
        let access = json!([{ "iban": iban }]);
        let consent = self
            .send(
                reqwest::Method::POST,
                &format!("{}/v1/consents", self.bank),
                None,
                Some(&json!({
                    "access": { "accounts": access, "balances": access, "transactions": access },
                    "recurringIndicator": true,
                    "validUntil": (TODAY + time::Duration::days(90)).to_string(),
                    "frequencyPerDay": 4,
                    "combinedServiceIndicator": false,
                })),
                &[],
            )
            .await;
        assert_eq!(
            consent.status, 201,
            "{label}: the consent: {}",
            consent.body
        );
        let consent_id = consent.body["consentId"].as_str().unwrap().to_owned();
        let status = self.authorise(&consent.body, false).await;
        assert_eq!(status, "finalised", "{label}: the consent's authorisation");
        let read = self
            .send(
                reqwest::Method::GET,
                &format!("{}/v1/consents/{consent_id}/status", self.bank),
                None,
                None,
                &[],
            )
            .await;
        assert_eq!(
            read.body["consentStatus"], "valid",
            "{label}: {}",
            read.body
        );

        let accounts = self
            .send(
                reqwest::Method::GET,
                &format!("{}/v1/accounts", self.bank),
                Some(&consent_id),
                None,
                &[],
            )
            .await;
        assert_eq!(accounts.status, 200, "{label}: accounts: {}", accounts.body);
        let account = accounts.body["accounts"]
            .as_array()
            .and_then(|a| a.iter().find(|a| a["iban"] == iban))
            .unwrap_or_else(|| panic!("{label}: the consented account: {}", accounts.body));
        let balances_href = account["_links"]["balances"]["href"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| {
                format!(
                    "{}/v1/accounts/{}/balances",
                    self.bank,
                    account["resourceId"].as_str().unwrap()
                )
            });
        let balances = self
            .send(
                reqwest::Method::GET,
                &balances_href,
                Some(&consent_id),
                None,
                &[],
            )
            .await;
        assert_eq!(balances.status, 200, "{label}: balances: {}", balances.body);
        assert!(
            !balances.body["balances"].as_array().unwrap().is_empty(),
            "{label}: {}",
            balances.body
        );

        let payment = self
            .send(
                reqwest::Method::POST,
                &format!("{}/v1/payments/sepa-credit-transfers", self.bank),
                None,
                Some(&json!({
                    "debtorAccount": { "iban": iban },
                    "instructedAmount": { "currency": "EUR", "amount": "7.50" },
                    "creditorAccount": { "iban": creditor },
                    "creditorName": "Someone",
                })),
                &[],
            )
            .await;
        assert_eq!(
            payment.status, 201,
            "{label}: the payment: {}",
            payment.body
        );
        assert_eq!(payment.body["transactionStatus"], "RCVD", "{label}");
        let status = self.authorise(&payment.body, true).await;
        assert_eq!(status, "finalised", "{label}: the payment's authorisation");
        let href = payment.body["_links"]["status"]["href"].as_str().unwrap();
        let after = self.send(reqwest::Method::GET, href, None, None, &[]).await;
        assert_eq!(after.status, 200, "{label}: {}", after.body);
        let iso = after.body["transactionStatus"].as_str().unwrap();
        assert!(
            matches!(
                iso,
                "ACTC" | "ACCP" | "ACSP" | "ACSC" | "ACWC" | "ACFC" | "PATC"
            ),
            "{label}: an accepted payment, not {iso}"
        );
        consent_id
    }
}

/// The text between `start` (included from its end) and the next `end`.
fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let to = text[from..].find(end)? + from;
    Some(&text[from..to])
}

/// An HTML attribute's value in a tag's text.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let tag = tag.split('>').next()?;
    between(tag, &format!(" {name}=\""), "\"").map(str::to_owned)
}

fn html_unescape(value: &str) -> String {
    value
        .replace("&amp;", "&")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
}

fn param(url: &str, name: &str) -> Option<String> {
    reqwest::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// One row of the matrix: the sandbox in `sca` (the website's own way for Luc given by `website`),
/// Anna's journey through the API, then, the API down, Luc's through the website. Where the API's
/// answers asked Anna for no password (a redirect, the app, OAuth2), the bank's API never received
/// one, and her consent, authorised without it, is not served by the website unattended: its read
/// answers plainly that she must authenticate again (401 `CONSENT_INVALID`).
async fn row(sca: SandboxSca, website: fn(&mut SandboxConfig), expected: (&str, &str)) {
    row_set_up(sca, website, |_| {}, expected).await;
}

/// A row of the matrix with the bank's service setup changed by `set_up` (`fallback_password`).
async fn row_set_up(
    sca: SandboxSca,
    website: fn(&mut SandboxConfig),
    set_up: fn(&mut BankSetup),
    expected: (&str, &str),
) {
    let mut config = SandboxConfig {
        today: Some(TODAY),
        settle_after: Duration::from_millis(200),
        sca,
        ..SandboxConfig::default()
    };
    website(&mut config);
    let sandbox = Sandbox::start(config).await.unwrap();
    let screen = screen_channel(&sandbox).await;
    let service = start_with(
        &sandbox,
        screen,
        ServiceLimits::default(),
        fast_health(),
        set_up,
    )
    .await;
    let iban = |c: &str| sandbox.ledger().accounts(c)[0].iban.to_string();

    let anna = Client::new(&service.url, &service.bank_url(), ANNA, &sandbox);
    let annas_consent = anna
        .journey(&iban(ANNA), &iban(LUC), &format!("{sca:?} through the API"))
        .await;
    // A bank that does not ask for the password (its API announced a redirect, the app or OAuth2)
    // is never given one: the client was not asked for it, so the engine had none to send.
    let asked_a_password = anna
        .path()
        .split(' ')
        .any(|step| step.starts_with("password:"));
    if !asked_a_password {
        assert_eq!(
            sandbox.api_passwords_received(),
            0,
            "{sca:?}: the bank's API received a password"
        );
    }

    let Some(_permit) = browser::permit().await else {
        return;
    };
    sandbox.set_api_fault(ApiFault::Down);
    let annas_read = anna
        .send(
            reqwest::Method::GET,
            &format!("{}/v1/accounts", service.bank_url()),
            Some(&annas_consent),
            None,
            &[],
        )
        .await;
    if asked_a_password {
        // The password given with her consent's authorisation logs Anna in on the website: her
        // consent is served through the outage.
        assert_eq!(annas_read.status, 200, "{sca:?}: {}", annas_read.body);
        assert_eq!(
            annas_read.body["accounts"][0]["iban"],
            iban(ANNA).as_str(),
            "{sca:?}"
        );
    } else {
        // Anna's consent was authorised without her password: the website cannot log her in
        // unattended, and her read says so plainly — she must authenticate again.
        let read = annas_read;
        assert_eq!(read.status, 401, "{sca:?}: {}", read.body);
        assert_eq!(read.body["tppMessages"][0]["code"], "CONSENT_INVALID");
        let text = read.body["tppMessages"][0]["text"].as_str().unwrap();
        assert!(text.contains("re-authenticate"), "{sca:?}: {text}");
    }
    let luc = Client::new(&service.url, &service.bank_url(), LUC, &sandbox);
    luc.journey(
        &iban(LUC),
        &iban(ANNA),
        &format!("{sca:?} through the website"),
    )
    .await;
    assert!(!service.health.mode().uses_api(), "served by the website");
    let (api, web) = (anna.path(), luc.path());
    eprintln!("matrix {sca:?}: API [{api}] website [{web}]");
    assert_eq!(api, expected.0, "{sca:?}: the API's answers led the client");
    assert_eq!(
        web, expected.1,
        "{sca:?}: the website's answers led the client"
    );
    service.stop().await;
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_a_consent_and_a_payment_through_the_api_and_the_website() {
    let both = "password:EMBEDDED challengeData->card-reader \
                password:EMBEDDED challengeData->card-reader";
    row(SandboxSca::Embedded, |_| {}, (both, both)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_a_consent_and_a_payment_through_the_api_and_the_website() {
    row(
        SandboxSca::Redirect,
        |c| c.login_redirects = vec![LUC.to_owned()],
        (
            "no-password:REDIRECT scaRedirect->browser poll-scaStatus \
             no-password:REDIRECT scaRedirect->browser poll-scaStatus",
            // The payment's initiation opens a website session of its own, whose login waits at
            // the bank's page: the 503 links it, the customer logs in there, the retry is served.
            "password:REDIRECT scaRedirect->browser poll-scaStatus \
             503:scaRedirect->browser password:EMBEDDED challengeData->card-reader",
        ),
    )
    .await;
}

/// An operator whose customers agreed to it keeps asking for the password (`fallback_password =
/// "always"`) though the bank redirects: the client gives it, and Anna's consent, authorised at the
/// bank's page, is then served by the website through the outage instead of asking her again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_with_the_password_kept_for_the_fallback_the_consent_is_served_through_the_outage()
{
    row_set_up(
        SandboxSca::Redirect,
        |c| c.login_redirects = vec![LUC.to_owned()],
        |setup| setup.fallback_password = FallbackPassword::Always,
        (
            "password:REDIRECT scaRedirect->browser poll-scaStatus \
             password:REDIRECT scaRedirect->browser poll-scaStatus",
            "password:REDIRECT scaRedirect->browser poll-scaStatus \
             503:scaRedirect->browser password:EMBEDDED challengeData->card-reader",
        ),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decoupled_a_consent_and_a_payment_through_the_api_and_the_website() {
    row(
        SandboxSca::Decoupled,
        |c| {
            c.app_logins = vec![LUC.to_owned()];
            c.app_signers = vec![LUC.to_owned()];
        },
        {
            (
                "no-password:DECOUPLED psuMessage->app poll-scaStatus \
                 no-password:DECOUPLED psuMessage->app poll-scaStatus",
                // The website's login takes the password; the customer approves in the app.
                "password:DECOUPLED psuMessage->app poll-scaStatus \
                 password:DECOUPLED psuMessage->app poll-scaStatus",
            )
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth2_a_consent_and_a_payment_through_the_api_and_the_website() {
    row(
        SandboxSca::OAuth2,
        |c| c.app_signers = vec![LUC.to_owned()],
        (
            "no-password:REDIRECT scaRedirect->browser code->confirmation \
             no-password:REDIRECT scaRedirect->browser code->confirmation",
            "password:EMBEDDED challengeData->card-reader \
             password:DECOUPLED psuMessage->app poll-scaStatus",
        ),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn methods_a_consent_and_a_payment_through_the_api_and_the_website() {
    row(
        SandboxSca::Methods,
        |c| c.login_choices = vec![LUC.to_owned()],
        (
            "password:EMBEDDED scaMethods->card-reader challengeData->card-reader \
             password:EMBEDDED scaMethods->app psuMessage->app poll-scaStatus",
            // Luc's payment signs in the session his consent's login opened: no method to choose.
            "password:EMBEDDED scaMethods->card-reader challengeData->card-reader \
             password:EMBEDDED challengeData->card-reader",
        ),
    )
    .await;
}
