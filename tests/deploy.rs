//! `deploy/` as users run it, checked without a cluster: the service configuration parses as the
//! service parses it, and the compose file, the Kubernetes manifests and the Prometheus scrape
//! configuration agree with it and with each other (ports, names, secrets, labels).

use std::path::{Path, PathBuf};

use psd2_fallback_service::{JournalLocation, ServiceConfig};
use serde::Deserialize;
use serde_norway::Value;

fn deploy(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(name)
}

fn yaml(name: &str) -> Value {
    serde_norway::from_str(&std::fs::read_to_string(deploy(name)).unwrap())
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn get<'a>(value: &'a Value, path: &[&str]) -> &'a Value {
    path.iter().fold(value, |v, key| {
        v.get(*key)
            .unwrap_or_else(|| panic!("no {key} in {path:?} of {v:?}"))
    })
}

fn text(value: &Value) -> &str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not text: {value:?}"))
}

/// The deployed configuration, with its screen map path pointing at the repository's sandbox map
/// (the image holds the bank's own there).
fn service_config() -> ServiceConfig {
    let path = deploy("psd2-fallback.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let map = Path::new(env!("CARGO_MANIFEST_DIR")).join("selectors/sandbox.toml");
    let text = text.replace(
        "/etc/psd2-fallback/selectors/examplebank.toml",
        &map.display().to_string(),
    );
    ServiceConfig::parse(&text, &path).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn the_deployed_configuration_parses_and_keeps_its_secrets_out() {
    let config = service_config();
    assert!(
        matches!(config.journal, JournalLocation::Postgres(_)),
        "replicas share a PostgreSQL journal"
    );
    assert_eq!(
        config.journal_key_file.as_deref(),
        Some(Path::new("/run/secrets/journal-key"))
    );
    assert!(
        config.banks[0].webdriver_url.is_some(),
        "browsers from the grid"
    );
    let text = std::fs::read_to_string(deploy("psd2-fallback.toml")).unwrap();
    assert!(
        !text.contains("@"),
        "no database user or password in the file"
    );
}

#[test]
fn the_compose_file_runs_two_replicas_on_one_postgres_with_a_grid_and_prometheus() {
    let compose = yaml("compose.yaml");
    let services = get(&compose, &["services"]).as_mapping().unwrap();
    let replicas: Vec<&str> = services
        .iter()
        .filter(|(_, s)| {
            s.get("command")
                .and_then(Value::as_sequence)
                .is_some_and(|c| c.first().and_then(Value::as_str) == Some("serve"))
        })
        .map(|(name, _)| text(name))
        .collect();
    assert!(replicas.len() >= 2, "{replicas:?}");
    for name in &replicas {
        let service = &services[*name];
        let secrets: Vec<&str> = get(service, &["secrets"])
            .as_sequence()
            .unwrap()
            .iter()
            .map(text)
            .collect();
        for secret in ["journal-url", "journal-key"] {
            assert!(secrets.contains(&secret), "{name} lacks {secret}");
        }
        assert!(get(service, &["depends_on"]).get("postgres").is_some());
        let entry = text(&get(service, &["entrypoint"])[2]);
        assert!(
            entry.contains("PSD2_FALLBACK_JOURNAL_URL"),
            "{name}: the journal URL comes from its secret"
        );
    }
    for needed in ["postgres", "selenium", "prometheus"] {
        assert!(services.contains_key(needed), "no {needed}");
    }
    for config in get(&compose, &["configs"]).as_mapping().unwrap().values() {
        let file = deploy(text(get(config, &["file"])));
        assert!(file.is_file(), "{} is missing", file.display());
    }
    // Prometheus scrapes every replica on the port the service listens on.
    let port = service_config().listen.port();
    let prometheus = yaml("prometheus.yml");
    let job = &get(&prometheus, &["scrape_configs"])[0];
    assert_eq!(text(get(job, &["metrics_path"])), "/metrics");
    let targets: Vec<&str> = get(&job["static_configs"][0], &["targets"])
        .as_sequence()
        .unwrap()
        .iter()
        .map(text)
        .collect();
    let mut expected: Vec<String> = replicas.iter().map(|r| format!("{r}:{port}")).collect();
    expected.sort();
    let mut targets: Vec<String> = targets.into_iter().map(str::to_owned).collect();
    targets.sort();
    assert_eq!(targets, expected);
}

#[test]
fn the_kubernetes_manifests_agree_with_the_configuration() {
    let text_of = std::fs::read_to_string(deploy("kubernetes/psd2-fallback.yaml")).unwrap();
    let documents: Vec<Value> = serde_norway::Deserializer::from_str(&text_of)
        .map(|document| Value::deserialize(document).unwrap())
        .collect();
    assert_eq!(documents.len(), 6);
    let config = service_config();
    let of_kind = |kind: &str, name: &str| {
        documents
            .iter()
            .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no {kind} {name}"))
    };
    for document in &documents {
        for key in ["apiVersion", "kind"] {
            assert!(document.get(key).is_some(), "{key} missing: {document:?}");
        }
        text(get(document, &["metadata", "name"]));
        if let Some(selector) = document["spec"]["selector"].get("matchLabels") {
            assert_eq!(
                selector,
                get(document, &["spec", "template", "metadata", "labels"]),
                "the workload selects its own pods"
            );
        }
        if document["kind"] == "Service" {
            let selector = get(document, &["spec", "selector"]);
            assert!(
                documents
                    .iter()
                    .any(|d| d["spec"]["template"]["metadata"]["labels"] == *selector),
                "a Service selects some workload: {selector:?}"
            );
        }
    }
    let service = of_kind("Deployment", "psd2-fallback");
    assert!(get(service, &["spec", "replicas"]).as_u64().unwrap() >= 2);
    let container = &get(service, &["spec", "template", "spec", "containers"])[0];
    assert_eq!(
        get(&container["ports"][0], &["containerPort"]).as_u64(),
        Some(u64::from(config.listen.port()))
    );
    let env = get(container, &["env"]).as_sequence().unwrap();
    let journal = env
        .iter()
        .find(|e| e["name"] == "PSD2_FALLBACK_JOURNAL_URL")
        .expect("the journal URL is set");
    assert!(
        journal.get("value").is_none(),
        "from a secret, never a literal"
    );
    assert!(get(journal, &["valueFrom", "secretKeyRef"]).is_mapping());
    let mounts: Vec<&str> = get(container, &["volumeMounts"])
        .as_sequence()
        .unwrap()
        .iter()
        .map(|m| text(&m["mountPath"]))
        .collect();
    let key_file = config.journal_key_file.as_ref().unwrap();
    assert!(mounts.contains(&key_file.to_str().unwrap()), "{mounts:?}");
    // The grid the configuration names is the Selenium Service's port.
    let grid = config.banks[0].webdriver_url.as_deref().unwrap();
    let port = get(
        &of_kind("Service", "selenium")["spec"]["ports"][0],
        &["port"],
    )
    .as_u64()
    .unwrap();
    assert!(grid.contains(&format!("selenium:{port}")), "{grid}");
    of_kind("StatefulSet", "postgres");
    of_kind("Service", "postgres");
}
