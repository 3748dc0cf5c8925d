//! The WebDriver side of the screen channel: the only code that touches fantoccini.
//!
//! `Driver` starts `chromedriver` as a child in a process group of its own, on a loopback port, with
//! its own `HOME` and `TMPDIR` (so Chromium's profiles and caches land in one folder that is removed on
//! shutdown), or connects to a remote WebDriver (Selenium Grid). `Browser` is one browser session:
//! one per consent, never shared. It *acts* (navigate, fill, click, wait for a condition — polled every
//! few milliseconds, never a sleep) and *reads* by handing back the page source, once per page, for
//! `extract` to parse.
//!
//! Fence: when the engine runs as root, chromedriver and its browsers run as the account
//! [`BROWSER_USER`] (made by `scripts/setup`) with Chromium's sandbox on; as any other user, as that
//! user with the sandbox on. Only where the platform cannot sandbox (no unprivileged user namespaces)
//! or the account is missing does Chromium run with `--no-sandbox`, and the log says why, once.
//!
//! Hygiene: every session is closed explicitly (`Browser::close`); when the driver stops (or is
//! dropped, after a panic) it kills the process group it started — chromedriver and every Chromium it
//! launched, and only those — waits for chromedriver, and removes its folder.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use fantoccini::error::{CmdError, NewSessionError};
use fantoccini::wd::TimeoutConfiguration;
use fantoccini::{Client, ClientBuilder, Locator};
use secrecy::SecretString;
use serde_json::{Value as Json, json};

/// How often a wait checks its condition.
const POLL: Duration = Duration::from_millis(15);

/// Where browsers come from.
#[derive(Debug, Clone)]
pub enum WebDriverTarget {
    /// Start chromedriver here, launching this Chromium.
    Local {
        /// The chromedriver binary (default `/usr/bin/chromedriver`).
        chromedriver: PathBuf,
        /// The browser binary (default `/usr/bin/chromium`).
        chromium: PathBuf,
    },
    /// A WebDriver server already running (Selenium Grid): `http://grid:4444`.
    Remote(String),
}

impl Default for WebDriverTarget {
    fn default() -> Self {
        WebDriverTarget::Local {
            chromedriver: PathBuf::from("/usr/bin/chromedriver"),
            chromium: lightest_chromium(),
        }
    }
}

/// Debian's `chromium-headless-shell`, the lightest browser that works (about half the memory of a
/// session, faster launches), when it is installed; else the full Chromium.
pub fn lightest_chromium() -> PathBuf {
    let shell = PathBuf::from("/usr/lib/chromium/chromium-headless-shell");
    if shell.exists() {
        shell
    } else {
        PathBuf::from("/usr/bin/chromium")
    }
}

/// A WebDriver failure, classified for the screen channel.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DriverError {
    /// The driver or browser could not be started or reached, or the session is gone.
    #[error("browser unavailable: {0}")]
    Unavailable(String),
    /// A wait ran out.
    #[error("timed out waiting for {0}")]
    Timeout(String),
    /// An element to act on is not on the page.
    #[error("no element matches {0:?}")]
    NoElement(String),
}

impl DriverError {
    /// Whether the browser session itself is broken (killed browser, closed window): start a new one.
    pub fn session_lost(&self) -> bool {
        matches!(self, DriverError::Unavailable(_))
    }
}

fn classify(error: CmdError, what: &str) -> DriverError {
    if error.is_no_such_element() {
        DriverError::NoElement(what.to_owned())
    } else if matches!(error, CmdError::WaitTimeout)
        || error.is_timeout()
        || error.is_script_timeout()
    {
        DriverError::Timeout(what.to_owned())
    } else {
        DriverError::Unavailable(format!("{what}: {error}"))
    }
}

/// The chromedriver child and its folder.
#[derive(Debug)]
struct Local {
    child: Mutex<Option<Child>>,
    folder: PathBuf,
    chromium: PathBuf,
}

impl Local {
    fn stop(&self) {
        let mut guard = self.child.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(mut child) = guard.take() {
            // The group id is the child's pid (`process_group(0)`): killing the group also ends the
            // Chromium processes that killing chromedriver alone would orphan. Only a group our
            // child leads is killed (never `-1`, never a group read as 0 in a PID namespace).
            match own_group(child.id()) {
                Some(group) => {
                    let _ = Command::new("kill")
                        .args(["-KILL", "--", &format!("-{group}")])
                        .stderr(Stdio::null())
                        .status();
                }
                None => {
                    let _ = child.kill();
                }
            }
            let _ = child.wait();
        }
        // Chromium's crash handlers start their own process groups: end whatever still names our folder.
        kill_all(&processes_using(&self.folder));
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}

/// The account the browser runs as when the engine runs as root (`scripts/setup` creates it): Chromium
/// refuses its sandbox as root, and an unsandboxed renderer parsing bank pages as root is one exploit
/// away from the whole machine.
pub const BROWSER_USER: &str = "psd2fb-browser";

/// Runs a program as another user and group, without supplementary groups.
const SETPRIV: &str = "/usr/bin/setpriv";

/// How the browser is fenced in: decided once per driver from what the platform offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fence {
    /// Chromium's own sandbox (user namespaces), as this user and group (`None`: the engine's own).
    Sandbox(Option<(u32, u32)>),
    /// Chromium without its sandbox (`--no-sandbox`), and why: logged once per process.
    NoSandbox(String),
}

impl Fence {
    /// The fence for an engine that runs as root or not, on a platform with or without unprivileged
    /// user namespaces (the only sandbox Debian's Chromium has: it ships no setuid helper), with the
    /// browser account's ids when it exists.
    pub(crate) fn decide(root: bool, user_namespaces: bool, account: Option<(u32, u32)>) -> Fence {
        if !user_namespaces {
            return Fence::NoSandbox(
                "this platform gives no unprivileged user namespaces (kernel.unprivileged_userns_clone, \
                 user.max_user_namespaces or an AppArmor restriction), and Chromium has no setuid \
                 sandbox helper here"
                    .to_owned(),
            );
        }
        match (root, account) {
            (false, _) => Fence::Sandbox(None),
            (true, Some(ids)) => Fence::Sandbox(Some(ids)),
            (true, None) => Fence::NoSandbox(format!(
                "the engine runs as root and there is no user {BROWSER_USER} to run the browser as \
                 (scripts/setup creates it)"
            )),
        }
    }

    /// The fence on this machine, now.
    pub(crate) fn here() -> Fence {
        Fence::decide(
            effective_uid() == Some(0),
            user_namespaces(),
            account_ids(BROWSER_USER),
        )
    }
}

/// The engine's effective user id, from `/proc/self/status`.
fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// Whether an unprivileged process may make a user namespace (what Chromium's sandbox needs).
fn user_namespaces() -> bool {
    let read = |path: &str| {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|t| t.trim().parse::<u64>().ok())
    };
    read("/proc/sys/user/max_user_namespaces").is_some_and(|n| n > 0)
        && read("/proc/sys/kernel/unprivileged_userns_clone") != Some(0)
        && read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") != Some(1)
}

/// A local account's user and group ids, from `/etc/passwd`.
fn account_ids(name: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        if fields.next()? != name {
            return None;
        }
        let mut ids = fields.skip(1);
        Some((ids.next()?.parse().ok()?, ids.next()?.parse().ok()?))
    })
}

/// The prefix of the folders the driver makes: `psd2fb-<engine pid>-<unique>`. Short on purpose: Chromium
/// puts a Unix socket below it, and socket paths may not exceed 108 bytes.
const FOLDER_PREFIX: &str = "psd2fb-";

/// `pid`, when it leads a process group of its own (the group of a child started with
/// `process_group(0)`) and is neither the init process nor this one: the only groups a driver kills.
fn own_group(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    // After the name: state, parent, group.
    let group: u32 = after.split_whitespace().nth(2)?.parse().ok()?;
    (group == pid && pid > 1 && pid != std::process::id()).then_some(pid)
}

/// Whether `folder` is one a driver makes: `psd2fb-<engine pid>-<8 hex digits>`, directly in the
/// temporary directory. Nothing else is ever a marker of processes to kill: a marker such as `/tmp`,
/// `/root` or an empty path names nearly every process of the machine.
fn is_driver_folder(folder: &Path) -> bool {
    let Some(name) = folder.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    let shaped = name.strip_prefix(FOLDER_PREFIX).is_some_and(|rest| {
        rest.split_once('-').is_some_and(|(pid, unique)| {
            !pid.is_empty()
                && pid.bytes().all(|b| b.is_ascii_digit())
                && unique.len() == 8
                && unique.bytes().all(|b| b.is_ascii_hexdigit())
        })
    });
    shaped && folder.parent() == Some(std::env::temp_dir().as_path())
}

/// The processes whose command line or environment names `folder` (ours: it is unique to one
/// driver) as a whole path or a path below it; none when `folder` is not a driver's folder.
fn processes_using(folder: &Path) -> Vec<u32> {
    if !is_driver_folder(folder) {
        tracing::error!(folder = %folder.display(), "not a driver's folder: no process is looked for by it");
        return Vec::new();
    }
    let marker = folder.to_string_lossy().into_owned();
    let names = |bytes: &[u8]| {
        bytes.split(|b| *b == 0).any(|entry| {
            let entry = String::from_utf8_lossy(entry);
            entry.match_indices(&marker).any(|(at, _)| {
                matches!(entry[at + marker.len()..].chars().next(), None | Some('/'))
            })
        })
    };
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            ["cmdline", "environ"].iter().any(|file| {
                std::fs::read(format!("/proc/{pid}/{file}"))
                    .map(|bytes| names(&bytes))
                    .unwrap_or(false)
            })
        })
        .collect()
}

/// Kills `pids`, never the init process, this process or its parent, nor anything that is not a
/// process id (a pid of 0 or below would be a group, or every process).
fn kill_all(pids: &[u32]) {
    let pids: Vec<String> = killable(pids).iter().map(u32::to_string).collect();
    if pids.is_empty() {
        return;
    }
    let _ = Command::new("kill")
        .arg("-KILL")
        .arg("--")
        .args(pids)
        .stderr(Stdio::null())
        .status();
}

/// Of `pids`, those a driver may kill: not 0, not the init process, not this process nor its parent.
fn killable(pids: &[u32]) -> Vec<u32> {
    let spared = [
        0,
        1,
        std::process::id(),
        std::os::unix::process::parent_id(),
    ];
    pids.iter()
        .copied()
        .filter(|pid| !spared.contains(pid))
        .collect()
}

/// Ends the browsers of drivers whose engine process is gone (killed with SIGKILL, crashed) and removes
/// their folders. Only folders this engine makes are touched, and only when their engine is dead.
pub(crate) fn reap_orphans() -> usize {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return 0;
    };
    let mut reaped = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(owner) = name
            .strip_prefix(FOLDER_PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        let folder = entry.path();
        if std::path::Path::new(&format!("/proc/{owner}")).exists() || !is_driver_folder(&folder) {
            continue;
        }
        kill_all(&processes_using(&folder));
        let _ = std::fs::remove_dir_all(&folder);
        reaped += 1;
    }
    if reaped > 0 {
        tracing::warn!(reaped, "ended the browsers of engine runs that died");
    }
    reaped
}

impl Drop for Local {
    fn drop(&mut self) {
        self.stop();
    }
}

/// How many times a session is asked for before the website channel is unavailable.
const SESSION_ATTEMPTS: u32 = 5;

/// The wait before the second request for a session; it doubles each time (0.25 + 0.5 + 1 + 2 s).
const SESSION_RETRY_FIRST_WAIT: Duration = Duration::from_millis(250);

/// A running WebDriver endpoint: our chromedriver, or a remote one.
#[derive(Debug)]
pub(crate) struct Driver {
    url: String,
    local: Option<Local>,
    page_timeout: Duration,
    /// Whether Chromium is asked to keep its sandbox (no `--no-sandbox`).
    sandboxed: bool,
    /// Arguments every browser also gets (the egress proxy's).
    extra_args: Vec<String>,
}

impl Driver {
    /// Gives every browser started from now on these arguments too.
    pub(crate) fn add_browser_args(&mut self, args: &[String]) {
        self.extra_args.extend(args.iter().cloned());
    }

    /// Starts chromedriver (or checks the remote URL's shape).
    pub(crate) async fn start(
        target: &WebDriverTarget,
        page_timeout: Duration,
    ) -> Result<Self, DriverError> {
        match target {
            WebDriverTarget::Remote(url) => Ok(Self {
                url: url.trim_end_matches('/').to_owned(),
                local: None,
                page_timeout,
                // A grid's browsers run in its containers, as its images decide: asked as before.
                sandboxed: false,
                extra_args: Vec::new(),
            }),
            WebDriverTarget::Local {
                chromedriver,
                chromium,
            } => {
                for tool in [chromedriver, chromium] {
                    if !tool.exists() {
                        return Err(DriverError::Unavailable(format!(
                            "{} is not installed",
                            tool.display()
                        )));
                    }
                }
                reap_orphans();
                let unique = uuid::Uuid::new_v4().simple().to_string();
                let folder = std::env::temp_dir().join(format!(
                    "{FOLDER_PREFIX}{}-{}",
                    std::process::id(),
                    &unique[..8]
                ));
                let (home, tmp) = (folder.join("home"), folder.join("tmp"));
                for dir in [&home, &tmp] {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        DriverError::Unavailable(format!("cannot create {}: {e}", dir.display()))
                    })?;
                }
                let fence = Fence::here();
                let account = match &fence {
                    Fence::Sandbox(account) => *account,
                    Fence::NoSandbox(why) => {
                        static SAID: std::sync::Once = std::sync::Once::new();
                        SAID.call_once(|| {
                            tracing::warn!(reason = %why, "Chromium runs without its sandbox");
                        });
                        None
                    }
                };
                if let Some((uid, gid)) = account {
                    // The browser's account owns its HOME and TMPDIR (and nothing else of ours).
                    for dir in [&folder, &home, &tmp] {
                        std::os::unix::fs::chown(dir, Some(uid), Some(gid)).map_err(|e| {
                            DriverError::Unavailable(format!(
                                "cannot give {} to {BROWSER_USER}: {e}",
                                dir.display()
                            ))
                        })?;
                    }
                }
                let port = std::net::TcpListener::bind("127.0.0.1:0")
                    .and_then(|l| l.local_addr())
                    .map_err(|e| DriverError::Unavailable(format!("no loopback port: {e}")))?
                    .port();
                // No `--allowed-ips`: with it chromedriver listens on every interface; without it,
                // on loopback only, where nothing but this machine can reach it.
                // As the browser's account: through `setpriv` (util-linux), which also drops the
                // engine's supplementary groups (the standard library cannot, without unsafe code).
                let mut command = match account {
                    Some((uid, gid)) => {
                        let mut command = Command::new(SETPRIV);
                        command
                            .arg(format!("--reuid={uid}"))
                            .arg(format!("--regid={gid}"))
                            .args(["--clear-groups", "--"])
                            .arg(chromedriver);
                        command
                    }
                    None => Command::new(chromedriver),
                };
                command
                    .arg(format!("--port={port}"))
                    .env("HOME", &home)
                    .env("TMPDIR", &tmp)
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null())
                    .stdin(Stdio::null())
                    .process_group(0);
                let mut child = command.spawn().map_err(|e| {
                    DriverError::Unavailable(format!(
                        "cannot start {}: {e}",
                        chromedriver.display()
                    ))
                })?;
                let stdout = child.stdout.take().expect("stdout is piped");
                let local = Local {
                    child: Mutex::new(Some(child)),
                    folder,
                    chromium: chromium.clone(),
                };
                // chromedriver prints one line when it listens; read until then (no polling).
                let ready = tokio::task::spawn_blocking(move || {
                    let mut lines = BufReader::new(stdout).lines();
                    let found = lines
                        .by_ref()
                        .map_while(Result::ok)
                        .any(|line| line.contains("started successfully"));
                    // Keep draining so chromedriver never blocks on a full pipe.
                    std::thread::spawn(move || lines.for_each(drop));
                    found
                })
                .await
                .unwrap_or(false);
                if !ready {
                    return Err(DriverError::Unavailable(
                        "chromedriver exited before it was ready".to_owned(),
                    ));
                }
                Ok(Self {
                    url: format!("http://127.0.0.1:{port}"),
                    local: Some(local),
                    page_timeout,
                    sandboxed: matches!(fence, Fence::Sandbox(_)),
                    extra_args: Vec::new(),
                })
            }
        }
    }

    /// Opens a new browser session (a fresh, blank Chromium with its own profile).
    pub(crate) async fn new_browser(&self) -> Result<Browser, DriverError> {
        let mut options = json!({
            "args": [
                "--headless=new", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--window-size=1280,900",
                // Bank pages are never kept on disk: no HTTP cache.
                "--disk-cache-dir=/dev/null", "--disk-cache-size=1"
            ],
        });
        if !self.sandboxed {
            options["args"]
                .as_array_mut()
                .expect("args is a list")
                .push(json!("--no-sandbox"));
        }
        options["args"]
            .as_array_mut()
            .expect("args is a list")
            .extend(self.extra_args.iter().map(|a| json!(a)));
        if let Some(local) = &self.local {
            options["binary"] = json!(local.chromium.display().to_string());
            // The headless shell cannot start with its disk cache on /dev/null (it exits at once):
            // its cache stays at one byte, in the profile the driver's folder holds and removes.
            let shell = local
                .chromium
                .file_name()
                .is_some_and(|n| n.to_string_lossy().contains("headless-shell"));
            if shell {
                let args = options["args"].as_array_mut().expect("args is a list");
                args.retain(|a| a != "--disk-cache-dir=/dev/null");
            }
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".to_owned(), options);
        capabilities.insert("browserName".to_owned(), json!("chrome"));
        // A browser launch now and then dies at birth ("Chrome instance exited"), and a grid at
        // capacity refuses a session ("session not created") or drops the queued request: both are
        // tried again, each wait twice the last. A grid that stays busy makes the website channel
        // unavailable (another channel or a later call serves), never a website change.
        let mut attempt = 0;
        let mut wait = SESSION_RETRY_FIRST_WAIT;
        let client = loop {
            attempt += 1;
            let launched = ClientBuilder::rustls()
                .map_err(|e| DriverError::Unavailable(format!("TLS: {e}")))?
                .capabilities(capabilities.clone())
                .connect(&self.url)
                .await;
            let error = match launched {
                Ok(client) => break client,
                Err(NewSessionError::BadWebdriverUrl(_)) => {
                    return Err(DriverError::Unavailable(
                        "new session: the WebDriver URL does not parse".to_owned(),
                    ));
                }
                Err(error) => error,
            };
            let busy = matches!(error, NewSessionError::SessionNotCreated(_));
            if attempt >= SESSION_ATTEMPTS {
                let what = if busy {
                    "the WebDriver endpoint is busy (it refused a session)"
                } else {
                    "the WebDriver endpoint did not open a session"
                };
                return Err(DriverError::Unavailable(format!(
                    "new session: {what} {attempt} times: {error}"
                )));
            }
            tracing::warn!(attempt, busy, ?wait, %error, "no browser session; asking again after a wait");
            tokio::time::sleep(wait).await;
            wait *= 2;
        };
        let timeouts = TimeoutConfiguration::new(None, Some(self.page_timeout), None);
        client
            .update_timeouts(timeouts)
            .await
            .map_err(|e| classify(e, "timeouts"))?;
        Ok(Browser {
            client,
            gate: Mutex::new(None),
            cookies: Mutex::new(None),
        })
    }

    /// Stops chromedriver and every browser it launched, and removes their folder.
    pub(crate) fn shutdown(&self) {
        if let Some(local) = &self.local {
            local.stop();
        }
    }

    /// The folder holding the browsers' `HOME` and `TMPDIR` (local driver only).
    pub(crate) fn folder(&self) -> Option<&Path> {
        self.local.as_ref().map(|l| l.folder.as_path())
    }

    /// The memory (PSS, bytes) of chromedriver and every browser process it started (local driver
    /// only), from `/proc/<pid>/smaps_rollup`.
    pub(crate) fn memory(&self) -> Option<u64> {
        let folder = self.folder()?;
        // The processes naming the folder and all their descendants (a browser's renderers and
        // helpers may not carry its environment).
        let mut children: std::collections::HashMap<u32, Vec<u32>> = Default::default();
        for entry in std::fs::read_dir("/proc").ok()?.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // `pid (comm) state ppid …`: the command may hold spaces and parentheses.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok());
            if let Some(ppid) = ppid {
                children.entry(ppid).or_default().push(pid);
            }
        }
        let mut all: std::collections::BTreeSet<u32> = Default::default();
        let mut todo = processes_using(folder);
        while let Some(pid) = todo.pop() {
            if all.insert(pid) {
                todo.extend(children.get(&pid).into_iter().flatten().copied());
            }
        }
        let kib: u64 = all
            .into_iter()
            .filter_map(|pid| {
                let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
                let line = rollup.lines().find(|l| l.starts_with("Pss:"))?;
                line.split_whitespace().nth(1)?.parse::<u64>().ok()
            })
            .sum();
        Some(kib * 1024)
    }
}

/// What a browser action waits for before it acts: the permit of the flow using the browser (a
/// flow takes it at its first action, so a flow served over HTTP on the session never needs one).
#[async_trait::async_trait]
pub(crate) trait Gate: Send + Sync {
    /// Waits until the flow may act in its browser (at once when it holds its permit already).
    async fn enter(&self) -> Result<(), DriverError>;
}

/// One browser session. Never shared between customers.
pub(crate) struct Browser {
    pub(super) client: Client,
    /// The gate of the flow using the browser now: a dead reference once that flow ended (then
    /// nothing waits: a browser acts outside a flow only to be closed).
    gate: Mutex<Option<std::sync::Weak<dyn Gate>>>,
    /// The session's cookies as a `Cookie` header, for reads over HTTP on this browser's session:
    /// taken from WebDriver when first needed, forgotten when a click may have changed them (a
    /// login, a form) or an HTTP read did not land where expected. Secret: never logged or written.
    cookies: Mutex<Option<SecretString>>,
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

/// A form value to set.
#[derive(Debug, Clone)]
pub(crate) enum FillValue {
    /// Text for an input, or the value of a select's option.
    Text(String),
    /// A checkbox's state.
    Checked(bool),
}

impl Browser {
    /// From now on, every action first waits at `gate` (the flow using the browser).
    pub(crate) fn set_gate(&self, gate: std::sync::Weak<dyn Gate>) {
        *self.gate.lock().unwrap_or_else(|p| p.into_inner()) = Some(gate);
    }

    /// Waits at the gate of the flow using the browser, if one does.
    async fn enter(&self) -> Result<(), DriverError> {
        let gate = self
            .gate
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .and_then(std::sync::Weak::upgrade);
        match gate {
            Some(gate) => gate.enter().await,
            None => Ok(()),
        }
    }

    /// Opens a URL and waits for the page to load.
    pub(crate) async fn goto(&self, url: &str) -> Result<(), DriverError> {
        self.enter().await?;
        self.client
            .goto(url)
            .await
            .map_err(|e| classify(e, "page load"))
    }

    /// The page source, to be parsed by `extract`.
    pub(crate) async fn source(&self) -> Result<String, DriverError> {
        self.enter().await?;
        self.client
            .source()
            .await
            .map_err(|e| classify(e, "page source"))
    }

    /// The address shown.
    pub(crate) async fn current_path(&self) -> Result<String, DriverError> {
        self.enter().await?;
        let url = self
            .client
            .current_url()
            .await
            .map_err(|e| classify(e, "current url"))?;
        Ok(url.path().to_owned())
    }

    /// A PNG screenshot of the page.
    pub(crate) async fn screenshot(&self) -> Result<Vec<u8>, DriverError> {
        self.enter().await?;
        self.client
            .screenshot()
            .await
            .map_err(|e| classify(e, "screenshot"))
    }

    /// Waits until an element matches `css` (polling every few milliseconds).
    pub(crate) async fn wait_for(&self, css: &str, limit: Duration) -> Result<(), DriverError> {
        self.enter().await?;
        self.client
            .wait()
            .every(POLL)
            .at_most(limit)
            .for_element(Locator::Css(css))
            .await
            .map(drop)
            .map_err(|e| classify(e, css))
    }

    /// On a page that waits for something outside the browser (an approval in the bank's app): waits
    /// until `here` no longer matches (the page moved on) or `shown` matches an element that is shown
    /// and has text (the page says how it ended), at most `limit`. `true` when either happened. A
    /// script that fails while the page changes is asked again.
    pub(crate) async fn wait_to_move_on(
        &self,
        here: &str,
        shown: Option<&str>,
        limit: Duration,
    ) -> Result<bool, DriverError> {
        self.enter().await?;
        const SCRIPT: &str = "const [here, shown] = arguments; \
            if (!document.querySelector(here)) return true; \
            if (!shown) return false; \
            const o = document.querySelector(shown); \
            return !!o && !o.hidden && o.textContent.trim() !== '';";
        let deadline = tokio::time::Instant::now() + limit;
        let mut tick = tokio::time::interval(POLL * 4);
        loop {
            tick.tick().await;
            match self
                .client
                .execute(SCRIPT, vec![here.into(), shown.into()])
                .await
                .map_err(|e| classify(e, here))
            {
                Ok(done) if done.as_bool() == Some(true) => return Ok(true),
                Ok(_) => {}
                Err(e) if e.session_lost() => return Err(e),
                Err(_) => {}
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(false);
            }
        }
    }

    /// After a "load more" click: waits until more than `seen` elements match `rows`, or the button
    /// `more` is gone or disabled (everything is shown), polling every few milliseconds.
    pub(crate) async fn wait_for_more(
        &self,
        rows: &str,
        more: &str,
        seen: usize,
        limit: Duration,
    ) -> Result<(), DriverError> {
        self.enter().await?;
        const SCRIPT: &str = "const [rows, more, seen] = arguments; \
            const button = document.querySelector(more); \
            return document.querySelectorAll(rows).length > seen || !button || button.disabled;";
        let deadline = tokio::time::Instant::now() + limit;
        let mut tick = tokio::time::interval(POLL);
        loop {
            tick.tick().await;
            let done = self
                .client
                .execute(SCRIPT, vec![rows.into(), more.into(), seen.into()])
                .await
                .map_err(|e| classify(e, rows))?;
            if done.as_bool() == Some(true) {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(DriverError::Timeout(rows.to_owned()));
            }
        }
    }

    /// Sets form fields by one script call (values, selects, checkboxes) and marks the page stale, so a
    /// later wait knows the next page from this one. Returns the selectors that matched nothing.
    pub(crate) async fn fill_by_script(
        &self,
        fields: &[(String, FillValue)],
    ) -> Result<Vec<String>, DriverError> {
        self.enter().await?;
        let list: Vec<Json> = fields
            .iter()
            .map(|(css, v)| match v {
                FillValue::Text(t) => json!([css, t, null]),
                FillValue::Checked(c) => json!([css, null, c]),
            })
            .collect();
        let script = r#"
            var missing = [];
            arguments[0].forEach(function (f) {
                var e = document.querySelector(f[0]);
                if (!e) { missing.push(f[0]); return; }
                if (f[2] !== null) { e.checked = f[2]; } else { e.value = f[1]; }
                e.dispatchEvent(new Event('input', {bubbles: true}));
                e.dispatchEvent(new Event('change', {bubbles: true}));
            });
            return missing;"#;
        let answer = self
            .client
            .execute(script, vec![Json::Array(list)])
            .await
            .map_err(|e| classify(e, "filling the form"))?;
        Ok(answer
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Types text into a field key by key (for sites that validate key events).
    pub(crate) async fn type_keys(&self, css: &str, text: &str) -> Result<(), DriverError> {
        self.enter().await?;
        let element = self
            .client
            .find(Locator::Css(css))
            .await
            .map_err(|e| classify(e, css))?;
        element.clear().await.map_err(|e| classify(e, css))?;
        element.send_keys(text).await.map_err(|e| classify(e, css))
    }

    /// Sends a local file's path to a file input.
    pub(crate) async fn upload(&self, css: &str, path: &Path) -> Result<(), DriverError> {
        self.enter().await?;
        let element = self
            .client
            .find(Locator::Css(css))
            .await
            .map_err(|e| classify(e, css))?;
        element
            .send_keys(&path.display().to_string())
            .await
            .map_err(|e| classify(e, css))
    }

    /// Marks the page stale: a wait for `html:not([data-psd2-stale]) …` then only sees the next page.
    pub(crate) async fn mark_stale(&self) -> Result<(), DriverError> {
        self.enter().await?;
        self.client
            .execute(
                "document.documentElement.setAttribute('data-psd2-stale','1');",
                vec![],
            )
            .await
            .map(drop)
            .map_err(|e| classify(e, "marking the page"))
    }

    /// The browser's cookies for the page it shows, as one `Cookie` header (kept until a click or
    /// [`Browser::forget_cookies`]).
    pub(crate) async fn cookie_header(&self) -> Result<SecretString, DriverError> {
        if let Some(kept) = self
            .cookies
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            return Ok(kept);
        }
        let cookies = self
            .client
            .get_all_cookies()
            .await
            .map_err(|e| classify(e, "cookies"))?;
        let header: SecretString = cookies
            .iter()
            .map(|c| format!("{}={}", c.name(), c.value()))
            .collect::<Vec<_>>()
            .join("; ")
            .into();
        *self.cookies.lock().unwrap_or_else(|p| p.into_inner()) = Some(header.clone());
        Ok(header)
    }

    /// Forgets the cookies taken for HTTP reads: the next one asks the browser again.
    pub(crate) fn forget_cookies(&self) {
        *self.cookies.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Clicks the element matching `css` (a button or link); returns once the click is delivered.
    pub(crate) async fn click(&self, css: &str) -> Result<(), DriverError> {
        self.enter().await?;
        // A click may log in, log out or accept a banner: the session's cookies may change.
        self.forget_cookies();
        let element = self
            .client
            .find(Locator::Css(css))
            .await
            .map_err(|e| classify(e, css))?;
        element.click().await.map_err(|e| classify(e, css))
    }

    /// Masks secrets and IBANs in the page itself (text and input values), before a screenshot.
    pub(crate) async fn mask_page(&self, secrets: &[String]) -> Result<(), DriverError> {
        self.enter().await?;
        let script = r#"
            var secrets = arguments[0];
            var iban = /\b[A-Z]{2}[0-9]{2}(?:[ \u00a0]?[0-9A-Z]{4}){2,7}(?:[ \u00a0]?[0-9A-Z]{1,3})?\b/g;
            function clean(t) {
                secrets.forEach(function (s) { if (s) { t = t.split(s).join('***'); } });
                return t.replace(iban, function (m) { return m.slice(0, 2) + '** **** ' + m.slice(-2); });
            }
            var walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
            var n; while ((n = walk.nextNode())) { n.nodeValue = clean(n.nodeValue); }
            document.querySelectorAll('input, option').forEach(function (e) {
                if (e.type === 'password') { e.value = ''; }
                else { e.value = clean(e.value); if (e.tagName === 'OPTION') { e.textContent = clean(e.textContent); } }
                if (e.hasAttribute('value')) { e.setAttribute('value', clean(e.getAttribute('value'))); }
            });
            return true;"#;
        self.client
            .execute(script, vec![json!(secrets)])
            .await
            .map(drop)
            .map_err(|e| classify(e, "masking the page"))
    }

    /// Closes the session (its Chromium exits).
    pub(crate) async fn close(self) {
        let _ = self.client.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::{BROWSER_USER, Fence};
    use super::{is_driver_folder, killable, own_group, processes_using};
    use std::os::unix::process::CommandExt;
    use std::path::{Path, PathBuf};

    /// r16: a marker that is not a driver's own folder (empty, `/`, `/tmp`, `/root`, the prefix
    /// alone, a folder elsewhere) names no process, so nothing kills by it; and the kill list never
    /// holds 0, the init process, this process or its parent.
    #[test]
    fn only_a_drivers_own_folder_marks_processes_to_kill() {
        let tmp = std::env::temp_dir();
        for bad in [
            PathBuf::new(),
            PathBuf::from("/"),
            tmp.clone(),
            PathBuf::from("/root"),
            tmp.join("psd2fb-"),
            tmp.join("psd2fb-12-"),
            tmp.join("psd2fb--abcdef01"),
            tmp.join("psd2fb-12-abcdef0"),
            tmp.join("psd2fb-12-abcdefxy"),
            tmp.join("psd2fb-x2-abcdef01"),
            PathBuf::from("/var/psd2fb-12-abcdef01"),
            tmp.join("psd2fb-12-abcdef01").join("home"),
        ] {
            assert!(!is_driver_folder(&bad), "{}", bad.display());
            assert!(processes_using(&bad).is_empty(), "{}", bad.display());
        }
        assert!(is_driver_folder(&tmp.join("psd2fb-12-abcdef01")));
        let me = std::process::id();
        let parent = std::os::unix::process::parent_id();
        assert_eq!(killable(&[0, 1, me, parent, 4242]), [4242]);
        assert_eq!(own_group(1), None);
        assert_eq!(own_group(me), None);
    }

    /// r16: the processes found by a driver's folder are those naming it (or a path below it) in
    /// their environment or command line, not one naming a longer folder that starts the same.
    #[test]
    fn a_drivers_folder_finds_its_processes_and_no_neighbour() {
        let unique = &uuid::Uuid::new_v4().simple().to_string()[..8];
        let folder = std::env::temp_dir().join(format!("psd2fb-{}-{unique}", std::process::id()));
        let start = |key: &str, value: &Path| {
            std::process::Command::new("sleep")
                .arg("30")
                .env(key, value)
                .process_group(0)
                .spawn()
                .unwrap()
        };
        let mut ours = start("TMPDIR", &folder.join("tmp"));
        let mut neighbour = start("TMPDIR", Path::new(&format!("{}0/tmp", folder.display())));
        let found = processes_using(&folder);
        assert_eq!(found, [ours.id()]);
        assert_eq!(own_group(ours.id()), Some(ours.id()));
        super::kill_all(&found);
        ours.wait().unwrap();
        assert!(
            neighbour.try_wait().unwrap().is_none(),
            "the neighbour lives"
        );
        neighbour.kill().unwrap();
        neighbour.wait().unwrap();
    }

    /// r11: the browser keeps its sandbox wherever the platform allows one; without it, the reason is
    /// stated (it is what the log says).
    #[test]
    fn the_sandbox_is_dropped_only_for_a_stated_reason() {
        assert_eq!(Fence::decide(false, true, None), Fence::Sandbox(None));
        assert_eq!(
            Fence::decide(true, true, Some((999, 995))),
            Fence::Sandbox(Some((999, 995)))
        );
        let Fence::NoSandbox(no_account) = Fence::decide(true, true, None) else {
            panic!("root without the account cannot sandbox");
        };
        assert!(no_account.contains(BROWSER_USER), "{no_account}");
        assert!(no_account.contains("scripts/setup"), "{no_account}");
        for root in [false, true] {
            let Fence::NoSandbox(no_namespaces) = Fence::decide(root, false, Some((999, 995)))
            else {
                panic!("no user namespaces, no sandbox");
            };
            assert!(no_namespaces.contains("user namespaces"), "{no_namespaces}");
        }
    }
}
