//! Benchmark of the screen channel against the sandbox bank, figures side by side in one run:
//! warm balance read vs the floor (bare `goto` + `source` of the same page), 500 transactions vs the
//! floor, a new customer's first call with a spare browser, and 12 concurrent callers for
//! `BENCH_SECONDS` (default 60): flows/s, p50/p95, CPU-s per flow, PSS per session, processes before
//! and after.
//!
//! `cargo bench --bench screen_bank` (release build).

use std::sync::Arc;
use std::time::{Duration, Instant};

use psd2_fallback::model::{AccountId, PsuId, TransactionFilter};
use psd2_fallback::sandbox::{CUSTOMERS, CardReaderRelay, Sandbox, SandboxConfig};
use psd2_fallback::screen::driver::{Driver, FillValue, WebDriverTarget};
use psd2_fallback::screen::{ScreenBank, ScreenBankConfig};
use psd2_fallback::{Bank, PsuContext};
use secrecy::SecretString;
use time::macros::date;

fn psu(n: usize) -> PsuContext {
    let c = &CUSTOMERS[n];
    PsuContext::new(PsuId::new(c.number)).with_password(SecretString::from(c.password))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn pct(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 * p) as usize).min(v.len() - 1)]
}

/// Browser and driver processes on the machine, by command name.
fn browser_processes() -> usize {
    std::fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(Result::ok)
                .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
                .filter(|stat| {
                    // `pid (comm) state …`: count live processes, not zombies waiting for init.
                    let comm = stat.split('(').nth(1).unwrap_or_default();
                    let state = stat.rsplit(") ").next().unwrap_or_default();
                    (comm.starts_with("chrom") || comm.starts_with("headless"))
                        && !state.starts_with('Z')
                })
                .count()
        })
        .unwrap_or(0)
}

/// Proportional set size of every browser process, in MiB.
fn browser_pss_mib() -> f64 {
    let mut kib = 0u64;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        if !(comm.starts_with("chrom") || comm.starts_with("headless")) {
            continue;
        }
        let rollup = std::fs::read_to_string(entry.path().join("smaps_rollup")).unwrap_or_default();
        for line in rollup.lines() {
            if let Some(rest) = line.strip_prefix("Pss:") {
                kib += rest
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .unwrap_or(0);
            }
        }
    }
    kib as f64 / 1024.0
}

/// CPU seconds used by the whole machine so far (all cores).
fn machine_cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let line = stat.lines().next().unwrap_or_default();
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user + nice + system + irq + softirq (not idle, not iowait).
    let busy = ticks.first().unwrap_or(&0)
        + ticks.get(1).unwrap_or(&0)
        + ticks.get(2).unwrap_or(&0)
        + ticks.get(5).unwrap_or(&0)
        + ticks.get(6).unwrap_or(&0);
    busy as f64 / 100.0
}

#[tokio::main]
async fn main() {
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let before = browser_processes();
    let sandbox = Sandbox::start(SandboxConfig {
        today: Some(date!(2026 - 11 - 23)),
        settle_after: Duration::from_millis(200),
        ..SandboxConfig::default()
    })
    .await
    .expect("the sandbox starts");
    let map = concat!(env!("CARGO_MANIFEST_DIR"), "/selectors/sandbox.toml");
    let mut config = ScreenBankConfig::new(map, sandbox.web_url());
    config.pacing_per_second = 1000;
    config.max_active = 2;
    let bank = ScreenBank::new(config, Some(Arc::new(CardReaderRelay)))
        .await
        .expect("the screen channel starts");
    let anna = psu(0);
    let acc = AccountId::new("acc-01");

    // Warm balance read vs the floor.
    bank.balances(&anna, &acc, None).await.unwrap();
    let mut warm = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        bank.balances(&anna, &acc, None).await.unwrap();
        warm.push(t.elapsed());
    }
    let driver = Driver::start(&WebDriverTarget::default(), Duration::from_secs(30))
        .await
        .unwrap();
    let floor_browser = driver.new_browser().await.unwrap();
    let base = sandbox.web_url();
    floor_browser.goto(&format!("{base}/login")).await.unwrap();
    floor_browser
        .fill_by_script(&[
            (
                "#customer".into(),
                FillValue::Text(CUSTOMERS[0].number.into()),
            ),
            (
                "#password".into(),
                FillValue::Text(CUSTOMERS[0].password.into()),
            ),
        ])
        .await
        .unwrap();
    floor_browser.click("#cookie-accept").await.unwrap();
    floor_browser.click("#login-submit").await.unwrap();
    let sca = floor_browser.source().await.unwrap();
    let challenge = sca
        .split("id=\"challenge\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .unwrap()
        .to_owned();
    let response = psd2_fallback::sandbox::card_reader_response(CUSTOMERS[0].number, &challenge);
    floor_browser
        .fill_by_script(&[("#response".into(), FillValue::Text(response))])
        .await
        .unwrap();
    floor_browser.click("#sca-submit").await.unwrap();
    let mut floor = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        floor_browser
            .goto(&format!("{base}/accounts/acc-01"))
            .await
            .unwrap();
        let _ = floor_browser.source().await.unwrap();
        floor.push(t.elapsed());
    }
    let (w, f) = (median(warm), median(floor));
    println!(
        "warm balance read      screen {:>8.1?}   floor {:>8.1?}   ratio {:.2}x (target <= 1.3x)",
        w,
        f,
        w.as_secs_f64() / f.as_secs_f64()
    );

    // 500 transactions vs the floor (one page of 500 rows).
    let filter = TransactionFilter {
        date_from: Some(date!(2026 - 06 - 20)),
        ..Default::default()
    };
    let n = bank.transactions(&anna, &acc, &filter).await.unwrap().len();
    let mut reads = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        bank.transactions(&anna, &acc, &filter).await.unwrap();
        reads.push(t.elapsed());
    }
    let mut floor = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        floor_browser
            .goto(&format!(
                "{base}/accounts/acc-01?from=20/06/2026&per_page=500"
            ))
            .await
            .unwrap();
        floor_browser
            .wait_for("table#history[data-rendered=true]", Duration::from_secs(10))
            .await
            .unwrap();
        let _ = floor_browser.source().await.unwrap();
        floor.push(t.elapsed());
    }
    let (r, f) = (median(reads), median(floor));
    println!(
        "{n} transactions       screen {:>8.1?}   floor {:>8.1?}   ratio {:.2}x (target <= 1.3x)",
        r,
        f,
        r.as_secs_f64() / f.as_secs_f64()
    );
    floor_browser.close().await;
    driver.shutdown();

    // A new customer's first call, with a spare browser ready.
    bank.refill_spare().await;
    let spare = bank.spare_ready().await;
    let t = Instant::now();
    bank.accounts(&psu(1)).await.unwrap();
    println!(
        "new customer, first call (login + accounts), spare ready: {spare}: {:.1?}",
        t.elapsed()
    );

    // 12 concurrent callers.
    let flows = Arc::new(std::sync::Mutex::new(Vec::new()));
    let errors = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let cpu0 = machine_cpu_s();
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    let mut pss = 0.0f64;
    for caller in 0..12 {
        let (bank, flows, errors) = (bank.clone(), flows.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let who = psu(caller % CUSTOMERS.len());
            let accounts = bank.accounts(&who).await.unwrap_or_default();
            let Some(account) = accounts.first().map(|a| a.id.clone()) else {
                errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return;
            };
            while Instant::now() < deadline {
                let t = Instant::now();
                match bank.balances(&who, &account, None).await {
                    Ok(_) => flows.lock().unwrap().push(t.elapsed()),
                    Err(_) => {
                        errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds / 2)).await;
    pss = pss.max(browser_pss_mib());
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = machine_cpu_s() - cpu0;
    let flows = flows.lock().unwrap().clone();
    let count = flows.len();
    let sessions = bank.sessions().max(1) + usize::from(bank.spare_ready().await);
    println!(
        "12 callers, {seconds} s: {count} flows, {:.2} flows/s, p50 {:.1?}, p95 {:.1?}, errors {}, CPU {:.2} s/flow, PSS {:.0} MiB/session ({} sessions)",
        count as f64 / elapsed,
        median(flows.clone()),
        pct(flows, 0.95),
        errors.load(std::sync::atomic::Ordering::Relaxed),
        cpu / count.max(1) as f64,
        pss / sessions as f64,
        sessions,
    );
    bank.close().await;
    sandbox.shutdown().await;
    let after = browser_processes();
    let profiles = std::fs::read_dir(std::env::temp_dir())
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("psd2fb-"))
                .count()
        })
        .unwrap_or(0);
    println!(
        "browser processes (live): before {before}, after {after}; leftover temp folders: {profiles}"
    );
}
