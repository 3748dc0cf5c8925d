//! Drills across replicas: real `psd2-fallback serve` processes sharing one real PostgreSQL server
//! (started by the test) in front of one sandbox bank. What one replica began, the other finishes;
//! what the law counts, both count together.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use psd2_fallback_engine::Bank;
use psd2_fallback_engine::bank::BankError;
use psd2_fallback_engine::model::{AccountId, Iban};
use psd2_fallback_sandbox::{ApiFault, Sandbox};
use serde_json::{Value, json};
use sha2::Digest;

use crate::support::postgres::Postgres;
use crate::support::service::{TOKEN_A, api_bank};
use crate::support::{psu, sandbox, signed_consent};

const BIN: &str = env!("CARGO_BIN_EXE_psd2-fallback");
/// The budget app's webhook key, in every replica's environment.
const WEBHOOK_KEY: &str = "webhook-key-of-the-budget-app";
const ANNA: &str = "1000001";
const LUC: &str = "1000002";

/// A `serve` process, killed (SIGKILL) on drop so a failing test leaves nothing running.
struct Replica {
    child: Child,
    url: String,
    name: String,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Replica {
    /// The base URL of the bank's XS2A API on this replica.
    fn bank_url(&self) -> String {
        format!("{}/banks/sandbox", self.url)
    }

    /// Kills the process with SIGKILL: no shutdown, no last words.
    fn kill(mut self) {
        let status = Command::new("kill")
            .args(["-KILL", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let _ = self.child.wait();
    }
}

/// A folder with the replicas' configuration and the journal key, removed on drop.
struct Deployment {
    folder: PathBuf,
    postgres: Postgres,
    /// The caller's webhook, for the replicas started from now on.
    webhook: Option<String>,
}

impl Drop for Deployment {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}

impl Deployment {
    fn new() -> Option<Self> {
        Self::on(Postgres::start()?)
    }

    /// Replicas on a PostgreSQL that accepts TLS connections only, reached over TLS.
    fn over_tls() -> Option<Self> {
        Self::on(Postgres::start_tls()?)
    }

    fn on(postgres: Postgres) -> Option<Self> {
        let folder = std::env::temp_dir().join(format!("psd2fb-replicas-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&folder).unwrap();
        let key = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        std::fs::write(folder.join("journal.key"), key).unwrap();
        Some(Self {
            folder,
            postgres,
            webhook: None,
        })
    }

    /// The journal URL the replicas are given: over TLS where the server takes nothing else.
    fn url(&self) -> secrecy::SecretString {
        if self.postgres.folder().join("ca.pem").exists() {
            self.postgres.tls_url()
        } else {
            self.postgres.url()
        }
    }

    /// Starts one more replica over `sandbox`, its journal URL (with the password) given in the
    /// environment, not in its file.
    async fn replica(&self, sandbox: &Sandbox, name: &str, website: bool) -> Replica {
        self.replica_with(sandbox, name, website, "", "").await
    }

    /// [`Deployment::replica`] with more top-level settings (`top`) and a `[banks.policy]` table.
    async fn replica_with(
        &self,
        sandbox: &Sandbox,
        name: &str,
        website: bool,
        top: &str,
        policy: &str,
    ) -> Replica {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let token = hex(&sha2::Sha256::digest(TOKEN_A.as_bytes()));
        let config = self.folder.join(format!("{name}.toml"));
        std::fs::write(
            &config,
            format!(
                "listen = \"127.0.0.1:{port}\"\njournal = \"postgres://from-the-environment\"\n\
                 journal_key_file = \"{}\"\n{top}\n\n\
                 [[banks]]\nname = \"sandbox\"\napi_base_url = \"{}\"\n{}\n{}\n\
                 [[callers]]\nname = \"budget-app\"\ntoken_sha256 = \"{token}\"\n{}",
                self.folder.join("journal.key").display(),
                sandbox.api_url(),
                if website {
                    format!(
                        "website_url = \"{}\"\nscreen_map = \"{}/selectors/sandbox.toml\"\nsandbox_card_reader = true\n",
                        sandbox.web_url(),
                        env!("CARGO_MANIFEST_DIR")
                    )
                } else {
                    String::new()
                },
                if policy.is_empty() {
                    String::new()
                } else {
                    format!("[banks.policy]\n{policy}\n")
                },
                self.webhook
                    .as_ref()
                    .map(|url| format!("webhook_url = \"{url}\"\n"))
                    .unwrap_or_default(),
            ),
        )
        .unwrap();
        use secrecy::ExposeSecret;
        let mut child = Command::new(BIN)
            .args(["serve", "--config"])
            .arg(&config)
            .env(
                psd2_fallback_service::JOURNAL_URL_VARIABLE,
                self.url().expose_secret(),
            )
            .env("RUST_LOG", "info")
            .env("PSD2_FALLBACK_CALLER_BUDGET_APP_WEBHOOK_KEY", WEBHOOK_KEY)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.folder.join(format!("{name}.log"))).unwrap())
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        for _ in 0..400 {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "replica {name} stopped: {status}: {}",
                    std::fs::read_to_string(self.folder.join(format!("{name}.log")))
                        .unwrap_or_default()
                );
            }
            if http.get(format!("{url}/health")).send().await.is_ok() {
                return Replica {
                    child,
                    url,
                    name: name.to_owned(),
                };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("replica {name} did not start within 20 s");
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn iban(sandbox: &Sandbox, customer: &str) -> Iban {
    sandbox.ledger().accounts(customer)[0].iban.clone()
}

/// Anna makes and signs a consent through `client` (a replica), giving her password.
async fn authorise_consent(
    client: &dyn Bank,
    sandbox: &Sandbox,
) -> psd2_fallback_engine::model::ConsentId {
    signed_consent(client, sandbox, ANNA).await
}

/// The Art. 36(5) limit is one count: a consent allowing 4 unattended reads a day, read alternately
/// through two replicas, gives 4 reads in all, and both replicas refuse the fifth.
#[tokio::test]
async fn the_unattended_limit_holds_when_reads_alternate_between_replicas() {
    let Some(deployment) = Deployment::new() else {
        return;
    };
    let sandbox = sandbox().await;
    let a = deployment.replica(&sandbox, "a", false).await;
    let b = deployment.replica(&sandbox, "b", false).await;
    let (on_a, on_b) = (
        api_bank(&a.bank_url(), Some(TOKEN_A)),
        api_bank(&b.bank_url(), Some(TOKEN_A)),
    );
    let anna = psu(ANNA);
    let consent = authorise_consent(&on_a, &sandbox).await;
    let mut unattended = anna.clone().with_consent(consent);
    unattended.ip_address = None;
    let account = AccountId::new("acc-01");
    let mut outcomes = Vec::new();
    for read in 0..6 {
        let replica = if read % 2 == 0 { &on_a } else { &on_b };
        outcomes.push(replica.balances(&unattended, &account, None).await);
    }
    let served = outcomes.iter().filter(|o| o.is_ok()).count();
    assert_eq!(served, 4, "{outcomes:?}");
    for refused in &outcomes[4..] {
        assert!(
            matches!(refused, Err(BankError::LimitReached { .. })),
            "{refused:?}"
        );
    }
    // The customer present is not counted, on either replica.
    let mut present = unattended.clone();
    present.ip_address = anna.ip_address;
    assert!(on_b.balances(&present, &account, None).await.is_ok());
    assert!(on_a.balances(&present, &account, None).await.is_ok());
    sandbox.shutdown().await;
}

/// A replica killed with SIGKILL in the middle of a payment (the bank executed it, the answer never
/// came; the replica is killed as soon as the ledger holds the payment) leaves the intent in the
/// shared journal; the caller's retry on the other replica settles
/// it: exactly one payment in the bank's ledger, and the retry is told it.
#[tokio::test]
async fn a_replica_killed_mid_payment_is_settled_by_the_other_with_one_payment() {
    let Some(_permit) = crate::support::browser::permit().await else {
        return;
    };
    let Some(deployment) = Deployment::new() else {
        return;
    };
    let sandbox = sandbox().await;
    let a = deployment.replica(&sandbox, "a", true).await;
    let b = deployment.replica(&sandbox, "b", true).await;
    // The bank's API cannot look a payment up by its end-to-end id; the website can, as Anna, whose
    // password replica B keeps since she authorised a consent through it.
    authorise_consent(&api_bank(&b.bank_url(), Some(TOKEN_A)), &sandbox).await;
    let before = sandbox.ledger().payments(ANNA).len();
    let body = json!({
        "debtorAccount": {"iban": iban(&sandbox, ANNA).as_str()},
        "instructedAmount": {"currency": "EUR", "amount": "7.25"},
        "creditorAccount": {"iban": iban(&sandbox, LUC).as_str()},
        "creditorName": "Luc Peeters",
        "endToEndIdentification": "replica-drill-1"
    });
    let request_id = uuid::Uuid::new_v4().to_string();
    let post = |url: String| {
        let (body, request_id) = (body.clone(), request_id.clone());
        async move {
            let response = reqwest::Client::new()
                .post(format!("{url}/v1/payments/sepa-credit-transfers"))
                .bearer_auth(TOKEN_A)
                .header("X-Request-ID", request_id)
                .header("PSU-ID", ANNA)
                .header("PSU-IP-Address", "192.0.2.7")
                .json(&body)
                .send()
                .await?;
            let status = response.status().as_u16();
            Ok::<_, reqwest::Error>((status, response.json::<Value>().await.unwrap_or_default()))
        }
    };
    // The bank executes the payment and its answer is lost; replica A is killed while it waits.
    sandbox.set_api_fault(ApiFault::ProcessedButNoAnswer);
    let in_flight = tokio::spawn(post(a.bank_url()));
    for _ in 0..200 {
        if sandbox.ledger().payments(ANNA).len() > before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        sandbox.ledger().payments(ANNA).len(),
        before + 1,
        "the bank executed it"
    );
    a.kill();
    // Killed before it answered, or it had answered that the outcome is unknown: never a success
    // nor a refusal, since it could not know.
    match in_flight.await.unwrap() {
        Err(_) => {}
        Ok((status, answer)) => assert_eq!(status, 502, "{answer}"),
    }
    sandbox.set_api_fault(ApiFault::Up);
    // The caller retries the same request on replica B.
    let (status, answer) = post(b.bank_url()).await.unwrap();
    if status != 201 {
        eprintln!(
            "{}",
            std::fs::read_to_string(deployment.folder.join("b.log")).unwrap_or_default()
        );
    }
    assert_eq!(status, 201, "{answer}");
    assert_eq!(
        sandbox.ledger().payments(ANNA).len(),
        before + 1,
        "exactly one payment in the ledger"
    );
    let paid = sandbox.ledger().payments(ANNA);
    let id = answer["paymentId"].as_str().unwrap_or_default();
    assert!(
        paid.iter().any(|p| p.payment.id.as_str() == id),
        "the retry is told the payment the bank holds: {answer}"
    );
    // Asked once more on either replica: the same payment, never a second.
    let (again, answer_again) = post(b.bank_url()).await.unwrap();
    assert_eq!(
        (again, &answer_again["paymentId"]),
        (201, &answer["paymentId"])
    );
    assert_eq!(sandbox.ledger().payments(ANNA).len(), before + 1);
    assert_eq!(
        deployment
            .postgres
            .psql("SELECT count(*) FROM intents WHERE payment_id IS NOT NULL"),
        "1"
    );
    sandbox.shutdown().await;
}

/// The policy of the health drills: two requests not answered switch, probes every 100 ms, a dwell
/// of 1.5 s, two good probes bring the API back.
const QUICK_POLICY: &str = "rts_consecutive = 2\nprobe_interval_ms = 100\nprobe_jitter_ms = 20\n\
                            probe_timeout_ms = 500\ndwell_ms = 1500\nprobes_to_recover = 2\n";

/// The lease of the health drills.
const LEASE_MS: u64 = 1500;

/// The operator token of the health drills (for `/metrics`).
const OPERATOR: &str = "replica-drill-operator";

fn health_settings() -> String {
    format!(
        "health_lease_ms = {LEASE_MS}\noperator_token_sha256 = \"{}\"",
        hex(&sha2::Sha256::digest(OPERATOR.as_bytes()))
    )
}

impl Replica {
    /// The bank's mode in force, as this replica's `/health` says it.
    async fn mode(&self) -> String {
        let health: Value = reqwest::get(format!("{}/health", self.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        health["banks"][0]["mode"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The switches this replica's `/metrics` counted, by reason.
    async fn switches_counted(&self) -> Vec<(String, String)> {
        let text = reqwest::Client::new()
            .get(format!("{}/metrics", self.url))
            .bearer_auth(OPERATOR)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let mut counted: Vec<(String, String)> = text
            .lines()
            .filter(|l| l.contains("switches_total{"))
            .filter_map(|l| {
                let reason = l.split("reason=\"").nth(1)?.split('"').next()?;
                let count = l.rsplit(' ').next()?;
                Some((reason.to_owned(), count.to_owned()))
            })
            .collect();
        counted.sort();
        counted
    }
}

/// Waits until every replica's `/health` says `mode`, at most `within`.
async fn all_in(replicas: &[&Replica], mode: &str, within: Duration, deployment: &Deployment) {
    let until = std::time::Instant::now() + within;
    loop {
        let mut modes = Vec::new();
        for replica in replicas {
            modes.push(replica.mode().await);
        }
        if modes.iter().all(|m| m == mode) {
            return;
        }
        if std::time::Instant::now() > until {
            for replica in replicas {
                eprintln!(
                    "--- {} ---\n{}",
                    replica.name,
                    std::fs::read_to_string(
                        deployment.folder.join(format!("{}.log", replica.name))
                    )
                    .unwrap_or_default()
                );
            }
            panic!("not every replica in {mode} within {within:?}: {modes:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The bank's switches in the shared journal, oldest first, as `from>to`.
fn journalled_switches(deployment: &Deployment) -> Vec<String> {
    deployment
        .postgres
        .psql("SELECT from_mode || '>' || to_mode FROM switches WHERE bank = 'sandbox' ORDER BY id")
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Three replicas, one outage of the bank's API: one replica decides, so the journal holds one switch
/// to the fallback and one way back, each replica's `/health` follows within a second, each counts
/// the same switches in its `/metrics`, and each serves Anna's reads through the website meanwhile.
#[tokio::test]
async fn an_api_outage_is_one_switch_event_across_three_replicas_each_serving_through_the_website()
{
    let Some(_permit) = crate::support::browser::permit().await else {
        return;
    };
    let Some(deployment) = Deployment::new() else {
        return;
    };
    let sandbox = sandbox().await;
    let settings = health_settings();
    let mut replicas = Vec::new();
    for name in ["a", "b", "c"] {
        replicas.push(
            deployment
                .replica_with(&sandbox, name, true, &settings, QUICK_POLICY)
                .await,
        );
    }
    // Anna signs a consent through each replica, which keeps her password for the website.
    let mut readers = Vec::new();
    for replica in &replicas {
        // Reads through a browser may be slow on a machine busy with other tests.
        let client = crate::support::service::api_bank_waiting(
            &replica.bank_url(),
            Some(TOKEN_A),
            Duration::from_secs(60),
        );
        let consent = authorise_consent(&client, &sandbox).await;
        readers.push((client, psu(ANNA).with_consent(consent)));
    }
    let all: Vec<&Replica> = replicas.iter().collect();
    sandbox.set_api_fault(ApiFault::Refuse);
    all_in(&all, "fallback", Duration::from_secs(20), &deployment).await;
    for (client, anna) in &readers {
        let accounts = client.accounts(anna).await;
        assert!(
            accounts.as_ref().is_ok_and(|a| !a.is_empty()),
            "{accounts:?}"
        );
    }
    assert_eq!(journalled_switches(&deployment), ["api>fallback"]);
    sandbox.set_api_fault(ApiFault::Up);
    all_in(&all, "api", Duration::from_secs(20), &deployment).await;
    assert_eq!(
        journalled_switches(&deployment),
        ["api>fallback", "fallback>probing", "probing>api"],
        "one decision per switch, whatever the replicas"
    );
    let expected: Vec<(String, String)> = [
        ("dwell_elapsed", "1"),
        ("policy_tripped", "1"),
        ("recovered", "1"),
    ]
    .iter()
    .map(|(r, n)| ((*r).to_owned(), (*n).to_owned()))
    .collect();
    for replica in &replicas {
        assert_eq!(
            replica.switches_counted().await,
            expected,
            "{}",
            replica.name
        );
    }
    sandbox.shutdown().await;
}

/// The policy of the drill where only a follower's traffic meets the outage: the decider never
/// probes within the drill (probes every ten minutes), so only the calls another replica reports can
/// switch the bank.
const NO_PROBES_POLICY: &str = "rts_consecutive = 2\nprobe_interval_ms = 600000\nprobe_jitter_ms = 0\n\
                                probe_timeout_ms = 500\ndwell_ms = 600000\nprobes_to_recover = 2\n";

/// Two replicas; the API goes down while every call goes through the replica that does not decide the
/// bank's health (and the decider does not probe): the follower reports what its calls met, the decider
/// counts it and switches the bank — one switch event in the journal, both replicas' `/health` and
/// `/metrics` say so, and both serve Anna's reads through the website.
#[tokio::test]
async fn an_outage_only_the_followers_traffic_meets_is_one_switch_and_both_serve_through_the_website()
 {
    let Some(_permit) = crate::support::browser::permit().await else {
        return;
    };
    let Some(deployment) = Deployment::new() else {
        return;
    };
    let sandbox = sandbox().await;
    let settings = health_settings();
    let mut replicas = Vec::new();
    for name in ["a", "b"] {
        replicas.push(
            deployment
                .replica_with(&sandbox, name, true, &settings, NO_PROBES_POLICY)
                .await,
        );
    }
    // Anna signs a consent through each replica, which keeps her password for the website.
    let mut readers = Vec::new();
    for replica in &replicas {
        let client = crate::support::service::api_bank_waiting(
            &replica.bank_url(),
            Some(TOKEN_A),
            Duration::from_secs(60),
        );
        let consent = authorise_consent(&client, &sandbox).await;
        readers.push((client, psu(ANNA).with_consent(consent)));
    }
    let holder = || {
        deployment
            .postgres
            .psql("SELECT holder FROM health_leases WHERE bank = 'sandbox'")
    };
    let started = std::time::Instant::now();
    let deciding = loop {
        let holder = holder();
        if let Some(index) = replicas
            .iter()
            .position(|r| holder.split(':').nth(1) == Some(r.child.id().to_string().as_str()))
        {
            break index;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no lease holder: {holder}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let follower = 1 - deciding;
    let all: Vec<&Replica> = replicas.iter().collect();
    sandbox.set_api_fault(ApiFault::Refuse);
    // Only the follower is called; each read meets the refused API and is served through the website
    // in the same call.
    let (client, anna) = &readers[follower];
    let until = std::time::Instant::now() + Duration::from_secs(30);
    let mut reads = 0;
    while replicas[deciding].mode().await != "fallback" {
        let accounts = client.accounts(anna).await;
        assert!(
            accounts.as_ref().is_ok_and(|a| !a.is_empty()),
            "read {reads} through the follower: {accounts:?}"
        );
        reads += 1;
        assert!(
            std::time::Instant::now() < until,
            "the decider did not switch after {reads} reads through the follower"
        );
    }
    eprintln!("the decider switched after {reads} reads through the follower");
    all_in(&all, "fallback", Duration::from_secs(5), &deployment).await;
    assert_eq!(journalled_switches(&deployment), ["api>fallback"]);
    for (client, anna) in &readers {
        let accounts = client.accounts(anna).await;
        assert!(
            accounts.as_ref().is_ok_and(|a| !a.is_empty()),
            "{accounts:?}"
        );
    }
    let evidence = deployment
        .postgres
        .psql("SELECT reason FROM switches WHERE bank = 'sandbox'");
    assert!(evidence.contains("RTS Art. 33(1)"), "{evidence}");
    for replica in &replicas {
        assert_eq!(
            replica.switches_counted().await,
            [("policy_tripped".to_owned(), "1".to_owned())],
            "{}",
            replica.name
        );
    }
    assert_eq!(
        journalled_switches(&deployment),
        ["api>fallback"],
        "one switch, whichever replica met the outage"
    );
    sandbox.shutdown().await;
}

/// The replica deciding the bank's health is killed with SIGKILL during an outage: another takes the
/// bank's lease within the lease time and a renewal, follows the fallback it finds, and brings the
/// API back when it answers — one switch each way in the journal, the survivors agreeing.
#[tokio::test]
async fn the_deciding_replica_killed_another_takes_the_lease_and_the_recovery_is_one_switch() {
    let Some(deployment) = Deployment::new() else {
        return;
    };
    let sandbox = sandbox().await;
    let settings = health_settings();
    let mut replicas = Vec::new();
    for name in ["a", "b", "c"] {
        replicas.push(
            deployment
                .replica_with(&sandbox, name, false, &settings, QUICK_POLICY)
                .await,
        );
    }
    sandbox.set_api_fault(ApiFault::Refuse);
    {
        let all: Vec<&Replica> = replicas.iter().collect();
        all_in(&all, "fallback", Duration::from_secs(20), &deployment).await;
    }
    assert_eq!(journalled_switches(&deployment), ["api>fallback"]);
    let holder = || {
        deployment
            .postgres
            .psql("SELECT holder FROM health_leases WHERE bank = 'sandbox'")
    };
    let pid_of = |holder: &str| holder.split(':').nth(1).unwrap_or_default().to_owned();
    let deciding = holder();
    let index = replicas
        .iter()
        .position(|r| r.child.id().to_string() == pid_of(&deciding))
        .unwrap_or_else(|| panic!("the lease's holder {deciding} is one of the replicas"));
    let killed = replicas.remove(index);
    let killed_at = std::time::Instant::now();
    killed.kill();
    let survivors: Vec<String> = replicas.iter().map(|r| r.child.id().to_string()).collect();
    loop {
        let now = holder();
        if survivors.contains(&pid_of(&now)) {
            break;
        }
        assert!(
            killed_at.elapsed() < Duration::from_millis(LEASE_MS * 2 + 1000),
            "no replica took the lease over within {:?}: {now}",
            killed_at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("lease taken over {:?} after the kill", killed_at.elapsed());
    let all: Vec<&Replica> = replicas.iter().collect();
    all_in(&all, "fallback", Duration::from_secs(1), &deployment).await;
    sandbox.set_api_fault(ApiFault::Up);
    all_in(&all, "api", Duration::from_secs(20), &deployment).await;
    assert_eq!(
        journalled_switches(&deployment),
        ["api>fallback", "fallback>probing", "probing>api"]
    );
    sandbox.shutdown().await;
}

/// The lease fences the journal: while one replica holds a bank's lease, another can neither take it
/// nor journal a switch of the bank; once it runs out unrenewed, the other takes it and the first can
/// journal nothing more.
#[tokio::test(flavor = "multi_thread")]
async fn a_switch_is_journalled_only_under_the_banks_health_lease() {
    use psd2_fallback_engine::health::{Mode, SwitchEvent, SwitchReason};
    use psd2_fallback_engine::journal::{JournalKeys, PostgresJournal};
    let Some(postgres) = Postgres::start() else {
        return;
    };
    let key = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let url = postgres.url();
    let (a, b) = tokio::task::spawn_blocking(move || {
        let connect = || {
            PostgresJournal::connect(&url, JournalKeys::parse(&key, "test").unwrap(), 2).unwrap()
        };
        (connect(), connect())
    })
    .await
    .unwrap();
    let event = SwitchEvent {
        sequence: 1,
        bank: "sandbox".into(),
        from: Mode::Api,
        to: Mode::Fallback,
        reason: SwitchReason::PolicyTripped("drill".into()),
        evidence: "none".into(),
        at: time::OffsetDateTime::now_utc(),
        downtime_started: None,
    };
    let lease = Duration::from_millis(400);
    tokio::task::spawn_blocking(move || {
        assert!(a.take_health_lease("sandbox", "a", lease).unwrap());
        assert!(!b.take_health_lease("sandbox", "b", lease).unwrap());
        assert_eq!(b.record_switch_as_holder(&event, "b").unwrap(), None);
        let first = a.record_switch_as_holder(&event, "a").unwrap();
        assert!(first.is_some());
        // Another bank's lease is another lease.
        assert!(b.take_health_lease("other-bank", "b", lease).unwrap());
        assert!(
            a.take_health_lease("sandbox", "a", lease).unwrap(),
            "renewed"
        );
        std::thread::sleep(lease + Duration::from_millis(200));
        assert!(
            b.take_health_lease("sandbox", "b", lease).unwrap(),
            "ran out"
        );
        assert_eq!(a.record_switch_as_holder(&event, "a").unwrap(), None);
        assert!(!a.take_health_lease("sandbox", "a", lease).unwrap());
        let second = b.record_switch_as_holder(&event, "b").unwrap();
        assert!(second > first);
        assert_eq!(
            b.switches_after("sandbox", 0)
                .unwrap()
                .iter()
                .map(|s| Some(s.id))
                .collect::<Vec<_>>(),
            [first, second]
        );
        // Given up, it is free at once.
        b.release_health_lease("sandbox", "b").unwrap();
        assert!(a.take_health_lease("sandbox", "a", lease).unwrap());
    })
    .await
    .unwrap();
}

/// A payment left in doubt (executed, its answer lost, the website in maintenance) is settled by the
/// periodic sweep, not only at a start, and by one replica: two failovers on one PostgreSQL journal
/// (two replicas, each with its own connection and name) sweep at once; one claims the intent and
/// finds the payment through the website, the other leaves it to it — one lookup in the access log,
/// one payment in the ledger, the intent accepted with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_intent_in_doubt_is_swept_by_one_replica_while_the_other_leaves_it() {
    use psd2_fallback_engine::failover::FailoverBuilder;
    use psd2_fallback_engine::journal::{IntentState, JournalKeys, JournalStore, PostgresJournal};
    use psd2_fallback_engine::model::{Amount, EndToEndId, PaymentProduct, PaymentRequest};
    use psd2_fallback_sandbox::WebsiteFault;
    use std::sync::Arc;
    let Some(_permit) = crate::support::browser::permit().await else {
        return;
    };
    let Some(postgres) = Postgres::start() else {
        return;
    };
    let sandbox = sandbox().await;
    let key = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let url = postgres.url();
    let (a, b) = tokio::task::spawn_blocking(move || {
        let connect = || {
            Arc::new(
                PostgresJournal::connect(&url, JournalKeys::parse(&key, "test").unwrap(), 2)
                    .unwrap(),
            )
        };
        (connect(), connect())
    })
    .await
    .unwrap();
    assert_ne!(a.replica(), b.replica());
    let website = crate::support::service::screen_channel(&sandbox).await;
    let replica = |journal: Arc<PostgresJournal>| {
        let mut config = psd2_fallback_engine::api::ApiBankConfig::new(sandbox.api_url());
        config.request_timeout = Duration::from_secs(2);
        let api = psd2_fallback_engine::ApiBank::new(config).unwrap();
        FailoverBuilder::new("sandbox", api, website.clone())
            .without_prober()
            .build(journal as Arc<dyn JournalStore>)
    };
    let on_a = replica(a.clone()).await.unwrap().failover;
    let on_b = replica(b.clone()).await.unwrap().failover;
    let anna = psu(ANNA);
    let request = PaymentRequest {
        product: PaymentProduct::SepaCreditTransfer,
        debtor: iban(&sandbox, ANNA),
        creditor_name: "Luc Peeters".to_owned(),
        creditor: iban(&sandbox, LUC),
        amount: Amount::eur(rust_decimal::Decimal::new(1225, 2)).unwrap(),
        remittance: None,
        requested_execution_date: None,
        end_to_end_id: EndToEndId::generate(),
    };
    let before = sandbox.ledger().payments(ANNA).len();
    sandbox.set_api_fault(ApiFault::ProcessedButNoAnswer);
    sandbox.set_website_fault(WebsiteFault::Maintenance);
    let sent = on_a.initiate_payment(&anna, &request).await;
    assert!(
        matches!(sent, Err(BankError::OutcomeUnknown { .. })),
        "{sent:?}"
    );
    assert_eq!(sandbox.ledger().payments(ANNA).len(), before + 1);
    let in_doubt = || {
        let b = b.clone();
        async move {
            tokio::task::spawn_blocking(move || b.open_intents().unwrap())
                .await
                .unwrap()
        }
    };
    let open = in_doubt().await;
    assert!(
        matches!(open.as_slice(), [intent] if matches!(intent.state, IntentState::InDoubt(_))),
        "{open:?}"
    );
    let key = open[0].key.clone();
    // The website is back; nobody retries the payment; both replicas' sweeps run at once.
    sandbox.set_api_fault(ApiFault::Up);
    sandbox.set_website_fault(WebsiteFault::Up);
    let lookups = || postgres.psql("SELECT count(*) FROM access_log WHERE data LIKE 'lookup %'");
    let looked_up = lookups();
    let context = |_: &psd2_fallback_engine::journal::Intent| Some(psu(ANNA));
    let (swept_a, swept_b) = tokio::join!(on_a.sweep(context), on_b.sweep(context));
    let (swept_a, swept_b) = (swept_a.unwrap(), swept_b.unwrap());
    assert_eq!(
        (swept_a.0 + swept_b.0, swept_a.1 + swept_b.1),
        (1, 0),
        "one replica settled it: {swept_a:?} {swept_b:?}"
    );
    assert!(in_doubt().await.is_empty());
    let settled = tokio::task::spawn_blocking(move || b.intent(&key).unwrap().unwrap())
        .await
        .unwrap();
    assert_eq!(settled.state, IntentState::Accepted);
    let paid = sandbox.ledger().payments(ANNA);
    assert_eq!(paid.len(), before + 1, "found, never sent again");
    let found = settled.payment.expect("the intent holds the payment found");
    assert!(
        paid.iter()
            .any(|p| p.payment.id.as_str() == found.id.as_str()),
        "the payment the bank holds: {found:?}"
    );
    assert_eq!(
        lookups().parse::<u32>().unwrap() - looked_up.parse::<u32>().unwrap(),
        1,
        "one replica looked it up"
    );
    assert_eq!(postgres.psql("SELECT count(*) FROM intent_claims"), "0");
    sandbox.shutdown().await;
}

/// A caller's rate limit is each replica's (a `governor` bucket per caller per process): across N
/// replicas the caller gets at most N × (`burst` + `requests_per_second` × t) in t seconds — the bound
/// the README states — and a replica refuses past its own share with 429 and `Retry-After`.
#[tokio::test]
async fn a_callers_rate_limit_holds_per_replica_so_n_replicas_allow_n_times_it() {
    let Some(deployment) = Deployment::new() else {
        return;
    };
    let sandbox = sandbox().await;
    let limits = "[limits]\nrequests_per_second = 1\nburst = 3";
    let a = deployment
        .replica_with(&sandbox, "a", false, limits, "")
        .await;
    let b = deployment
        .replica_with(&sandbox, "b", false, limits, "")
        .await;
    let http = reqwest::Client::new();
    let started = std::time::Instant::now();
    let mut answers = Vec::new();
    for _ in 0..8 {
        for replica in [&a, &b] {
            let response = http
                .get(format!("{}/v1/accounts", replica.bank_url()))
                .bearer_auth(TOKEN_A)
                .header("X-Request-ID", uuid::Uuid::new_v4().to_string())
                .header("PSU-ID", ANNA)
                .send()
                .await
                .unwrap();
            let retry_after = response.headers().get("Retry-After").cloned();
            answers.push((
                replica.name.clone(),
                response.status().as_u16(),
                retry_after,
            ));
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let let_in = |name: &str| {
        answers
            .iter()
            .filter(|(n, status, _)| n == name && *status != 429)
            .count() as f64
    };
    // Each replica lets its own burst in, and no more than its burst and what refilled meanwhile.
    for name in ["a", "b"] {
        let bound = 3.0 + elapsed.ceil();
        assert!(
            (3.0..=bound).contains(&let_in(name)),
            "{name}: {} let in, bound {bound}: {answers:?}",
            let_in(name)
        );
    }
    let total = let_in("a") + let_in("b");
    assert!(
        total > 3.0 + elapsed.ceil(),
        "two replicas let more in than one allows: {total}"
    );
    assert!(
        total <= 2.0 * (3.0 + elapsed.ceil()),
        "the N× bound: {total}"
    );
    for (_, status, retry_after) in &answers {
        if *status == 429 {
            assert!(retry_after.is_some(), "a refusal says when to retry");
        }
    }
    sandbox.shutdown().await;
}

/// The website channel on a remote WebDriver endpoint (`webdriver_url`) that opens no session — a grid
/// at capacity or gone (here: a loopback port nothing listens on) — is the channel *unavailable*, after
/// asking again five times with growing waits (0.25 + 0.5 + 1 + 2 s): never a website change, so the
/// failover serves through the other channel or a later call, and health is not touched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_webdriver_that_opens_no_session_is_unavailable_after_backing_off() {
    use psd2_fallback_engine::screen::{ScreenBank, ScreenBankConfig, WebDriverTarget};
    use std::sync::Arc;
    let sandbox = sandbox().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = ScreenBankConfig::new(
        concat!(env!("CARGO_MANIFEST_DIR"), "/selectors/sandbox.toml"),
        sandbox.web_url(),
    );
    config.spare = false;
    config.max_active = 1;
    config.webdriver = WebDriverTarget::Remote(format!("http://127.0.0.1:{port}"));
    let screen = ScreenBank::new(
        config,
        Some(Arc::new(psd2_fallback_sandbox::CardReaderRelay)),
    )
    .await
    .unwrap();
    let started = std::time::Instant::now();
    let error = screen.accounts(&psu(ANNA)).await.unwrap_err();
    assert!(matches!(error, BankError::Unavailable { .. }), "{error:?}");
    assert!(
        error.to_string().contains("5 times"),
        "asked again before giving up: {error}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(3750),
        "with waits between: {:?}",
        started.elapsed()
    );
    screen.close().await;
    sandbox.shutdown().await;
}

/// What a webhook receiver was sent: (`X-Event-ID`, the event's type, answered).
type Posted = std::sync::Arc<std::sync::Mutex<Vec<(String, String, bool)>>>;

/// A webhook receiver on loopback checking every signature; with `hold_first`, the first request is
/// never answered (its sender is killed meanwhile), the others are answered 200.
async fn receiver(hold_first: bool) -> (String, Posted) {
    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    let posted: Posted = Posted::default();
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(
                |State((hold_first, posted)): State<(bool, Posted)>,
                 headers: HeaderMap,
                 body: Bytes| async move {
                    let header = |name: &str| {
                        headers
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned()
                    };
                    let key = secrecy::SecretString::from(WEBHOOK_KEY.to_owned());
                    assert_eq!(
                        header("X-Signature-SHA256"),
                        psd2_fallback_service::signature(&key, &body)
                    );
                    let event: Value = serde_json::from_slice(&body).unwrap();
                    let kind = event["type"].as_str().unwrap_or_default().to_owned();
                    let hold = {
                        let mut posted = posted.lock().unwrap();
                        let hold = hold_first && posted.is_empty();
                        posted.push((header("X-Event-ID"), kind, !hold));
                        hold
                    };
                    if hold {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                    }
                    StatusCode::OK
                },
            ),
        )
        .with_state((hold_first, posted.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, posted)
}

/// Waits until `posted` holds `count` events of `kind` answered 200, at most `within`.
async fn until_posted(posted: &Posted, kind: &str, count: usize, within: Duration) {
    let until = std::time::Instant::now() + within;
    loop {
        let seen = posted
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, k, answered)| k == kind && *answered)
            .count();
        if seen >= count {
            return;
        }
        assert!(
            std::time::Instant::now() < until,
            "{kind} not delivered {count} times within {within:?}: {:?}",
            posted.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Two replicas with the budget app's webhook, one outage and its recovery: each replica announces
/// both switches (the decider its own, the other the adopted ones), yet the shared outbox makes one
/// `bank.degraded` and one `bank.recovered`, each posted once, by one replica.
#[tokio::test]
async fn an_outage_across_two_replicas_is_one_webhook_per_event() {
    let Some(mut deployment) = Deployment::new() else {
        return;
    };
    let (url, posted) = receiver(false).await;
    deployment.webhook = Some(url);
    let sandbox = sandbox().await;
    let settings = health_settings();
    let mut replicas = Vec::new();
    for name in ["a", "b"] {
        replicas.push(
            deployment
                .replica_with(&sandbox, name, false, &settings, QUICK_POLICY)
                .await,
        );
    }
    let all: Vec<&Replica> = replicas.iter().collect();
    sandbox.set_api_fault(ApiFault::Refuse);
    all_in(&all, "fallback", Duration::from_secs(20), &deployment).await;
    until_posted(&posted, "bank.degraded", 1, Duration::from_secs(20)).await;
    sandbox.set_api_fault(ApiFault::Up);
    all_in(&all, "api", Duration::from_secs(20), &deployment).await;
    until_posted(&posted, "bank.recovered", 1, Duration::from_secs(20)).await;
    // Both replicas' deliverers look at least twice more (every second at most).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let posted = posted.lock().unwrap().clone();
    let kinds: Vec<&str> = posted.iter().map(|(_, k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["bank.degraded", "bank.recovered"], "{posted:?}");
    assert_ne!(posted[0].0, posted[1].0, "two events, two ids");
    assert_eq!(
        deployment
            .postgres
            .psql("SELECT kind || ' ' || (d.delivered_at IS NOT NULL) FROM outbox_events e JOIN outbox_deliveries d ON d.event = e.id ORDER BY e.id"),
        "bank.degraded true\nbank.recovered true"
    );
    sandbox.shutdown().await;
}

/// At least once across a crash: the replica that claimed a delivery is killed (SIGKILL) while the
/// receiver has not answered; once its claim runs out the other replica delivers the same event (same
/// `X-Event-ID`), and the event is then delivered, once answered.
#[tokio::test]
async fn a_delivery_whose_replica_is_killed_is_delivered_by_the_other_once_its_claim_runs_out() {
    let Some(mut deployment) = Deployment::new() else {
        return;
    };
    let (url, posted) = receiver(true).await;
    deployment.webhook = Some(url);
    let sandbox = sandbox().await;
    let settings = health_settings();
    let mut replicas = Vec::new();
    for name in ["a", "b"] {
        replicas.push(
            deployment
                .replica_with(&sandbox, name, false, &settings, QUICK_POLICY)
                .await,
        );
    }
    sandbox.set_api_fault(ApiFault::Refuse);
    let started = std::time::Instant::now();
    while posted.lock().unwrap().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "nothing posted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let claimer = deployment
        .postgres
        .psql("SELECT claimed_by FROM outbox_deliveries");
    let index = replicas
        .iter()
        .position(|r| claimer.split(':').nth(1) == Some(r.child.id().to_string().as_str()))
        .unwrap_or_else(|| panic!("the claim's holder {claimer} is one of the replicas"));
    let killed_at = std::time::Instant::now();
    replicas.remove(index).kill();
    until_posted(&posted, "bank.degraded", 1, Duration::from_secs(60)).await;
    let waited = killed_at.elapsed();
    eprintln!("delivered again {waited:?} after the kill");
    assert!(
        waited >= Duration::from_secs(20),
        "not before the claim ran out: {waited:?}"
    );
    let posted = posted.lock().unwrap().clone();
    assert_eq!(posted.len(), 2, "{posted:?}");
    assert_eq!(posted[0].0, posted[1].0, "the same event, again");
    assert_eq!(
        deployment.postgres.psql(
            "SELECT (delivered_at IS NOT NULL) || ' ' || coalesce(claimed_by, '-') FROM outbox_deliveries"
        ),
        "true -"
    );
    sandbox.shutdown().await;
}

/// The journal over TLS: a PostgreSQL that takes TLS connections only, its certificate from the
/// test's CA. The journal with `sslmode=require&sslrootcert=<CA>` connects and works, every one of its
/// connections encrypted; two `serve` replicas run on it; a plain URL is refused by the server, a CA
/// that did not issue the server's certificate is refused by the journal, and no error shows the
/// password.
#[tokio::test(flavor = "multi_thread")]
async fn the_journal_over_tls_verifies_the_server_and_replicas_run_on_it() {
    use psd2_fallback_engine::journal::{JournalKeys, PostgresJournal};
    use secrecy::ExposeSecret;
    let Some(deployment) = Deployment::over_tls() else {
        return;
    };
    let postgres = &deployment.postgres;
    // The replicas' own key: the database keeps the first one it was written with.
    let key = std::fs::read_to_string(deployment.folder.join("journal.key")).unwrap();
    let connect = |url: secrecy::SecretString| {
        let key = key.clone();
        std::thread::spawn(move || {
            PostgresJournal::connect(&url, JournalKeys::parse(&key, "test").unwrap(), 2)
                .map(|journal| journal.take_health_lease("sandbox", "tls", Duration::from_secs(1)))
        })
        .join()
        .unwrap()
    };
    assert!(
        connect(postgres.tls_url()).unwrap().unwrap(),
        "took the lease over TLS"
    );
    let plain = connect(postgres.url()).unwrap_err().to_string();
    assert!(
        plain.contains("no encryption") || plain.contains("pg_hba"),
        "{plain}"
    );
    let other_ca = postgres.folder().join("other-ca.pem");
    std::fs::write(
        &other_ca,
        psd2_fallback_engine::identity::test_pki::TestPki::new("Another CA")
            .unwrap()
            .ca_pem(),
    )
    .unwrap();
    let unverified = connect(secrecy::SecretString::from(
        postgres
            .tls_url()
            .expose_secret()
            .replace("ca.pem", "other-ca.pem"),
    ))
    .unwrap_err()
    .to_string();
    assert!(
        unverified.to_lowercase().contains("certificate"),
        "{unverified}"
    );
    let no_ca = connect(secrecy::SecretString::from(
        postgres.url().expose_secret().to_owned() + "?sslmode=require",
    ))
    .unwrap_err()
    .to_string();
    assert!(no_ca.contains("sslrootcert"), "{no_ca}");
    for error in [&plain, &unverified, &no_ca] {
        assert!(!error.contains(postgres.password()), "{error}");
    }
    // Two replicas on it: they start, migrate once and answer.
    let sandbox = sandbox().await;
    let a = deployment.replica(&sandbox, "a", false).await;
    let b = deployment.replica(&sandbox, "b", false).await;
    for replica in [&a, &b] {
        assert_eq!(replica.mode().await, "api", "{}", replica.name);
    }
    assert_eq!(
        postgres.psql(
            "SELECT count(*) FILTER (WHERE NOT ssl) FROM pg_stat_ssl s \
             JOIN pg_stat_activity a ON a.pid = s.pid WHERE a.backend_type = 'client backend'"
        ),
        "0",
        "every client connection is encrypted"
    );
    assert!(
        postgres
            .psql("SELECT count(*) FROM pg_stat_ssl WHERE ssl")
            .parse::<u32>()
            .unwrap()
            >= 2
    );
    sandbox.shutdown().await;
}
