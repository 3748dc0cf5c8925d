//! Requests per second through one `serve` replica beside two, on one PostgreSQL journal: clients
//! post payments (each journalled as an intent before it is sent, then accepted with its payment, and
//! its owner recorded) to the sandbox bank's API, spread round-robin over the replicas. Prints
//! figures; asserts nothing. `cargo bench --bench replicas [-- --clients 8 --seconds 5]`.
//! PostgreSQL is started from Debian's `postgresql` package for the run (skipped, saying so, when it
//! is not installed). On a machine with few cores both replicas share them: the figure says what a
//! second replica costs or gains there, not what a second machine would.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use psd2_fallback_sandbox::{Sandbox, SandboxConfig};
use secrecy::ExposeSecret;
use sha2::Digest;

#[path = "../tests/support/postgres.rs"]
#[allow(dead_code, unreachable_pub)]
mod postgres;

const BIN: &str = env!("CARGO_BIN_EXE_psd2-fallback");
const TOKEN: &str = "replica-bench-token";
const ANNA: &str = "1000001";

/// A `serve` process, killed on drop.
struct Replica {
    child: Child,
    url: String,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn replica(folder: &Path, name: &str, sandbox: &Sandbox, journal_url: &str) -> Replica {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = folder.join(format!("{name}.toml"));
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{port}\"\njournal = \"postgres://from-the-environment\"\n\
             journal_key_file = \"{}\"\n\n\
             [limits]\nrequests_per_second = 100000\nburst = 100000\n\n\
             [[banks]]\nname = \"sandbox\"\napi_base_url = \"{}\"\n\n\
             [[callers]]\nname = \"bench\"\ntoken_sha256 = \"{}\"\n",
            folder.join("journal.key").display(),
            sandbox.api_url(),
            hex(&sha2::Sha256::digest(TOKEN.as_bytes())),
        ),
    )
    .unwrap();
    let child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&config)
        .env("PSD2_FALLBACK_JOURNAL_URL", journal_url)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Killed and waited for on drop, the early end included.
    let replica = Replica {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let http = reqwest::Client::new();
    for _ in 0..400 {
        if http
            .get(format!("{}/health", replica.url))
            .send()
            .await
            .is_ok()
        {
            return replica;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("replica {name} did not start");
}

/// Posts payments from `clients` clients for `seconds`, round-robin over `replicas`: (payments
/// accepted, other answers, latencies of the accepted).
async fn load(
    replicas: &[String],
    sandbox: &Sandbox,
    clients: usize,
    seconds: u64,
) -> (usize, usize, Vec<Duration>) {
    let debtor = sandbox.ledger().accounts(ANNA)[0].iban.as_str().to_owned();
    let creditor = sandbox.ledger().accounts("1000002")[0]
        .iban
        .as_str()
        .to_owned();
    let until = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for client in 0..clients {
        let (replicas, debtor, creditor) = (replicas.to_vec(), debtor.clone(), creditor.clone());
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let (mut ok, mut other, mut latencies) = (0, 0, Vec::new());
            let mut n = client;
            while Instant::now() < until {
                let url = &replicas[n % replicas.len()];
                n += clients;
                let body = serde_json::json!({
                    "debtorAccount": {"iban": debtor},
                    "instructedAmount": {"currency": "EUR", "amount": "0.01"},
                    "creditorAccount": {"iban": creditor},
                    "creditorName": "Luc Peeters",
                    "endToEndIdentification": &uuid::Uuid::new_v4().simple().to_string()[..30]
                });
                let started = Instant::now();
                let answer = http
                    .post(format!(
                        "{url}/banks/sandbox/v1/payments/sepa-credit-transfers"
                    ))
                    .bearer_auth(TOKEN)
                    .header("X-Request-ID", uuid::Uuid::new_v4().to_string())
                    .header("PSU-ID", ANNA)
                    .header("PSU-IP-Address", "192.0.2.7")
                    .json(&body)
                    .send()
                    .await;
                match answer {
                    Ok(answer) if answer.status().as_u16() == 201 => {
                        ok += 1;
                        latencies.push(started.elapsed());
                    }
                    _ => other += 1,
                }
            }
            (ok, other, latencies)
        }));
    }
    let (mut ok, mut other, mut latencies) = (0, 0, Vec::new());
    for task in tasks {
        let (o, x, l) = task.await.unwrap();
        ok += o;
        other += x;
        latencies.extend(l);
    }
    latencies.sort();
    (ok, other, latencies)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main]
async fn main() {
    let clients: usize = arg("--clients").map_or(8, |v| v.parse().unwrap());
    let seconds: u64 = arg("--seconds").map_or(5, |v| v.parse().unwrap());
    let Some(server) = postgres::Postgres::start() else {
        println!("replicas: skipped, PostgreSQL is not installed");
        return;
    };
    let sandbox = Sandbox::start(SandboxConfig {
        settle_after: Duration::from_millis(200),
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let folder: PathBuf =
        std::env::temp_dir().join(format!("psd2fb-bench-replicas-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&folder).unwrap();
    let key = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    std::fs::write(folder.join("journal.key"), key).unwrap();
    let url = server.url();
    let a = replica(&folder, "a", &sandbox, url.expose_secret()).await;
    let b = replica(&folder, "b", &sandbox, url.expose_secret()).await;
    println!(
        "replicas: payments posted by {clients} clients for {seconds} s each, one PostgreSQL journal, {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "{:<12} {:>10} {:>8} {:>9} {:>9} {:>9}",
        "replicas", "payments", "other", "per s", "p50 ms", "p99 ms"
    );
    // A short warm-up, so both replicas' pools and the database's caches are ready.
    load(&[a.url.clone(), b.url.clone()], &sandbox, clients, 1).await;
    for (name, replicas) in [
        ("1", vec![a.url.clone()]),
        ("2", vec![a.url.clone(), b.url.clone()]),
    ] {
        let (ok, other, latencies) = load(&replicas, &sandbox, clients, seconds).await;
        let at = |q: f64| {
            latencies
                .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
                .copied()
                .map_or(0.0, ms)
        };
        println!(
            "{name:<12} {ok:>10} {other:>8} {:>9.1} {:>9.1} {:>9.1}",
            ok as f64 / seconds as f64,
            at(0.5),
            at(0.99)
        );
    }
    drop((a, b));
    sandbox.shutdown().await;
    let _ = std::fs::remove_dir_all(&folder);
}
