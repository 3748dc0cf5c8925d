//! Browsers on a grid: the screen channel against a chromedriver started as a separate remote
//! WebDriver endpoint, as a Selenium Grid node is — sessions made and always closed there, and a grid
//! that answers "busy" handled as busy (asked again after a wait, then *unavailable*), never as a
//! website change.
//!
//! The endpoint is fenced so that nothing it does, nor its ending, can reach another process: it runs
//! in a PID namespace of its own (`unshare --pid --fork --kill-child`, a shell as the namespace's init
//! that waits for it), as the unprivileged browser account (`setpriv`, as the engine does). The test
//! ends it by killing the one `unshare` process it started, by its pid: the namespace's init dies with
//! it and the kernel ends every process of the namespace — no process group and no process list is
//! ever read or killed, so no marker or pid read wrong can name an unrelated process, and even a
//! `kill(-1)` from inside reaches that namespace only.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use psd2_fallback_engine::Bank;
use psd2_fallback_engine::bank::BankError;
use psd2_fallback_engine::screen::{BROWSER_USER, ScreenBank, ScreenBankConfig, WebDriverTarget};
use psd2_fallback_sandbox::Sandbox;
use serde_json::Value;

use crate::support::child::TempDir;
use crate::support::{psu, sandbox};

const ANNA: &str = "1000001";
const LUC: &str = "1000002";

/// A chromedriver serving as a remote WebDriver endpoint, in its own PID namespace; ended on drop.
struct Grid {
    /// The `unshare` process: its death ends the namespace and all in it.
    fence: Child,
    url: String,
    _folder: TempDir,
}

impl Drop for Grid {
    fn drop(&mut self) {
        // Our own child, by its pid (never a group, never a list).
        let _ = self.fence.kill();
        let _ = self.fence.wait();
    }
}

/// The account ids of the browser user, from `/etc/passwd`.
fn browser_account() -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.first() == Some(&BROWSER_USER))
            .then(|| Some((fields.get(2)?.parse().ok()?, fields.get(3)?.parse().ok()?)))
            .flatten()
    })
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

impl Grid {
    /// Starts chromedriver on a free loopback port in a PID namespace of its own: as root, the
    /// namespace is made directly and chromedriver runs as the browser account; as another user, in a
    /// user namespace of that user's own.
    async fn start() -> Grid {
        // Short: Chromium puts a Unix socket below its profile in TMPDIR, and a socket's path may not
        // exceed 108 bytes.
        let unique = uuid::Uuid::new_v4().simple().to_string();
        let folder = TempDir(std::env::temp_dir().join(format!("pfgrid-{}", &unique[..8])));
        std::fs::create_dir_all(&folder.0).unwrap();
        let port = crate::support::child::free_port();
        let (home, tmp) = (folder.0.join("home"), folder.0.join("tmp"));
        let mut unshare = Command::new("unshare");
        let run_as = if is_root() {
            let (uid, gid) = browser_account().unwrap_or_else(|| {
                panic!("the grid test runs chromedriver as {BROWSER_USER} (scripts/setup makes it)")
            });
            for dir in [&folder.0, &home, &tmp] {
                std::fs::create_dir_all(dir).unwrap();
                std::os::unix::fs::chown(dir, Some(uid), Some(gid)).unwrap();
            }
            unshare.args(["--pid", "--fork", "--kill-child", "--mount-proc"]);
            format!("setpriv --reuid={uid} --regid={gid} --clear-groups --")
        } else {
            for dir in [&home, &tmp] {
                std::fs::create_dir_all(dir).unwrap();
            }
            unshare.args([
                "--user",
                "--map-root-user",
                "--pid",
                "--fork",
                "--kill-child",
                "--mount-proc",
            ]);
            String::new()
        };
        // The namespace's init is this shell (it keeps `--kill-child`'s death signal: it changes no
        // credentials), which waits for chromedriver and reaps the browsers' orphans. No
        // `--allowed-ips`: chromedriver listens on loopback only.
        let script = format!(
            "{run_as} env HOME={} TMPDIR={} /usr/bin/chromedriver --port={port} & wait",
            home.display(),
            tmp.display()
        );
        let fence = unshare
            .args(["sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("unshare (util-linux) starts");
        let grid = Grid {
            fence,
            url: format!("http://127.0.0.1:{port}"),
            _folder: folder,
        };
        let http = reqwest::Client::new();
        for _ in 0..200 {
            if let Ok(answer) = http.get(format!("{}/status", grid.url)).send().await
                && let Ok(status) = answer.json::<Value>().await
                && status["value"]["ready"] == true
            {
                return grid;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the remote chromedriver did not get ready within 5 s");
    }

    /// The sessions the endpoint has open now.
    async fn sessions(&self) -> usize {
        let answer: Value = reqwest::get(format!("{}/sessions", self.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["value"].as_array().map_or(0, Vec::len)
    }
}

/// A front of the grid that answers "session not created" (what a grid at capacity says) to the
/// session requests while `refuse` is above zero (counting down), and passes everything else to the
/// grid. Returns its URL and how many it refused.
async fn busy_front(grid: String, refuse: Arc<AtomicUsize>) -> (String, Arc<AtomicUsize>) {
    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::{Method, StatusCode, Uri};
    let refused = Arc::new(AtomicUsize::new(0));
    let state = (grid, refuse, refused.clone(), reqwest::Client::new());
    type FrontState = (String, Arc<AtomicUsize>, Arc<AtomicUsize>, reqwest::Client);
    let app = axum::Router::new()
        .fallback(
            |State((grid, refuse, refused, http)): State<FrontState>,
             method: Method,
             uri: Uri,
             body: Bytes| async move {
                let new_session = method == Method::POST && uri.path() == "/session";
                if new_session
                    && refuse
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                        .is_ok()
                {
                    refused.fetch_add(1, Ordering::SeqCst);
                    let busy = serde_json::json!({"value": {
                        "error": "session not created",
                        "message": "Could not start a new session. The grid is at capacity.",
                        "stacktrace": ""
                    }});
                    return (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        [("content-type", "application/json")],
                        busy.to_string(),
                    );
                }
                let method = reqwest::Method::from_bytes(method.as_str().as_bytes()).unwrap();
                let answer = http
                    .request(method, format!("{grid}{}", uri.path()))
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                let status = StatusCode::from_u16(answer.status().as_u16()).unwrap();
                (
                    status,
                    [("content-type", "application/json")],
                    answer.text().await.unwrap(),
                )
            },
        )
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, refused)
}

async fn screen_on(sandbox: &Sandbox, webdriver: String) -> ScreenBank {
    let mut config = ScreenBankConfig::new(
        concat!(env!("CARGO_MANIFEST_DIR"), "/selectors/sandbox.toml"),
        sandbox.web_url(),
    );
    config.spare = false;
    config.max_active = 2;
    config.webdriver = WebDriverTarget::Remote(webdriver);
    ScreenBank::new(
        config,
        Some(Arc::new(psd2_fallback_sandbox::CardReaderRelay)),
    )
    .await
    .unwrap()
}

/// Two customers at once through a remote endpoint: each gets a session there (two open while
/// their sessions are kept for reuse), both read their accounts, and closing the channel closes
/// every session on the endpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_screen_channel_on_a_remote_webdriver_makes_its_sessions_there_and_closes_them() {
    let Some(_permit) = crate::support::browser::permit().await else {
        return;
    };
    let sandbox = sandbox().await;
    let grid = Grid::start().await;
    assert_eq!(grid.sessions().await, 0);
    let screen = screen_on(&sandbox, grid.url.clone()).await;
    let (anna, luc) = (psu(ANNA), psu(LUC));
    let (a, l) = tokio::join!(screen.accounts(&anna), screen.accounts(&luc));
    let (a, l) = (a.unwrap(), l.unwrap());
    assert!(!a.is_empty() && !l.is_empty());
    assert_ne!(a[0].iban, l[0].iban, "each customer reads their own");
    assert_eq!(
        grid.sessions().await,
        2,
        "one session per customer, made remotely"
    );
    // Read again: the kept sessions are reused, none is added.
    screen.accounts(&anna).await.unwrap();
    assert_eq!(grid.sessions().await, 2);
    screen.close().await;
    assert_eq!(
        grid.sessions().await,
        0,
        "every session closed on the endpoint"
    );
    sandbox.shutdown().await;
}

/// A grid at capacity answers "session not created": the channel asks again after growing waits and
/// reads once a session is granted; a grid that stays busy makes the channel *unavailable* (served
/// elsewhere, and no switch of the website's map), never a website change. No session is left open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_grid_is_asked_again_after_a_wait_and_when_it_stays_busy_is_unavailable() {
    let Some(_permit) = crate::support::browser::permit().await else {
        return;
    };
    let sandbox = sandbox().await;
    let grid = Grid::start().await;
    let refuse = Arc::new(AtomicUsize::new(2));
    let (front, refused) = busy_front(grid.url.clone(), refuse.clone()).await;
    let screen = screen_on(&sandbox, front.clone()).await;
    let started = std::time::Instant::now();
    let accounts = screen.accounts(&psu(ANNA)).await.unwrap();
    assert!(!accounts.is_empty());
    assert_eq!(refused.load(Ordering::SeqCst), 2);
    assert!(
        started.elapsed() >= Duration::from_millis(750),
        "waited 0.25 s, then 0.5 s: {:?}",
        started.elapsed()
    );
    screen.close().await;
    assert_eq!(grid.sessions().await, 0);
    // Busy for good: five requests, then unavailable.
    refuse.store(usize::MAX, Ordering::SeqCst);
    let screen = screen_on(&sandbox, front).await;
    let error = screen.accounts(&psu(LUC)).await.unwrap_err();
    assert!(matches!(error, BankError::Unavailable { .. }), "{error:?}");
    assert!(
        error.to_string().contains("busy") && error.to_string().contains("5 times"),
        "{error}"
    );
    // Five requests for each session the channel asked for before it gave up.
    let asked = refused.load(Ordering::SeqCst) - 2;
    assert!(asked >= 5 && asked % 5 == 0, "{asked} requests refused");
    screen.close().await;
    assert_eq!(grid.sessions().await, 0);
    sandbox.shutdown().await;
}
