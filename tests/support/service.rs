//! The resilience service on a loopback port, over the sandbox bank: the API channel through a
//! [`Gate`] (so a test can take it down), the other channel given by the test as any `Bank`.

use std::sync::Arc;
use std::time::Duration;

use psd2_fallback_engine::Bank;
use psd2_fallback_engine::api::{ApiBank, ApiBankConfig};
use psd2_fallback_engine::failover::FailoverBuilder;
use psd2_fallback_engine::health::{Health, HealthConfig};
use psd2_fallback_engine::journal::SqliteJournal;
use psd2_fallback_sandbox::Sandbox;
use psd2_fallback_service::{
    BankSetup, Caller, ServiceLimits, ServiceState, SqliteOwnerStore, TokenHash, owners_path, serve,
};
use secrecy::SecretString;
use tokio::sync::oneshot;

use super::conformance::Checker;
use super::gate::Gate;

/// The bank's name in the service.
pub const BANK: &str = "sandbox";
/// The first caller's token.
pub const TOKEN_A: &str = "token-of-the-budget-app";
/// The second caller's token.
pub const TOKEN_B: &str = "token-of-the-accounting-tool";
/// The admin token.
pub const ADMIN: &str = "token-of-the-operator";

/// The website channel: a `ScreenBank` on the sandbox website (a real Chromium, launched when a call
/// first needs it), logging in with the sandbox customers' card readers.
pub async fn screen_channel(sandbox: &Sandbox) -> Arc<dyn Bank> {
    let mut config = psd2_fallback_engine::screen::ScreenBankConfig::new(
        concat!(env!("CARGO_MANIFEST_DIR"), "/selectors/sandbox.toml"),
        sandbox.web_url(),
    );
    config.spare = false;
    config.max_active = 1;
    config.pacing_per_second = 200;
    let screen = psd2_fallback_engine::screen::ScreenBank::new(
        config,
        Some(Arc::new(psd2_fallback_sandbox::CardReaderRelay)),
    )
    .await
    .expect("the screen channel starts");
    Arc::new(screen)
}

/// An `ApiBank` for `base`, with a bearer token if given.
pub fn api_bank(base: &str, token: Option<&str>) -> ApiBank {
    api_bank_waiting(base, token, Duration::from_secs(10))
}

/// An `ApiBank` that waits up to `timeout` for an answer: for reads the service serves through a
/// browser (a full history over several pages), on a machine busy with other tests.
pub fn api_bank_waiting(base: &str, token: Option<&str>, timeout: Duration) -> ApiBank {
    let mut config = ApiBankConfig::new(base);
    config.request_timeout = timeout;
    config.bearer_token = token.map(|t| SecretString::from(t.to_owned()));
    ApiBank::new(config).unwrap()
}

/// A running service.
#[derive(Debug)]
pub struct Running {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// Its state (metrics, failovers).
    pub state: ServiceState,
    /// The bank's health.
    pub health: Arc<Health>,
    /// The gate in front of the sandbox API, for the API channel.
    pub gate: Gate,
    /// Checks what callers and the service say to each other ([`Running::bank_url`] goes through it).
    pub conformance: Checker,
    /// Checks what the service's `ApiBank` and the sandbox API say to each other (behind the gate).
    pub bank_conformance: Checker,
    shutdown: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    prober: tokio::task::JoinHandle<()>,
    /// The journal file, when this service made it (removed on drop, with its owners file).
    own_journal: Option<std::path::PathBuf>,
}

impl Running {
    /// The base URL of the bank's XS2A API in the service.
    pub fn bank_url(&self) -> String {
        format!("{}/banks/{BANK}", self.conformance.url)
    }

    /// Stops the service and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.prober.abort();
        let _ = (&mut self.task).await;
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.prober.abort();
        self.task.abort();
        if let Some(journal) = &self.own_journal {
            let _ = std::fs::remove_file(owners_path(journal));
            let _ = std::fs::remove_file(journal);
            let mut key = journal.clone().into_os_string();
            key.push(".key");
            let _ = std::fs::remove_file(key);
        }
    }
}

/// Starts the service over `sandbox`, with the other channel `screen`, on a journal (and owners file)
/// of its own.
pub async fn start(
    sandbox: &Sandbox,
    screen: Arc<dyn Bank>,
    limits: ServiceLimits,
    health: HealthConfig,
) -> Running {
    start_with(sandbox, screen, limits, health, |_| {}).await
}

/// Starts the service over `sandbox` on the journal file `journal_path` and the owners file beside it,
/// which the test keeps (to start another service on them, as after a restart).
pub async fn start_on_journal(
    sandbox: &Sandbox,
    screen: Arc<dyn Bank>,
    limits: ServiceLimits,
    health: HealthConfig,
    journal_path: &std::path::Path,
) -> Running {
    start_set_up(sandbox, screen, limits, health, journal_path, |_| {}).await
}

/// Starts the service as [`start`] does, with the bank's setup changed by `set_up` first (an
/// operator's per-bank choice, such as `fallback_password`).
pub async fn start_with(
    sandbox: &Sandbox,
    screen: Arc<dyn Bank>,
    limits: ServiceLimits,
    health: HealthConfig,
    set_up: fn(&mut BankSetup),
) -> Running {
    let journal_path =
        std::env::temp_dir().join(format!("psd2-fallback-service-{}.db", uuid::Uuid::new_v4()));
    let mut running = start_set_up(sandbox, screen, limits, health, &journal_path, set_up).await;
    running.own_journal = Some(journal_path);
    running
}

/// The service on `journal_path`, its bank set up by `set_up`.
async fn start_set_up(
    sandbox: &Sandbox,
    screen: Arc<dyn Bank>,
    limits: ServiceLimits,
    health: HealthConfig,
    journal_path: &std::path::Path,
    set_up: fn(&mut BankSetup),
) -> Running {
    let bank_conformance = Checker::sandbox(sandbox);
    let gate = Gate::start(bank_conformance.url.clone()).await;
    let journal = Arc::new(SqliteJournal::open(journal_path).unwrap());
    let owners = Arc::new(SqliteOwnerStore::beside_journal(journal_path).unwrap());
    let parts = FailoverBuilder::new(BANK, api_bank(&gate.url, None), screen)
        .health(health)
        .parts()
        .await
        .unwrap();
    let health = parts.health;
    let prober = parts.prober.expect("the builder probes the API");
    let mut setup = BankSetup::new(BANK, Arc::new(parts.api), parts.screen, health.clone());
    set_up(&mut setup);
    let state = ServiceState::new(
        vec![setup],
        journal,
        owners,
        vec![
            Caller {
                name: "budget-app".into(),
                token: TokenHash::of(TOKEN_A),
            },
            Caller {
                name: "accounting-tool".into(),
                token: TokenHash::of(TOKEN_B),
            },
        ],
        Some(TokenHash::of(ADMIN)),
        limits,
    );
    state.metrics().browser_sessions(BANK);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, state.clone(), async move {
        let _ = rx.await;
    }));
    let conformance = Checker::start(url.clone(), &format!("/banks/{BANK}"), None);
    Running {
        url,
        state,
        health,
        gate,
        conformance,
        bank_conformance,
        shutdown: Some(tx),
        task,
        prober,
        own_journal: None,
    }
}

/// Fast health settings for tests: two failures in a row switch, short dwell, quick probes.
pub fn fast_health() -> HealthConfig {
    HealthConfig {
        extra_policies: vec![psd2_fallback_engine::health::Policy::ConsecutiveFailures { n: 2 }],
        dwell: Duration::from_millis(300),
        probes_to_recover: 2,
        probe_interval: Duration::from_millis(100),
        probe_jitter: Duration::from_millis(20),
        probe_timeout: Duration::from_secs(1),
        ..HealthConfig::default()
    }
}

/// Sets the bank's override through the admin route, as an operator does.
pub async fn set_override(url: &str, value: &str) {
    reqwest::Client::new()
        .put(format!("{url}/admin/banks/{BANK}/override"))
        .bearer_auth(ADMIN)
        .body(value.to_owned())
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
}

/// Posts a SEPA credit transfer of `customer`'s, present, as the caller of `token` under `request_id`:
/// the status and the body (JSON, or null).
pub async fn post_payment(
    service: &Running,
    token: &str,
    customer: &str,
    request_id: &str,
    body: &serde_json::Value,
) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(format!(
            "{}/v1/payments/sepa-credit-transfers",
            service.bank_url()
        ))
        .bearer_auth(token)
        .header("X-Request-ID", request_id)
        .header("PSU-ID", customer)
        .header("PSU-IP-Address", "192.0.2.7")
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (
        status,
        response.json().await.unwrap_or(serde_json::Value::Null),
    )
}
