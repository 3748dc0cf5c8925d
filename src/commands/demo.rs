//! The demo: the engine against the built-in sandbox bank, through a simulated outage.
//!
//! It starts the sandbox bank, builds a `Failover` over the API channel and the screen channel (a real
//! headless Chromium), runs a small client workload — balances, history, a payment signed with the
//! customer's card reader, a standing order — takes the bank's API down, keeps serving through the
//! website, brings the API back, and prints every switch as it happens and a summary at the end.
//! The customer signs orders on the website in the banking app: during the outage the website's
//! "confirm in your app" page is relayed as a decoupled authorisation, approved through the sandbox's
//! app control (`PUT /_sandbox/app/{customer}/approve`, as the customer's phone would) and followed
//! until the page moves on.

use std::fmt::Write as _;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rust_decimal::Decimal;
use secrecy::SecretString;
use time::OffsetDateTime;
use tokio::time::Instant;

use psd2_fallback_engine::api::ApiBankConfig;
use psd2_fallback_engine::bank::{Bank, BankError, BankResult, Channel, PsuContext};
use psd2_fallback_engine::failover::{Failover, FailoverBuilder, ScreenChannel};
use psd2_fallback_engine::health::{HealthConfig, Mode, Policy};
use psd2_fallback_engine::journal::{JournalStore, SqliteJournal};
use psd2_fallback_engine::model::belgian::format_amount;
use psd2_fallback_engine::model::{
    AccountId, Amount, ConsentAccess, ConsentRequest, EndToEndId, ExecutionRule, Frequency,
    PaymentProduct, PaymentRequest, PaymentStatus, PsuId, ScaAnswer, ScaStatus, ScaStep, ScaTarget,
    StandingOrderRequest, TransactionFilter,
};
use psd2_fallback_engine::screen::ScreenBankConfig;
use psd2_fallback_sandbox::{
    ApiFault, CUSTOMERS, CardReaderRelay, Sandbox, SandboxConfig, card_reader_response,
};

/// What the demo needs from outside.
#[derive(Debug, Clone)]
pub(crate) struct DemoOptions {
    /// The screen map of the sandbox website.
    pub(crate) map: PathBuf,
    /// Where browsers come from.
    pub(crate) webdriver: psd2_fallback_engine::screen::WebDriverTarget,
    /// How long the API stays down.
    pub(crate) outage: Duration,
    /// Where the journal goes; a temporary file when `None`.
    pub(crate) journal: Option<PathBuf>,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            map: PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/selectors/sandbox.toml"
            )),
            webdriver: psd2_fallback_engine::screen::WebDriverTarget::default(),
            outage: Duration::from_secs(8),
            journal: None,
        }
    }
}

/// What the demo measured.
#[derive(Debug, Clone, Default)]
pub(crate) struct DemoSummary {
    /// Calls answered, by the channel that served them (API, website).
    pub(crate) served: [u32; 2],
    /// Calls that failed (the demo's promise: none).
    pub(crate) failed: u32,
    /// Payments the workload asked for.
    pub(crate) payments_intended: u32,
    /// Payments the bank's ledger holds for those requests.
    pub(crate) payments_executed: u32,
    /// Switch events seen.
    pub(crate) switches: u32,
    /// From the API going down to the first call served through the website.
    pub(crate) time_to_fallback: Option<Duration>,
    /// From the API coming back to the switch back to it.
    pub(crate) time_to_switch_back: Option<Duration>,
    /// Signings approved in the banking app (decoupled), and how long the longest took from the
    /// start of its authorisation to its end.
    pub(crate) approved_in_app: u32,
    /// The longest of those signings.
    pub(crate) longest_app_signing: Option<Duration>,
}

/// Prints a line with the time since the demo started.
struct Log {
    started: Instant,
}

impl Log {
    fn line(&self, text: impl AsRef<str>) {
        let t = self.started.elapsed().as_secs_f64();
        println!("[{t:6.2}s] {}", text.as_ref());
        let _ = std::io::stdout().flush();
    }
}

/// The workload's view of one call: which channel served it, and whether it failed.
struct Tally<'a> {
    journal: &'a dyn JournalStore,
    summary: DemoSummary,
    outage_started: Option<Instant>,
    /// How the customer signs.
    signer: &'a Signer,
}

impl Tally<'_> {
    fn screen_accesses(&self) -> usize {
        self.journal
            .access_log(OffsetDateTime::now_utc().date())
            .map(|l| l.len())
            .unwrap_or(0)
    }

    /// Runs one call, counts it by the channel that served it, and says so.
    async fn call<T>(
        &mut self,
        log: &Log,
        what: &str,
        call: impl std::future::Future<Output = BankResult<T>>,
        show: impl Fn(&T) -> String,
    ) -> Option<T> {
        let before = self.screen_accesses();
        let started = Instant::now();
        let result = call.await;
        let channel = if self.screen_accesses() > before {
            Channel::Screen
        } else {
            Channel::Api
        };
        match result {
            Ok(value) => {
                self.summary.served[usize::from(channel == Channel::Screen)] += 1;
                if channel == Channel::Screen
                    && let (Some(outage), None) =
                        (self.outage_started, self.summary.time_to_fallback)
                {
                    self.summary.time_to_fallback = Some(outage.elapsed());
                }
                log.line(format!(
                    "{what:<34} via {:<6} {:>7.0} ms  {}",
                    channel.to_string(),
                    started.elapsed().as_secs_f64() * 1e3,
                    show(&value)
                ));
                Some(value)
            }
            Err(error) => {
                self.summary.failed += 1;
                log.line(format!("{what:<34} FAILED: {error}"));
                None
            }
        }
    }
}

/// How a signing ended, and whether the customer approved it in the banking app.
struct Signed {
    status: ScaStatus,
    in_app: bool,
}

impl Signed {
    fn show(&self) -> String {
        match self.in_app {
            true => format!("{:?}, approved in the banking app (decoupled)", self.status),
            false => format!("{:?}, with the card reader", self.status),
        }
    }
}

/// How the customer signs: with the card reader (embedded: the challenge relayed, its response
/// returned), or in the banking app (decoupled: the customer approves there, through the sandbox's app
/// control, and the authorisation is polled at the bank's pace until it ends).
struct Signer {
    /// The sandbox website's base, where its app control is.
    web_url: String,
    /// One HTTP client for the app control.
    http: reqwest::Client,
    /// Signings approved in the app and the longest of them.
    in_app: std::sync::Mutex<(u32, Option<Duration>)>,
}

impl Signer {
    async fn sign(
        &self,
        bank: &dyn Bank,
        psu: &PsuContext,
        target: &ScaTarget,
    ) -> BankResult<Signed> {
        let started = Instant::now();
        let step = bank.start_authorisation(psu, target).await?;
        let (authorisation, poll_every) = match step {
            ScaStep::Challenge(challenge) => {
                // The customer reads the challenge, types it into their card reader and gives the
                // answer back.
                let answer =
                    ScaAnswer::new(card_reader_response(psu.psu_id.as_str(), &challenge.data));
                return bank
                    .authorise(psu, target, &challenge.authorisation_id, &answer)
                    .await
                    .map(|status| Signed {
                        status,
                        in_app: false,
                    });
            }
            ScaStep::Decoupled {
                authorisation_id,
                poll_every,
                ..
            } => (authorisation_id, poll_every),
            other => {
                return Err(BankError::NotSupported {
                    channel: Channel::Api,
                    operation: format!(
                        "the demo signs with the card reader or the app, not {:?}",
                        other.approach()
                    ),
                });
            }
        };
        // The customer's phone: approve what waits in the app.
        let approve = format!(
            "{}/_sandbox/app/{}/approve",
            self.web_url,
            psu.psu_id.as_str()
        );
        let approved = self.http.put(&approve).send().await;
        if !approved.is_ok_and(|a| a.status().is_success()) {
            return Err(BankError::Unavailable {
                channel: Channel::Screen,
                reason: "the sandbox's app control did not approve".to_owned(),
            });
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let progress = bank
                .authorisation_status(psu, target, &authorisation)
                .await?;
            if progress.has_ended() || Instant::now() > deadline {
                if progress.status == ScaStatus::Finalised {
                    let took = started.elapsed();
                    let mut in_app = self.in_app.lock().unwrap_or_else(|p| p.into_inner());
                    in_app.0 += 1;
                    in_app.1 = Some(in_app.1.map_or(took, |t| t.max(took)));
                }
                return Ok(Signed {
                    status: progress.status,
                    in_app: true,
                });
            }
            tokio::time::sleep(poll_every).await;
        }
    }
}

/// Runs the demo, printing as it goes; returns the summary.
pub(crate) async fn run(options: DemoOptions) -> anyhow::Result<DemoSummary> {
    let log = Log {
        started: Instant::now(),
    };
    let sandbox = Sandbox::start(SandboxConfig {
        settle_after: Duration::from_millis(500),
        // The customer signs orders on the website in the banking app.
        app_signers: vec![CUSTOMERS[0].number.to_owned()],
        ..SandboxConfig::default()
    })
    .await
    .context("the sandbox bank could not start")?;
    log.line(format!(
        "sandbox bank open: website {} , API {}/v1/",
        sandbox.web_url(),
        sandbox.api_url()
    ));

    let scratch = std::env::temp_dir().join(format!("psd2-fallback-demo-{}", uuid::Uuid::new_v4()));
    let journal_path = match &options.journal {
        Some(path) => path.clone(),
        None => {
            std::fs::create_dir_all(&scratch)?;
            scratch.join("journal.sqlite")
        }
    };
    let journal: Arc<dyn JournalStore> = Arc::new(SqliteJournal::open(&journal_path)?);
    let mut api_config = ApiBankConfig::new(sandbox.api_url());
    api_config.request_timeout = Duration::from_secs(2);
    let mut screen_config = ScreenBankConfig::new(&options.map, sandbox.web_url());
    screen_config.webdriver = options.webdriver.clone();
    log.line("starting the screen channel (headless Chromium through chromedriver)");
    let engine = FailoverBuilder::new(
        "sandbox",
        api_config,
        ScreenChannel::config(screen_config, Some(Arc::new(CardReaderRelay))),
    )
    .health(HealthConfig {
        extra_policies: vec![Policy::ConsecutiveFailures { n: 2 }],
        dwell: Duration::from_secs(2),
        probes_to_recover: 3,
        probe_interval: Duration::from_millis(300),
        probe_jitter: Duration::from_millis(100),
        probe_timeout: Duration::from_secs(1),
        ..HealthConfig::default()
    })
    .build(journal.clone())
    .await?;
    let failover = &engine.failover;
    let health = failover.health();
    let mut events = health.events();
    let printer_log = Log {
        started: log.started,
    };
    let switches = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counted = switches.clone();
    let printer = tokio::spawn(async move {
        while let Ok(event) = events.recv().await {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            printer_log.line(format!(
                "== SWITCH {} -> {}: {} ({})",
                event.from, event.to, event.reason, event.evidence
            ));
        }
    });

    let customer = &CUSTOMERS[0];
    let payee = &CUSTOMERS[1];
    let psu = PsuContext::new(PsuId::new(customer.number))
        .present_at(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)))
        .with_password(SecretString::from(customer.password));
    let own = sandbox.ledger().accounts(customer.number);
    let payee_account = sandbox.ledger().accounts(payee.number).remove(0);
    let ibans = own.iter().map(|a| a.iban.clone()).collect();
    let today = sandbox.ledger().today();
    log.line(format!(
        "customer {} ({}) asks for a consent on {} accounts; SCA with the card reader",
        customer.name,
        customer.number,
        own.len()
    ));
    let consent = failover
        .create_consent(
            &psu,
            &ConsentRequest {
                access: ConsentAccess::full(ibans),
                recurring: true,
                valid_until: today + time::Duration::days(90),
                frequency_per_day: 4,
            },
        )
        .await?;
    let signer = Signer {
        web_url: sandbox.web_url(),
        http: reqwest::Client::new(),
        in_app: std::sync::Mutex::new((0, None)),
    };
    signer
        .sign(failover, &psu, &ScaTarget::Consent(consent.clone()))
        .await?;
    let psu = psu.with_consent(consent);
    let current = AccountId::new(own[0].id.as_str());

    let mut tally = Tally {
        journal: &*journal,
        summary: DemoSummary::default(),
        outage_started: None,
        signer: &signer,
    };
    let mut e2e_ids: Vec<EndToEndId> = Vec::new();

    // Phase 1: everything through the API.
    log.line("-- phase 1: the bank's API is up");
    workload(
        &log,
        &mut tally,
        failover,
        &psu,
        &current,
        &payee_account.iban,
        &payee_account.owner_name,
        &mut e2e_ids,
        "before the outage",
        true,
    )
    .await;

    // Phase 2: the API goes down; the website serves.
    log.line(format!(
        "-- phase 2: the bank's API goes down for {:?}",
        options.outage
    ));
    sandbox.set_api_fault(ApiFault::Down);
    tally.outage_started = Some(Instant::now());
    let until = Instant::now() + options.outage;
    let mut round = 0;
    while Instant::now() < until {
        round += 1;
        workload(
            &log,
            &mut tally,
            failover,
            &psu,
            &current,
            &payee_account.iban,
            &payee_account.owner_name,
            &mut e2e_ids,
            "during the outage",
            round == 1,
        )
        .await;
    }

    // Phase 3: the API comes back; the probes notice and the engine switches back.
    log.line("-- phase 3: the bank's API is back");
    sandbox.set_api_fault(ApiFault::Up);
    let back = Instant::now();
    let mut mode = health.watch();
    if tokio::time::timeout(Duration::from_secs(30), mode.wait_for(|m| *m == Mode::Api))
        .await
        .is_ok()
    {
        tally.summary.time_to_switch_back = Some(back.elapsed());
    }
    workload(
        &log,
        &mut tally,
        failover,
        &psu,
        &current,
        &payee_account.iban,
        &payee_account.owner_name,
        &mut e2e_ids,
        "after the outage",
        false,
    )
    .await;

    // Let accepted payments settle, then count what the bank executed.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let mut summary = tally.summary;
    summary.payments_intended = e2e_ids.len() as u32;
    summary.payments_executed = e2e_ids
        .iter()
        .filter(|e| {
            sandbox
                .ledger()
                .find_by_end_to_end_id(customer.number, e.as_str())
                .is_some_and(|r| r.status == PaymentStatus::AcceptedSettlementCompleted)
        })
        .count() as u32;
    summary.switches = switches.load(std::sync::atomic::Ordering::SeqCst);
    (summary.approved_in_app, summary.longest_app_signing) =
        *signer.in_app.lock().unwrap_or_else(|p| p.into_inner());
    printer.abort();
    engine.shutdown().await;
    sandbox.shutdown().await;
    let _ = std::fs::remove_dir_all(&scratch);
    print_summary(&summary);
    Ok(summary)
}

/// One round of the client workload: balances, recent history, and (when `pay`) a payment signed with
/// the card reader and a standing order.
#[allow(clippy::too_many_arguments)]
async fn workload(
    log: &Log,
    tally: &mut Tally<'_>,
    bank: &Failover,
    psu: &PsuContext,
    account: &AccountId,
    payee: &psd2_fallback_engine::model::Iban,
    payee_name: &str,
    e2e_ids: &mut Vec<EndToEndId>,
    when: &str,
    pay: bool,
) {
    tally
        .call(log, "balances", bank.balances(psu, account, None), |b| {
            b.iter()
                .find(|b| b.kind == psd2_fallback_engine::model::BalanceType::InterimBooked)
                .map(|b| format!("booked {}", format_amount(&b.amount)))
                .unwrap_or_default()
        })
        .await;
    let today = OffsetDateTime::now_utc().date();
    let filter = TransactionFilter {
        date_from: Some(today - time::Duration::days(30)),
        ..TransactionFilter::default()
    };
    tally
        .call(
            log,
            "transactions, last 30 days",
            bank.transactions(psu, account, &filter),
            |t| format!("{} transactions", t.len()),
        )
        .await;
    if !pay {
        return;
    }
    let debtor = bank_iban(bank, psu, account).await;
    let Some(debtor) = debtor else { return };
    let request = PaymentRequest {
        product: PaymentProduct::SepaCreditTransfer,
        debtor: debtor.clone(),
        creditor_name: payee_name.to_owned(),
        creditor: payee.clone(),
        amount: Amount::eur(Decimal::new(2_500, 2)).expect("cents"),
        remittance: Some(format!("Demo payment {when}")),
        requested_execution_date: None,
        end_to_end_id: EndToEndId::generate(),
    };
    e2e_ids.push(request.end_to_end_id.clone());
    let Some(started) = tally
        .call(
            log,
            "payment of 25,00 EUR",
            bank.initiate_payment(psu, &request),
            |p| format!("{} {}", p.payment.id, p.status.code()),
        )
        .await
    else {
        return;
    };
    let target = ScaTarget::Payment(started.payment.clone());
    let signer = tally.signer;
    tally
        .call(
            log,
            "  signed",
            signer.sign(bank, psu, &target),
            Signed::show,
        )
        .await;
    tally
        .call(
            log,
            "  payment status",
            bank.payment_status(psu, &started.payment),
            |s: &PaymentStatus| s.code().to_owned(),
        )
        .await;
    let order = StandingOrderRequest {
        payment: PaymentRequest {
            amount: Amount::eur(Decimal::TEN).expect("cents"),
            end_to_end_id: EndToEndId::generate(),
            remittance: Some(format!("Demo standing order {when}")),
            ..request
        },
        start_date: today + time::Duration::days(7),
        end_date: None,
        frequency: Frequency::Monthly,
        day_of_execution: None,
        execution_rule: ExecutionRule::Following,
    };
    if let Some(created) = tally
        .call(
            log,
            "standing order, monthly 10,00 EUR",
            bank.create_standing_order(psu, &order),
            |p| p.payment.id.to_string(),
        )
        .await
    {
        let target = ScaTarget::Payment(created.payment.clone());
        tally
            .call(
                log,
                "  signed",
                signer.sign(bank, psu, &target),
                Signed::show,
            )
            .await;
    }
}

async fn bank_iban(
    bank: &Failover,
    psu: &PsuContext,
    account: &AccountId,
) -> Option<psd2_fallback_engine::model::Iban> {
    bank.accounts(psu)
        .await
        .ok()?
        .into_iter()
        .find(|a| &a.id == account)
        .map(|a| a.iban)
}

fn print_summary(s: &DemoSummary) {
    let ms = |d: Option<Duration>| {
        d.map(|d| format!("{:.0} ms", d.as_secs_f64() * 1e3))
            .unwrap_or_else(|| "-".to_owned())
    };
    let mut out = String::new();
    let _ = writeln!(out, "\nSummary");
    let rows = [
        ("requests served through the API", s.served[0].to_string()),
        (
            "requests served through the website",
            s.served[1].to_string(),
        ),
        ("failed requests", s.failed.to_string()),
        (
            "payments intended / executed",
            format!("{} / {}", s.payments_intended, s.payments_executed),
        ),
        ("switch events", s.switches.to_string()),
        (
            "time to fail over (first website read)",
            ms(s.time_to_fallback),
        ),
        ("time to switch back to the API", ms(s.time_to_switch_back)),
        (
            "signings approved in the banking app",
            s.approved_in_app.to_string(),
        ),
        ("  longest, start to finalised", ms(s.longest_app_signing)),
    ];
    for (label, value) in rows {
        let _ = writeln!(out, "  {label:<40} {value:>10}");
    }
    print!("{out}");
}
