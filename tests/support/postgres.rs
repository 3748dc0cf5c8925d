//! A real PostgreSQL server per test, from Debian's `postgresql` package: a fresh cluster (`initdb`)
//! in a temporary folder, listening on a free loopback port with a password, stopped and removed when
//! the [`Postgres`] is dropped. PostgreSQL refuses to run as root, so under root the cluster belongs to
//! the `postgres` user and its programs run as that user (`setpriv`, which executes them directly, so
//! the child this holds is the server itself).
//!
//! [`Postgres::start_tls`] starts one that accepts TLS connections only (`ssl = on`, `hostssl` alone in
//! `pg_hba.conf`), its certificate for 127.0.0.1 issued by a CA the test makes (rcgen, through the
//! engine's test PKI); [`Postgres::tls_url`] carries `sslmode=require` and that CA.
//!
//! When PostgreSQL is missing, [`Postgres::start`] fails with a clear message under `CI=true`;
//! elsewhere it says so loudly and returns `None`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use secrecy::SecretString;

/// A running PostgreSQL server, owned by the test.
pub struct Postgres {
    folder: PathBuf,
    bin: PathBuf,
    port: u16,
    password: String,
    server: Child,
    /// Whether it accepts TLS connections only (and `psql` must use TLS).
    tls: bool,
}

/// The folder of PostgreSQL's programs (`/usr/lib/postgresql/<major>/bin`), the newest installed.
fn binaries() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((major, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|uid| uid == "0"))
                .unwrap_or(false)
        })
        .unwrap_or(false)
}

/// A command for one of PostgreSQL's programs, as the `postgres` user when this runs as root.
fn as_owner(program: &Path) -> Command {
    if is_root() {
        let mut command = Command::new("setpriv");
        command
            .args([
                "--reuid=postgres",
                "--regid=postgres",
                "--init-groups",
                "--reset-env",
            ])
            .arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

impl Postgres {
    /// Starts a fresh server; `None` outside CI when PostgreSQL is not installed.
    pub fn start() -> Option<Self> {
        Self::start_with(false)
    }

    /// Starts a fresh server that accepts TLS connections only, with a certificate from a CA of the
    /// test's own (its PEM: `ca.pem` in the folder, named by [`Postgres::tls_url`]).
    pub fn start_tls() -> Option<Self> {
        Self::start_with(true)
    }

    fn start_with(tls: bool) -> Option<Self> {
        let Some(bin) = binaries() else {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!(
                    "PostgreSQL is not installed (/usr/lib/postgresql/*/bin/initdb): scripts/setup installs it"
                );
            }
            eprintln!(
                "NOTICE: PostgreSQL is not installed; the PostgreSQL half of this test did not run (scripts/setup installs it)"
            );
            return None;
        };
        let folder = std::env::temp_dir().join(format!("psd2fb-pg-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&folder).expect("a temporary folder");
        let password = uuid::Uuid::new_v4().simple().to_string();
        std::fs::write(folder.join("password"), &password).expect("the password file");
        if tls {
            use psd2_fallback_engine::identity::test_pki::TestPki;
            use std::os::unix::fs::PermissionsExt;
            let pki = TestPki::new("Test journal CA").expect("a test CA");
            let (certificate, key) = pki.server(&["127.0.0.1"]).expect("a server certificate");
            std::fs::write(folder.join("ca.pem"), pki.ca_pem()).expect("the CA file");
            std::fs::write(folder.join("server.crt"), certificate).expect("the certificate");
            std::fs::write(folder.join("server.key"), key).expect("the key");
            std::fs::set_permissions(
                folder.join("server.key"),
                std::fs::Permissions::from_mode(0o600),
            )
            .expect("the key is its owner's only");
        }
        if is_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&folder)
                .status()
                .expect("chown runs");
            assert!(status.success(), "the folder is given to the postgres user");
        }
        let data = folder.join("data");
        let output = as_owner(&bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "--auth=scram-sha-256",
                "--no-sync",
                "--no-instructions",
            ])
            .arg(format!("--pwfile={}", folder.join("password").display()))
            .output()
            .expect("initdb runs");
        assert!(
            output.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        if tls {
            // TLS only: a plain connection finds no entry and is refused.
            std::fs::write(
                data.join("pg_hba.conf"),
                "local all all scram-sha-256\nhostssl all all 127.0.0.1/32 scram-sha-256\n",
            )
            .expect("pg_hba.conf");
        }
        let mut settings = vec!["max_connections=200".to_owned()];
        if tls {
            settings.push("ssl=on".to_owned());
            settings.push(format!(
                "ssl_cert_file={}",
                folder.join("server.crt").display()
            ));
            settings.push(format!(
                "ssl_key_file={}",
                folder.join("server.key").display()
            ));
        }
        let port = free_port();
        let server = as_owner(&bin.join("postgres"))
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
            .args(settings.iter().flat_map(|s| ["-c", s.as_str()]))
            .arg("-k")
            .arg(&folder)
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::create(folder.join("server.log"))
                    .map(Stdio::from)
                    .unwrap_or_else(|_| Stdio::null()),
            )
            .spawn()
            .expect("the server starts");
        let mut postgres = Self {
            folder,
            bin,
            port,
            password,
            server,
            tls,
        };
        postgres.wait_ready();
        Some(postgres)
    }

    fn wait_ready(&mut self) {
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.server.try_wait() {
                panic!(
                    "PostgreSQL stopped at start ({status}): {}",
                    std::fs::read_to_string(self.folder.join("server.log")).unwrap_or_default()
                );
            }
            let ready = Command::new(self.bin.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string()])
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if ready {
                return;
            }
            assert!(Instant::now() < until, "PostgreSQL did not become ready");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The URL of its `postgres` database, with the password: a secret.
    pub fn url(&self) -> SecretString {
        SecretString::from(format!(
            "postgres://postgres:{}@127.0.0.1:{}/postgres",
            self.password, self.port
        ))
    }

    /// The URL of its `postgres` database over TLS, the server verified against the test's CA.
    pub fn tls_url(&self) -> SecretString {
        SecretString::from(format!(
            "postgres://postgres:{}@127.0.0.1:{}/postgres?sslmode=require&sslrootcert={}",
            self.password,
            self.port,
            self.folder.join("ca.pem").display()
        ))
    }

    /// The folder of its cluster (its CA's PEM is `ca.pem` there, for a TLS server).
    pub fn folder(&self) -> &Path {
        &self.folder
    }

    /// The password, for tests that check it never shows.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// Runs SQL with `psql` as the superuser (for a test's own look at the database).
    pub fn psql(&self, sql: &str) -> String {
        let output = Command::new(self.bin.join("psql"))
            .args([
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
            ])
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
            ])
            .args(["-c", sql])
            .env("PGPASSWORD", &self.password)
            .env("PGSSLMODE", if self.tls { "require" } else { "prefer" })
            .output()
            .expect("psql runs");
        assert!(
            output.status.success(),
            "psql failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // A fast shutdown (SIGINT), then a kill if it lingers; then the cluster's folder goes.
        let pid = self.server.id().to_string();
        let _ = Command::new("kill").args(["-INT", &pid]).status();
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.server.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.server.kill();
        let _ = self.server.wait();
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}
