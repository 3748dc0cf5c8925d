//! A real headless Chromium through chromedriver, for tests that drive a website.
//!
//! [`Browser::start`] launches `chromedriver` (env `CHROMEDRIVER`, default `/usr/bin/chromedriver`) in a
//! process group of its own on a free loopback port, opens a session of Chromium (env `CHROMIUM`, default
//! `/usr/bin/chromium`) and hands back the client. [`Browser::close`] closes the session and stops the
//! driver; if a test panics first, dropping the browser kills the process group it started (only those
//! processes). At most two sessions run at once: on two cores more only slow each other down.
//!
//! When chromedriver or Chromium is missing, a test fails with a clear message under `CI=true`; elsewhere
//! it prints a loud notice and [`Browser::start`] returns `None`, so the test returns early.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use tokio::sync::{Semaphore, SemaphorePermit};

/// Browser sessions allowed at once.
static SESSIONS: Semaphore = Semaphore::const_new(2);

/// How often waits check their condition.
const POLL: Duration = Duration::from_millis(20);

/// How long a wait may take before the test fails.
const WAIT_LIMIT: Duration = Duration::from_secs(20);

/// How many times a read is made again on an element a redrawing page replaced.
const STALE_RETRIES: u32 = 5;

/// A chromedriver process (and the browsers it starts, in its process group).
#[derive(Debug)]
struct Driver {
    child: Child,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The group id is the child's pid (it was started with `process_group(0)`): killing the group
        // also ends the Chromium processes that killing chromedriver alone would orphan.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
    }
}

/// A value [`Browser::set_fields`] sets on a form field.
#[derive(Debug, Clone)]
pub(crate) enum FieldValue {
    /// Text for an input, or the value of a select's option.
    Text(String),
    /// A checkbox's state.
    Checked(bool),
}

/// A headless Chromium session.
#[derive(Debug)]
pub(crate) struct Browser {
    /// The WebDriver client.
    pub(crate) client: Client,
    driver: Driver,
    _permit: SemaphorePermit<'static>,
}

fn tool(env: &str, default: &str) -> String {
    std::env::var(env)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

impl Browser {
    /// Starts chromedriver and a Chromium session, or `None` (after a loud notice) when they are not
    /// installed and this is not CI.
    pub(crate) async fn start() -> Option<Browser> {
        Self::start_with_args(&[]).await
    }

    /// [`Browser::start`] with more Chromium flags (e.g. a proxy's).
    pub(crate) async fn start_with_args(extra_args: &[String]) -> Option<Browser> {
        let chromedriver = tool("CHROMEDRIVER", "/usr/bin/chromedriver");
        let chromium = tool("CHROMIUM", "/usr/bin/chromium");
        let missing: Vec<&str> = [chromedriver.as_str(), chromium.as_str()]
            .into_iter()
            .filter(|p| !Path::new(p).exists())
            .collect();
        if !missing.is_empty() {
            let message = format!(
                "browser test needs {} (set CHROMEDRIVER / CHROMIUM, or apt-get install chromium chromium-driver)",
                missing.join(" and ")
            );
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("{message}");
            }
            eprintln!(
                "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
            );
            eprintln!("!!! SKIPPED: {message}");
            eprintln!(
                "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
            );
            return None;
        }
        let permit = SESSIONS
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let mut child = Command::new(&chromedriver)
            // No `--allowed-ips`: without it chromedriver listens on loopback only.
            .arg(format!("--port={port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {chromedriver}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let driver = Driver { child };
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
        .expect("the reader thread does not panic");
        assert!(
            ready,
            "chromedriver at {chromedriver} exited before it was ready"
        );
        let mut args: Vec<String> = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--window-size=1280,900",
        ]
        .map(str::to_owned)
        .to_vec();
        args.extend_from_slice(extra_args);
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            serde_json::json!({ "binary": chromium, "args": args }),
        );
        let client = ClientBuilder::rustls()
            .expect("rustls loads")
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap_or_else(|e| panic!("cannot open a Chromium session through chromedriver: {e}"));
        Some(Browser {
            client,
            driver,
            _permit: permit,
        })
    }

    /// Closes the session, then stops chromedriver.
    pub(crate) async fn close(self) {
        let Browser {
            client,
            driver,
            _permit,
        } = self;
        if let Err(e) = client.close().await {
            eprintln!("closing the browser session failed: {e}");
        }
        drop(driver);
    }

    /// Opens a URL.
    pub(crate) async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
    }

    /// Waits until an element matching a CSS selector is there.
    pub(crate) async fn wait_for(&self, css: &str) -> Element {
        match self
            .client
            .wait()
            .every(POLL)
            .at_most(WAIT_LIMIT)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(e) => {
                let url = self
                    .client
                    .current_url()
                    .await
                    .map(|u| u.to_string())
                    .unwrap_or_default();
                let source = self.client.source().await.unwrap_or_default();
                panic!("waited {WAIT_LIMIT:?} for {css:?} on {url}: {e}\n--- page ---\n{source}");
            }
        }
    }

    /// The text of the element matching a CSS selector (which must be there now).
    ///
    /// A page that redraws itself (the status page on each live event) may replace the element between
    /// finding it and reading it: the read is then made again on the element now there, a few times.
    pub(crate) async fn text(&self, css: &str) -> String {
        let mut stale = 0;
        loop {
            let element = self
                .client
                .find(Locator::Css(css))
                .await
                .unwrap_or_else(|e| panic!("no {css:?}: {e}"));
            match element.text().await {
                Ok(text) => return text,
                Err(e) if e.is_stale_element_reference() && stale < STALE_RETRIES => stale += 1,
                Err(e) => panic!("no text for {css:?}: {e}"),
            }
        }
    }

    /// Whether an element matching a CSS selector is on the page now.
    pub(crate) async fn has(&self, css: &str) -> bool {
        !self
            .client
            .find_all(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("cannot search {css:?}: {e}"))
            .is_empty()
    }

    /// Types into the field matching a CSS selector.
    pub(crate) async fn fill(&self, css: &str, text: &str) {
        let element = self.wait_for(css).await;
        element
            .clear()
            .await
            .unwrap_or_else(|e| panic!("cannot clear {css:?}: {e}"));
        element
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("cannot type into {css:?}: {e}"));
    }

    /// The page source, as the screen channel reads a page.
    pub(crate) async fn source(&self) -> String {
        self.client
            .source()
            .await
            .unwrap_or_else(|e| panic!("no page source: {e}"))
    }

    /// Sets form fields in one script call (inputs, selects, checkboxes), each followed by its `input`
    /// and `change` events, as the screen channel fills a form. Returns the selectors that matched
    /// nothing.
    pub(crate) async fn set_fields(&self, fields: &[(String, FieldValue)]) -> Vec<String> {
        let list: Vec<serde_json::Value> = fields
            .iter()
            .map(|(css, value)| match value {
                FieldValue::Text(t) => serde_json::json!([css, t, null]),
                FieldValue::Checked(c) => serde_json::json!([css, null, c]),
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
            .execute(script, vec![serde_json::Value::Array(list)])
            .await
            .unwrap_or_else(|e| panic!("cannot fill the form: {e}"));
        answer
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Marks the page stale, so a wait for `html:not([data-psd2-stale]) …` sees only the next page.
    pub(crate) async fn mark_stale(&self) {
        self.client
            .execute(
                "document.documentElement.setAttribute('data-psd2-stale','1');",
                vec![],
            )
            .await
            .unwrap_or_else(|e| panic!("cannot mark the page: {e}"));
    }

    /// Sends a local file's path to the file input matching a CSS selector.
    pub(crate) async fn upload(&self, css: &str, path: &Path) {
        let element = self.wait_for(css).await;
        element
            .send_keys(&path.display().to_string())
            .await
            .unwrap_or_else(|e| panic!("cannot send {} to {css:?}: {e}", path.display()));
    }

    /// Clicks the element matching a CSS selector.
    pub(crate) async fn click(&self, css: &str) {
        let element = self.wait_for(css).await;
        element
            .click()
            .await
            .unwrap_or_else(|e| panic!("cannot click {css:?}: {e}"));
    }
}

/// A permit to run one more browser (the same bound as [`Browser::start`]), for tests whose browsers
/// are started by the code under test. `None` (after a loud notice) when Chromium is missing outside CI.
pub(crate) async fn permit() -> Option<SemaphorePermit<'static>> {
    let chromedriver = tool("CHROMEDRIVER", "/usr/bin/chromedriver");
    let chromium = tool("CHROMIUM", "/usr/bin/chromium");
    if !Path::new(&chromedriver).exists() || !Path::new(&chromium).exists() {
        let message = format!("browser test needs {chromedriver} and {chromium}");
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{message}");
        }
        eprintln!("!!! SKIPPED: {message}");
        return None;
    }
    Some(
        SESSIONS
            .acquire()
            .await
            .expect("the semaphore is never closed"),
    )
}
