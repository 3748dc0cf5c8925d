//! The first read after a switch, with and without warm standby, side by side in one run.
//!
//! `cargo bench --bench warm_standby -- [--customers N] [--rounds R] [--only warm|cold]`
//!
//! Per variant and round: a fresh engine (`FailoverBuilder`: the sandbox API, the real `ScreenBank`
//! on the sandbox website in the headless shell when installed, a SQLite journal, the API prober
//! every 100 ms), N customers (default 2, each its own consent) read once on the API; the API then
//! degrades (503 to every probe: failures, no switch) until the warm sessions are ready (with warm
//! standby) or for as long (without), then goes down (refused: the RTS rule switches). Timed: each
//! customer's first read after the switch, one after the other, then a second read (a warm page).
//! Printed: p50 and max of the first reads per variant, the second reads, and their ratio; and per
//! round the website channel's memory (PSS of chromedriver and every browser) with N sessions open
//! (`--customers 50 --rounds 1 --only warm`: the memory at fifty customers).

use std::sync::Arc;
use std::time::{Duration, Instant};

use psd2_fallback_engine::api::{ApiBank, ApiBankConfig};
use psd2_fallback_engine::failover::{FailoverBuilder, WarmStandbyConfig};
use psd2_fallback_engine::health::{HealthConfig, Mode};
use psd2_fallback_engine::journal::SqliteJournal;
use psd2_fallback_engine::model::{ConsentAccess, ConsentRequest, PsuId, ScaAnswer, ScaTarget};
use psd2_fallback_engine::screen::{ScreenBank, ScreenBankConfig};
use psd2_fallback_engine::{Bank, PsuContext};
use psd2_fallback_sandbox::{
    ApiFault, CUSTOMERS, CardReaderRelay, Sandbox, SandboxConfig, card_reader_response,
};
use secrecy::SecretString;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

async fn sign(bank: &dyn Bank, psu: &PsuContext, target: &ScaTarget) {
    let challenge = bank
        .start_authorisation(psu, target)
        .await
        .unwrap()
        .into_challenge()
        .unwrap();
    let answer = ScaAnswer::new(card_reader_response(psu.psu_id.as_str(), &challenge.data));
    bank.authorise(psu, target, &challenge.authorisation_id, &answer)
        .await
        .unwrap();
}

/// One round: the first and second read after the switch of each customer.
async fn round(sandbox: &Sandbox, customers: usize, warm: bool) -> (Vec<Duration>, Vec<Duration>) {
    sandbox.set_api_fault(ApiFault::Up);
    let mut api = ApiBankConfig::new(sandbox.api_url());
    api.request_timeout = Duration::from_millis(500);
    let mut config = ScreenBankConfig::new(
        concat!(env!("CARGO_MANIFEST_DIR"), "/selectors/sandbox.toml"),
        sandbox.web_url(),
    );
    config.spare = false;
    config.max_sessions = customers.max(1);
    config.max_queue = config.max_queue.max(customers);
    config.max_active = 2;
    config.pacing_per_second = 200;
    let screen = ScreenBank::new(config, Some(Arc::new(CardReaderRelay)))
        .await
        .expect("the website channel starts (needs chromedriver and Chromium)");
    let journal_path = std::env::temp_dir().join(format!("psd2-warm-{}.db", uuid::Uuid::new_v4()));
    let mut builder = FailoverBuilder::new("sandbox", ApiBank::new(api).unwrap(), screen.clone())
        .health(HealthConfig {
            dwell: Duration::from_secs(600),
            probe_interval: Duration::from_millis(100),
            probe_jitter: Duration::from_millis(20),
            probe_timeout: Duration::from_millis(500),
            ..HealthConfig::default()
        })
        .unattended_reads_per_day(u32::MAX);
    if warm {
        builder = builder.warm_standby(WarmStandbyConfig {
            max_sessions: customers,
            ..WarmStandbyConfig::default()
        });
    }
    let built = builder
        .build(Arc::new(SqliteJournal::open(&journal_path).unwrap()))
        .await
        .unwrap();
    let engine = &built.failover;
    let mut readers = Vec::new();
    for i in 0..customers {
        let customer = &CUSTOMERS[i % CUSTOMERS.len()];
        let accounts = sandbox.ledger().accounts(customer.number);
        let psu = PsuContext::new(PsuId::new(customer.number))
            .present_at([192, 0, 2, 7].into())
            .with_password(SecretString::from(customer.password));
        let consent = engine
            .create_consent(
                &psu,
                &ConsentRequest {
                    access: ConsentAccess::full(accounts.iter().map(|a| a.iban.clone()).collect()),
                    recurring: true,
                    valid_until: sandbox.ledger().today() + time::Duration::days(30),
                    frequency_per_day: 4,
                },
            )
            .await
            .unwrap();
        sign(engine, &psu, &ScaTarget::Consent(consent.clone())).await;
        let psu = psu.with_consent(consent);
        engine.balances(&psu, &accounts[0].id, None).await.unwrap();
        readers.push((psu, accounts[0].id.clone()));
    }
    // Degrading: until the warm sessions are ready (with), or as long as that took (without: 6 s).
    sandbox.set_api_fault(ApiFault::Down);
    let degraded = Instant::now();
    while degraded.elapsed() < Duration::from_secs(600) {
        let ready = screen.warm_counts().warm_logins as usize >= customers;
        if (warm && ready) || (!warm && degraded.elapsed() >= Duration::from_secs(6)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sandbox.set_api_fault(ApiFault::Refuse);
    engine
        .health()
        .watch()
        .wait_for(|m| *m == Mode::Fallback)
        .await
        .unwrap();
    let (mut first, mut second) = (Vec::new(), Vec::new());
    for (psu, account) in &readers {
        let sent = Instant::now();
        engine.balances(psu, account, None).await.unwrap();
        first.push(sent.elapsed());
    }
    for (psu, account) in &readers {
        let sent = Instant::now();
        engine.balances(psu, account, None).await.unwrap();
        second.push(sent.elapsed());
    }
    let counts = screen.warm_counts();
    println!(
        "    {} round: logins {} ({} ahead of the switch), {} sessions open, {:.0} MiB PSS in all",
        if warm { "warm" } else { "cold" },
        counts.logins,
        counts.warm_logins,
        screen.sessions(),
        screen.browser_memory().unwrap_or(0) as f64 / 1048576.0
    );
    let costs = screen.flow_costs();
    let (launch, login, wait) = costs.means();
    println!(
        "    mean launch {:.0} ms ({}), login {:.0} ms ({}), wait for a browser permit {:.0} ms; {} calls needed no browser",
        launch.as_secs_f64() * 1000.0,
        costs.launches,
        login.as_secs_f64() * 1000.0,
        costs.logins,
        wait.as_secs_f64() * 1000.0,
        costs.without_browser
    );
    built.shutdown().await;
    let _ = std::fs::remove_file(&journal_path);
    (first, second)
}

fn p(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let customers: usize = arg("--customers").map_or(2, |v| v.parse().unwrap());
    let rounds: usize = arg("--rounds").map_or(2, |v| v.parse().unwrap());
    let sandbox = Sandbox::start(SandboxConfig {
        settle_after: Duration::from_millis(200),
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    println!("first read after a switch: {customers} customers, {rounds} rounds per variant");
    let only = arg("--only");
    let mut figures = Vec::new();
    for warm in [false, true] {
        if only
            .as_deref()
            .is_some_and(|o| o != if warm { "warm" } else { "cold" })
        {
            continue;
        }
        let (mut first, mut second) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            let (f, s) = round(&sandbox, customers, warm).await;
            first.extend(f);
            second.extend(s);
        }
        first.sort();
        second.sort();
        figures.push((warm, first, second));
    }
    for (warm, first, second) in &figures {
        println!(
            "  {:<22}: first read p50 {:>7.1} ms, max {:>7.1} ms; second read p50 {:>6.1} ms",
            if *warm {
                "with warm standby"
            } else {
                "without warm standby"
            },
            p(first, 0.5),
            p(first, 1.0),
            p(second, 0.5)
        );
    }
    if let [(_, cold, _), (_, warm, second)] = &figures[..] {
        println!(
            "  ratio cold / warm first read (p50): {:.1}x; warm first read / second read (p50): {:.2}x",
            p(cold, 0.5) / p(warm, 0.5).max(0.001),
            p(warm, 0.5) / p(second, 0.5).max(0.001)
        );
    }
    sandbox.shutdown().await;
}
