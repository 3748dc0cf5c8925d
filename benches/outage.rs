//! The outage benchmark: N concurrent clients (the project's own `ApiBank`, through the resilience
//! service) read balances and transactions and make payments for a while; the bank's API is down for
//! the middle third. Prints requests, failures, p50/p99 latency per channel and the switch times.
//!
//! `cargo bench --bench outage -- [--clients N] [--seconds S] [--channel website|stand-in]
//! [--http-reads on|off] [--browser shell|full] [--active N] [--max-sessions N] [--warm on|off]
//! [--pool N] [--spares N] [--queue N] [--max-wait MS] [--payments N]`
//!
//! Each client is one simulated customer with its own consent (`--clients 50`: fifty consents over
//! the sandbox's customers): a payment every `--payments` requests (default 10; `0`: reads alone), a
//! history read after each payment (every tenth request with no payments), balances otherwise.
//! `--max-sessions` bounds the browsers kept open (default: one per
//! client), `--warm on` turns the warm standby on (the customers who read in the last 15 minutes are
//! logged in when the API starts to fail), `--pool N` puts the bank in a shared browser pool of N
//! flows, `--spares N` keeps N blank browsers launched ahead (in the channel's idle time) for new
//! sessions, `--queue N` bounds the flows waiting for a browser (over it: 503 + Retry-After at
//! once, counted apart, and their latency printed), `--max-wait MS` refuses at once a call whose
//! session must log in while the logins ahead would not end within it (503 + Retry-After; its login
//! is made meanwhile, and the client's retry finds the session logged in). Printed besides: requests per second before the outage and during it (and their ratio),
//! and the website channel's memory (PSS of chromedriver and every browser) at the outage's end.
//!
//! Issue 15's before/after: `--http-reads off --browser full --active 1` is the website channel as it
//! was (every read a page load in full Chromium, one flow at a time); the defaults read server-rendered
//! screens over HTTP on the browser's session, in the headless shell when installed, with one active
//! flow per core.
//!
//! The other channel is the real `ScreenBank` on the sandbox website (`website`, the default: a
//! Chromium driven through WebDriver with the `selectors/sandbox.toml` map, logging in with the sandbox
//! customers' card readers). `stand-in` (a second `ApiBank` straight to the sandbox API) is kept to
//! measure the service alone. The service's API channel goes through a gate that the benchmark shuts
//! for the outage. The default of 4 clients suits a 2-core machine running the sandbox, the service
//! and a browser together.

#[path = "../tests/support/gate.rs"]
#[allow(dead_code, unreachable_pub)]
mod gate;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use psd2_fallback_engine::api::{ApiBank, ApiBankConfig};
use psd2_fallback_engine::failover::{FailoverBuilder, WarmStandbyConfig};
use psd2_fallback_engine::health::{HealthConfig, Policy};
use psd2_fallback_engine::journal::SqliteJournal;
use psd2_fallback_engine::model::{
    AccountId, Amount, ConsentAccess, ConsentRequest, Currency, EndToEndId, PaymentProduct,
    PaymentRequest, PsuId, ScaAnswer, ScaTarget, TransactionFilter,
};
use psd2_fallback_engine::screen::{
    BrowserPool, PoolBound, ScreenBank, ScreenBankConfig, WebDriverTarget,
};
use psd2_fallback_engine::{Bank, BankError, Channel, PsuContext};
use psd2_fallback_sandbox::{
    CUSTOMERS, CardReaderRelay, Sandbox, SandboxConfig, card_reader_response,
};
use psd2_fallback_service::{
    BankSetup, Caller, ServiceLimits, ServiceState, SqliteOwnerStore, TokenHash, owners_path, serve,
};
use rust_decimal::dec;
use secrecy::SecretString;

const TOKEN: &str = "bench-caller";

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn api_bank(base: &str, token: Option<&str>) -> ApiBank {
    let mut config = ApiBankConfig::new(base);
    config.request_timeout = Duration::from_secs(10);
    config.bearer_token = token.map(|t| SecretString::from(t.to_owned()));
    ApiBank::new(config).unwrap()
}

/// The other channel, by name (and the `ScreenBank` when it is the website).
async fn other_channel(name: &str, sandbox: &Sandbox) -> (Arc<dyn Bank>, Option<ScreenBank>) {
    match name {
        "website" => {
            let mut config = ScreenBankConfig::new(
                concat!(env!("CARGO_MANIFEST_DIR"), "/selectors/sandbox.toml"),
                sandbox.web_url(),
            );
            // `--spares N`: blank browsers launched ahead (in idle time) for the next new sessions.
            let spares: usize = arg("--spares").map_or(0, |v| v.parse().unwrap());
            config.spare = spares > 0;
            config.spares = spares.max(1);
            config.max_active = arg("--active").map_or_else(
                || std::thread::available_parallelism().map_or(2, usize::from),
                |v| v.parse().unwrap(),
            );
            config.pacing_per_second = 200;
            config.http_reads = arg("--http-reads").is_none_or(|v| v != "off");
            config.max_sessions = arg("--max-sessions").map_or_else(
                || arg("--clients").map_or(4, |v| v.parse().unwrap()),
                |v| v.parse().unwrap(),
            );
            config.max_queue = arg("--queue").map_or_else(
                || config.max_queue.max(config.max_sessions),
                |v| v.parse().unwrap(),
            );
            config.max_wait =
                arg("--max-wait").map(|ms| Duration::from_millis(ms.parse().unwrap()));
            if let Some(n) = arg("--pool") {
                config.pool = Some(BrowserPool::new(PoolBound {
                    max_active: n.parse().unwrap(),
                    max_queue: 16 * n.parse::<usize>().unwrap(),
                }));
            }
            if arg("--browser").as_deref() == Some("full") {
                config.webdriver = WebDriverTarget::Local {
                    chromedriver: "/usr/bin/chromedriver".into(),
                    chromium: "/usr/bin/chromium".into(),
                };
            }
            println!(
                "website channel: http reads {}, browser {:?}, {} active flows, {} sessions at most, {} queued at most, logins waited for at most {:?}, {} spares, pool {:?}",
                config.http_reads,
                match &config.webdriver {
                    WebDriverTarget::Local { chromium, .. } => chromium.display().to_string(),
                    other => format!("{other:?}"),
                },
                config.max_active,
                config.max_sessions,
                config.max_queue,
                config.max_wait,
                if config.spare { config.spares } else { 0 },
                config.pool.as_ref().map(BrowserPool::bound)
            );
            let spares = config.spare.then_some(config.spares);
            let screen = ScreenBank::new(config, Some(Arc::new(CardReaderRelay)))
                .await
                .expect("the website channel starts (needs chromedriver and Chromium)");
            if let Some(n) = spares {
                let launched = Instant::now();
                let ready = screen.fill_spares(n).await;
                println!(
                    "  {ready} spare browsers launched ahead in {:.1} s",
                    launched.elapsed().as_secs_f64()
                );
            }
            (Arc::new(screen.clone()), Some(screen))
        }
        "stand-in" => (Arc::new(api_bank(&sandbox.api_url(), None)), None),
        other => panic!("unknown channel {other:?}; this build has: website, stand-in"),
    }
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

/// How a client request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Served,
    /// Refused at once by admission control (503 + Retry-After): counted apart.
    Refused,
    Failed,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main]
async fn main() {
    // `RUST_LOG=…` shows the engine's events (off by default: the figures alone).
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_default_env() {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }
    let clients: usize = arg("--clients").map_or(4, |v| v.parse().unwrap());
    let seconds: u64 = arg("--seconds").map_or(60, |v| v.parse().unwrap());
    let channel = arg("--channel").unwrap_or_else(|| "website".to_owned());
    let payments: u64 = arg("--payments").map_or(10, |v| v.parse().unwrap());

    let sandbox = Sandbox::start(SandboxConfig {
        settle_after: Duration::from_millis(200),
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let gate = gate::Gate::start(sandbox.api_url()).await;
    let journal_path =
        std::env::temp_dir().join(format!("psd2-outage-{}.db", uuid::Uuid::new_v4()));
    let health_config = HealthConfig {
        extra_policies: vec![Policy::ConsecutiveFailures { n: 3 }],
        dwell: Duration::from_secs(2),
        probes_to_recover: 3,
        probe_interval: Duration::from_millis(250),
        probe_jitter: Duration::from_millis(50),
        probe_timeout: Duration::from_secs(1),
        ..HealthConfig::default()
    };
    let (other, screen) = other_channel(&channel, &sandbox).await;
    let warm = arg("--warm").is_some_and(|v| v == "on");
    let parts = FailoverBuilder::new("sandbox", api_bank(&gate.url, None), other)
        .health(health_config)
        .unattended_reads_per_day(u32::MAX)
        .parts()
        .await
        .unwrap();
    let health = parts.health;
    let prober = parts.prober.expect("the builder probes the API");
    let mut setup = BankSetup::new("sandbox", Arc::new(parts.api), parts.screen, health.clone());
    setup.unattended_reads_per_day = parts.config.unattended_reads_per_day;
    setup.screen_bank = screen.clone();
    setup.warm_standby = warm.then(WarmStandbyConfig::default);
    let state = ServiceState::new(
        vec![setup],
        Arc::new(SqliteJournal::open(&journal_path).unwrap()),
        Arc::new(SqliteOwnerStore::beside_journal(&journal_path).unwrap()),
        vec![Caller {
            name: "bench".into(),
            token: TokenHash::of(TOKEN),
        }],
        None,
        ServiceLimits {
            requests_per_second: std::num::NonZeroU32::new(100_000).unwrap(),
            burst: std::num::NonZeroU32::new(100_000).unwrap(),
            ..ServiceLimits::default()
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/banks/sandbox", listener.local_addr().unwrap());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, state.clone(), async move {
        let _ = stop_rx.await;
    }));

    // Each client: its own consent for one customer, then reads and a payment now and then.
    let started = Instant::now();
    let mut events = health.events();
    let switches = Arc::new(Mutex::new(Vec::new()));
    let recorder = {
        let switches = switches.clone();
        tokio::spawn(async move {
            while let Ok(e) = events.recv().await {
                switches.lock().unwrap().push((
                    started.elapsed(),
                    format!("{} -> {} ({})", e.from, e.to, e.reason),
                ));
            }
        })
    };
    let deadline = started + Duration::from_secs(seconds);
    let outage = (
        started + Duration::from_secs(seconds) / 3,
        started + Duration::from_secs(seconds) * 2 / 3,
    );
    let results = Arc::new(Mutex::new((0u64, 0u64, Vec::<String>::new())));
    let timings = Arc::new(Mutex::new(Vec::<(Duration, Duration, Outcome)>::new()));
    let mut tasks = Vec::new();
    for i in 0..clients {
        let customer = &CUSTOMERS[i % CUSTOMERS.len()];
        let (number, password) = (customer.number, customer.password);
        let bank = api_bank(&url, Some(TOKEN));
        let ledger = sandbox.ledger().clone();
        let results = results.clone();
        let timings = timings.clone();
        tasks.push(tokio::spawn(async move {
            let accounts = ledger.accounts(number);
            let psu = PsuContext::new(PsuId::new(number))
                .present_at(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)))
                .with_password(SecretString::from(password));
            let consent = bank
                .create_consent(
                    &psu,
                    &ConsentRequest {
                        access: ConsentAccess::full(
                            accounts.iter().map(|a| a.iban.clone()).collect(),
                        ),
                        recurring: true,
                        valid_until: ledger.today() + time::Duration::days(30),
                        frequency_per_day: 4,
                    },
                )
                .await
                .unwrap();
            sign(&bank, &psu, &ScaTarget::Consent(consent.clone())).await;
            let psu = psu.with_consent(consent);
            let id = AccountId::new(accounts[0].id.as_str());
            let mut n = 0u64;
            while Instant::now() < deadline {
                n += 1;
                let sent = Instant::now();
                // Every `payments`-th request a payment, the one after it a history, the rest balances
                // (`--payments 0`: reads alone, a history every tenth).
                let turn = match payments {
                    0 if n % 10 == 1 => 1,
                    0 => 2,
                    every => n % every,
                };
                let result = match turn {
                    0 => bank
                        .initiate_payment(
                            &psu,
                            &PaymentRequest {
                                product: PaymentProduct::SepaCreditTransfer,
                                debtor: accounts[0].iban.clone(),
                                creditor_name: "Bench".into(),
                                creditor: accounts[1].iban.clone(),
                                amount: Amount::new(
                                    dec!(0.01),
                                    Currency::from_code("EUR").unwrap(),
                                )
                                .unwrap(),
                                remittance: None,
                                requested_execution_date: None,
                                end_to_end_id: EndToEndId::generate(),
                            },
                        )
                        .await
                        .map(|_| ()),
                    1 => bank
                        .transactions(
                            &psu,
                            &id,
                            &TransactionFilter {
                                date_from: Some(ledger.today() - time::Duration::days(30)),
                                ..Default::default()
                            },
                        )
                        .await
                        .map(|_| ()),
                    _ => bank.balances(&psu, &id, None).await.map(|_| ()),
                };
                let outcome = match &result {
                    Ok(()) => Outcome::Served,
                    // The service's admission control: 503 with Retry-After, over its bound.
                    Err(BankError::ServiceUnavailable { message, .. })
                        if message.contains("as many requests as it can") =>
                    {
                        Outcome::Refused
                    }
                    Err(_) => Outcome::Failed,
                };
                timings
                    .lock()
                    .unwrap()
                    .push((sent - started, sent.elapsed(), outcome));
                {
                    let mut r = results.lock().unwrap();
                    r.0 += 1;
                    if let Err(e) = result {
                        r.1 += 1;
                        if r.2.len() < 5 {
                            r.2.push(e.to_string());
                        }
                    }
                }
                // A refused client comes back after `Retry-After` (the service says 1 s), as a
                // well-behaved client does.
                if outcome == Outcome::Refused {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }));
    }
    // The outage: the API channel's gate is shut for the middle third.
    tokio::time::sleep_until((outage.0).into()).await;
    let costs_before = screen.as_ref().map(ScreenBank::flow_costs);
    gate.set_down(true);
    let outage_started = started.elapsed();
    tokio::time::sleep_until((outage.1).into()).await;
    let memory = screen
        .as_ref()
        .and_then(|s| Some((s.browser_memory()?, s.warm_counts())));
    let costs_during = screen.as_ref().map(ScreenBank::flow_costs);
    gate.set_down(false);
    let outage_ended = started.elapsed();
    for task in tasks {
        task.await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    recorder.abort();
    prober.abort();

    let metrics = state.metrics();
    let text = metrics.encode();
    let (requests, failures, errors) = results.lock().unwrap().clone();
    println!(
        "outage benchmark: {clients} clients (each its own consent) for {seconds} s, other channel: {channel}, warm standby {}",
        if warm { "on" } else { "off" }
    );
    println!(
        "  API down from {:.1} s to {:.1} s",
        outage_started.as_secs_f64(),
        outage_ended.as_secs_f64()
    );
    println!("  client requests: {requests}, failed: {failures}");
    for e in errors {
        println!("    e.g. {e}");
    }
    for (at, what) in switches.lock().unwrap().iter() {
        println!("  switch at {:>6.2} s: {what}", at.as_secs_f64());
    }
    for ch in [Channel::Api, Channel::Screen] {
        let mut total = 0;
        for op in ["balances", "transactions", "initiate_payment"] {
            for outcome in ["ok", "unavailable", "outcome_unknown", "rejected"] {
                total += metrics.calls("sandbox", ch, op, outcome);
            }
        }
        let lat = latencies(&text, ch);
        println!(
            "  channel {ch:<6}: {total:>7} bank calls, p50 {:>7.1} ms, p99 {:>7.1} ms (histogram upper bounds)",
            lat.0 * 1000.0,
            lat.1 * 1000.0
        );
    }
    let timings = timings.lock().unwrap().clone();
    let before = timings
        .iter()
        .filter(|(at, ..)| *at < outage_started)
        .count() as f64
        / outage_started.as_secs_f64();
    let in_outage = |at: &Duration| *at >= outage_started && *at < outage_ended;
    let during = timings.iter().filter(|(at, ..)| in_outage(at)).count() as f64
        / (outage_ended - outage_started).as_secs_f64();
    let count_during = |which: Outcome| {
        timings
            .iter()
            .filter(|(at, _, outcome)| in_outage(at) && *outcome == which)
            .count()
    };
    let served_during =
        count_during(Outcome::Served) as f64 / (outage_ended - outage_started).as_secs_f64();
    println!(
        "  requests/s before the outage {before:>8.1}, during it {during:>8.1}: {:.1} % of the API's",
        100.0 * during / before.max(f64::MIN_POSITIVE)
    );
    println!(
        "  served/s during the outage {served_during:>8.1}: {:.1} % of the API's requests/s",
        100.0 * served_during / before.max(f64::MIN_POSITIVE)
    );
    println!(
        "  during the outage: {} served, {} refused at once (503 + Retry-After), {} failed (an error, or no answer within the client's 10 s)",
        count_during(Outcome::Served),
        count_during(Outcome::Refused),
        count_during(Outcome::Failed)
    );
    let mut refused: Vec<Duration> = timings
        .iter()
        .filter(|(_, _, outcome)| *outcome == Outcome::Refused)
        .map(|(_, l, _)| *l)
        .collect();
    refused.sort();
    println!(
        "  refused at once (503 + Retry-After, over the bound): {}, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        refused.len(),
        percentile(&refused, 0.5).as_secs_f64() * 1000.0,
        percentile(&refused, 0.99).as_secs_f64() * 1000.0,
        refused.last().copied().unwrap_or_default().as_secs_f64() * 1000.0
    );
    if let Some((bytes, counts)) = memory {
        println!(
            "  website channel at the outage's end: {} logins ({} ahead of the switch), {:.0} MiB PSS in all ({:.0} MiB per login, chromedriver included)",
            counts.logins,
            counts.warm_logins,
            bytes as f64 / 1048576.0,
            bytes as f64 / 1048576.0 / counts.logins.max(1) as f64
        );
    }
    if let (Some(a), Some(b)) = (costs_before, costs_during) {
        let outage = (outage_ended - outage_started).as_secs_f64();
        let logins = b.logins - a.logins;
        let (launch, login, wait) = b.means();
        println!(
            "  website channel during the outage: {logins} logins ({:.2} logins/s; {} made ahead of refused calls' retries), {} launches, {} spares used, {} flows without a browser (HTTP on the session)",
            logins as f64 / outage,
            b.logins_ahead - a.logins_ahead,
            b.launches - a.launches,
            b.spares_used - a.spares_used,
            b.without_browser - a.without_browser,
        );
        println!(
            "  website channel, mean per step since the start: launch {:.0} ms, login {:.0} ms, wait for a browser permit {:.0} ms ({} waits)",
            launch.as_secs_f64() * 1000.0,
            login.as_secs_f64() * 1000.0,
            wait.as_secs_f64() * 1000.0,
            b.permit_waits
        );
    }
    for (name, during) in [("outside the outage", false), ("during the outage", true)] {
        let mut lat: Vec<Duration> = timings
            .iter()
            .filter(|(at, ..)| in_outage(at) == during)
            .map(|(_, l, _)| *l)
            .collect();
        lat.sort();
        println!(
            "  client latency {name:<19}: {:>6} requests, p50 {:>7.1} ms, p99 {:>7.1} ms",
            lat.len(),
            percentile(&lat, 0.5).as_secs_f64() * 1000.0,
            percentile(&lat, 0.99).as_secs_f64() * 1000.0
        );
    }
    let _ = stop_tx.send(());
    let _ = server.await;
    sandbox.shutdown().await;
    let _ = std::fs::remove_file(&journal_path);
    let _ = std::fs::remove_file(owners_path(&journal_path));
}

/// p50 and p99 of a channel's bank-call latency, from the service's histogram (bucket upper bounds).
fn latencies(text: &str, channel: Channel) -> (f64, f64) {
    let mut buckets: std::collections::BTreeMap<u64, (f64, u64)> = Default::default();
    let marker = format!("channel=\"{channel}\"");
    for line in text.lines() {
        if !line.starts_with("psd2_fallback_bank_request_duration_seconds_bucket")
            || !line.contains(&marker)
        {
            continue;
        }
        let Some(le) = line.split("le=\"").nth(1).and_then(|r| r.split('"').next()) else {
            continue;
        };
        let count: u64 = line
            .rsplit(' ')
            .next()
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let bound: f64 = if le == "+Inf" {
            f64::INFINITY
        } else {
            le.parse().unwrap_or(0.0)
        };
        let key = if bound.is_infinite() {
            u64::MAX
        } else {
            (bound * 1e9) as u64
        };
        buckets.entry(key).or_insert((bound, 0)).1 += count;
    }
    let total = buckets.values().map(|b| b.1).max().unwrap_or(0);
    let quantile = |q: f64| {
        let target = (total as f64 * q).ceil() as u64;
        buckets
            .values()
            .find(|(_, c)| *c >= target.max(1))
            .map(|(b, _)| *b)
            .unwrap_or(0.0)
    };
    (quantile(0.5), quantile(0.99))
}
