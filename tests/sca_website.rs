//! Signing and logging in on the website in the bank's app, with a real Chromium: the sandbox
//! website's "confirm in your app" pages for customers who sign or log in that way, described by the
//! maps (`screens.sign_app`, `screens.login_app`, `screens.login_method`), relayed by the engine as
//! decoupled authorisations (or a choice of method) and followed on the page — approved, refused or
//! expired with the bank's words — on the channel that started them even after the API is back. An
//! unattended read whose login waits for the app answers at once that the customer must approve
//! (`ApprovalPending`) instead of holding a browser, and follows the same approval when asked again.

use std::sync::Arc;
use std::time::Duration;

use psd2_fallback_engine::failover::FailoverBuilder;
use psd2_fallback_engine::health::Override;
use psd2_fallback_engine::journal::SqliteJournal;
use psd2_fallback_engine::model::{
    Amount, ConsentAccess, ConsentId, ConsentRequest, ConsentStatus, EndToEndId, Iban,
    PaymentProduct, PaymentRequest, PaymentStatus, ScaAnswer, ScaProgress, ScaStatus, ScaStep,
    ScaTarget,
};
use psd2_fallback_engine::screen::{ScreenBank, ScreenBankConfig};
use psd2_fallback_engine::{Bank, BankError, PsuContext};
use psd2_fallback_sandbox::ledger::{CANCELLED, EXPIRED, LOGIN_APPROVAL, REFUSED_IN_APP};
use psd2_fallback_sandbox::{
    ApiFault, CardReaderRelay, Sandbox, SandboxConfig, WebsiteFault, card_reader_response,
};
use rust_decimal::dec;
use secrecy::ExposeSecret;

use crate::support::service::{api_bank, fast_health};
use crate::support::{TODAY, browser, psu};

const LUC: &str = "1000002";

fn luc_payment(amount: rust_decimal::Decimal) -> PaymentRequest {
    PaymentRequest {
        product: PaymentProduct::SepaCreditTransfer,
        debtor: Iban::parse("BE33738234567846").unwrap(),
        creditor_name: "Garage Vermeulen".to_owned(),
        creditor: Iban::parse("BE71096123456769").unwrap(),
        amount: Amount::eur(amount).unwrap(),
        remittance: Some("Onderhoud".to_owned()),
        requested_execution_date: None,
        end_to_end_id: EndToEndId::generate(),
    }
}

/// Polls through `bank` at the step's pace until the approval has ended (at most 20 s).
async fn follow(
    bank: &dyn Bank,
    psu: &PsuContext,
    target: &ScaTarget,
    step: &ScaStep,
) -> ScaProgress {
    let ScaStep::Decoupled {
        authorisation_id,
        poll_every,
        ..
    } = step
    else {
        panic!("the website waits for the app: decoupled, not {step:?}");
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let progress = bank
            .authorisation_status(psu, target, authorisation_id)
            .await
            .expect("the website's page tells where the approval stands");
        if progress.has_ended() || tokio::time::Instant::now() > deadline {
            return progress;
        }
        tokio::time::sleep(*poll_every).await;
    }
}

async fn in_app(sandbox: &Sandbox, decision: &str) {
    in_app_of(sandbox, LUC, decision).await;
}

/// The customer decides in the banking app (the sandbox's app control), on the only approval waiting.
async fn in_app_of(sandbox: &Sandbox, customer: &str, decision: &str) {
    let answer = reqwest::Client::new()
        .put(format!(
            "{}/_sandbox/app/{customer}/{decision}",
            sandbox.web_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200, "{}", answer.text().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_website_signing_in_the_app_is_relayed_as_decoupled_and_followed_on_its_channel() {
    let Some(_permit) = browser::permit().await else {
        return;
    };
    let sandbox = Sandbox::start(SandboxConfig {
        today: Some(TODAY),
        settle_after: Duration::from_millis(200),
        app_signers: vec![LUC.to_owned()],
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let mut config = ScreenBankConfig::new(
        concat!(env!("CARGO_MANIFEST_DIR"), "/selectors/sandbox.toml"),
        sandbox.web_url(),
    );
    config.spare = false;
    config.max_active = 1;
    config.pacing_per_second = 200;
    let screen = ScreenBank::new(config, Some(Arc::new(CardReaderRelay)))
        .await
        .unwrap();
    let scratch =
        std::env::temp_dir().join(format!("psd2-fallback-sca-{}.sqlite", uuid::Uuid::new_v4()));
    let built = FailoverBuilder::new("sandbox", api_bank(&sandbox.api_url(), None), screen)
        .health(fast_health())
        .build(Arc::new(SqliteJournal::open(&scratch).unwrap()))
        .await
        .unwrap();
    let failover = &built.failover;
    let luc = psu(LUC);

    // The API is down: the order is made on the website, and its signing waits for the app.
    sandbox.set_api_fault(ApiFault::Down);
    failover.health().set_override(Override::ForceFallback);
    let approved = failover
        .initiate_payment(&luc, &luc_payment(dec!(12.50)))
        .await
        .expect("initiated through the website");
    let target = ScaTarget::Payment(approved.payment.clone());
    let step = failover.start_authorisation(&luc, &target).await.unwrap();
    let ScaStep::Decoupled { message, .. } = &step else {
        panic!("decoupled, not {step:?}");
    };
    assert_eq!(message, "Confirm this order in your banking app.");
    assert_eq!(
        failover
            .authorisation_status(&luc, &target, step.authorisation_id().unwrap())
            .await
            .unwrap()
            .status,
        ScaStatus::Started,
        "nobody approved yet"
    );
    // The API is back; the approval is still followed on the website, which started it.
    sandbox.set_api_fault(ApiFault::Up);
    failover.health().set_override(Override::ForceApi);
    in_app(&sandbox, "approve").await;
    assert_eq!(
        follow(failover, &luc, &target, &step).await.status,
        ScaStatus::Finalised
    );
    assert_ne!(
        failover
            .payment_status(&luc, &approved.payment)
            .await
            .unwrap(),
        PaymentStatus::Received
    );

    // A second order, refused in the app: the page shows the bank's words, which reach the caller.
    sandbox.set_api_fault(ApiFault::Down);
    failover.health().set_override(Override::ForceFallback);
    let refused = failover
        .initiate_payment(&luc, &luc_payment(dec!(7.25)))
        .await
        .expect("initiated through the website");
    let target = ScaTarget::Payment(refused.payment.clone());
    let step = failover.start_authorisation(&luc, &target).await.unwrap();
    in_app(&sandbox, "refuse").await;
    let ended = follow(failover, &luc, &target, &step).await;
    assert_eq!(ended.status, ScaStatus::Failed);
    assert_eq!(ended.message.as_deref(), Some(REFUSED_IN_APP));
    assert_eq!(
        sandbox
            .ledger()
            .payment(LUC, &refused.payment.id)
            .unwrap()
            .status,
        PaymentStatus::Rejected
    );
    built.shutdown().await;
    sandbox.shutdown().await;
    let _ = std::fs::remove_file(&scratch);
}

const ANNA: &str = "1000001";

/// A screen channel on the sandbox website through `map`, two flows at once, with the card reader's
/// relay for unattended logins that ask for a challenge.
async fn screen_bank(sandbox: &Sandbox, map: &str, app_login_wait: Duration) -> ScreenBank {
    screen_bank_with(sandbox, map, app_login_wait, 8).await
}

/// [`screen_bank`] keeping at most `max_sessions` website sessions open.
async fn screen_bank_with(
    sandbox: &Sandbox,
    map: &str,
    app_login_wait: Duration,
    max_sessions: usize,
) -> ScreenBank {
    let mut config = ScreenBankConfig::new(
        format!("{}/selectors/{map}", env!("CARGO_MANIFEST_DIR")),
        sandbox.web_url(),
    );
    config.spare = false;
    config.max_active = 2;
    config.pacing_per_second = 200;
    config.app_login_wait = app_login_wait;
    config.max_sessions = max_sessions;
    ScreenBank::new(config, Some(Arc::new(CardReaderRelay)))
        .await
        .unwrap()
}

/// A consent to the customer's first account, made (not yet signed) through `bank`.
async fn consent_of(bank: &dyn Bank, sandbox: &Sandbox, customer: &str) -> ConsentId {
    bank.create_consent(
        &psu(customer),
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

/// Starts a consent's authorisation, whose website login waits for the app: decoupled.
async fn start_in_app(bank: &dyn Bank, customer: &str, consent: &ConsentId) -> ScaStep {
    let target = ScaTarget::Consent(consent.clone());
    let step = bank
        .start_authorisation(&psu(customer), &target)
        .await
        .unwrap();
    let ScaStep::Decoupled { message, .. } = &step else {
        panic!("the website's login waits for the app: decoupled, not {step:?}");
    };
    assert_eq!(message, "Confirm this login in your banking app.");
    step
}

/// Starts a consent's authorisation (decoupled) and polls it until it has ended (at most 20 s).
async fn follow_consent(bank: &dyn Bank, customer: &str, consent: &ConsentId) -> ScaProgress {
    let step = start_in_app(bank, customer, consent).await;
    let target = ScaTarget::Consent(consent.clone());
    follow(bank, &psu(customer), &target, &step).await
}

/// The approvals waiting in a customer's app.
fn waiting(sandbox: &Sandbox, customer: &str) -> Vec<String> {
    (sandbox.ledger().app_pending(customer).into_iter())
        .map(|p| p.what)
        .collect()
}

/// r13: two customers log in on the website for consents made there during an outage, both confirming
/// in the banking app at once: one approves (the consent becomes valid and reads without a password,
/// on the session the app let in), the other refuses (the bank's words reach the caller, the consent
/// is rejected). Both authorisations are decoupled and followed on the page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_customers_confirm_website_logins_in_the_app_one_approves_one_refuses() {
    let Some(_first) = browser::permit().await else {
        return;
    };
    let Some(_second) = browser::permit().await else {
        return;
    };
    let sandbox = Sandbox::start(SandboxConfig {
        today: Some(TODAY),
        app_logins: vec![ANNA.to_owned(), LUC.to_owned()],
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let screen = screen_bank(&sandbox, "sandbox.toml", Duration::from_secs(3)).await;
    let scratch =
        std::env::temp_dir().join(format!("psd2-fallback-sca-{}.sqlite", uuid::Uuid::new_v4()));
    let built = FailoverBuilder::new("sandbox", api_bank(&sandbox.api_url(), None), screen)
        .health(fast_health())
        .build(Arc::new(SqliteJournal::open(&scratch).unwrap()))
        .await
        .unwrap();
    let failover = &built.failover;
    sandbox.set_api_fault(ApiFault::Down);
    failover.health().set_override(Override::ForceFallback);

    let anna = consent_of(failover, &sandbox, ANNA).await;
    let luc = consent_of(failover, &sandbox, LUC).await;
    // Both logins start at once and wait for the app; then each customer decides on their phone
    // while both are followed at once.
    let (anna_step, luc_step) = tokio::join!(
        start_in_app(failover, ANNA, &anna),
        start_in_app(failover, LUC, &luc)
    );
    assert_eq!(waiting(&sandbox, ANNA), [LOGIN_APPROVAL]);
    assert_eq!(waiting(&sandbox, LUC), [LOGIN_APPROVAL]);
    let decide = async {
        in_app_of(&sandbox, ANNA, "approve").await;
        in_app_of(&sandbox, LUC, "refuse").await;
    };
    let (anna_target, luc_target) = (
        ScaTarget::Consent(anna.clone()),
        ScaTarget::Consent(luc.clone()),
    );
    let (anna_psu, luc_psu) = (psu(ANNA), psu(LUC));
    let (approved, refused, ()) = tokio::join!(
        follow(failover, &anna_psu, &anna_target, &anna_step),
        follow(failover, &luc_psu, &luc_target, &luc_step),
        decide
    );
    assert_eq!(approved.status, ScaStatus::Finalised);
    assert_eq!(refused.status, ScaStatus::Failed);
    assert_eq!(refused.message.as_deref(), Some(REFUSED_IN_APP));
    let status = |customer: &str, consent: &ConsentId| {
        let (customer, consent) = (customer.to_owned(), consent.clone());
        async move {
            failover
                .consent_status(&psu(&customer), &consent)
                .await
                .unwrap()
        }
    };
    assert_eq!(status(ANNA, &anna).await, ConsentStatus::Valid);
    assert_eq!(status(LUC, &luc).await, ConsentStatus::Rejected);

    // Anna's consent reads on the session her app let in: no password is asked for, none is kept.
    let mut unattended =
        PsuContext::new(psd2_fallback_engine::model::PsuId::new(ANNA)).with_consent(anna.clone());
    unattended.password = None;
    let accounts = failover.accounts(&unattended).await.unwrap();
    assert_eq!(accounts.len(), 1);
    // Luc's rejected consent reads nothing.
    let luc_read = failover
        .accounts(&psu(LUC).with_consent(luc.clone()))
        .await
        .unwrap_err();
    assert!(
        matches!(&luc_read, BankError::Rejected { code, .. } if code == "CONSENT_INVALID"),
        "{luc_read:?}"
    );
    built.shutdown().await;
    sandbox.shutdown().await;
    let _ = std::fs::remove_file(&scratch);
}

/// r13: an unattended read whose website login waits for the app does not hold a browser for
/// minutes: it answers at once that the customer must approve (`ApprovalPending`), asking again
/// follows the same approval (the app shows one, not one per call), and once approved the read is
/// served. An approval that lapses ends with the bank's words (`SCA_FAILED`), and a consent whose
/// login lapsed is rejected; a payment signed in the app that lapses is rejected (`RJCT`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unattended_read_does_not_wait_for_the_app_and_an_expired_approval_ends_cleanly() {
    let Some(_first) = browser::permit().await else {
        return;
    };
    let Some(_second) = browser::permit().await else {
        return;
    };
    let sandbox = Sandbox::start(SandboxConfig {
        today: Some(TODAY),
        app_logins: vec![ANNA.to_owned(), LUC.to_owned()],
        app_signers: vec![ANNA.to_owned()],
        approval_expiry: Duration::from_millis(2500),
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let screen = screen_bank(&sandbox, "sandbox.toml", Duration::from_millis(300)).await;
    let luc = PsuContext::new(psd2_fallback_engine::model::PsuId::new(LUC))
        .with_password(secrecy::SecretString::from(crate::support::password(LUC)));

    for _ in 0..2 {
        let pending = screen.accounts(&luc).await.unwrap_err();
        let BankError::ApprovalPending {
            message,
            retry_after,
            page,
        } = &pending
        else {
            panic!("the read answers that the customer must approve, not {pending:?}");
        };
        assert_eq!(message, "Confirm this login in your banking app.");
        assert!(!retry_after.is_zero());
        assert!(page.is_none(), "an approval in the app has no page to open");
        assert_eq!(
            waiting(&sandbox, LUC),
            [LOGIN_APPROVAL],
            "one approval, not one per call"
        );
    }
    in_app_of(&sandbox, LUC, "approve").await;
    let accounts = screen.accounts(&luc).await.unwrap();
    assert_eq!(accounts.len(), crate::support::ibans(&sandbox, LUC).len());
    assert!(waiting(&sandbox, LUC).is_empty());

    // Anna never approves: the login lapses, and the caller hears it once in the bank's words.
    let anna = PsuContext::new(psd2_fallback_engine::model::PsuId::new(ANNA))
        .with_password(secrecy::SecretString::from(crate::support::password(ANNA)));
    assert!(matches!(
        screen.accounts(&anna).await,
        Err(BankError::ApprovalPending { .. })
    ));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let lapsed = loop {
        match screen.accounts(&anna).await {
            Err(BankError::ApprovalPending { .. }) if tokio::time::Instant::now() < deadline => {}
            other => break other,
        }
    };
    assert!(
        matches!(&lapsed, Err(BankError::Rejected { code, message }) if code == "SCA_FAILED" && message == EXPIRED),
        "{lapsed:?}"
    );

    // A consent whose login lapses: failed, with the bank's words; the consent is rejected.
    let consent = consent_of(&screen, &sandbox, ANNA).await;
    let ended = follow_consent(&screen, ANNA, &consent).await;
    assert_eq!(ended.status, ScaStatus::Failed);
    assert_eq!(ended.message.as_deref(), Some(EXPIRED));
    assert_eq!(
        screen.consent_status(&psu(ANNA), &consent).await.unwrap(),
        ConsentStatus::Rejected
    );
    screen.close().await;
    sandbox.shutdown().await;
}

/// r13: the website offers a choice at login (card reader or banking app), read through the second
/// layout's map: the engine relays it as a choice of methods, and the customer's pick is made on the
/// page — the card reader leads to its challenge, the app to a decoupled approval. A method the page
/// does not offer is refused naming `authenticationMethodId`; an unattended login with a relay takes
/// the card reader.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_choice_of_method_at_the_website_login_leads_to_the_card_reader_or_the_app() {
    let Some(_first) = browser::permit().await else {
        return;
    };
    let sandbox = Sandbox::start(SandboxConfig {
        today: Some(TODAY),
        login_choices: vec![ANNA.to_owned(), LUC.to_owned()],
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    sandbox.set_website_fault(WebsiteFault::LayoutV2);
    let mut config = ScreenBankConfig::new(
        concat!(env!("CARGO_MANIFEST_DIR"), "/selectors/sandbox-v2.toml"),
        sandbox.web_url(),
    );
    config.spare = false;
    config.max_active = 1;
    config.pacing_per_second = 200;
    let screen = ScreenBank::new(config, Some(Arc::new(CardReaderRelay)))
        .await
        .unwrap();

    // Anna picks the card reader.
    let consent = consent_of(&screen, &sandbox, ANNA).await;
    let target = ScaTarget::Consent(consent.clone());
    let step = screen
        .start_authorisation(&psu(ANNA), &target)
        .await
        .unwrap();
    let ScaStep::ChooseMethod {
        authorisation_id,
        methods,
    } = &step
    else {
        panic!("a choice of methods, not {step:?}");
    };
    let offered: Vec<(&str, &str)> = methods
        .iter()
        .map(|m| (m.id.as_str(), m.kind.as_str()))
        .collect();
    // The same ids and types the bank's API gives these methods (the map says them).
    assert_eq!(offered, [("card-reader", "CHIP_OTP"), ("app", "PUSH_OTP")]);
    assert_eq!(methods[1].name.as_deref(), Some("Use my banking app"));
    let bogus = screen
        .select_sca_method(&psu(ANNA), &target, authorisation_id, "sms")
        .await
        .unwrap_err();
    assert!(
        bogus.to_string().contains("authenticationMethodId"),
        "{bogus}"
    );
    let challenge = screen
        .select_sca_method(&psu(ANNA), &target, authorisation_id, "card-reader")
        .await
        .unwrap()
        .into_challenge()
        .expect("the card reader's challenge");
    let answer = ScaAnswer::new(card_reader_response(ANNA, &challenge.data));
    assert_eq!(
        screen
            .authorise(&psu(ANNA), &target, &challenge.authorisation_id, &answer)
            .await
            .unwrap(),
        ScaStatus::Finalised
    );
    assert_eq!(
        screen.consent_status(&psu(ANNA), &consent).await.unwrap(),
        ConsentStatus::Valid
    );

    // Luc picks the app, and approves there.
    let consent = consent_of(&screen, &sandbox, LUC).await;
    let target = ScaTarget::Consent(consent.clone());
    let step = screen
        .start_authorisation(&psu(LUC), &target)
        .await
        .unwrap();
    let id = step.authorisation_id().unwrap().clone();
    let step = screen
        .select_sca_method(&psu(LUC), &target, &id, "app")
        .await
        .unwrap();
    assert!(matches!(step, ScaStep::Decoupled { .. }), "{step:?}");
    in_app_of(&sandbox, LUC, "approve").await;
    assert_eq!(
        follow(&screen, &psu(LUC), &target, &step).await.status,
        ScaStatus::Finalised
    );
    assert_eq!(
        screen.consent_status(&psu(LUC), &consent).await.unwrap(),
        ConsentStatus::Valid
    );

    // Unattended, with the card reader's relay: the card reader is taken and the read served.
    let accounts = screen.accounts(&psu(ANNA)).await.unwrap();
    assert!(!accounts.is_empty());
    screen.close().await;
    sandbox.shutdown().await;
}

/// A visitor of the sandbox website over plain HTTP, keeping its cookies (the banner accepted).
struct Visitor {
    client: reqwest::Client,
    base: String,
    cookies: std::collections::BTreeMap<String, String>,
}

/// What a page answered: where it sends the browser, and its body.
struct Answer {
    location: Option<String>,
    body: String,
}

impl Visitor {
    fn new(sandbox: &Sandbox) -> Self {
        Self {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: sandbox.web_url(),
            cookies: [("cookies".to_owned(), "accepted".to_owned())].into(),
        }
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Answer {
        let cookie = (self.cookies.iter())
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let response = request.header("cookie", cookie).send().await.unwrap();
        for value in response.headers().get_all(reqwest::header::SET_COOKIE) {
            let pair = value.to_str().unwrap().split(';').next().unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            self.cookies.insert(k.to_owned(), v.to_owned());
        }
        let location = (response.headers().get(reqwest::header::LOCATION))
            .map(|v| v.to_str().unwrap().to_owned());
        Answer {
            location,
            body: response.text().await.unwrap(),
        }
    }

    async fn get(&mut self, path: &str) -> Answer {
        let request = self.client.get(format!("{}{path}", self.base));
        self.send(request).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Answer {
        let request = self.client.post(format!("{}{path}", self.base)).form(form);
        self.send(request).await
    }

    /// The session's CSRF token, from a page's form (either layout's field name).
    fn csrf(body: &str) -> (String, String) {
        for name in ["csrf", "_token"] {
            let marker = format!(r#"name="{name}" value=""#);
            if let Some(at) = body.find(&marker) {
                let from = at + marker.len();
                let len = body[from..].find('"').unwrap();
                return (name.to_owned(), body[from..from + len].to_owned());
            }
        }
        panic!("no CSRF token in:\n{body}");
    }

    /// Customer number and password; where the website goes next.
    async fn log_in(&mut self, customer: &str, layout: Layout) -> String {
        let login = self.get("/login").await;
        let (csrf, token) = Self::csrf(&login.body);
        let (customer_field, password_field) = match layout {
            Layout::V1 => ("customer", "password"),
            Layout::V2 => ("psu_id", "passcode"),
        };
        self.post(
            "/login",
            &[
                (&csrf, &token),
                (customer_field, customer),
                (password_field, crate::support::password(customer)),
            ],
        )
        .await
        .location
        .expect("the login moves on")
    }
}

#[derive(Debug, Clone, Copy)]
enum Layout {
    V1,
    V2,
}

/// A page read through its map, as a snapshot shows it (IBANs masked).
fn reading(map: &psd2_fallback_engine::screen::map::ScreenMap, screen: &str, html: &str) -> String {
    let read = map.read(screen, html).unwrap();
    let mut out = String::new();
    for (name, value) in read.values() {
        let shown = match value {
            Some(psd2_fallback_engine::screen::Value::Text(t)) => format!("{t:?}"),
            Some(other) => format!("{other:?}"),
            None => "-".to_owned(),
        };
        out.push_str(&format!("{name}: {shown}\n"));
    }
    psd2_fallback_engine::mask::mask(&out, &[])
}

fn snapshot(name: &str, map: &str, screen: &str, text: &str) {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.set_description(format!("{map} ({screen} screen)"));
    settings.bind(|| insta::assert_snapshot!(name.to_owned(), text));
}

/// r13: the website's login pages that wait for the app and offer a choice, over HTTP in both layouts,
/// read through both maps: the login waits ("confirm in your app"; the accounts send the visitor back
/// to it) until approved in the app, then lets the session in; a refusal shows the bank's words on the
/// page; the choice leads to the card reader's challenge or to the app. Snapshots of what each map
/// reads on the waiting page, waiting and refused.
#[tokio::test]
async fn the_website_login_pages_for_the_app_read_through_both_maps() {
    const KOEN: &str = "1000003";
    for (layout, file, tag) in [
        (Layout::V1, "sandbox.toml", "v1"),
        (Layout::V2, "sandbox-v2.toml", "v2"),
    ] {
        let sandbox = Sandbox::start(SandboxConfig {
            today: Some(TODAY),
            app_logins: vec![ANNA.to_owned(), LUC.to_owned()],
            login_choices: vec![KOEN.to_owned()],
            ..SandboxConfig::default()
        })
        .await
        .unwrap();
        if let Layout::V2 = layout {
            sandbox.set_website_fault(WebsiteFault::LayoutV2);
        }
        let path = format!("{}/selectors/{file}", env!("CARGO_MANIFEST_DIR"));
        let map = psd2_fallback_engine::screen::map::ScreenMap::load(std::path::Path::new(&path))
            .unwrap();

        // Anna approves in the app.
        let mut anna = Visitor::new(&sandbox);
        assert_eq!(anna.log_in(ANNA, layout).await, "/login/app");
        let waiting_page = anna.get("/login/app").await.body;
        snapshot(
            &format!("login_app_{tag}_waiting"),
            file,
            "login_app",
            &reading(&map, "login_app", &waiting_page),
        );
        assert_eq!(
            anna.get("/accounts").await.location.as_deref(),
            Some("/login/app"),
            "not in before the app approves"
        );
        assert!(
            anna.get("/login/app/status")
                .await
                .body
                .contains(r#""scaStatus":"started""#)
        );
        in_app_of(&sandbox, ANNA, "approve").await;
        assert!(
            anna.get("/login/app/status")
                .await
                .body
                .contains(r#""scaStatus":"finalised""#)
        );
        let accounts = anna.get("/accounts").await;
        assert!(accounts.location.is_none(), "the session is in");
        assert!(map.read("accounts", &accounts.body).is_ok());

        // Luc refuses: the page shows the bank's words, and the session stays out.
        let mut luc = Visitor::new(&sandbox);
        assert_eq!(luc.log_in(LUC, layout).await, "/login/app");
        in_app_of(&sandbox, LUC, "refuse").await;
        let refused_page = luc.get("/login/app").await.body;
        snapshot(
            &format!("login_app_{tag}_refused"),
            file,
            "login_app",
            &reading(&map, "login_app", &refused_page),
        );
        assert_eq!(
            luc.get("/accounts").await.location.as_deref(),
            Some("/login/app")
        );

        // Koen chooses: the card reader leads to the challenge, the app to the waiting page.
        for (choice, next) in [("card-reader", "/sca"), ("app", "/login/app")] {
            let mut koen = Visitor::new(&sandbox);
            assert_eq!(koen.log_in(KOEN, layout).await, "/login/method");
            let choice_page = koen.get("/login/method").await.body;
            assert!(map.read("login_method", &choice_page).is_ok());
            let (csrf, token) = Visitor::csrf(&choice_page);
            let decision = match layout {
                Layout::V1 => "decision",
                Layout::V2 => "choice",
            };
            let chosen = koen
                .post("/login/method", &[(&csrf, &token), (decision, choice)])
                .await;
            assert_eq!(chosen.location.as_deref(), Some(next), "{choice}");
        }
        sandbox.shutdown().await;
    }
}

/// The customer at the bank's own login page (opened from the link the website relayed): answers the
/// card reader there, or cancels.
async fn at_the_banks_page(url: &str, customer: &str, confirm: bool) {
    let http = reqwest::Client::new();
    let page = http.get(url).send().await.unwrap().text().await.unwrap();
    let challenge = page
        .split(r#"<span id="challenge">"#)
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the bank's page shows a challenge")
        .to_owned();
    let (path, state) = url.split_once("?state=").unwrap();
    let response = card_reader_response(customer, &challenge);
    let form = [
        ("state", state),
        ("response", response.as_str()),
        ("action", if confirm { "confirm" } else { "cancel" }),
    ];
    let answer = http.post(path).form(&form).send().await.unwrap();
    assert_eq!(answer.status(), 200);
}

/// r13: a website login that continues at the bank's own page (a link the website shows after the
/// password) is relayed as a redirect: the caller gets the page's address, the customer logs in
/// there, and the authorisation's status follows the website's page — finalised (the consent valid)
/// or, cancelled at the bank, failed with the bank's words (the consent rejected). An unattended read
/// under a consent does not wait for it: approval pending, with the page's link held as a secret (it
/// carries the login's state); the customer continues there and the read is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_website_login_continued_at_the_banks_page_is_relayed_as_a_redirect() {
    let Some(_first) = browser::permit().await else {
        return;
    };
    let sandbox = Sandbox::start(SandboxConfig {
        today: Some(TODAY),
        login_redirects: vec![ANNA.to_owned()],
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let screen = screen_bank_with(&sandbox, "sandbox.toml", Duration::from_millis(300), 1).await;
    let mut valid = None;
    for confirm in [true, false] {
        let consent = consent_of(&screen, &sandbox, ANNA).await;
        let target = ScaTarget::Consent(consent.clone());
        let step = screen
            .start_authorisation(&psu(ANNA), &target)
            .await
            .unwrap();
        let ScaStep::Redirect { url, .. } = &step else {
            panic!("a redirect to the bank's page, not {step:?}");
        };
        assert!(
            url.starts_with(&format!("{}/sca/login/", sandbox.web_url())),
            "{url}"
        );
        at_the_banks_page(url, ANNA, confirm).await;
        let decoupled_like = ScaStep::Decoupled {
            authorisation_id: step.authorisation_id().unwrap().clone(),
            message: String::new(),
            poll_every: Duration::from_millis(300),
            expires_in: None,
        };
        let ended = follow(&screen, &psu(ANNA), &target, &decoupled_like).await;
        let status = screen.consent_status(&psu(ANNA), &consent).await.unwrap();
        if confirm {
            assert_eq!(ended.status, ScaStatus::Finalised);
            assert_eq!(status, ConsentStatus::Valid);
            valid = Some(consent);
        } else {
            assert_eq!(ended.status, ScaStatus::Failed);
            assert_eq!(ended.message.as_deref(), Some(CANCELLED));
            assert_eq!(status, ConsentStatus::Rejected);
        }
    }
    // The first consent's session was closed for the second's (one session at most): a read under
    // it logs in again, and the login waits at the bank's page — answered at once with the page's
    // link (a secret: neither the error's text nor its `Debug` shows it); the customer continues
    // there and the read, asked again, is served.
    let consent = valid.expect("the first consent was authorised");
    let under = psu(ANNA).with_consent(consent);
    let pending = screen.accounts(&under).await.unwrap_err();
    let BankError::ApprovalPending { message, page, .. } = &pending else {
        panic!("approval pending, not {pending:?}");
    };
    assert!(!message.contains("state="), "{message}");
    for shown in [pending.to_string(), format!("{pending:?}")] {
        assert!(!shown.contains("state="), "{shown}");
        assert!(!shown.contains("/sca/login/"), "{shown}");
    }
    let page = page
        .as_ref()
        .expect("the bank's page, for the customer's browser")
        .expose_secret()
        .to_owned();
    assert!(
        page.starts_with(&format!("{}/sca/login/", sandbox.web_url())),
        "{page}"
    );
    at_the_banks_page(&page, ANNA, true).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let accounts = loop {
        match screen.accounts(&under).await {
            Err(BankError::ApprovalPending { .. }) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            other => break other,
        }
    };
    assert!(!accounts.unwrap().is_empty());
    screen.close().await;
    sandbox.shutdown().await;
}
