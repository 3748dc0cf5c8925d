//! The operators' monitoring files in `monitoring/`: the alert rules pass `promtool check rules` and
//! promtool's own unit tests of them (`alerts.test.yml`), and every metric a rule or the Grafana
//! dashboard names is one a running service really exports on `/metrics`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use psd2_fallback_engine::Bank as _;
use psd2_fallback_service::ServiceLimits;
use serde_json::Value;

use crate::support::service::{ADMIN, BANK, api_bank, fast_health, set_override, start};
use crate::support::{psu, sandbox};

fn monitoring(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("monitoring")
        .join(file)
}

/// Runs promtool (Debian's `prometheus` package, which `scripts/setup` installs).
fn promtool(args: &[&str]) -> std::process::Output {
    Command::new("promtool")
        .args(args)
        .output()
        .expect("promtool runs (scripts/setup installs Debian's `prometheus` package)")
}

#[test]
fn promtool_checks_the_alert_rules_and_their_unit_tests() {
    let rules = monitoring("alerts.yml");
    let checked = promtool(&["check", "rules", rules.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&checked.stdout);
    assert!(
        checked.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    assert!(said.contains("SUCCESS: 5 rules found"), "{said}");

    // promtool evaluates each rule over made-up series: each alert fires when it should and only then.
    let tests = monitoring("alerts.test.yml");
    let tested = promtool(&["test", "rules", tests.to_str().unwrap()]);
    assert!(
        tested.status.success(),
        "{}{}",
        String::from_utf8_lossy(&tested.stdout),
        String::from_utf8_lossy(&tested.stderr)
    );
}

#[test]
fn promtool_refuses_a_broken_rule() {
    // The check above is only worth something if promtool does refuse a bad rule.
    let dir = std::env::temp_dir().join(format!("psd2-fallback-rules-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.yml");
    std::fs::write(
        &bad,
        "groups:\n  - name: x\n    rules:\n      - alert: Broken\n        expr: sum by (bank (psd2_fallback_bank_mode)\n",
    )
    .unwrap();
    let checked = promtool(&["check", "rules", bad.to_str().unwrap()]);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!checked.status.success());
}

/// Every `psd2_fallback_*` name in a PromQL expression.
fn metric_names(expr: &str, into: &mut BTreeSet<String>) {
    for token in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')) {
        if token.starts_with("psd2_fallback_") {
            into.insert(token.to_owned());
        }
    }
}

/// The metric names a scrape of `/metrics` offers: every sample's name, and every declared family's
/// series names (a family without series yet, such as certificate expiry without certificates, is
/// still declared by its `# TYPE` line).
fn exported(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        if let Some(declared) = line.strip_prefix("# TYPE ") {
            let mut parts = declared.split_whitespace();
            let (Some(name), Some(kind)) = (parts.next(), parts.next()) else {
                continue;
            };
            let suffixes: &[&str] = match kind {
                "counter" => &["_total", "_created"],
                "histogram" => &["_bucket", "_sum", "_count", "_created"],
                _ => &[""],
            };
            for suffix in suffixes {
                names.insert(format!("{name}{suffix}"));
            }
        } else if !line.starts_with('#') && !line.is_empty() {
            let name = line.split(['{', ' ']).next().unwrap_or_default();
            names.insert(name.to_owned());
        }
    }
    names
}

/// The names the rules and the dashboard use that `exported` lacks.
fn missing(used: &BTreeSet<String>, exported: &BTreeSet<String>) -> Vec<String> {
    used.difference(exported).cloned().collect()
}

fn used_by_rules() -> BTreeSet<String> {
    let rules: Value =
        serde_norway::from_str(&std::fs::read_to_string(monitoring("alerts.yml")).unwrap())
            .unwrap();
    let mut names = BTreeSet::new();
    for group in rules["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            metric_names(rule["expr"].as_str().unwrap(), &mut names);
        }
    }
    names
}

fn used_by_dashboard() -> BTreeSet<String> {
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(monitoring("grafana-dashboard.json")).unwrap(),
    )
    .unwrap();
    let mut names = BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            metric_names(target["expr"].as_str().unwrap(), &mut names);
        }
    }
    for variable in dashboard["templating"]["list"].as_array().unwrap() {
        if let Some(query) = variable["query"]["query"].as_str() {
            metric_names(query, &mut names);
        }
    }
    names
}

#[tokio::test(flavor = "multi_thread")]
async fn every_metric_the_rules_and_the_dashboard_use_is_exported() {
    let sandbox = sandbox().await;
    let stand_in = Arc::new(api_bank(&sandbox.api_url(), None));
    let service = start(&sandbox, stand_in, ServiceLimits::default(), fast_health()).await;
    let http = reqwest::Client::new();
    // A family has series (and is on /metrics) once something happened: a call to the bank, a switch
    // (an operator's override) and, as the service does once certificates are configured, a
    // certificate's expiry.
    let failover = service.state.failover(BANK).unwrap().clone();
    let _ = failover.accounts(&psu("1000001")).await;
    set_override(&service.url, "force-fallback").await;
    service.state.metrics().set_certificate_expiry(
        "qwac",
        time::OffsetDateTime::now_utc() + time::Duration::days(90),
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let text = loop {
        let text = http
            .get(format!("{}/metrics", service.url))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .text()
            .await
            .unwrap();
        if text.contains("psd2_fallback_switches_total") || tokio::time::Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let exported = exported(&text);

    let rules = used_by_rules();
    let dashboard = used_by_dashboard();
    // Each file names the metrics its alerts and panels are about.
    for name in [
        "psd2_fallback_bank_mode",
        "psd2_fallback_switches_total",
        "psd2_fallback_bank_requests_total",
        "psd2_fallback_journal_in_doubt",
        "psd2_fallback_certificate_expiry_timestamp_seconds",
    ] {
        assert!(rules.contains(name), "the rules do not use {name}");
    }
    for name in [
        "psd2_fallback_bank_mode",
        "psd2_fallback_switches_total",
        "psd2_fallback_bank_requests_total",
        "psd2_fallback_bank_request_duration_seconds_bucket",
        "psd2_fallback_browser_sessions_open",
        "psd2_fallback_journal_in_doubt",
    ] {
        assert!(
            dashboard.contains(name),
            "the dashboard does not use {name}"
        );
    }
    assert_eq!(missing(&rules, &exported), Vec::<String>::new(), "{text}");
    assert_eq!(
        missing(&dashboard, &exported),
        Vec::<String>::new(),
        "{text}"
    );

    // And the comparison does catch a name the service does not export.
    let mut wrong = rules.clone();
    metric_names("rate(psd2_fallback_switch_total[5m])", &mut wrong);
    assert_eq!(
        missing(&wrong, &exported),
        vec!["psd2_fallback_switch_total".to_owned()]
    );
    service.stop().await;
}
