//! The screen channel: `ScreenBank` serves every `Bank` operation through the bank's online-banking
//! website, driven by WebDriver and read through a screen map.
//!
//! - [`driver`]: the only code that touches fantoccini — chromedriver, browser sessions, acting.
//! - [`map`]: screen maps as data (`selectors/<bank>.toml`), checked at load.
//! - [`extract`]: HTML in, domain values out; no IO.
//!
//! The flows (login and SCA, navigation, paging, forms, read-back) are here and use only the map's names.
//! A consent is a logged-in website session: `create_consent` logs in up to the challenge,
//! `authorise` answers it. Reads log in unattended through an [`ScaRelay`] when one is given; without an
//! answer they fail with [`BankError::ScaRequired`]. Payments are two-phase: fill, read the
//! confirmation back and compare every field, and only then confirm.
//!
//! Sessions: one browser per customer, never shared, reused while valid, closed when idle, on
//! [`ScreenBank::close`], or replaced when the browser died. At most `max_active` flows use a browser at
//! once (a fair semaphore: the others wait in order); a pre-launched blank spare is handed to a new
//! customer. `governor` paces page loads and clicks per bank.

pub mod driver;
pub mod extract;
pub mod map;

use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use async_trait::async_trait;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use secrecy::ExposeSecret;
use time::Date;
use tokio::sync::{Mutex, OwnedMutexGuard, Semaphore};
use tokio::time::Instant;

use self::driver::{Browser, Driver, DriverError, FillValue, WebDriverTarget};
use self::extract::{ExtractError, Page, Record, Value};
use self::map::{Input, MapError, ScreenMap};
use crate::bank::{Bank, BankError, BankResult, Channel, PsuContext, ScaRelay};
use crate::mask::mask;
use crate::model::belgian::{format_date, format_number};
use crate::model::{
    Account, AccountId, Amount, AuthorisationId, Balance, BalanceType, BookingStatus, ConsentId,
    ConsentRequest, ConsentStatus, Counterparty, Currency, Direction, EndToEndId,
    FundsConfirmation, Iban, InvalidValue, PaymentFile, PaymentId, PaymentInitiation, PaymentKind,
    PaymentProduct, PaymentRef, PaymentRequest, PaymentStatus, PsuId, Recurrence, ScaAnswer,
    ScaChallenge, ScaStatus, ScaTarget, StandingOrderRequest, Transaction, TransactionFilter,
    TransactionId,
};

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
    /// Keep one blank browser launched for the next new customer.
    pub spare: bool,
    /// A customer's browser idle this long is closed.
    pub idle_timeout: Duration,
}

impl ScreenBankConfig {
    /// A configuration with defaults: local chromedriver, 20 actions/s, 30 s page loads, 2 active flows,
    /// a spare browser, 5 minutes idle.
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
            idle_timeout: Duration::from_secs(300),
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

/// One customer's browser.
#[derive(Debug, Default)]
struct Session {
    browser: Option<Browser>,
    logged_in: bool,
    last_used: Option<Instant>,
}

/// Where a consent's login stands.
#[derive(Debug, Clone)]
struct ConsentState {
    psu: PsuId,
    status: ConsentStatus,
}

struct Inner {
    map: ScreenMap,
    base: String,
    config: ScreenBankConfig,
    driver: Driver,
    relay: Option<Arc<dyn ScaRelay>>,
    sessions: StdMutex<HashMap<PsuId, Arc<Mutex<Session>>>>,
    consents: StdMutex<HashMap<ConsentId, ConsentState>>,
    active: Arc<Semaphore>,
    pacing: DefaultDirectRateLimiter,
    spare: Mutex<Option<Browser>>,
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

/// A failure inside a flow, before it is classified for the caller.
enum Fail {
    Driver(DriverError),
    Extract(ExtractError),
    /// The page is none of the screens expected.
    Unexpected {
        screen: String,
        selector: String,
    },
    Bank(BankError),
    /// The website's session ended: log in again.
    LoggedOut,
}

impl From<DriverError> for Fail {
    fn from(e: DriverError) -> Self {
        Fail::Driver(e)
    }
}
impl From<ExtractError> for Fail {
    fn from(e: ExtractError) -> Self {
        Fail::Extract(e)
    }
}
impl From<BankError> for Fail {
    fn from(e: BankError) -> Self {
        Fail::Bank(e)
    }
}
impl From<InvalidValue> for Fail {
    fn from(e: InvalidValue) -> Self {
        Fail::Bank(e.into())
    }
}

type FlowResult<T> = Result<T, Fail>;

/// Whether a failure without an answer may have moved money.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    Safe,
    MovesMoney,
}

/// A customer's session, locked for one flow, with a permit to use a browser.
struct Flow {
    session: OwnedMutexGuard<Session>,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

fn unavailable(reason: impl Into<String>) -> BankError {
    BankError::Unavailable {
        channel: Channel::Screen,
        reason: reason.into(),
    }
}

fn text(record: &Record, key: &str) -> String {
    record
        .get(key)
        .and_then(Value::text)
        .unwrap_or_default()
        .to_owned()
}

fn date(record: &Record, key: &str) -> Option<Date> {
    match record.get(key) {
        Some(Value::Date(d)) => Some(*d),
        _ => None,
    }
}

fn want_text(v: Value) -> String {
    match v {
        Value::Text(t) => t,
        other => format!("{other:?}"),
    }
}

impl ScreenBank {
    /// Loads the map, starts the browser side (and a spare browser when configured).
    pub async fn new(
        config: ScreenBankConfig,
        relay: Option<Arc<dyn ScaRelay>>,
    ) -> Result<Self, ScreenSetupError> {
        let map = ScreenMap::load(&config.map)?;
        let driver = Driver::start(&config.webdriver, config.page_timeout).await?;
        let rate = NonZeroU32::new(config.pacing_per_second.max(1)).expect("at least one");
        let bank = ScreenBank {
            inner: Arc::new(Inner {
                map,
                base: config.base_url.trim_end_matches('/').to_owned(),
                driver,
                relay,
                sessions: StdMutex::new(HashMap::new()),
                consents: StdMutex::new(HashMap::new()),
                active: Arc::new(Semaphore::new(config.max_active.max(1))),
                pacing: RateLimiter::direct(Quota::per_second(rate).allow_burst(rate)),
                spare: Mutex::new(None),
                config,
            }),
        };
        if bank.inner.config.spare {
            bank.refill_spare().await;
        }
        Ok(bank)
    }

    /// The screen map in use.
    pub fn map(&self) -> &ScreenMap {
        &self.inner.map
    }

    /// Closes every browser and stops the driver; nothing is left running or on disk.
    pub async fn close(&self) {
        let sessions: Vec<_> = self
            .inner
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
            .map(|(_, s)| s)
            .collect();
        for session in sessions {
            if let Some(browser) = session.lock().await.browser.take() {
                browser.close().await;
            }
        }
        if let Some(spare) = self.inner.spare.lock().await.take() {
            spare.close().await;
        }
        self.inner.driver.shutdown();
    }

    /// The folder holding this bank's chromedriver and browsers' `HOME` and `TMPDIR` (local driver
    /// only): every process the screen channel starts names it, so it finds them and nothing else.
    pub fn driver_folder(&self) -> Option<&Path> {
        self.inner.driver.folder()
    }

    /// How many customers have a browser now.
    pub fn sessions(&self) -> usize {
        self.inner
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    /// Whether a blank spare browser is ready.
    pub async fn spare_ready(&self) -> bool {
        self.inner.spare.lock().await.is_some()
    }

    /// Launches a blank browser for the next new customer, unless one is waiting.
    pub async fn refill_spare(&self) {
        let mut spare = self.inner.spare.lock().await;
        if spare.is_none()
            && let Ok(browser) = self.inner.driver.new_browser().await
        {
            *spare = Some(browser);
        }
    }

    /// Locks a customer's session for one flow, closing idle sessions of others on the way.
    async fn flow(&self, psu: &PsuId) -> Flow {
        let idle = self.inner.config.idle_timeout;
        let (session, stale) = {
            let mut map = self
                .inner
                .sessions
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let mut stale = Vec::new();
            map.retain(|id, s| {
                let keep = id == psu
                    || s.try_lock()
                        .map(|g| g.last_used.is_none_or(|t| t.elapsed() < idle))
                        .unwrap_or(true);
                if !keep {
                    stale.push(s.clone());
                }
                keep
            });
            (map.entry(psu.clone()).or_default().clone(), stale)
        };
        for s in stale {
            if let Some(browser) = s.lock().await.browser.take() {
                browser.close().await;
            }
        }
        // The customer's session first, then a permit: a caller waiting behind another flow of the
        // same customer must not hold one of the few permits while it waits.
        let session = session.lock_owned().await;
        let permit = self
            .inner
            .active
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        Flow {
            session,
            _permit: permit,
        }
    }

    /// The customer's browser, launching one (or taking the spare) when there is none.
    async fn browser<'f>(&self, flow: &'f mut Flow) -> FlowResult<&'f Browser> {
        if flow.session.browser.is_none() {
            let spare = self.inner.spare.lock().await.take();
            let browser = match spare {
                Some(b) => {
                    let bank = self.clone();
                    tokio::spawn(async move { bank.refill_spare().await });
                    b
                }
                None => self.inner.driver.new_browser().await?,
            };
            flow.session.browser = Some(browser);
            flow.session.logged_in = false;
        }
        flow.session.last_used = Some(Instant::now());
        Ok(flow.session.browser.as_ref().expect("set above"))
    }

    fn url(&self, screen: &str, id: Option<&str>) -> String {
        let path = self
            .inner
            .map
            .screen(screen)
            .url
            .as_deref()
            .unwrap_or("/")
            .replace("{id}", &id.map(url_encode).unwrap_or_default());
        format!("{}{path}", self.inner.base)
    }

    async fn pace(&self) {
        self.inner.pacing.until_ready().await;
    }

    /// Opens a screen and checks it is there; the source is returned for extraction.
    async fn open(&self, browser: &Browser, screen: &str, id: Option<&str>) -> FlowResult<String> {
        self.pace().await;
        browser.goto(&self.url(screen, id)).await?;
        let source = browser.source().await?;
        self.expect(&source, &[screen])?;
        Ok(source)
    }

    /// Which of the expected screens the page is; the maintenance page, the login page (session ended),
    /// the bank's error page and anything else become failures.
    fn expect<'a>(&self, source: &str, screens: &[&'a str]) -> FlowResult<&'a str> {
        let page = Page::new(source, &self.inner.map);
        if let Some(found) = page.which(screens) {
            return Ok(found);
        }
        if page.is("maintenance") {
            let message = page
                .value("maintenance", "message")
                .ok()
                .flatten()
                .map(want_text)
                .unwrap_or_else(|| "maintenance page".to_owned());
            return Err(Fail::Bank(unavailable(format!("maintenance: {message}"))));
        }
        if page.is("login") && !screens.contains(&"login") {
            return Err(Fail::LoggedOut);
        }
        if page.is("error") {
            let message = page
                .value("error", "message")?
                .map(want_text)
                .unwrap_or_default();
            return Err(Fail::Bank(BankError::Rejected {
                code: "SCREEN_ERROR".to_owned(),
                message,
            }));
        }
        let first = screens[0];
        Err(Fail::Unexpected {
            screen: first.to_owned(),
            selector: self.inner.map.screen(first).is_here.clone(),
        })
    }

    /// Clicks an action after marking the page stale, and waits for the next page.
    async fn submit(&self, browser: &Browser, css: &str) -> FlowResult<String> {
        browser.mark_stale().await?;
        self.pace().await;
        browser.click(css).await?;
        browser
            .wait_for(
                "html:not([data-psd2-stale]) body",
                self.inner.config.wait_timeout,
            )
            .await?;
        Ok(browser.source().await?)
    }

    /// Fills a screen's fields: script-set ones in one call, typed ones key by key.
    async fn fill(
        &self,
        browser: &Browser,
        screen: &str,
        values: &[(&str, FillValue)],
    ) -> FlowResult<()> {
        let def = self.inner.map.screen(screen);
        let mut by_script = Vec::new();
        for (name, value) in values {
            let field = &def.fields[*name];
            match (field.input, value) {
                (Input::Keys, FillValue::Text(t)) => browser.type_keys(&field.css, t).await?,
                (Input::File, FillValue::Text(t)) => {
                    browser.upload(&field.css, Path::new(t)).await?
                }
                _ => by_script.push((field.css.clone(), value.clone())),
            }
        }
        let missing = browser.fill_by_script(&by_script).await?;
        if let Some(selector) = missing.into_iter().next() {
            return Err(Fail::Extract(ExtractError::Missing {
                screen: screen.to_owned(),
                selector,
            }));
        }
        Ok(())
    }

    fn action(&self, screen: &str, name: &str) -> String {
        self.inner.map.screen(screen).actions[name].clone()
    }

    /// Accepts the cookie banner if it covers the page.
    async fn cookies(&self, browser: &Browser, source: &str) -> FlowResult<()> {
        if Page::new(source, &self.inner.map).is("cookie_banner") {
            browser
                .click(&self.action("cookie_banner", "accept"))
                .await?;
        }
        Ok(())
    }

    /// Logs in up to the challenge: `Ok(Some(challenge))`, or `Ok(None)` when the website already
    /// knows the customer.
    async fn login_to_challenge(
        &self,
        browser: &Browser,
        psu: &PsuContext,
    ) -> FlowResult<Option<ScaChallenge>> {
        let password = psu.password.as_ref().ok_or_else(|| {
            InvalidValue::new(
                "password",
                "logging in to the website needs the customer's password",
            )
        })?;
        self.pace().await;
        browser.goto(&self.url("login", None)).await?;
        let source = browser.source().await?;
        if self.expect(&source, &["login", "accounts"])? == "accounts" {
            return Ok(None);
        }
        self.cookies(browser, &source).await?;
        self.fill(
            browser,
            "login",
            &[
                ("customer", FillValue::Text(psu.psu_id.as_str().to_owned())),
                (
                    "password",
                    FillValue::Text(password.expose_secret().to_owned()),
                ),
            ],
        )
        .await?;
        let source = self
            .submit(browser, &self.action("login", "submit"))
            .await?;
        match self.expect(&source, &["sca", "login"])? {
            "sca" => Ok(Some(self.challenge(&source, "sca", "login")?)),
            _ => Err(self.refusal(&source, "login", "LOGIN_FAILED")),
        }
    }

    fn challenge(&self, source: &str, screen: &str, what: &str) -> FlowResult<ScaChallenge> {
        let page = Page::new(source, &self.inner.map);
        let data = want_text(page.required(screen, "challenge")?);
        Ok(ScaChallenge {
            authorisation_id: AuthorisationId::new(format!("screen-{what}")),
            method: "CHIP_OTP".to_owned(),
            data,
            instructions: "Insert your card in the card reader and type the challenge.".to_owned(),
        })
    }

    /// The bank's error message on a screen, as a rejection.
    fn refusal(&self, source: &str, screen: &str, code: &str) -> Fail {
        let page = Page::new(source, &self.inner.map);
        let message = match page.value(screen, "error") {
            Ok(Some(v)) => want_text(v),
            _ => "the bank refused without a message".to_owned(),
        };
        Fail::Bank(BankError::Rejected {
            code: code.to_owned(),
            message,
        })
    }

    /// Answers the login challenge on the page; `true` when logged in.
    async fn answer_login(&self, browser: &Browser, answer: &ScaAnswer) -> FlowResult<bool> {
        self.fill(
            browser,
            "sca",
            &[(
                "response",
                FillValue::Text(answer.secret().expose_secret().to_owned()),
            )],
        )
        .await?;
        let source = self.submit(browser, &self.action("sca", "submit")).await?;
        match self.expect(&source, &["accounts", "sca", "login"])? {
            "accounts" => Ok(true),
            "sca" => Err(self.refusal(&source, "sca", "SCA_INVALID")),
            _ => Ok(false),
        }
    }

    /// Makes sure the customer is logged in, unattended through the relay when needed.
    async fn ensure_login(&self, flow: &mut Flow, psu: &PsuContext) -> FlowResult<()> {
        if flow.session.logged_in {
            return Ok(());
        }
        let relay = self.inner.relay.clone();
        let browser = self.browser(flow).await?;
        if let Some(challenge) = self.login_to_challenge(browser, psu).await? {
            let answer = match &relay {
                Some(relay) => relay.answer(&psu.psu_id, &challenge).await,
                None => None,
            };
            let Some(answer) = answer else {
                return Err(Fail::Bank(BankError::ScaRequired { challenge }));
            };
            if !self.answer_login(browser, &answer).await? {
                return Err(Fail::Bank(BankError::Rejected {
                    code: "SCA_FAILED".to_owned(),
                    message: "the login challenge was not answered correctly".to_owned(),
                }));
            }
        }
        flow.session.logged_in = true;
        Ok(())
    }

    /// Runs a flow for a logged-in customer: logs in first, again when the website's session ended,
    /// and with a new browser when the old one died. Failures are classified for the caller.
    async fn run<T, F>(&self, psu: &PsuContext, effect: Effect, op: F) -> BankResult<T>
    where
        F: for<'a> Fn(&'a ScreenBank, &'a Browser) -> crate::BoxFuture<'a, FlowResult<T>>,
    {
        let mut flow = self.flow(&psu.psu_id).await;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let result = async {
                self.ensure_login(&mut flow, psu).await?;
                let browser = self.browser(&mut flow).await?;
                op(self, browser).await
            }
            .await;
            match result {
                Ok(v) => return Ok(v),
                Err(Fail::LoggedOut) if attempts < 3 => {
                    flow.session.logged_in = false;
                }
                Err(Fail::Driver(e))
                    if e.session_lost() && attempts < 2 && effect == Effect::Safe =>
                {
                    // The browser died: start over with a new one.
                    if let Some(b) = flow.session.browser.take() {
                        b.close().await;
                    }
                    flow.session.logged_in = false;
                }
                Err(fail) => return Err(self.classify(&mut flow, psu, fail, effect).await),
            }
        }
    }

    async fn classify(
        &self,
        flow: &mut Flow,
        psu: &PsuContext,
        fail: Fail,
        effect: Effect,
    ) -> BankError {
        match fail {
            Fail::Bank(e) => e,
            Fail::LoggedOut => unavailable("the website keeps ending the session"),
            Fail::Driver(e) => {
                if e.session_lost()
                    && let Some(b) = flow.session.browser.take()
                {
                    b.close().await;
                    flow.session.logged_in = false;
                }
                match effect {
                    Effect::Safe => unavailable(e.to_string()),
                    Effect::MovesMoney => BankError::OutcomeUnknown {
                        channel: Channel::Screen,
                        reason: e.to_string(),
                    },
                }
            }
            Fail::Extract(ExtractError::Missing { screen, selector })
            | Fail::Unexpected { screen, selector } => {
                let capture = match flow.session.browser.as_ref() {
                    Some(browser) => self.capture(browser, psu, &screen, &selector).await,
                    None => None,
                };
                BankError::ScreenChanged {
                    file: self.inner.map.file.clone(),
                    screen,
                    selector,
                    capture,
                }
            }
            Fail::Extract(ExtractError::Unparsable {
                screen,
                item,
                reason,
            }) => {
                let selector = format!("{item} ({reason})");
                let capture = match flow.session.browser.as_ref() {
                    Some(browser) => self.capture(browser, psu, &screen, &selector).await,
                    None => None,
                };
                BankError::ScreenChanged {
                    file: self.inner.map.file.clone(),
                    screen,
                    selector,
                    capture,
                }
            }
        }
    }

    /// Writes a trace bundle: the page source and a screenshot, with the customer number, password
    /// and IBANs masked (in the page itself before the screenshot, and again in the source).
    async fn capture(
        &self,
        browser: &Browser,
        psu: &PsuContext,
        screen: &str,
        selector: &str,
    ) -> Option<PathBuf> {
        let dir = self.inner.config.trace_dir.as_ref()?;
        let folder = dir.join(format!(
            "{}-{screen}-{}",
            time::OffsetDateTime::now_utc().unix_timestamp(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        ));
        std::fs::create_dir_all(&folder).ok()?;
        let mut secrets = vec![psu.psu_id.as_str().to_owned()];
        if let Some(p) = &psu.password {
            secrets.push(p.expose_secret().to_owned());
        }
        let _ = browser.mask_page(&secrets).await;
        if let Ok(png) = browser.screenshot().await {
            let _ = std::fs::write(folder.join("screenshot.png"), png);
        }
        let source = browser.source().await.unwrap_or_default();
        let _ = std::fs::write(folder.join("page.html"), mask(&source, &secrets));
        let note = format!(
            "map: {}\nscreen: {screen}\nselector: {selector}\npath: {}\n",
            self.inner.map.file,
            browser.current_path().await.unwrap_or_default()
        );
        let _ = std::fs::write(folder.join("README.txt"), note);
        Some(folder)
    }

    /// The customer's accounts, from the overview.
    async fn account_rows(&self, browser: &Browser) -> FlowResult<Vec<Account>> {
        let source = self.open(browser, "accounts", None).await?;
        let page = Page::new(&source, &self.inner.map);
        let mut out = Vec::new();
        for row in page.table("accounts", "accounts")? {
            let iban = match row.get("iban") {
                Some(Value::Iban(i)) => i.clone(),
                _ => unreachable!("the iban column parses as an IBAN"),
            };
            out.push(Account {
                id: AccountId::new(text(&row, "id")),
                iban,
                currency: Currency::from_code(&text(&row, "currency"))?,
                name: text(&row, "name"),
                product: text(&row, "product"),
                owner_name: text(&row, "owner"),
            });
        }
        Ok(out)
    }

    /// One page of history rows as transactions.
    fn history(&self, source: &str) -> FlowResult<Vec<Transaction>> {
        let page = Page::new(source, &self.inner.map);
        let mut out = Vec::new();
        for row in page.table("account", "history")? {
            let status = match text(&row, "status").as_str() {
                "Pending" => BookingStatus::Pending,
                _ => BookingStatus::Booked,
            };
            let amount = match row.get("amount") {
                Some(Value::Amount(a)) => *a,
                _ => unreachable!("the amount column parses as an amount"),
            };
            let name = text(&row, "name");
            let iban = match row.get("iban") {
                Some(Value::Iban(i)) => Some(i.clone()),
                _ => None,
            };
            let counterparty =
                (!name.is_empty() || iban.is_some()).then_some(Counterparty { name, iban });
            let e2e = text(&row, "e2e");
            let order = text(&row, "order");
            let code = text(&row, "code");
            let remittance = text(&row, "communication");
            out.push(Transaction {
                id: TransactionId::new(text(&row, "id")),
                status,
                booking_date: date(&row, "booking_date"),
                value_date: date(&row, "value_date")
                    .or(date(&row, "date"))
                    .unwrap_or(Date::MIN),
                amount,
                counterparty,
                remittance: (!remittance.is_empty()).then_some(remittance),
                bank_transaction_code: (!code.is_empty()).then_some(code),
                end_to_end_id: if e2e.is_empty() {
                    None
                } else {
                    Some(EndToEndId::new(e2e)?)
                },
                standing_order: (!order.is_empty()).then(|| PaymentId::new(order)),
            });
        }
        Ok(out)
    }

    async fn read_transactions(
        &self,
        browser: &Browser,
        account: &AccountId,
        filter: &TransactionFilter,
    ) -> FlowResult<Vec<Transaction>> {
        let direction = match filter.direction {
            None => "all",
            Some(Direction::Credit) => "credit",
            Some(Direction::Debit) => "debit",
        };
        let recurrence = match filter.recurrence {
            None => "all",
            Some(Recurrence::OneOff) => "one-off",
            Some(Recurrence::Recurring) => "recurring",
        };
        let day = |d: Option<Date>| d.map(format_date).unwrap_or_default();
        let values = [
            ("date_from", day(filter.date_from)),
            ("date_to", day(filter.date_to)),
            ("direction", direction.to_owned()),
            ("recurrence", recurrence.to_owned()),
            ("page_size", "500".to_owned()),
        ];
        let ready = self
            .inner
            .map
            .screen("account")
            .ready
            .clone()
            .unwrap_or_default();
        let next = self.action("account", "next_page");
        match self.inner.map.screen("account").query.clone() {
            // One page load: the filtered history at its own address, as the form would ask for it.
            Some(query) => {
                let query = values.iter().fold(query, |q, (name, value)| {
                    q.replace(&format!("{{{name}}}"), &url_encode(value))
                });
                self.pace().await;
                browser
                    .goto(&format!(
                        "{}?{query}",
                        self.url("account", Some(account.as_str()))
                    ))
                    .await?;
            }
            None => {
                self.open(browser, "account", Some(account.as_str()))
                    .await?;
                let fields: Vec<(&str, FillValue)> = values
                    .iter()
                    .map(|(name, value)| (*name, FillValue::Text(value.clone())))
                    .collect();
                self.fill(browser, "account", &fields).await?;
                self.submit(browser, &self.action("account", "filter"))
                    .await?;
            }
        }
        // Each page is read once, when its script has rendered the history — or as soon as the page
        // shows something that will never render it (a refused filter, the login page, maintenance,
        // the bank's error page), so those are known without waiting out the limit.
        let map = &self.inner.map;
        let mut settled = vec![format!("html:not([data-psd2-stale]) {ready}")];
        settled.push(map.screen("account").values["error"].css.clone());
        for screen in ["login", "maintenance", "error"] {
            settled.push(map.screen(screen).is_here.clone());
        }
        let settled = settled.join(", ");
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        loop {
            let waited = browser
                .wait_for(&settled, self.inner.config.wait_timeout)
                .await;
            let source = browser.source().await?;
            self.expect(&source, &["account"])?;
            let (error, rendered, href) = {
                let page = Page::new(&source, map);
                (
                    page.value("account", "error")?,
                    page.has(&ready),
                    page.attribute(&next, "href"),
                )
            };
            if let Some(Value::Text(error)) = error {
                return Err(Fail::Bank(BankError::Rejected {
                    code: "FILTER_REFUSED".to_owned(),
                    message: error,
                }));
            }
            match waited {
                Ok(()) if rendered => {}
                Ok(()) | Err(DriverError::Timeout(_)) => {
                    return Err(Fail::Unexpected {
                        screen: "account".to_owned(),
                        selector: ready.clone(),
                    });
                }
                Err(other) => return Err(Fail::Driver(other)),
            }
            out.extend(self.history(&source)?);
            match href {
                Some(href) if seen.insert(href.clone()) => {
                    self.pace().await;
                    browser.goto(&format!("{}{href}", self.inner.base)).await?;
                }
                _ => break,
            }
        }
        Ok(out)
    }

    async fn read_balances(
        &self,
        browser: &Browser,
        account: &AccountId,
        at: Option<Date>,
    ) -> FlowResult<Vec<Balance>> {
        let source = self
            .open(browser, "account", Some(account.as_str()))
            .await?;
        let amount = |page: &Page<'_>, name: &str| -> FlowResult<Amount> {
            match page.required("account", name)? {
                Value::Amount(a) => Ok(a),
                _ => unreachable!("balances parse as amounts"),
            }
        };
        let day = |page: &Page<'_>, name: &str| -> FlowResult<Date> {
            match page.required("account", name)? {
                Value::Date(d) => Ok(d),
                _ => unreachable!("dates parse as dates"),
            }
        };
        let Some(at) = at else {
            let page = Page::new(&source, &self.inner.map);
            let today = day(&page, "today")?;
            let balance = |kind, amount, date| Balance {
                kind,
                amount,
                reference_date: Some(date),
            };
            return Ok(vec![
                balance(
                    BalanceType::ClosingBooked,
                    amount(&page, "closing")?,
                    day(&page, "closing_date")?,
                ),
                balance(BalanceType::InterimBooked, amount(&page, "booked")?, today),
                balance(
                    BalanceType::InterimAvailable,
                    amount(&page, "available")?,
                    today,
                ),
                balance(BalanceType::Expected, amount(&page, "expected")?, today),
                // A forward balance is of no particular day.
                Balance {
                    kind: BalanceType::ForwardAvailable,
                    amount: amount(&page, "forward")?,
                    reference_date: None,
                },
            ]);
        };
        self.fill(
            browser,
            "account",
            &[("balance_date", FillValue::Text(format_date(at)))],
        )
        .await?;
        let source = self
            .submit(browser, &self.action("account", "show_balance"))
            .await?;
        self.expect(&source, &["account"])?;
        let page = Page::new(&source, &self.inner.map);
        if let Some(error) = page.value("account", "error")? {
            return Err(InvalidValue::new("date", want_text(error)).into());
        }
        Ok(vec![Balance {
            kind: BalanceType::ClosingBooked,
            amount: amount(&page, "balance_on_date")?,
            reference_date: Some(day(&page, "balance_on_date_day")?),
        }])
    }

    /// Compares a read-back value with what was asked; cancels the order on the page when they differ.
    async fn compare(
        &self,
        browser: &Browser,
        screen: &str,
        checks: Vec<(&'static str, String, String)>,
    ) -> FlowResult<()> {
        if let Some((field, expected, shown)) = checks.into_iter().find(|(_, e, s)| e != s) {
            let _ = self.submit(browser, &self.action(screen, "cancel")).await;
            return Err(Fail::Bank(BankError::ReadBackMismatch {
                field,
                expected: mask(&expected, &[]),
                shown: mask(&shown, &[]),
            }));
        }
        Ok(())
    }

    /// Confirms a read-back screen; the signing page that follows gives the new order's reference.
    async fn confirm_to_signing(&self, browser: &Browser, screen: &str) -> FlowResult<PaymentId> {
        let source = self
            .submit(browser, &self.action(screen, "confirm"))
            .await?;
        match self.expect(&source, &["sign"]) {
            Ok(_) => {
                let page = Page::new(&source, &self.inner.map);
                Ok(PaymentId::new(want_text(
                    page.required("sign", "reference")?,
                )))
            }
            Err(Fail::Bank(e @ BankError::Rejected { .. })) => Err(Fail::Bank(e)),
            Err(_) => Err(Fail::Bank(BankError::OutcomeUnknown {
                channel: Channel::Screen,
                reason: format!("no signing page after confirming on {screen}"),
            })),
        }
    }

    async fn pay(
        &self,
        browser: &Browser,
        request: &PaymentRequest,
    ) -> FlowResult<PaymentInitiation> {
        self.open(browser, "payment_new", None).await?;
        let instant = request.product == PaymentProduct::InstantSepaCreditTransfer;
        self.fill(
            browser,
            "payment_new",
            &[
                (
                    "debtor",
                    FillValue::Text(request.debtor.as_str().to_owned()),
                ),
                (
                    "creditor_name",
                    FillValue::Text(request.creditor_name.clone()),
                ),
                (
                    "creditor_iban",
                    FillValue::Text(request.creditor.as_str().to_owned()),
                ),
                (
                    "amount",
                    FillValue::Text(format_number(request.amount.value())),
                ),
                (
                    "communication",
                    FillValue::Text(request.remittance.clone().unwrap_or_default()),
                ),
                (
                    "execution_date",
                    FillValue::Text(
                        request
                            .requested_execution_date
                            .map(format_date)
                            .unwrap_or_default(),
                    ),
                ),
                ("instant", FillValue::Checked(instant)),
                (
                    "reference",
                    FillValue::Text(request.end_to_end_id.as_str().to_owned()),
                ),
            ],
        )
        .await?;
        let source = self
            .submit(browser, &self.action("payment_new", "submit"))
            .await?;
        if self.expect(&source, &["payment_confirm", "payment_new"])? == "payment_new" {
            return Err(self.refusal(&source, "payment_new", "FORM_REFUSED"));
        }
        let s = "payment_confirm";
        let checks = {
            let page = Page::new(&source, &self.inner.map);
            let mut checks = read_back(&page, s, request)?;
            checks.push((
                "paymentProduct",
                if instant { "Yes" } else { "No" }.to_owned(),
                show(&page.required(s, "instant")?),
            ));
            if let Some(d) = request.requested_execution_date {
                checks.push((
                    "requestedExecutionDate",
                    show(&Value::Date(d)),
                    show(&page.required(s, "date")?),
                ));
            }
            checks
        };
        self.compare(browser, s, checks).await?;
        let id = self.confirm_to_signing(browser, s).await?;
        Ok(PaymentInitiation {
            payment: PaymentRef {
                kind: PaymentKind::Single(request.product),
                id,
            },
            status: PaymentStatus::Received,
        })
    }

    async fn order(
        &self,
        browser: &Browser,
        request: &StandingOrderRequest,
    ) -> FlowResult<PaymentInitiation> {
        let p = &request.payment;
        self.open(browser, "order_new", None).await?;
        self.fill(
            browser,
            "order_new",
            &[
                ("debtor", FillValue::Text(p.debtor.as_str().to_owned())),
                ("creditor_name", FillValue::Text(p.creditor_name.clone())),
                (
                    "creditor_iban",
                    FillValue::Text(p.creditor.as_str().to_owned()),
                ),
                ("amount", FillValue::Text(format_number(p.amount.value()))),
                (
                    "communication",
                    FillValue::Text(p.remittance.clone().unwrap_or_default()),
                ),
                (
                    "start_date",
                    FillValue::Text(format_date(request.start_date)),
                ),
                (
                    "end_date",
                    FillValue::Text(request.end_date.map(format_date).unwrap_or_default()),
                ),
                (
                    "frequency",
                    FillValue::Text(request.frequency.code().to_owned()),
                ),
                (
                    "day",
                    FillValue::Text(
                        request
                            .day_of_execution
                            .map(|d| d.to_string())
                            .unwrap_or_default(),
                    ),
                ),
                (
                    "reference",
                    FillValue::Text(p.end_to_end_id.as_str().to_owned()),
                ),
            ],
        )
        .await?;
        let source = self
            .submit(browser, &self.action("order_new", "submit"))
            .await?;
        if self.expect(&source, &["order_confirm", "order_new"])? == "order_new" {
            return Err(self.refusal(&source, "order_new", "FORM_REFUSED"));
        }
        let s = "order_confirm";
        let checks = {
            let page = Page::new(&source, &self.inner.map);
            let mut checks = read_back(&page, s, p)?;
            checks.push((
                "startDate",
                show(&Value::Date(request.start_date)),
                show(&page.required(s, "start_date")?),
            ));
            checks.push((
                "frequency",
                request.frequency.code().to_owned(),
                show(&page.required(s, "frequency")?),
            ));
            checks
        };
        self.compare(browser, s, checks).await?;
        let id = self.confirm_to_signing(browser, s).await?;
        Ok(PaymentInitiation {
            payment: PaymentRef {
                kind: PaymentKind::Periodic(p.product),
                id,
            },
            status: PaymentStatus::Received,
        })
    }

    async fn upload(&self, browser: &Browser, file: &PaymentFile) -> FlowResult<PaymentInitiation> {
        self.open(browser, "files", None).await?;
        let folder = self
            .inner
            .driver
            .folder()
            .map(Path::to_path_buf)
            .unwrap_or_else(std::env::temp_dir);
        let path = folder.join(format!("upload-{}.xml", uuid::Uuid::new_v4().simple()));
        std::fs::write(&path, file.xml())
            .map_err(|e| Fail::Bank(unavailable(format!("cannot stage the file: {e}"))))?;
        let filled = self
            .fill(
                browser,
                "files",
                &[("file", FillValue::Text(path.display().to_string()))],
            )
            .await;
        let submitted = match filled {
            Ok(()) => self.submit(browser, &self.action("files", "upload")).await,
            Err(e) => Err(e),
        };
        let _ = std::fs::remove_file(&path);
        let source = submitted?;
        if self.expect(&source, &["file_review", "files"])? == "files" {
            return Err(self.refusal(&source, "files", "FILE_REFUSED"));
        }
        let s = "file_review";
        let checks = {
            let page = Page::new(&source, &self.inner.map);
            vec![
                (
                    "MsgId",
                    file.message_id.clone(),
                    show(&page.required(s, "message_id")?),
                ),
                (
                    "NbOfTxs",
                    file.number_of_transactions.to_string(),
                    show(&page.required(s, "count")?),
                ),
            ]
        };
        self.compare(browser, s, checks).await?;
        let id = self.confirm_to_signing(browser, s).await?;
        Ok(PaymentInitiation {
            payment: PaymentRef {
                kind: PaymentKind::File,
                id,
            },
            status: PaymentStatus::Received,
        })
    }

    async fn status_of(
        &self,
        browser: &Browser,
        payment: &PaymentRef,
    ) -> FlowResult<PaymentStatus> {
        let source = self
            .open(browser, "payment", Some(payment.id.as_str()))
            .await?;
        status_on(&Page::new(&source, &self.inner.map), "payment")
    }

    /// A payment, standing order or file found by its end-to-end id (a file: its message id) in the
    /// customer's list of orders.
    async fn find_on_list(
        &self,
        browser: &Browser,
        reference: &str,
    ) -> FlowResult<Option<(PaymentRef, PaymentStatus)>> {
        let source = self.open(browser, "payments", None).await?;
        let page = Page::new(&source, &self.inner.map);
        for row in page.table("payments", "payments")? {
            if text(&row, "reference") != reference {
                continue;
            }
            let kind = match text(&row, "kind").as_str() {
                "Instant transfer" => {
                    PaymentKind::Single(PaymentProduct::InstantSepaCreditTransfer)
                }
                "Transfer" => PaymentKind::Single(PaymentProduct::SepaCreditTransfer),
                "Standing order" => PaymentKind::Periodic(PaymentProduct::SepaCreditTransfer),
                "Payment file" => PaymentKind::File,
                other => {
                    return Err(Fail::Extract(ExtractError::Unparsable {
                        screen: "payments".to_owned(),
                        item: "kind".to_owned(),
                        reason: format!("{other:?} is not a known kind of order"),
                    }));
                }
            };
            let code = text(&row, "status");
            let status = PaymentStatus::from_code(&code).ok_or_else(|| {
                Fail::Extract(ExtractError::Unparsable {
                    screen: "payments".to_owned(),
                    item: "status".to_owned(),
                    reason: format!("{code:?} is not an ISO 20022 status"),
                })
            })?;
            return Ok(Some((
                PaymentRef {
                    kind,
                    id: PaymentId::new(text(&row, "id")),
                },
                status,
            )));
        }
        Ok(None)
    }

    async fn cancel(&self, browser: &Browser, payment: &PaymentRef) -> FlowResult<PaymentStatus> {
        let source = self
            .open(browser, "payment", Some(payment.id.as_str()))
            .await?;
        let cancel = self.action("payment", "cancel");
        if !Page::new(&source, &self.inner.map).has(&cancel) {
            return Err(Fail::Bank(BankError::Rejected {
                code: "CANCELLATION_INVALID".to_owned(),
                message: "the website offers no cancellation for this order".to_owned(),
            }));
        }
        let source = self.submit(browser, &cancel).await.map_err(|e| match e {
            Fail::Driver(d) => Fail::Bank(BankError::OutcomeUnknown {
                channel: Channel::Screen,
                reason: d.to_string(),
            }),
            other => other,
        })?;
        self.expect(&source, &["payment"])?;
        status_on(&Page::new(&source, &self.inner.map), "payment")
    }

    async fn sign_challenge(
        &self,
        browser: &Browser,
        payment: &PaymentRef,
    ) -> FlowResult<ScaChallenge> {
        let source = self
            .open(browser, "sign", Some(payment.id.as_str()))
            .await
            .map_err(|e| match e {
                Fail::Unexpected { .. } => Fail::Bank(BankError::Rejected {
                    code: "STATUS_INVALID".to_owned(),
                    message: "this order does not wait for a signature".to_owned(),
                }),
                other => other,
            })?;
        self.challenge(&source, "sign", payment.id.as_str())
    }

    async fn sign(
        &self,
        browser: &Browser,
        payment: &PaymentRef,
        answer: &ScaAnswer,
    ) -> FlowResult<ScaStatus> {
        // Stay on the signing page when it is this order's (its challenge is the one answered).
        let source = browser.source().await?;
        let here = {
            let page = Page::new(&source, &self.inner.map);
            page.is("sign")
                && page
                    .value("sign", "reference")
                    .ok()
                    .flatten()
                    .map(want_text)
                    .as_deref()
                    == Some(payment.id.as_str())
        };
        if !here {
            self.open(browser, "sign", Some(payment.id.as_str()))
                .await?;
        }
        self.fill(
            browser,
            "sign",
            &[(
                "response",
                FillValue::Text(answer.secret().expose_secret().to_owned()),
            )],
        )
        .await?;
        let source = self.submit(browser, &self.action("sign", "submit")).await?;
        match self
            .expect(&source, &["result", "sign"])
            .map_err(|e| match e {
                Fail::Unexpected { .. } => Fail::Bank(BankError::OutcomeUnknown {
                    channel: Channel::Screen,
                    reason: "no result page after signing".to_owned(),
                }),
                other => other,
            })? {
            "sign" => Err(self.refusal(&source, "sign", "SCA_INVALID")),
            _ => {
                let status = status_on(&Page::new(&source, &self.inner.map), "result")?;
                Ok(if status == PaymentStatus::Received {
                    ScaStatus::Failed
                } else {
                    ScaStatus::Finalised
                })
            }
        }
    }
}

/// One selector of a screen map, checked against the live website.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectorCheck {
    /// The screen.
    pub screen: String,
    /// The key in the map (`is_here`, `fields.password`, `tables.history.columns.amount`, …).
    pub key: String,
    /// The CSS selector.
    pub selector: String,
    /// Whether it matched; `None` when the screen could not be visited (it needs a form to reach).
    pub matched: Option<bool>,
}

impl ScreenBank {
    /// Logs in and walks every screen that has a URL (the first account for `{id}` screens), checking
    /// each selector of the map on the live page.
    pub async fn check_selectors(&self, psu: &PsuContext) -> BankResult<Vec<SelectorCheck>> {
        let first = self.accounts(psu).await?.first().map(|a| a.id.clone());
        self.run(psu, Effect::Safe, move |bank, browser| {
            let first = first.clone();
            Box::pin(async move { bank.walk(browser, first).await })
        })
        .await
    }

    async fn walk(
        &self,
        browser: &Browser,
        account: Option<AccountId>,
    ) -> FlowResult<Vec<SelectorCheck>> {
        let mut out = Vec::new();
        for (name, screen) in &self.inner.map.screens {
            let mut selectors = vec![("is_here".to_owned(), screen.is_here.clone())];
            for (k, f) in &screen.fields {
                selectors.push((format!("fields.{k}"), f.css.clone()));
            }
            for (k, a) in &screen.actions {
                selectors.push((format!("actions.{k}"), a.clone()));
            }
            for (k, v) in &screen.values {
                selectors.push((format!("values.{k}"), v.css.clone()));
            }
            for (k, t) in &screen.tables {
                selectors.push((format!("tables.{k}.rows"), t.rows.clone()));
                for (c, v) in &t.columns {
                    if v.css != "." {
                        selectors.push((
                            format!("tables.{k}.columns.{c}"),
                            format!("{} {}", t.rows, v.css),
                        ));
                    }
                }
            }
            let visit = match &screen.url {
                Some(url) if url.contains("{id}") && name == "account" => {
                    account.clone().map(|a| a.to_string())
                }
                Some(url) if !url.contains("{id}") && name != "login" => Some(String::new()),
                _ => None,
            };
            let source = match visit {
                Some(id) => {
                    self.pace().await;
                    browser.goto(&self.url(name, Some(&id))).await?;
                    if let Some(ready) = &screen.ready {
                        let _ = browser
                            .wait_for(ready, self.inner.config.wait_timeout)
                            .await;
                    }
                    Some(browser.source().await?)
                }
                None => None,
            };
            let page = source.as_deref().map(|s| Page::new(s, &self.inner.map));
            for (key, selector) in selectors {
                out.push(SelectorCheck {
                    screen: name.clone(),
                    key,
                    matched: page.as_ref().map(|p| p.has(&selector)),
                    selector,
                });
            }
        }
        Ok(out)
    }
}

fn status_on(page: &Page<'_>, screen: &str) -> FlowResult<PaymentStatus> {
    let code = want_text(page.required(screen, "status")?);
    PaymentStatus::from_code(&code).ok_or_else(|| {
        Fail::Extract(ExtractError::Unparsable {
            screen: screen.to_owned(),
            item: "status".to_owned(),
            reason: format!("{code:?} is not an ISO 20022 status"),
        })
    })
}

/// The read-back of what every order shows on its confirmation screen: accounts, name, amount,
/// communication and reference, as (field, asked, shown).
fn read_back(
    page: &Page<'_>,
    screen: &str,
    p: &PaymentRequest,
) -> FlowResult<Vec<(&'static str, String, String)>> {
    Ok(vec![
        (
            "debtorAccount",
            show(&Value::Iban(p.debtor.clone())),
            show(&page.required(screen, "debtor")?),
        ),
        (
            "creditorName",
            p.creditor_name.clone(),
            show(&page.required(screen, "creditor_name")?),
        ),
        (
            "creditorAccount",
            show(&Value::Iban(p.creditor.clone())),
            show(&page.required(screen, "creditor_iban")?),
        ),
        (
            "instructedAmount",
            show(&Value::Amount(p.amount)),
            show(&page.required(screen, "amount")?),
        ),
        (
            "remittanceInformationUnstructured",
            p.remittance.clone().unwrap_or_default(),
            page.value(screen, "communication")?
                .map(|v| show(&v))
                .unwrap_or_default(),
        ),
        (
            "endToEndIdentification",
            p.end_to_end_id.as_str().to_owned(),
            show(&page.required(screen, "reference")?),
        ),
    ])
}

/// A value as compared in a read-back: amounts, dates and IBANs in one canonical spelling.
fn show(value: &Value) -> String {
    match value {
        Value::Text(t) => t.trim().to_owned(),
        Value::Amount(a) => format!("{} {}", a.value(), a.currency()),
        Value::Date(d) => d.to_string(),
        Value::Iban(i) => i.as_str().to_owned(),
        Value::Integer(n) => n.to_string(),
    }
}

fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[async_trait]
impl Bank for ScreenBank {
    async fn accounts(&self, psu: &PsuContext) -> BankResult<Vec<Account>> {
        self.run(psu, Effect::Safe, |bank, b| Box::pin(bank.account_rows(b)))
            .await
    }

    async fn balances(
        &self,
        psu: &PsuContext,
        account: &AccountId,
        at: Option<Date>,
    ) -> BankResult<Vec<Balance>> {
        self.run(psu, Effect::Safe, move |bank, b| {
            let account = account.clone();
            Box::pin(async move { bank.read_balances(b, &account, at).await })
        })
        .await
    }

    async fn transactions(
        &self,
        psu: &PsuContext,
        account: &AccountId,
        filter: &TransactionFilter,
    ) -> BankResult<Vec<Transaction>> {
        let mut all = self
            .run(psu, Effect::Safe, move |bank, b| {
                let (account, filter) = (account.clone(), filter.clone());
                Box::pin(async move { bank.read_transactions(b, &account, &filter).await })
            })
            .await?;
        // The website filters by date, direction and recurrence; status and code are applied here,
        // with the same predicate every channel uses.
        all.retain(|t| filter.matches(t));
        Ok(all)
    }

    async fn initiate_payment(
        &self,
        psu: &PsuContext,
        request: &PaymentRequest,
    ) -> BankResult<PaymentInitiation> {
        request.validate()?;
        self.run(psu, Effect::MovesMoney, move |bank, b| {
            let request = request.clone();
            Box::pin(async move { bank.pay(b, &request).await })
        })
        .await
    }

    async fn payment_status(
        &self,
        psu: &PsuContext,
        payment: &PaymentRef,
    ) -> BankResult<PaymentStatus> {
        self.run(psu, Effect::Safe, move |bank, b| {
            let payment = payment.clone();
            Box::pin(async move { bank.status_of(b, &payment).await })
        })
        .await
    }

    async fn find_payment(
        &self,
        psu: &PsuContext,
        _debtor: &Iban,
        end_to_end_id: &str,
    ) -> BankResult<Option<(PaymentRef, PaymentStatus)>> {
        // The website lists every order of the customer with its end-to-end id; the id is unique per
        // customer, so the debtor account is not needed to tell them apart.
        let reference = end_to_end_id.to_owned();
        self.run(psu, Effect::Safe, move |bank, b| {
            let reference = reference.clone();
            Box::pin(async move { bank.find_on_list(b, &reference).await })
        })
        .await
    }

    async fn cancel_payment(
        &self,
        psu: &PsuContext,
        payment: &PaymentRef,
    ) -> BankResult<PaymentStatus> {
        self.run(psu, Effect::MovesMoney, move |bank, b| {
            let payment = payment.clone();
            Box::pin(async move { bank.cancel(b, &payment).await })
        })
        .await
    }

    async fn upload_payment_file(
        &self,
        psu: &PsuContext,
        file: &PaymentFile,
    ) -> BankResult<PaymentInitiation> {
        self.run(psu, Effect::MovesMoney, move |bank, b| {
            let file = file.clone();
            Box::pin(async move { bank.upload(b, &file).await })
        })
        .await
    }

    async fn create_standing_order(
        &self,
        psu: &PsuContext,
        request: &StandingOrderRequest,
    ) -> BankResult<PaymentInitiation> {
        request.validate()?;
        self.run(psu, Effect::MovesMoney, move |bank, b| {
            let request = request.clone();
            Box::pin(async move { bank.order(b, &request).await })
        })
        .await
    }

    async fn cancel_standing_order(
        &self,
        psu: &PsuContext,
        order: &PaymentRef,
    ) -> BankResult<PaymentStatus> {
        if !matches!(order.kind, PaymentKind::Periodic(_)) {
            return Err(InvalidValue::new("order", "is not a standing order").into());
        }
        self.run(psu, Effect::MovesMoney, move |bank, b| {
            let order = order.clone();
            Box::pin(async move { bank.cancel(b, &order).await })
        })
        .await
    }

    async fn confirm_funds(
        &self,
        psu: &PsuContext,
        account: &Iban,
        amount: &Amount,
    ) -> BankResult<FundsConfirmation> {
        let accounts = self.accounts(psu).await?;
        let Some(found) = accounts.iter().find(|a| &a.iban == account) else {
            return Err(BankError::Rejected {
                code: "RESOURCE_UNKNOWN".to_owned(),
                message: format!("account {} is not one of the customer's", account.masked()),
            });
        };
        if amount.currency() != found.currency {
            return Ok(FundsConfirmation {
                funds_available: false,
            });
        }
        let balances = self.balances(psu, &found.id, None).await?;
        let available = balances
            .iter()
            .find(|b| b.kind == BalanceType::InterimAvailable)
            .ok_or_else(|| unavailable("no available balance on the account page"))?;
        Ok(FundsConfirmation {
            funds_available: available.amount.value() >= amount.value(),
        })
    }

    async fn create_consent(
        &self,
        psu: &PsuContext,
        _request: &ConsentRequest,
    ) -> BankResult<ConsentId> {
        let mut flow = self.flow(&psu.psu_id).await;
        let result = async {
            let browser = self.browser(&mut flow).await?;
            self.login_to_challenge(browser, psu).await
        }
        .await;
        let status = match result {
            Ok(Some(_)) => ConsentStatus::Received,
            Ok(None) => {
                flow.session.logged_in = true;
                ConsentStatus::Valid
            }
            Err(fail) => return Err(self.classify(&mut flow, psu, fail, Effect::Safe).await),
        };
        let id = ConsentId::new(format!("screen-{}", uuid::Uuid::new_v4().simple()));
        self.inner
            .consents
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                id.clone(),
                ConsentState {
                    psu: psu.psu_id.clone(),
                    status,
                },
            );
        Ok(id)
    }

    async fn consent_status(
        &self,
        psu: &PsuContext,
        consent: &ConsentId,
    ) -> BankResult<ConsentStatus> {
        let consents = self
            .inner
            .consents
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match consents.get(consent) {
            Some(state) if state.psu == psu.psu_id => Ok(state.status),
            _ => Err(BankError::Rejected {
                code: "CONSENT_UNKNOWN".to_owned(),
                message: "no such consent on the screen channel".to_owned(),
            }),
        }
    }

    async fn start_authorisation(
        &self,
        psu: &PsuContext,
        target: &ScaTarget,
    ) -> BankResult<ScaChallenge> {
        match target {
            ScaTarget::Consent(consent) => {
                self.consent_status(psu, consent).await?;
                let mut flow = self.flow(&psu.psu_id).await;
                let result = async {
                    let browser = self.browser(&mut flow).await?;
                    let source = browser.source().await?;
                    if self.expect(&source, &["sca"]).is_ok() {
                        return self.challenge(&source, "sca", consent.as_str());
                    }
                    match self.login_to_challenge(browser, psu).await? {
                        Some(mut c) => {
                            c.authorisation_id = AuthorisationId::new(format!("screen-{consent}"));
                            Ok(c)
                        }
                        None => Err(Fail::Bank(BankError::Rejected {
                            code: "STATUS_INVALID".to_owned(),
                            message: "the consent is already authorised".to_owned(),
                        })),
                    }
                }
                .await;
                match result {
                    Ok(c) => Ok(c),
                    Err(fail) => Err(self.classify(&mut flow, psu, fail, Effect::Safe).await),
                }
            }
            ScaTarget::Payment(payment) => {
                self.run(psu, Effect::Safe, move |bank, b| {
                    let payment = payment.clone();
                    Box::pin(async move { bank.sign_challenge(b, &payment).await })
                })
                .await
            }
        }
    }

    async fn authorise(
        &self,
        psu: &PsuContext,
        target: &ScaTarget,
        _authorisation: &AuthorisationId,
        answer: &ScaAnswer,
    ) -> BankResult<ScaStatus> {
        match target {
            ScaTarget::Consent(consent) => {
                self.consent_status(psu, consent).await?;
                let mut flow = self.flow(&psu.psu_id).await;
                let result = async {
                    let browser = self.browser(&mut flow).await?;
                    self.answer_login(browser, answer).await
                }
                .await;
                let status = match result {
                    Ok(true) => {
                        flow.session.logged_in = true;
                        (ScaStatus::Finalised, ConsentStatus::Valid)
                    }
                    Ok(false) => (ScaStatus::Failed, ConsentStatus::Rejected),
                    Err(fail) => {
                        return Err(self.classify(&mut flow, psu, fail, Effect::Safe).await);
                    }
                };
                if let Some(state) = self
                    .inner
                    .consents
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get_mut(consent)
                {
                    state.status = status.1;
                }
                Ok(status.0)
            }
            ScaTarget::Payment(payment) => {
                self.run(psu, Effect::MovesMoney, move |bank, b| {
                    let (payment, answer) = (payment.clone(), answer.clone());
                    Box::pin(async move { bank.sign(b, &payment, &answer).await })
                })
                .await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_secrets_and_ibans() {
        let text = "1000001 anna-sandbox BE60 7381 2345 6770 and BE49738123456871.";
        let masked = mask(text, &["1000001".into(), "anna-sandbox".into()]);
        assert_eq!(masked, "*** *** BE** **** 70 and BE** **** 71.");
    }
}
