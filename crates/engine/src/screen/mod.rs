//! The screen channel: `ScreenBank` serves every `Bank` operation through the bank's online-banking
//! website, driven by WebDriver and read through a screen map.
//!
//! - [`map`]: screen maps as data (`selectors/<bank>.toml`), checked at load. [`ScreenMap::read`]
//!   reads a page's HTML through a map into a [`Reading`] (for map authors and snapshot tests).
//! - `driver` (internal): the only code that touches fantoccini — chromedriver, browser sessions,
//!   acting.
//! - `extract` (internal): HTML in, domain values out; no IO.
//! - [`mod@format`]: a website's amount and date formats, as its map configures them.
//! - `contract` (internal): what the flows need of a map, as data, checked at load.
//! - [`json_rows`]: a list a script draws from JSON (the map's `tables.<name>.json`), read from that
//!   JSON over HTTP.
//!
//! The flows use only the map's names. They are split by job, and each file uses only the files after
//! it in this list (and the items of this one):
//! - `selector_check`: every selector of the map tried on the live website;
//! - `warm`: the warm standby's side: a session logged in ahead of a switch, reading nothing, and
//!   closed again when the API recovers first;
//! - `bank`: `impl Bank for ScreenBank`, and consents;
//! - `writes`: two-phase payments, standing orders and files (fill, read back, compare, confirm),
//!   cancelling and signing;
//! - `history_http`: the history over HTTP on the session, off its pages or from the JSON they are
//!   drawn from, batch by batch;
//! - `reads`: accounts, balances, transactions, a payment's status, an order by its end-to-end id;
//! - `flow`: running a flow for a logged-in customer and classifying its failure, with a trace bundle
//!   when the screen changed;
//! - `costs`: where the channel's time goes (launches, logins, waits for permits), counted;
//! - `login`: login and SCA;
//! - `http_read`: reads of server-rendered screens over HTTP on the browser's session, falling back
//!   to the browser when the page is not the screen expected;
//! - `navigation`: opening and recognising screens, forms, waits, the cookie banner, pacing;
//! - `sessions`: one browser per consent, the lease on a browser (this bank's permit, then the
//!   shared `pool`'s, taken at a flow's first browser action), the spares, the idle timeout, the bound;
//! - `permits`: a bank's `max_active` permits, short work (a logged-in session's page) first;
//! - `deadline`: admission by the time a call would wait for the logins ahead of it (`max_wait`);
//! - `pool`: the browser pool shared across banks: a global cap, turns between banks and customers;
//! - `fail`: `Fail`, what goes wrong inside a flow.
//!
//! A consent has its own website session: `create_consent` records it (`received`),
//! `start_authorisation` logs in up to the challenge in the consent's own browser, `authorise` answers
//! it (then `valid`). Every read under a consent is checked against it first, as the bank's API checks
//! it (see `bank`). Reads log in unattended through an [`ScaRelay`] when one is given; without an
//! answer they fail with [`BankError::ScaRequired`](crate::BankError::ScaRequired). Payments are two-phase: fill, read the
//! confirmation back and compare every field, and only then confirm.
//!
//! Sessions: one browser per consent of a customer (and one per customer for calls without a
//! consent), never shared, reused while valid, closed when idle, when `max_sessions` needs room, on
//! [`ScreenBank::close`], or replaced when the browser died. At most `max_active` flows use a browser at
//! once (the others wait: a logged-in session's flow first, never more than three in a row while
//! a login waits); a flow takes its permit at its first browser
//! action, so a read served over HTTP on a logged-in session never waits behind logins and page
//! loads. Blank spares launched ahead in idle time (`spares`) are handed to new sessions.
//! `governor` paces page loads, clicks and HTTP reads per bank.

mod bank;
mod bare;
mod contract;
mod costs;
mod deadline;
pub(crate) mod driver;
pub(crate) mod extract;
mod fail;
mod flow;
pub mod format;
mod history_http;
mod http_read;
pub mod json_rows;
mod login;
pub mod map;
mod navigation;
mod permits;
mod pool;
mod reads;
mod rows;
mod selector_check;
mod sessions;
mod warm;
mod writes;

pub use self::bare::BareBrowser;
pub use self::costs::FlowCosts;
pub use self::driver::{BROWSER_USER, DriverError, WebDriverTarget, lightest_chromium};
pub use self::extract::{ReadError, Reading, Record, Value};
pub use self::http_read::HttpReads;
pub use self::pool::{BrowserPool, PoolBound};
pub use self::selector_check::SelectorCheck;
pub use self::warm::{WarmCounts, WarmUp};

use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::Mutex;

use self::bank::ConsentState;
use self::costs::CostCounters;
use self::driver::{Browser, Driver};
use self::http_read::{HttpReadCounters, http_client};
use self::map::{MapError, ScreenMap};
use self::permits::Permits;
use self::sessions::{QueueCount, Session, SessionKey};
use self::warm::WarmCounters;
use crate::bank::ScaRelay;
use crate::model::ConsentId;

/// How a `ScreenBank` reaches a bank's website.
#[derive(Debug, Clone)]
pub struct ScreenBankConfig {
    /// The screen map file (`selectors/sandbox.toml`).
    pub map: PathBuf,
    /// Where browsers come from: our chromedriver, or a remote WebDriver.
    pub webdriver: WebDriverTarget,
    /// The website's root: `https://bank.example` (screen URLs are appended).
    pub base_url: String,
    /// Page loads and clicks per second at most, per bank.
    pub pacing_per_second: u32,
    /// Where trace bundles of changed screens go (page source and screenshot, secrets masked).
    pub trace_dir: Option<PathBuf>,
    /// How long a page may take to load.
    pub page_timeout: Duration,
    /// How long to wait for a screen or script-rendered data.
    pub wait_timeout: Duration,
    /// Browser flows at once (≈ the cores); the others wait in order.
    pub max_active: usize,
    /// Keep blank browsers launched for the next new customers (a launch is most of a new
    /// session's cost).
    pub spare: bool,
    /// How many blank browsers `spare` keeps launched (at least one), each costing its memory
    /// (PSS, ≈ 80 MiB for the headless shell): an outage's first reads then log in without
    /// waiting for launches. They are launched in the channel's idle time.
    pub spares: usize,
    /// A session's browser idle this long is closed.
    pub idle_timeout: Duration,
    /// Browsers kept open at most (one per consent in use): beyond it, the least recently used
    /// session not in a flow is closed to make room.
    pub max_sessions: usize,
    /// Flows waiting at most for a permit to use a browser (and, per session, behind another flow
    /// of the same consent): a call over the bound is refused at once with
    /// `BankError::Overloaded` instead of waiting in a queue whose latency grows without bound. A
    /// call whose session is logged in and free is admitted whatever the queue (it reads over HTTP
    /// on the session, as a rule without a permit).
    pub max_queue: usize,
    /// The longest a call whose session must log in first may wait for the logins ahead of it
    /// (at `max_active` at once, each as long as the logins measured so far): over it the call is
    /// refused at once with `BankError::Overloaded` and a `Retry-After` of when its turn would
    /// come, and its login is made meanwhile (with the password the call brought), so the retry
    /// finds the session logged in. `None` (the default): such calls wait, within `max_queue`.
    pub max_wait: Option<Duration>,
    /// Read the screens the map marks `server_rendered` over HTTP with the browser's session
    /// cookies (falling back to the browser when that does not land on the screen). Off whatever it
    /// says when `proxy` is set: those reads would reach the bank around the proxy.
    pub http_reads: bool,
    /// The road the browser takes to the bank: the engine's egress proxy (`Egress::browser_proxy`,
    /// feature `egress`), which identifies the TPP to the bank, refuses every other host and logs
    /// each request; `None`, straight.
    pub proxy: Option<BrowserProxy>,
    /// The browser pool shared with the other banks' website channels in this process (a global
    /// cap on flows at once, fair between banks and their customers); `None`, this bank's own
    /// `max_active` alone.
    pub pool: Option<BrowserPool>,
    /// How long one call waits for the customer to approve a website login in the bank's app (a
    /// login page that says "confirm in your app"). Past it the call answers
    /// `BankError::ApprovalPending` at once and the login keeps waiting in its session — until the
    /// customer approves or refuses, the bank's approval expires (the page says so), or the session
    /// is closed as idle (`idle_timeout`) — so no call holds a browser for minutes; the next call
    /// follows the same approval.
    pub app_login_wait: Duration,
}

/// Chromium's arguments that send every request of the browser through a proxy and make it trust
/// that proxy's own key (and nothing installed machine-wide).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserProxy {
    /// The arguments, e.g. `--proxy-server=…`, `--proxy-bypass-list=<-loopback>`,
    /// `--ignore-certificate-errors-spki-list=…`.
    pub chromium_args: Vec<String>,
}

impl ScreenBankConfig {
    /// A configuration with defaults: local chromedriver, 20 actions/s, 30 s page loads, 2 active flows,
    /// a spare browser, 5 minutes idle, 8 open sessions, 64 flows queued at most, HTTP reads on, 3 s
    /// waiting for a login's approval in the bank's app per call.
    pub fn new(map: impl Into<PathBuf>, base_url: impl Into<String>) -> Self {
        Self {
            map: map.into(),
            webdriver: WebDriverTarget::default(),
            base_url: base_url.into(),
            pacing_per_second: 20,
            trace_dir: None,
            page_timeout: Duration::from_secs(30),
            wait_timeout: Duration::from_secs(10),
            max_active: 2,
            spare: true,
            spares: 1,
            idle_timeout: Duration::from_secs(300),
            max_sessions: 8,
            http_reads: true,
            max_queue: 64,
            max_wait: None,
            proxy: None,
            pool: None,
            app_login_wait: Duration::from_secs(3),
        }
    }
}

/// Why a `ScreenBank` could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScreenSetupError {
    /// The screen map is unusable.
    #[error(transparent)]
    Map(#[from] MapError),
    /// The browser side could not start.
    #[error(transparent)]
    Driver(#[from] DriverError),
}

/// Everything a `ScreenBank` holds, shared by its clones.
struct Inner {
    /// The screen map every flow reads and acts through.
    map: ScreenMap,
    /// The website's root, without a trailing slash.
    base: String,
    /// The configuration the bank was made with (timeouts, bounds, trace folder).
    config: ScreenBankConfig,
    /// Where browsers come from; stopped on `close`.
    driver: Driver,
    /// Answers login challenges for unattended reads; without one they fail with `ScaRequired`.
    relay: Option<Arc<dyn ScaRelay>>,
    /// One session per consent of a customer (and one per customer for calls without a consent),
    /// each locked by the flow using it.
    sessions: StdMutex<HashMap<SessionKey, Arc<Mutex<Session>>>>,
    /// The consents given on this channel and where their login stands.
    consents: StdMutex<HashMap<ConsentId, ConsentState>>,
    /// The `max_active` permits: flows that may use a browser at once, short work first.
    active: Arc<Permits>,
    /// Flows waiting for their session or a permit now, bounded by `max_queue`.
    queue: Arc<QueueCount>,
    /// Page loads and clicks per second, per bank.
    pacing: DefaultDirectRateLimiter,
    /// Blank browsers launched ahead for the next new customers (`spares` at most).
    spare: Mutex<Vec<Browser>>,
    /// Held by the one task launching spares.
    filling: Mutex<()>,
    /// The HTTP client of reads on browsers' sessions (`http_read`).
    http: reqwest::Client,
    /// Reads served over HTTP, and those that fell back to the browser.
    http_counters: HttpReadCounters,
    /// Logins, warm-ups and cool-downs (`warm`).
    warm_counters: WarmCounters,
    /// Launches, logins and waits for permits, timed (`costs`).
    costs: CostCounters,
    /// Logins admitted and in flight, and those made ahead of refused calls' retries (`deadline`).
    logins: deadline::Logins<SessionKey>,
}
/// The screen channel.
#[derive(Clone)]
pub struct ScreenBank {
    inner: Arc<Inner>,
}

impl fmt::Debug for ScreenBank {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScreenBank")
            .field("map", &self.inner.map.file)
            .field("base", &self.inner.base)
            .finish_non_exhaustive()
    }
}

impl ScreenBank {
    /// Loads the map, starts the browser side (and a spare browser when configured).
    pub async fn new(
        mut config: ScreenBankConfig,
        relay: Option<Arc<dyn ScaRelay>>,
    ) -> Result<Self, ScreenSetupError> {
        let map = ScreenMap::load(&config.map)?;
        let mut driver = Driver::start(&config.webdriver, config.page_timeout).await?;
        if let Some(proxy) = &config.proxy {
            driver.add_browser_args(&proxy.chromium_args);
            config.http_reads = false;
        }
        let rate = NonZeroU32::new(config.pacing_per_second.max(1)).expect("at least one");
        let bank = ScreenBank {
            inner: Arc::new(Inner {
                map,
                base: config.base_url.trim_end_matches('/').to_owned(),
                driver,
                relay,
                sessions: StdMutex::new(HashMap::new()),
                consents: StdMutex::new(HashMap::new()),
                active: Permits::new(config.max_active),
                queue: Arc::default(),
                pacing: RateLimiter::direct(Quota::per_second(rate).allow_burst(rate)),
                spare: Mutex::new(Vec::new()),
                filling: Mutex::new(()),
                http: http_client(config.page_timeout),
                http_counters: HttpReadCounters::default(),
                warm_counters: WarmCounters::default(),
                costs: CostCounters::default(),
                logins: deadline::Logins::default(),
                config,
            }),
        };
        if bank.inner.config.spare {
            // One now, the others in the background (each launch in the channel's idle time).
            bank.refill_spare().await;
            let (more, n) = (bank.clone(), bank.inner.config.spares);
            if n > 1 {
                tokio::spawn(async move { more.fill_spares(n).await });
            }
        }
        Ok(bank)
    }

    /// The screen map in use.
    pub fn map(&self) -> &ScreenMap {
        &self.inner.map
    }
}
