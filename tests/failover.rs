//! Failover drills against the sandbox bank: a real API over loopback, a real Chromium driving the
//! website, a real SQLite journal. Each drill asserts the promise it guards.

use std::sync::Arc;
use std::time::Duration;

use psd2_fallback_engine::api::{ApiBank, ApiBankConfig};
use psd2_fallback_engine::failover::{BuiltFailover, Failover, FailoverBuilder};
use psd2_fallback_engine::health::{Health, HealthConfig, Mode, Policy};
use psd2_fallback_engine::journal::{IntentState, JournalStore, SqliteJournal};
use psd2_fallback_engine::model::{
    AccountId, Amount, ConsentAccess, ConsentRequest, EndToEndId, Iban, PaymentProduct,
    PaymentRequest, PaymentStatus, ScaAnswer, ScaTarget,
};
use psd2_fallback_engine::screen::{ScreenBank, ScreenBankConfig};
use psd2_fallback_engine::{Bank, BankError, PsuContext};
use psd2_fallback_sandbox::{ApiFault, CardReaderRelay, Sandbox, card_reader_response};
use rust_decimal::dec;
use tokio::time::Instant;

use crate::support::{browser, password, psu, sandbox};

/// A temporary folder for a journal, removed afterwards.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new() -> Self {
        let path =
            std::env::temp_dir().join(format!("psd2-fallback-drill-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }
    fn journal(&self) -> Arc<SqliteJournal> {
        Arc::new(SqliteJournal::open(&self.0.join("journal.sqlite")).unwrap())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn fast_health(exempt: Option<&str>) -> HealthConfig {
    HealthConfig {
        extra_policies: vec![Policy::ConsecutiveFailures { n: 2 }],
        dwell: Duration::from_millis(800),
        probes_to_recover: 3,
        probe_interval: Duration::from_millis(150),
        probe_jitter: Duration::from_millis(30),
        probe_timeout: Duration::from_millis(400),
        exempt: exempt.map(str::to_owned),
        ..HealthConfig::default()
    }
}

fn api(sandbox: &Sandbox) -> ApiBank {
    let mut config = ApiBankConfig::new(sandbox.api_url());
    config.request_timeout = Duration::from_millis(400);
    ApiBank::new(config).unwrap()
}

async fn screen(sandbox: &Sandbox) -> ScreenBank {
    let mut config = ScreenBankConfig::new(
        concat!(env!("CARGO_MANIFEST_DIR"), "/selectors/sandbox.toml"),
        sandbox.web_url(),
    );
    config.spare = false;
    config.max_active = 1;
    config.pacing_per_second = 200;
    ScreenBank::new(config, Some(Arc::new(CardReaderRelay)))
        .await
        .expect("the screen channel starts")
}

struct Engine {
    failover: Failover,
    health: Arc<Health>,
    journal: Arc<SqliteJournal>,
    /// What the builder started: the prober and the browsers, stopped by `stop`.
    built: BuiltFailover,
}

async fn engine(sandbox: &Sandbox, scratch: &Scratch, exempt: Option<&str>) -> Engine {
    let journal = scratch.journal();
    let built = FailoverBuilder::new("sandbox", api(sandbox), screen(sandbox).await)
        .health(fast_health(exempt))
        .build(journal.clone())
        .await
        .expect("the engine builds");
    Engine {
        failover: built.failover.clone(),
        health: built.failover.health().clone(),
        journal,
        built,
    }
}

impl Engine {
    /// The customer's context with a valid API consent on all their accounts, signed with the card reader.
    async fn consented(&self, sandbox: &Sandbox, customer: &str) -> PsuContext {
        let psu = psu(customer);
        let ibans = sandbox
            .ledger()
            .accounts(customer)
            .into_iter()
            .map(|a| a.iban)
            .collect();
        let request = ConsentRequest {
            access: ConsentAccess::full(ibans),
            recurring: true,
            valid_until: sandbox.ledger().today() + time::Duration::days(90),
            frequency_per_day: 4,
        };
        let consent = self.failover.create_consent(&psu, &request).await.unwrap();
        let target = ScaTarget::Consent(consent.clone());
        let challenge = self
            .failover
            .start_authorisation(&psu, &target)
            .await
            .unwrap()
            .into_challenge()
            .unwrap();
        let answer = ScaAnswer::new(card_reader_response(customer, &challenge.data));
        self.failover
            .authorise(&psu, &target, &challenge.authorisation_id, &answer)
            .await
            .unwrap();
        psu.with_consent(consent)
    }

    async fn stop(self) {
        self.built.shutdown().await;
    }

    fn screen_accesses(&self) -> usize {
        self.journal
            .access_log(time::OffsetDateTime::now_utc().date())
            .unwrap()
            .len()
    }
}

/// Reads without pause while the API goes down, then hangs, then flaps, then comes back: no read
/// fails, the engine returns to the API, and the outage makes at most two switches of channel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_survive_an_outage_and_the_api_comes_back() {
    let Some(_permit) = browser::permit().await else {
        return;
    };
    let sandbox = sandbox().await;
    let scratch = Scratch::new();
    let engine = engine(&sandbox, &scratch, None).await;
    let mut events = engine.health.events();
    let anna = engine.consented(&sandbox, "1000001").await;
    let account = AccountId::new("acc-01");
    let expected = sandbox
        .ledger()
        .balances("1000001", &account, None)
        .unwrap();

    let (mut served, mut failed) = (0, 0);
    let mut first_fallback_read: Option<Duration> = None;
    let outage_start = Instant::now();
    let phases = [
        (ApiFault::Down, 2_500),
        (ApiFault::Hang, 2_500),
        (ApiFault::Flap { period_ms: 200 }, 2_500),
    ];
    for (fault, millis) in phases {
        sandbox.set_api_fault(fault);
        let until = Instant::now() + Duration::from_millis(millis);
        while Instant::now() < until {
            let before = engine.screen_accesses();
            match engine.failover.balances(&anna, &account, None).await {
                Ok(balances) => {
                    served += 1;
                    assert_eq!(balances, expected, "under {fault}");
                    if first_fallback_read.is_none() && engine.screen_accesses() > before {
                        first_fallback_read = Some(outage_start.elapsed());
                    }
                }
                Err(error) => {
                    failed += 1;
                    eprintln!("read failed under {fault}: {error}");
                }
            }
        }
    }
    sandbox.set_api_fault(ApiFault::Up);
    let recovered = Instant::now();
    let mut mode = engine.health.watch();
    tokio::time::timeout(Duration::from_secs(20), mode.wait_for(|m| *m == Mode::Api))
        .await
        .expect("the engine switched back to the API")
        .unwrap();
    let switch_back = recovered.elapsed();
    for _ in 0..3 {
        assert_eq!(
            engine
                .failover
                .balances(&anna, &account, None)
                .await
                .unwrap(),
            expected
        );
        served += 1;
    }
    let events: Vec<_> = std::iter::from_fn(|| events.try_recv().ok()).collect();
    let channel_switches = events
        .iter()
        .filter(|e| (e.from == Mode::Api) != (e.to == Mode::Api))
        .count();
    println!(
        "outage drill: {served} reads served, {failed} failed, {} switch events ({channel_switches} changes of channel), first fallback read {:?} after the outage began, switch back {:?} after recovery",
        events.len(),
        first_fallback_read,
        switch_back
    );
    assert_eq!(failed, 0);
    assert!(channel_switches <= 2, "{events:#?}");
    assert!(first_fallback_read.is_some());
    assert!(
        engine.screen_accesses() > 0,
        "the website accesses are logged"
    );
    engine.stop().await;
    sandbox.shutdown().await;
}

fn luc_payment() -> PaymentRequest {
    PaymentRequest {
        product: PaymentProduct::SepaCreditTransfer,
        debtor: Iban::parse("BE33738234567846").unwrap(),
        creditor_name: "Garage Vermeulen".to_owned(),
        creditor: Iban::parse("BE71096123456769").unwrap(),
        amount: Amount::eur(dec!(61.50)).unwrap(),
        remittance: Some("Onderhoud".to_owned()),
        requested_execution_date: None,
        end_to_end_id: EndToEndId::generate(),
    }
}

/// The API executes the payment and loses the answer: the engine finds it through the website instead
/// of sending it again — exactly one payment, and the caller learns its real status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_makes_exactly_one_payment() {
    let Some(_permit) = browser::permit().await else {
        return;
    };
    let sandbox = sandbox().await;
    let scratch = Scratch::new();
    let engine = engine(&sandbox, &scratch, None).await;
    let luc = psu("1000002");
    let request = luc_payment();
    sandbox.set_api_fault(ApiFault::ProcessedButNoAnswer);
    let initiation = engine
        .failover
        .initiate_payment(&luc, &request)
        .await
        .expect("reconciled through the website");
    assert_eq!(initiation.status, PaymentStatus::Received);
    let held: Vec<_> = sandbox
        .ledger()
        .payments("1000002")
        .into_iter()
        .filter(|p| {
            sandbox
                .ledger()
                .find_by_end_to_end_id("1000002", request.end_to_end_id.as_str())
                .is_some_and(|f| f.payment == p.payment)
        })
        .collect();
    assert_eq!(held.len(), 1, "exactly one payment");
    assert_eq!(held[0].payment, initiation.payment);
    // Asking again with the same intent returns the same payment, from the journal.
    sandbox.set_api_fault(ApiFault::Up);
    assert_eq!(
        engine
            .failover
            .initiate_payment(&luc, &request)
            .await
            .unwrap()
            .payment,
        initiation.payment
    );
    let target = ScaTarget::Payment(initiation.payment.clone());
    let challenge = engine
        .failover
        .start_authorisation(&luc, &target)
        .await
        .unwrap()
        .into_challenge()
        .unwrap();
    let answer = ScaAnswer::new(card_reader_response("1000002", &challenge.data));
    engine
        .failover
        .authorise(&luc, &target, &challenge.authorisation_id, &answer)
        .await
        .unwrap();
    let status = engine
        .failover
        .payment_status(&luc, &initiation.payment)
        .await
        .unwrap();
    assert!(
        matches!(
            status,
            PaymentStatus::AcceptedTechnical | PaymentStatus::AcceptedSettlementCompleted
        ),
        "{status:?}"
    );
    assert_eq!(
        sandbox
            .ledger()
            .payments("1000002")
            .iter()
            .filter(|p| p.payment == initiation.payment)
            .count(),
        1
    );
    engine.stop().await;
    sandbox.shutdown().await;
}

/// A bank exempt from the fallback (RTS Art. 33(6)) is never reached through its website: a read or a
/// payment while its API is down fails with the exemption named, and no website access is logged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exempt_bank_is_never_reached_through_its_website() {
    let Some(_permit) = browser::permit().await else {
        return;
    };
    let sandbox = sandbox().await;
    let scratch = Scratch::new();
    let engine = engine(
        &sandbox,
        &scratch,
        Some("exempted by the NBB on 2026-03-01"),
    )
    .await;
    let anna = engine.consented(&sandbox, "1000001").await;
    sandbox.set_api_fault(ApiFault::Down);
    for _ in 0..6 {
        let error = engine
            .failover
            .balances(&anna, &AccountId::new("acc-01"), None)
            .await
            .unwrap_err();
        assert!(
            matches!(&error, BankError::FallbackExempt { reason, .. } if reason.contains("NBB")),
            "{error}"
        );
    }
    let request = luc_payment();
    let error = engine
        .failover
        .initiate_payment(&psu("1000002"), &request)
        .await
        .unwrap_err();
    assert!(matches!(error, BankError::FallbackExempt { .. }), "{error}");
    assert!(
        sandbox
            .ledger()
            .find_by_end_to_end_id("1000002", request.end_to_end_id.as_str())
            .is_none()
    );
    assert_eq!(engine.health.mode(), Mode::Api);
    assert_eq!(engine.screen_accesses(), 0, "the website was never used");
    engine.stop().await;
    sandbox.shutdown().await;
}

/// r6: "proven absent" reads the whole list of orders. A payment whose answer was lost is pushed to the
/// website list's second page by later orders; reconciling it finds it there instead of proving it
/// absent from the first page and sending it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r6_a_lost_payment_on_the_second_page_of_orders_is_found_not_sent_again() {
    let Some(_permit) = browser::permit().await else {
        return;
    };
    let sandbox = sandbox().await;
    let scratch = Scratch::new();
    let engine = engine(&sandbox, &scratch, None).await;
    let luc = psu("1000002");
    let request = luc_payment();
    sandbox.set_api_fault(ApiFault::ProcessedButNoAnswer);
    sandbox.set_website_fault(psd2_fallback_sandbox::WebsiteFault::Maintenance);
    let error = engine
        .failover
        .initiate_payment(&luc, &request)
        .await
        .unwrap_err();
    assert!(error.is_outcome_unknown(), "{error}");
    // Later orders push it off the list's first page.
    for n in 0..25 {
        let mut later = luc_payment();
        later.amount = Amount::eur(dec!(0.01)).unwrap();
        later.end_to_end_id = EndToEndId::new(format!("LATER-{n}")).unwrap();
        sandbox
            .ledger()
            .initiate_payment("1000002", later, None)
            .unwrap();
    }
    sandbox.set_website_fault(psd2_fallback_sandbox::WebsiteFault::Up);
    let found = engine
        .failover
        .initiate_payment(&luc, &request)
        .await
        .expect("found on the list's second page");
    let held = sandbox
        .ledger()
        .find_by_end_to_end_id("1000002", request.end_to_end_id.as_str())
        .expect("the bank holds it");
    assert_eq!(found.payment, held.payment);
    assert_eq!(
        payments_with(&sandbox, request.end_to_end_id.as_str()),
        1,
        "exactly one payment"
    );
    engine.stop().await;
    sandbox.shutdown().await;
}

/// Runs `psd2-fallback pay` as its own process against the sandbox, for the drills that kill it: Luc
/// pays the garage.
fn pay_command(
    sandbox: &Sandbox,
    journal: &std::path::Path,
    reference: &str,
) -> std::process::Command {
    pay_command_as(sandbox, journal, reference, "1000002", "BE33738234567846")
}

/// `psd2-fallback pay` as `customer`, from the account `from` to the garage.
fn pay_command_as(
    sandbox: &Sandbox,
    journal: &std::path::Path,
    reference: &str,
    customer: &str,
    from: &str,
) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_psd2-fallback"));
    command
        .args([
            "pay",
            "--api-url",
            &sandbox.api_url(),
            "--website-url",
            &sandbox.web_url(),
        ])
        .args([
            "--map",
            concat!(env!("CARGO_MANIFEST_DIR"), "/selectors/sandbox.toml"),
        ])
        .arg("--journal")
        .arg(journal)
        .args([
            "--psu",
            customer,
            "--from",
            from,
            "--to",
            "BE71096123456769",
            "--name",
            "Garage Vermeulen",
        ])
        .args([
            "--amount",
            "12.34",
            "--reference",
            reference,
            "--api-timeout-ms",
            "60000",
            "--sandbox-card-reader",
        ])
        .env("PSD2_FALLBACK_PASSWORD", password(customer))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    command
}

fn payments_with(sandbox: &Sandbox, reference: &str) -> usize {
    payments_of_with(sandbox, "1000002", reference)
}

fn payments_of_with(sandbox: &Sandbox, customer: &str, reference: &str) -> usize {
    sandbox
        .ledger()
        .payments(customer)
        .iter()
        .filter(|p| matches!(&p.detail, psd2_fallback_sandbox::ledger::PaymentDetail::Single(r) if r.end_to_end_id.as_str() == reference))
        .count()
}

/// The engine is killed (SIGKILL) after it journalled a payment and sent it, before any answer; and
/// another run stops with a payment the bank executed but whose answer was lost. Each restart
/// reconciles before it sends anything: exactly one payment each, none lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_engine_makes_exactly_one_payment_after_restart() {
    let Some(_permit) = browser::permit().await else {
        return;
    };
    let sandbox = sandbox().await;
    let scratch = Scratch::new();
    let journal_path = scratch.0.join("journal.sqlite");

    // 1. The API hangs: the intent is journalled, the request is on its way, and the engine is killed.
    let killed = format!("KILL-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    sandbox.set_api_fault(ApiFault::Hang);
    let mut child = pay_command(&sandbox, &journal_path, &killed)
        .spawn()
        .unwrap();
    let mut attempting = false;
    for _ in 0..400 {
        if journal_path.exists()
            && let Ok(journal) = SqliteJournal::open(&journal_path)
            && journal.open_intents().unwrap().iter().any(|i| {
                i.end_to_end_id == killed
                    && i.state == IntentState::Attempting(psd2_fallback_engine::Channel::Api)
            })
        {
            attempting = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        attempting,
        "the intent was journalled as being sent before the kill"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let killed_had_browser = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .any(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("psd2fb-{}-", child.id()))
        });
    assert!(
        killed_had_browser,
        "the killed run had started its screen channel"
    );
    assert_eq!(
        payments_with(&sandbox, &killed),
        0,
        "a hung request is never executed"
    );

    sandbox.set_api_fault(ApiFault::Up);
    let output = pay_command(&sandbox, &journal_path, &killed)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("resumed: 1 settled, 0 in doubt"),
        "{stdout}"
    );
    assert_eq!(
        payments_with(&sandbox, &killed),
        1,
        "exactly one payment after the restart"
    );
    // The killed run's chromedriver and Chromium outlived it; the next run ended them.
    let orphans: Vec<String> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(&format!("psd2fb-{}-", child.id())))
        .collect();
    assert!(
        orphans.is_empty(),
        "the killed run's browser folders remain: {orphans:?}"
    );

    // 2. The API executes the payment and the answer is lost while the website is in maintenance: the
    //    run cannot tell and stops in doubt. The next run finds the payment instead of sending it again.
    let lost = format!("LOST-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    sandbox.set_api_fault(ApiFault::ProcessedButNoAnswer);
    sandbox.set_website_fault(psd2_fallback_sandbox::WebsiteFault::Maintenance);
    let output = pay_command(&sandbox, &journal_path, &lost)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(3), "in doubt: {stdout}");
    assert_eq!(payments_with(&sandbox, &lost), 1);
    sandbox.set_api_fault(ApiFault::Up);
    sandbox.set_website_fault(psd2_fallback_sandbox::WebsiteFault::Up);
    let output = pay_command(&sandbox, &journal_path, &lost)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("resumed: 1 settled, 0 in doubt") && stdout.contains(" RCVD"),
        "{stdout}"
    );
    assert_eq!(payments_with(&sandbox, &lost), 1, "found, not sent again");
    sandbox.shutdown().await;
}

/// r6: two customers' `pay` runs share a journal. Luc's run ends in doubt after the bank executed his
/// payment; Anna's run (killed mid-send) must not look Luc's payment up with her login — it would look
/// absent and be sent again — so it leaves it open; Luc's next run finds it; Anna's next run settles
/// hers. Exactly one payment each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r6_two_customers_runs_each_reconcile_only_their_own_intents() {
    let Some(_permit) = browser::permit().await else {
        return;
    };
    let sandbox = sandbox().await;
    let scratch = Scratch::new();
    let journal_path = scratch.0.join("journal.sqlite");
    let anna_iban = sandbox.ledger().accounts("1000001")[0].iban.clone();
    let anna = |reference: &str| {
        pay_command_as(
            &sandbox,
            &journal_path,
            reference,
            "1000001",
            anna_iban.as_str(),
        )
    };
    let open_intent = |reference: &str| {
        SqliteJournal::open(&journal_path)
            .unwrap()
            .open_intents()
            .unwrap()
            .into_iter()
            .find(|i| i.end_to_end_id == reference)
    };

    // 1. Luc's payment is executed and its answer lost while the website is in maintenance: in doubt.
    let luc_ref = format!("LUC-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    sandbox.set_api_fault(ApiFault::ProcessedButNoAnswer);
    sandbox.set_website_fault(psd2_fallback_sandbox::WebsiteFault::Maintenance);
    let output = pay_command(&sandbox, &journal_path, &luc_ref)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3), "in doubt");
    assert_eq!(payments_with(&sandbox, &luc_ref), 1);

    // 2. Anna's run starts with everything up but the API hanging: it resumes (leaving Luc's intent to
    //    a run with his login), sends her payment, and is killed while it waits.
    sandbox.set_website_fault(psd2_fallback_sandbox::WebsiteFault::Up);
    sandbox.set_api_fault(ApiFault::Hang);
    let anna_ref = format!("ANNA-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let mut child = anna(&anna_ref).spawn().unwrap();
    let mut attempting = false;
    for _ in 0..400 {
        if open_intent(&anna_ref)
            .is_some_and(|i| i.state == IntentState::Attempting(psd2_fallback_engine::Channel::Api))
        {
            attempting = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(attempting, "Anna's intent was being sent before the kill");
    child.kill().unwrap();
    child.wait().unwrap();
    let luc_intent = open_intent(&luc_ref).expect("Luc's intent is still open");
    assert!(
        matches!(luc_intent.state, IntentState::InDoubt(_)),
        "Anna's run did not settle Luc's intent: {:?}",
        luc_intent.state
    );

    // 3. Luc's next run finds his payment instead of sending it again; Anna's open intent is not his.
    sandbox.set_api_fault(ApiFault::Up);
    let output = pay_command(&sandbox, &journal_path, &luc_ref)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("resumed: 1 settled, 0 in doubt"),
        "{stdout}"
    );
    assert_eq!(
        payments_with(&sandbox, &luc_ref),
        1,
        "found, not sent again"
    );
    assert!(open_intent(&anna_ref).is_some(), "left for Anna's run");

    // 4. Anna's next run settles hers (the hung request never executed) and pays once.
    let output = anna(&anna_ref).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("resumed: 1 settled, 0 in doubt"),
        "{stdout}"
    );
    assert_eq!(payments_of_with(&sandbox, "1000001", &anna_ref), 1);
    assert_eq!(payments_with(&sandbox, &luc_ref), 1);
    sandbox.shutdown().await;
}

/// A stand-in for the website channel that serves the account list from the sandbox's ledger and
/// counts what it serves; it serves nothing else. For drills about the API's health alone, without a
/// browser.
#[derive(Debug)]
struct LedgerAccounts {
    sandbox_ledger: Arc<psd2_fallback_sandbox::Ledger>,
    served: std::sync::atomic::AtomicUsize,
}

impl LedgerAccounts {
    fn unavailable<T>() -> Result<T, BankError> {
        Err(BankError::Unavailable {
            channel: psd2_fallback_engine::Channel::Screen,
            reason: "the stand-in serves the account list only".to_owned(),
        })
    }
}

#[async_trait::async_trait]
impl Bank for LedgerAccounts {
    async fn accounts(
        &self,
        psu: &PsuContext,
    ) -> Result<Vec<psd2_fallback_engine::model::Account>, BankError> {
        self.served
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(self.sandbox_ledger.accounts(psu.psu_id.as_str()))
    }
    async fn balances(
        &self,
        _: &PsuContext,
        _: &AccountId,
        _: Option<time::Date>,
    ) -> Result<Vec<psd2_fallback_engine::model::Balance>, BankError> {
        Self::unavailable()
    }
    async fn transactions(
        &self,
        _: &PsuContext,
        _: &AccountId,
        _: &psd2_fallback_engine::model::TransactionFilter,
    ) -> Result<Vec<psd2_fallback_engine::model::Transaction>, BankError> {
        Self::unavailable()
    }
    async fn initiate_payment(
        &self,
        _: &PsuContext,
        _: &PaymentRequest,
    ) -> Result<psd2_fallback_engine::model::PaymentInitiation, BankError> {
        Self::unavailable()
    }
    async fn payment_status(
        &self,
        _: &PsuContext,
        _: &psd2_fallback_engine::model::PaymentRef,
    ) -> Result<PaymentStatus, BankError> {
        Self::unavailable()
    }
    async fn cancel_payment(
        &self,
        _: &PsuContext,
        _: &psd2_fallback_engine::model::PaymentRef,
    ) -> Result<psd2_fallback_engine::model::Cancellation, BankError> {
        Self::unavailable()
    }
    async fn upload_payment_file(
        &self,
        _: &PsuContext,
        _: &psd2_fallback_engine::model::PaymentFile,
    ) -> Result<psd2_fallback_engine::model::PaymentInitiation, BankError> {
        Self::unavailable()
    }
    async fn create_standing_order(
        &self,
        _: &PsuContext,
        _: &psd2_fallback_engine::model::StandingOrderRequest,
    ) -> Result<psd2_fallback_engine::model::PaymentInitiation, BankError> {
        Self::unavailable()
    }
    async fn cancel_standing_order(
        &self,
        _: &PsuContext,
        _: &psd2_fallback_engine::model::PaymentRef,
    ) -> Result<psd2_fallback_engine::model::Cancellation, BankError> {
        Self::unavailable()
    }
    async fn confirm_funds(
        &self,
        _: &PsuContext,
        _: &Iban,
        _: &Amount,
    ) -> Result<psd2_fallback_engine::model::FundsConfirmation, BankError> {
        Self::unavailable()
    }
    async fn create_consent(
        &self,
        _: &PsuContext,
        _: &ConsentRequest,
    ) -> Result<psd2_fallback_engine::model::ConsentId, BankError> {
        Self::unavailable()
    }
    async fn consent_status(
        &self,
        _: &PsuContext,
        _: &psd2_fallback_engine::model::ConsentId,
    ) -> Result<psd2_fallback_engine::model::ConsentStatus, BankError> {
        Self::unavailable()
    }
    async fn start_authorisation(
        &self,
        _: &PsuContext,
        _: &ScaTarget,
    ) -> Result<psd2_fallback_engine::model::ScaStep, BankError> {
        Self::unavailable()
    }
    async fn authorise(
        &self,
        _: &PsuContext,
        _: &ScaTarget,
        _: &psd2_fallback_engine::model::AuthorisationId,
        _: &ScaAnswer,
    ) -> Result<psd2_fallback_engine::model::ScaStatus, BankError> {
        Self::unavailable()
    }
}

/// r7 and r8 against the real API: a caller's crafted requests (ids that cannot be sent, a consent
/// the bank does not know) and an account list answered at once with one IBAN failing mod-97 leave
/// the bank on its API with no switch journalled — the bad list is served by the other channel within
/// the same call — while a real outage still switches, with a reason that says what happened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crafted_requests_and_a_bad_field_never_switch_the_bank_but_an_outage_does() {
    let sandbox = sandbox().await;
    let scratch = Scratch::new();
    let journal = scratch.journal();
    let standin = Arc::new(LedgerAccounts {
        sandbox_ledger: sandbox.ledger().clone(),
        served: std::sync::atomic::AtomicUsize::new(0),
    });
    let built = FailoverBuilder::new("sandbox", api(&sandbox), standin.clone() as Arc<dyn Bank>)
        .health(HealthConfig {
            extra_policies: vec![
                Policy::ConsecutiveFailures { n: 2 },
                Policy::UnusableAnswers { consecutive: 2 },
            ],
            ..fast_health(None)
        })
        .build(journal.clone())
        .await
        .expect("the engine builds");
    let failover = built.failover.clone();
    let health = failover.health().clone();
    let switches = || {
        let now = time::OffsetDateTime::now_utc();
        journal
            .switches("sandbox", now - time::Duration::days(1), now)
            .unwrap()
            .into_iter()
            .map(|s| s.reason)
            .collect::<Vec<_>>()
    };
    let anna = psu("1000001");
    let ibans = sandbox
        .ledger()
        .accounts("1000001")
        .into_iter()
        .map(|a| a.iban)
        .collect();
    let consent = failover
        .create_consent(
            &anna,
            &ConsentRequest {
                access: ConsentAccess::full(ibans),
                recurring: true,
                valid_until: sandbox.ledger().today() + time::Duration::days(90),
                frequency_per_day: 4,
            },
        )
        .await
        .unwrap();
    let target = ScaTarget::Consent(consent.clone());
    let challenge = failover
        .start_authorisation(&anna, &target)
        .await
        .unwrap()
        .into_challenge()
        .unwrap();
    let answer = ScaAnswer::new(card_reader_response("1000001", &challenge.data));
    failover
        .authorise(&anna, &target, &challenge.authorisation_id, &answer)
        .await
        .unwrap();
    let anna = anna
        .present_at("192.0.2.10".parse().unwrap())
        .with_consent(consent);

    // Six crafted requests from one caller.
    let stranger =
        psu("1000001").with_consent(psd2_fallback_engine::model::ConsentId::new("cns-made-up"));
    for id in ["..", "acc 01", "", "acc-01"] {
        let caller = if id == "acc-01" { &stranger } else { &anna };
        let error = failover
            .balances(caller, &AccountId::new(id), None)
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                BankError::InvalidInput(_) | BankError::Rejected { .. }
            ),
            "{id:?}: {error:?}"
        );
    }
    for _ in 0..2 {
        assert!(
            failover
                .accounts(&stranger)
                .await
                .unwrap_err()
                .is_rejected()
        );
    }
    assert_eq!(health.mode(), Mode::Api);

    // An account list with one bad IBAN, six times: each read served by the other channel.
    sandbox.set_api_fault(ApiFault::BadField);
    for _ in 0..6 {
        assert_eq!(
            failover.accounts(&anna).await.unwrap(),
            sandbox.ledger().accounts("1000001")
        );
        // Lets a confirming probe finish (it is answered: the API works).
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(standin.served.load(std::sync::atomic::Ordering::SeqCst), 6);
    assert_eq!(health.mode(), Mode::Api);
    assert_eq!(switches(), Vec::<String>::new(), "no switch journalled");

    // A real outage: the bank answers 503 with its error body; the probe confirms it.
    sandbox.set_api_fault(ApiFault::Down);
    let mut mode = health.watch();
    for _ in 0..2 {
        failover.accounts(&anna).await.unwrap();
    }
    tokio::time::timeout(
        Duration::from_secs(5),
        mode.wait_for(|m| *m == Mode::Fallback),
    )
    .await
    .expect("the outage switched the bank")
    .unwrap();
    let now = time::OffsetDateTime::now_utc();
    let stored = journal
        .switches("sandbox", now - time::Duration::days(1), now)
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(
        stored[0].reason,
        "policy tripped: 2 consecutive calls failed: 0 not answered, 2 answered that the service is unavailable"
    );
    assert!(
        stored[0]
            .evidence
            .contains("confirmed: the API probe failed too")
            && stored[0].evidence.contains("HTTP 503 SERVICE_UNAVAILABLE"),
        "{}",
        stored[0].evidence
    );
    sandbox.set_api_fault(ApiFault::Up);
    built.shutdown().await;
    sandbox.shutdown().await;
}

/// A consent made through the website while the API was down is signed on the website even when the
/// API is back in between: the API does not know the consent (it once answered CONSENT_UNKNOWN).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consent_is_signed_on_the_channel_that_made_it() {
    let Some(_permit) = browser::permit().await else {
        return;
    };
    let sandbox = sandbox().await;
    let scratch = Scratch::new();
    let engine = engine(&sandbox, &scratch, None).await;
    let psu = psu("1000001");
    let ibans = sandbox
        .ledger()
        .accounts("1000001")
        .into_iter()
        .map(|a| a.iban)
        .collect();
    let request = ConsentRequest {
        access: ConsentAccess::full(ibans),
        recurring: true,
        valid_until: sandbox.ledger().today() + time::Duration::days(90),
        frequency_per_day: 4,
    };
    sandbox.set_api_fault(ApiFault::Down);
    engine
        .health
        .set_override(psd2_fallback_engine::health::Override::ForceFallback);
    let consent = engine
        .failover
        .create_consent(&psu, &request)
        .await
        .unwrap();
    // The API is back, and the engine uses it first again.
    sandbox.set_api_fault(ApiFault::Up);
    engine
        .health
        .set_override(psd2_fallback_engine::health::Override::ForceApi);
    let target = ScaTarget::Consent(consent.clone());
    let challenge = engine
        .failover
        .start_authorisation(&psu, &target)
        .await
        .expect("the website, which made the consent, starts its SCA")
        .into_challenge()
        .expect("the website's SCA is a challenge");
    let answer = ScaAnswer::new(card_reader_response("1000001", &challenge.data));
    assert_eq!(
        engine
            .failover
            .authorise(&psu, &target, &challenge.authorisation_id, &answer)
            .await
            .unwrap(),
        psd2_fallback_engine::model::ScaStatus::Finalised
    );
    engine.stop().await;
    sandbox.shutdown().await;
}

/// A payment's SCA started on the website while the API was down is answered on the website after
/// the API is back: the API does not know the website's authorisation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payments_signature_goes_to_the_channel_that_started_it() {
    let Some(_permit) = browser::permit().await else {
        return;
    };
    let sandbox = sandbox().await;
    let scratch = Scratch::new();
    let engine = engine(&sandbox, &scratch, None).await;
    let luc = psu("1000002");
    let request = luc_payment();
    sandbox.set_api_fault(ApiFault::Down);
    engine
        .health
        .set_override(psd2_fallback_engine::health::Override::ForceFallback);
    let initiation = engine
        .failover
        .initiate_payment(&luc, &request)
        .await
        .expect("initiated through the website");
    let target = ScaTarget::Payment(initiation.payment.clone());
    let challenge = engine
        .failover
        .start_authorisation(&luc, &target)
        .await
        .expect("the website starts the signing")
        .into_challenge()
        .expect("the website's signing is a challenge");
    // The API is back, and the engine uses it first again.
    sandbox.set_api_fault(ApiFault::Up);
    engine
        .health
        .set_override(psd2_fallback_engine::health::Override::ForceApi);
    let answer = ScaAnswer::new(card_reader_response("1000002", &challenge.data));
    assert_eq!(
        engine
            .failover
            .authorise(&luc, &target, &challenge.authorisation_id, &answer)
            .await
            .expect("the website, which started the signing, takes the answer"),
        psd2_fallback_engine::model::ScaStatus::Finalised
    );
    let held = sandbox
        .ledger()
        .find_by_end_to_end_id("1000002", request.end_to_end_id.as_str())
        .expect("the payment is at the bank");
    assert_eq!(held.payment, initiation.payment);
    engine.stop().await;
    sandbox.shutdown().await;
}

/// A read the website cannot serve because its pages changed goes to the API when the API answers
/// again, although the bank is still on the fallback; with the API down too, the caller hears the
/// website's reason (which names the map and the selector to mend). A write is not repeated so: the
/// changed page may have come after the order was sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_the_changed_website_cannot_serve_is_served_by_the_api() {
    let Some(_permit) = browser::permit().await else {
        return;
    };
    let sandbox = sandbox().await;
    let scratch = Scratch::new();
    let engine = engine(&sandbox, &scratch, None).await;
    let anna = engine.consented(&sandbox, "1000001").await;
    engine
        .health
        .set_override(psd2_fallback_engine::health::Override::ForceFallback);
    sandbox.set_website_fault(psd2_fallback_sandbox::WebsiteFault::LayoutV2);
    let accounts = engine
        .failover
        .accounts(&anna)
        .await
        .expect("the API serves what the changed website cannot");
    assert_eq!(accounts.len(), sandbox.ledger().accounts("1000001").len());
    assert_eq!(engine.health.mode(), Mode::Fallback, "the override holds");

    sandbox.set_api_fault(ApiFault::Down);
    let error = engine.failover.accounts(&anna).await.unwrap_err();
    assert!(
        matches!(error, BankError::ScreenChanged { .. }),
        "the website's reason, not the API's: {error}"
    );
    sandbox.set_api_fault(ApiFault::Up);
    let request = luc_payment();
    let luc = psu("1000002");
    let error = engine
        .failover
        .initiate_payment(&luc, &request)
        .await
        .unwrap_err();
    assert!(
        matches!(error, BankError::ScreenChanged { .. }),
        "a write is not repeated on the API: {error}"
    );
    assert!(
        sandbox
            .ledger()
            .find_by_end_to_end_id("1000002", request.end_to_end_id.as_str())
            .is_none(),
        "no payment at the bank"
    );
    engine.stop().await;
    sandbox.shutdown().await;
}
