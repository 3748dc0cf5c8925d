//! The `psd2-fallback` command and its configuration file: load errors name the file and the key,
//! secrets come from the environment over the file, `report` prints a day's availability and the
//! fallback access log from a journal, and `events` tails a running service's switch events. The
//! commands run as the built binary, as an operator would run them.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use psd2_fallback_engine::health::{Mode, SwitchEvent, SwitchReason};
use psd2_fallback_engine::journal::{AccessEntry, JournalStore, SqliteJournal};
use psd2_fallback_service::{ServiceConfig, ServiceLimits};
use time::macros::datetime;

use crate::support::child::{BIN, Running, TempDir, free_port, hash, wait_until_up};
use crate::support::processes::{
    driver_folders_of, is_loopback, listening_sockets, processes_naming, settle,
};
use crate::support::sandbox;
use crate::support::service::{ADMIN, BANK, api_bank, fast_health, start};

/// The lines a child prints, as they come.
fn lines_of(child: &mut Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

const BANK_OK: &str = r#"
[[banks]]
name = "sandbox"
api_base_url = "http://127.0.0.1:9/bank"
"#;

/// Checks that loading `text` fails with a message naming the file and every one of `expected`.
fn check_config_error(dir: &TempDir, name: &str, text: &str, expected: &[&str]) {
    let path = dir.file(name, text);
    let error = ServiceConfig::load(&path).expect_err(name).to_string();
    assert!(
        error.contains(&path.display().to_string()),
        "{name}: the error names the file: {error}"
    );
    for e in expected {
        assert!(error.contains(e), "{name}: the error says {e:?}: {error}");
    }
}

#[test]
fn config_errors_name_the_file_and_the_key() {
    let dir = TempDir::new("cli");
    let top = "listen = \"127.0.0.1:0\"\njournal = \"j.db\"\n";
    check_config_error(
        &dir,
        "unknown-top-key.toml",
        &format!("{top}colour = \"blue\"\n{BANK_OK}"),
        &["unknown field", "colour"],
    );
    check_config_error(
        &dir,
        "unknown-bank-key.toml",
        &format!("{top}{BANK_OK}api_url = \"http://127.0.0.1:9\"\n"),
        &["unknown field", "api_url"],
    );
    check_config_error(
        &dir,
        "unknown-policy-key.toml",
        &format!("{top}{BANK_OK}[banks.policy]\nrts_consecutiv = 5\n"),
        &["unknown field", "rts_consecutiv"],
    );
    check_config_error(
        &dir,
        "bad-url.toml",
        &format!("{top}[[banks]]\nname = \"sandbox\"\napi_base_url = \"ftp://bank.example\"\n"),
        &[
            "banks[0].api_base_url",
            "\"ftp://bank.example\" is not an http:// or https:// URL",
        ],
    );
    check_config_error(
        &dir,
        "bad-website-url.toml",
        &format!("{top}{BANK_OK}website_url = \"bank.example\"\n"),
        &["banks[0].website_url", "not an http:// or https:// URL"],
    );
    check_config_error(
        &dir,
        "missing-bank-field.toml",
        &format!("{top}[[banks]]\nname = \"sandbox\"\n"),
        &["missing field", "api_base_url"],
    );
    check_config_error(
        &dir,
        "missing-caller-token.toml",
        &format!("{top}{BANK_OK}[[callers]]\nname = \"no-such-app\"\n"),
        &[
            "callers[0].token_sha256",
            "PSD2_FALLBACK_CALLER_NO_SUCH_APP_TOKEN",
        ],
    );
    check_config_error(
        &dir,
        "bad-admin-hash.toml",
        &format!("{top}admin_token_sha256 = \"abc\"\n{BANK_OK}"),
        &["admin_token_sha256", "64 hexadecimal digits"],
    );
    check_config_error(
        &dir,
        "bad-screen-map.toml",
        &format!("{top}{BANK_OK}screen_map = \"no-such-map.toml\"\n"),
        &["banks[0].screen_map", "no-such-map.toml"],
    );
    let missing = dir.0.join("absent.toml");
    let error = ServiceConfig::load(&missing).unwrap_err().to_string();
    assert!(error.contains(&missing.display().to_string()), "{error}");

    // `serve` says the same and stops.
    let path = dir.file(
        "serve-bad-url.toml",
        &format!("{top}[[banks]]\nname = \"sandbox\"\napi_base_url = \"bank.example\"\n"),
    );
    let output = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains(&path.display().to_string()) && stderr.contains("banks[0].api_base_url"),
        "{stderr}"
    );
}

#[tokio::test]
async fn env_vars_override_the_admin_and_caller_tokens() {
    let sandbox = sandbox().await;
    let dir = TempDir::new("cli");
    let port = free_port();
    let config = dir.file(
        "psd2-fallback.toml",
        &format!(
            "listen = \"127.0.0.1:{port}\"\njournal = \"{}\"\nadmin_token_sha256 = \"{}\"\n\n\
             [[banks]]\nname = \"sandbox\"\napi_base_url = \"{}\"\n\n\
             [[callers]]\nname = \"budget-app\"\ntoken_sha256 = \"{}\"\n",
            dir.0.join("journal.db").display(),
            hash("admin-token-in-the-file"),
            sandbox.api_url(),
            hash("caller-token-in-the-file"),
        ),
    );
    let mut child = Running(
        Command::new(BIN)
            .args(["serve", "--config"])
            .arg(&config)
            .env("PSD2_FALLBACK_ADMIN_TOKEN", "admin-token-from-env")
            .env(
                "PSD2_FALLBACK_CALLER_BUDGET_APP_TOKEN",
                "caller-token-from-env",
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    wait_until_up(&http, &url, &mut child.0).await;

    let accounts = |token: &str| {
        http.get(format!("{url}/banks/sandbox/v1/accounts"))
            .bearer_auth(token)
            .header("X-Request-ID", uuid::Uuid::new_v4().to_string())
            .header("Consent-ID", "no-such-consent")
            .send()
    };
    let override_with = |token: &str| {
        http.put(format!("{url}/admin/banks/sandbox/override"))
            .bearer_auth(token)
            .body("force-api")
            .send()
    };
    let cases = [
        // The environment's caller token is let in (to be told the consent is unknown).
        (
            accounts("caller-token-from-env").await.unwrap().status(),
            403,
        ),
        // The file's, overridden, is not.
        (
            accounts("caller-token-in-the-file").await.unwrap().status(),
            401,
        ),
        (
            override_with("admin-token-from-env")
                .await
                .unwrap()
                .status(),
            200,
        ),
        (
            override_with("admin-token-in-the-file")
                .await
                .unwrap()
                .status(),
            401,
        ),
    ];
    for (i, (got, want)) in cases.into_iter().enumerate() {
        assert_eq!(got.as_u16(), want, "case {i}");
    }
    drop(child);
    sandbox.shutdown().await;
}

/// A journal with one outage on 2026-03-02 (09:59:00 to 10:14:00, 900 s) and two website reads it
/// justified; the id of the switch to the fallback.
fn outage_journal(path: &Path) -> i64 {
    let journal = SqliteJournal::open(path).unwrap();
    let switch = |from, to, reason, at, started| SwitchEvent {
        sequence: 0,
        bank: "sandbox".into(),
        from,
        to,
        reason,
        evidence: "measured".into(),
        at,
        downtime_started: started,
    };
    // Down from 09:59:00 (the first failure) to the switch back at 10:14:00: 900 s.
    let down = journal
        .record_switch(&switch(
            Mode::Api,
            Mode::Fallback,
            SwitchReason::PolicyTripped("3 consecutive failures".into()),
            datetime!(2026-03-02 10:00:00 UTC),
            Some(datetime!(2026-03-02 09:59:00 UTC)),
        ))
        .unwrap();
    journal
        .record_switch(&switch(
            Mode::Fallback,
            Mode::Probing,
            SwitchReason::DwellElapsed,
            datetime!(2026-03-02 10:10:00 UTC),
            None,
        ))
        .unwrap();
    journal
        .record_switch(&switch(
            Mode::Probing,
            Mode::Api,
            SwitchReason::Recovered(3),
            datetime!(2026-03-02 10:14:00 UTC),
            None,
        ))
        .unwrap();
    for (at, psu, data) in [
        (
            datetime!(2026-03-02 10:01:00 UTC),
            "1000001",
            "balances acc-01",
        ),
        (
            datetime!(2026-03-02 10:02:30 UTC),
            "1000002",
            "transactions acc-03 2026-02-01..",
        ),
    ] {
        journal
            .log_access(&AccessEntry {
                at,
                bank: "sandbox".into(),
                psu: psu.into(),
                data: data.into(),
                switch_event: Some(down),
            })
            .unwrap();
    }
    down
}

#[test]
fn report_prints_a_days_availability_and_the_fallback_access_log() {
    let dir = TempDir::new("cli");
    let path = dir.0.join("journal.db");
    let down = outage_journal(&path);

    let report = |day: &str| {
        let output = Command::new(BIN)
            .args(["report", "--journal"])
            .arg(&path)
            .args(["--day", day, "--bank", "sandbox"])
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    let text = report("2026-03-02");
    for expected in [
        "Availability on 2026-03-02",
        "98.9583 % available, 900 s down, 1 outage(s)",
        "2026-03-02 9:59:00.0 +00:00:00 .. 2026-03-02 10:14:00.0 +00:00:00",
        &format!("switch #{down} api -> fallback"),
        "Fallback data-access log (2 entries)",
        &format!("sandbox      PSU 1000001    balances acc-01  (switch #{down})"),
        &format!("sandbox      PSU 1000002    transactions acc-03 2026-02-01..  (switch #{down})"),
    ] {
        assert!(text.contains(expected), "{expected:?} in:\n{text}");
    }
    // The next day: no outage, no access.
    let text = report("2026-03-03");
    assert!(
        text.contains("100.0000 % available, 0 s down, 0 outage(s)"),
        "{text}"
    );
    assert!(
        text.contains("Fallback data-access log (0 entries)"),
        "{text}"
    );

    // A missing journal is named, not created.
    let missing = dir.0.join("absent.db");
    let output = Command::new(BIN)
        .args(["report", "--journal"])
        .arg(&missing)
        .args(["--day", "2026-03-02"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("no such journal file"),
        "{output:?}"
    );
    assert!(!Path::new(&missing).exists());
}

#[test]
fn report_writes_the_regulators_figures_as_csv_json_and_an_html_page() {
    let dir = TempDir::new("cli");
    let path = dir.0.join("journal.db");
    let down = outage_journal(&path);
    let report = |extra: &[&str]| {
        let output = Command::new(BIN)
            .args(["report", "--journal"])
            .arg(&path)
            .args([
                "--day",
                "2026-03-01",
                "--to",
                "2026-03-03",
                "--bank",
                "sandbox",
            ])
            .args(extra)
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    // CSV: one row per bank and day, the accesses counted with the switch that justified them.
    let csv = report(&["--format", "csv"]);
    assert_eq!(
        csv,
        format!(
            "bank,day,downtime_seconds,availability_percent,outages,fallback_accesses,justifying_switches\n\
             sandbox,2026-03-01,0,100.0000,0,0,\n\
             sandbox,2026-03-02,900,98.9583,1,2,{down}\n\
             sandbox,2026-03-03,0,100.0000,0,0,\n"
        )
    );
    // JSON: the same figures, with every access and its justifying switch.
    let json: serde_json::Value = serde_json::from_str(&report(&["--format", "json"])).unwrap();
    let days = json["days"].as_array().unwrap();
    assert_eq!(days.len(), 3);
    let day = &days[1];
    assert_eq!(day["day"], "2026-03-02");
    assert_eq!(day["downtimeSeconds"], 900);
    assert_eq!(day["availabilityPercent"], 98.9583);
    assert_eq!(day["outages"][0]["start"], "2026-03-02T09:59:00Z");
    assert_eq!(day["fallbackAccesses"].as_array().unwrap().len(), 2);
    assert_eq!(day["fallbackAccesses"][0]["switchEvent"], down);
    assert_eq!(day["justifyingSwitches"][0]["id"], down);
    assert_eq!(day["justifyingSwitches"][0]["to"], "fallback");
    // HTML, written to a file: a chart bar per day (the outage day red) and the table.
    let page = dir.0.join("report.html");
    report(&["--html", "--out", page.to_str().unwrap()]);
    let html = std::fs::read_to_string(&page).unwrap();
    assert_eq!(html.matches("<rect ").count(), 3, "{html}");
    assert!(
        html.contains("fill=\"#c62828\"><title>2026-03-02: 98.9583 %</title>"),
        "{html}"
    );
    assert!(html.contains("<td>2026-03-02</td><td>900</td><td>98.9583 %</td><td>1</td><td>2</td>"));
    // A range that ends before it starts is refused, naming the flag.
    let output = Command::new(BIN)
        .args(["report", "--journal"])
        .arg(&path)
        .args([
            "--day",
            "2026-03-03",
            "--to",
            "2026-03-01",
            "--format",
            "csv",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("--to"),
        "{output:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_tails_a_running_services_switch_events() {
    let sandbox = sandbox().await;
    // The other channel is a second `ApiBank`: this test is about the event stream, not the website.
    let service = start(
        &sandbox,
        Arc::new(api_bank(&sandbox.api_url(), None)),
        ServiceLimits::default(),
        fast_health(),
    )
    .await;
    let http = reqwest::Client::new();
    let set = |value: &'static str| {
        http.put(format!("{}/admin/banks/{BANK}/override", service.url))
            .bearer_auth(ADMIN)
            .body(value)
            .send()
    };
    // One switch before the tail starts (sent again on connect), one while it runs.
    assert_eq!(set("force-fallback").await.unwrap().status(), 200);
    let mut child = Running(
        Command::new(BIN)
            .args(["events", "--url", &format!("{}/events", service.url)])
            .env("PSD2_FALLBACK_OPERATOR_TOKEN", ADMIN)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let lines = lines_of(&mut child.0);
    let next = || {
        lines
            .recv_timeout(Duration::from_secs(20))
            .expect("a line within 20 s")
    };
    let first = next();
    assert!(
        first.contains(BANK)
            && first.contains("api -> fallback")
            && first.contains("manual override: force-fallback"),
        "{first}"
    );
    assert_eq!(set("force-api").await.unwrap().status(), 200);
    let second = next();
    assert!(
        second.contains(BANK)
            && second.contains("fallback -> api")
            && second.contains("manual override: force-api"),
        "{second}"
    );
    drop(child);
    service.stop().await;
    sandbox.shutdown().await;
}

/// r11: `serve` with a website channel, stopped with SIGTERM (what every process manager sends), ends
/// cleanly and leaves no chromedriver, no Chromium and no profile folder behind; while it ran, its
/// chromedriver listened on loopback only.
#[tokio::test]
async fn sigterm_stops_the_service_and_leaves_no_browser_and_no_folder() {
    let Some(_permit) = crate::support::browser::permit().await else {
        return;
    };
    let sandbox = sandbox().await;
    let dir = TempDir::new("cli");
    let port = free_port();
    let config = dir.file(
        "psd2-fallback.toml",
        &format!(
            "listen = \"127.0.0.1:{port}\"\njournal = \"{}\"\n\n\
             [[banks]]\nname = \"sandbox\"\napi_base_url = \"{}\"\nwebsite_url = \"{}\"\n\
             screen_map = \"{}/selectors/sandbox.toml\"\nsandbox_card_reader = true\n",
            dir.0.join("journal.db").display(),
            sandbox.api_url(),
            sandbox.web_url(),
            env!("CARGO_MANIFEST_DIR"),
        ),
    );
    let mut child = Running(
        Command::new(BIN)
            .args(["serve", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let pid = child.0.id();
    let url = format!("http://127.0.0.1:{port}");
    wait_until_up(&reqwest::Client::new(), &url, &mut child.0).await;
    let marker = PathBuf::from(format!("psd2fb-{pid}-"));
    // The website channel's chromedriver (and its spare browser) run while the service does.
    let mut chromedriver = None;
    for _ in 0..400 {
        chromedriver = processes_naming(&marker)
            .into_iter()
            .find(|(_, name)| name.contains("chromedriver"));
        if chromedriver.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (driver_pid, _) = chromedriver.expect("the website channel started chromedriver");
    let cmdline = std::fs::read(format!("/proc/{driver_pid}/cmdline")).unwrap();
    assert!(
        !String::from_utf8_lossy(&cmdline).contains("allowed-ips"),
        "chromedriver must not open itself to other hosts"
    );
    let mut sockets = Vec::new();
    for _ in 0..100 {
        sockets = listening_sockets(driver_pid);
        if !sockets.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!sockets.is_empty(), "chromedriver listens");
    for (address, port) in &sockets {
        assert!(
            is_loopback(address),
            "chromedriver listens on {address} port {port}, not loopback"
        );
    }
    assert!(
        !driver_folders_of(pid).is_empty(),
        "the driver's folder exists"
    );

    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut exited = None;
    for _ in 0..400 {
        if let Some(status) = child.0.try_wait().unwrap() {
            exited = Some(status);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let exited = exited.expect("the service stops within 20 s of SIGTERM");
    assert!(exited.success(), "a clean stop: {exited}");
    assert_eq!(settle(&marker).await, Vec::new(), "no process left");
    assert_eq!(
        driver_folders_of(pid),
        Vec::<PathBuf>::new(),
        "no folder left"
    );
    sandbox.shutdown().await;
}

/// Runs `psd2-fallback selectors check` on a map against a website; (exit success, stdout).
async fn selectors_check(map: &Path, url: &str, customer: &str) -> (bool, String) {
    let challenge = format!("{BIN} card-reader {{customer}} {{challenge}}");
    let (map, url, customer) = (map.to_owned(), url.to_owned(), customer.to_owned());
    let password = crate::support::password(&customer);
    let output = tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args(["selectors", "check"])
            .arg(&map)
            .args(["--url", &url, "--customer", &customer])
            .args(["--challenge-command", &challenge])
            .env("PSD2_FALLBACK_PASSWORD", password)
            .stdin(Stdio::null())
            .output()
            .expect("the command runs")
    })
    .await
    .expect("the command ends");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

/// r12: the doctor lists every problem of a broken map in one run, each naming the file and the key,
/// and exits non-zero before starting any browser.
#[tokio::test]
async fn selectors_check_lists_every_problem_of_a_broken_map_at_once() {
    let dir = TempDir::new("cli");
    let good = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("selectors/sandbox.toml"),
    )
    .unwrap();
    let broken = good
        .replacen(
            r##"columns.amount = { css = "td.tx-amount", parse = "amount" }"##,
            "",
            1,
        )
        .replacen(
            r##"is_here = "body[data-screen=sca]""##,
            r##"is_here = "p:contains(Code)""##,
            1,
        )
        .replacen("pending = \"Pending\"", "", 1);
    let map = dir.file("broken.toml", &broken);
    let (ok, out) = selectors_check(&map, "http://127.0.0.1:9", "1000001").await;
    assert!(!ok, "{out}");
    let file = map.display().to_string();
    for key in [
        "screens.sca.is_here: \"p:contains(Code)\": the pseudo-class :contains is not supported",
        "words.booking_status.pending: missing",
        "screens.history.tables.history.columns.amount: missing",
    ] {
        assert!(
            out.contains(&format!("screen map {file}: {key}")),
            "{key}:\n{out}"
        );
    }
    assert!(!out.contains("please report"), "{out}");
}

/// r12: the doctor logs in through the challenge command, walks every screen of the sandbox's map
/// (and the first step of its writes, cancelled) with nothing missing; a selector the website does
/// not have is named with its file, screen, key and selector, and the run exits non-zero.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selectors_check_walks_every_screen_and_names_a_missing_selector() {
    let Some(_permit) = crate::support::browser::permit().await else {
        return;
    };
    let sandbox = sandbox().await;
    let dir = TempDir::new("cli");
    let good = Path::new(env!("CARGO_MANIFEST_DIR")).join("selectors/sandbox.toml");
    let orders_before = sandbox.ledger().payments("1000001").len();
    let (ok, out) = selectors_check(&good, &sandbox.web_url(), "1000001").await;
    assert!(ok, "{out}");
    assert!(out.contains("0 required selector(s) missing"), "{out}");
    for walked in [
        "screens.history.tables.history.columns.amount: matched",
        "screens.history.tables.history.json.island: matched",
        "screens.balances.values.available: matched",
        "screens.payment_confirm.values.amount: matched",
        "screens.order_confirm.values.frequency: matched",
        "screens.payment.values.status: matched",
    ] {
        assert!(out.contains(walked), "{walked}:\n{out}");
    }
    let text = std::fs::read_to_string(&good).unwrap();
    let broken = text
        .replacen("td.tx-amount", "td.tx-sum", 1)
        .replacen("#confirm-iban", "#confirm-account", 1)
        .replacen("script#history-data", "script#history-json", 1);
    let map = dir.file("drifted.toml", &broken);
    let (ok, out) = selectors_check(&map, &sandbox.web_url(), "1000001").await;
    assert!(!ok, "{out}");
    let file = map.display().to_string();
    for missing in [
        "screens.history.tables.history.columns.amount: MISSING: #history-body tr.tx-row td.tx-sum",
        "screens.payment_confirm.values.creditor_iban: MISSING: #confirm-account",
        "screens.history.tables.history.json.island: MISSING: script#history-json",
    ] {
        assert!(
            out.contains(&format!("{file}: {missing}")),
            "{missing}:\n{out}"
        );
    }
    assert!(out.contains("3 required selector(s) missing"), "{out}");
    // Nothing was confirmed: the customer has no order the check made.
    assert_eq!(sandbox.ledger().payments("1000001").len(), orders_before);
}

/// r12: the doctor gets through the second website too — its cookie wall, its login in two steps and
/// its card reader — walks every screen of its map with nothing missing (its choice of signing
/// method too, on an order waiting for its signature), and confirms nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selectors_check_passes_on_the_second_website() {
    let Some(_permit) = crate::support::browser::permit().await else {
        return;
    };
    let sandbox = sandbox().await;
    let map = Path::new(env!("CARGO_MANIFEST_DIR")).join("selectors/mijnbank.toml");
    // An order waiting for its signature, so the choice of signing method can be checked on it.
    let accounts = sandbox.ledger().accounts("1000001");
    sandbox
        .ledger()
        .initiate_payment(
            "1000001",
            psd2_fallback_engine::model::PaymentRequest {
                product: psd2_fallback_engine::model::PaymentProduct::SepaCreditTransfer,
                debtor: accounts[0].iban.clone(),
                creditor_name: "Anna Janssens".into(),
                creditor: accounts[1].iban.clone(),
                amount: psd2_fallback_engine::model::Amount::eur(rust_decimal::dec!(1.00)).unwrap(),
                remittance: Some("waiting for its signature".into()),
                requested_execution_date: None,
                end_to_end_id: psd2_fallback_engine::model::EndToEndId::generate(),
            },
            None,
        )
        .unwrap();
    let orders_before = sandbox.ledger().payments("1000001").len();
    let (ok, out) = selectors_check(&map, &sandbox.web2_url(), "1000001").await;
    assert!(ok, "{out}");
    assert!(out.contains("0 required selector(s) missing"), "{out}");
    for walked in [
        "screens.sign_method.is_here: matched",
        "screens.sign_method.actions.choose: matched",
        "screens.sign_method.values.reference: matched",
        "screens.login_password.fields.password: matched",
        "screens.history.tables.history.columns.amount: matched",
        "screens.history.tables.history.json.call: matched",
        "screens.balances.values.booked: matched",
        "screens.payment_confirm.values.amount: matched",
        "screens.order_confirm.values.frequency: matched",
    ] {
        assert!(out.contains(walked), "{walked}:\n{out}");
    }
    assert_eq!(sandbox.ledger().payments("1000001").len(), orders_before);
}
