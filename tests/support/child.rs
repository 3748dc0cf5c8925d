//! The `psd2-fallback` command run as its own process, as an operator runs it: a temporary folder for its
//! files, a free loopback port, the child killed on drop (so a failing test leaves nothing running), and
//! a wait until it answers.

use std::path::PathBuf;
use std::process::Child;
use std::time::Duration;

/// The built `psd2-fallback` binary.
pub const BIN: &str = env!("CARGO_BIN_EXE_psd2-fallback");

/// A temporary folder, removed on drop.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A new empty folder under the system's temporary folder, named after `what`.
    pub fn new(what: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("psd2-fallback-{what}-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    /// Writes `text` to the file `name` in the folder.
    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process killed on drop.
#[derive(Debug)]
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Running {
    /// Sends SIGTERM (what every process manager sends) and waits up to 20 s for the exit.
    pub async fn terminate(&mut self) -> std::process::ExitStatus {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM {}", self.0.id());
        for _ in 0..400 {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the process did not stop within 20 s of SIGTERM");
    }
}

/// The SHA-256 (hex) of a token, as the configuration file holds it.
pub fn hash(token: &str) -> String {
    psd2_fallback_service::TokenHash::of(token).to_hex()
}

/// A free loopback port (bound, read, released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits (up to 10 s) until the service at `url` answers `/health`; fails if the child stops first.
pub async fn wait_until_up(http: &reqwest::Client, url: &str, child: &mut Child) {
    for _ in 0..200 {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the service stopped: {status}");
        }
        if http.get(format!("{url}/health")).send().await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the service did not start within 10 s");
}
