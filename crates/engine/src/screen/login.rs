//! Login and SCA: logging in up to what the website asks next (the card-reader challenge, a page that
//! waits for the customer's approval in the bank's app, or a choice between the two), reading a
//! challenge off a screen, answering the login challenge, and logging in unattended before a flow —
//! through the `ScaRelay` for a challenge, by following the app's page for a bounded time
//! (`ScreenBankConfig::app_login_wait`) for an approval.

use secrecy::{ExposeSecret, SecretString};

use super::ScreenBank;
use super::driver::{Browser, FillValue};
use super::extract::Page;
use super::fail::{Fail, FlowResult};
use super::navigation::want_text;
use super::sessions::Flow;
use crate::bank::{BankError, PsuContext};
use crate::model::{AuthorisationId, InvalidValue, ScaAnswer, ScaChallenge, ScaMethod};

/// How often the caller polls an approval the website waits for in the bank's app: the page moves on by
/// itself, and reading it costs one round trip.
pub(super) const APP_POLL_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// The screens a login may reach after its password: the challenge, the app's page, the choice, the
/// link to the bank's own page.
pub(super) const AFTER_PASSWORD: [&str; 4] = ["sca", "login_app", "login_method", "login_redirect"];

/// The pages that wait for the customer to act elsewhere (in the app, at the bank's own page).
pub(super) const WAITING: [&str; 2] = ["login_app", "login_redirect"];

/// The methods a login's choice offers, as the contract names `screens.login_method`'s actions; the
/// map says each one's Berlin Group `authenticationMethodId` and `authenticationType`
/// (`sca.methods`).
const LOGIN_METHODS: [&str; 2] = ["card_reader", "app"];

/// What the website asks after the password.
pub(super) enum LoginStep {
    /// Nothing: the website already knows the customer.
    LoggedIn,
    /// The website let the customer in right after the password (or the choice): no further step
    /// was asked, or the customer approved in the app before the page was read.
    LetIn,
    /// The card reader's challenge (`sca`).
    Challenge(ScaChallenge),
    /// A page that waits for the customer's approval in the bank's app (`login_app`), saying this.
    App(String),
    /// A choice of how to confirm (`login_method`).
    Choice(Vec<ScaMethod>),
    /// A page that waits while the customer continues at the bank's own page, at this address
    /// (`login_redirect`).
    Redirect(String),
}

impl ScreenBank {
    /// Logs in up to what the website asks after the password ([`LoginStep`]).
    pub(super) async fn login_to_challenge(
        &self,
        browser: &Browser,
        psu: &PsuContext,
    ) -> FlowResult<LoginStep> {
        // The engine keeps no password beyond what its caller hands it (the service: in memory, for
        // at most a day, after the authorisation it came with succeeded): without one, the customer
        // must authenticate again, and that is said plainly — under a consent as the API says it.
        let Some(password) = psu.password.as_ref() else {
            tracing::warn!(
                event = "reauthentication_required",
                customer = ?psu.psu_id,
                consent = psu.consent_id.is_some(),
                "the website needs a login and no password is at hand"
            );
            let reason = "logging in to the website needs the customer's password, which is not kept \
                          (ask the customer for a new consent)";
            return Err(match psu.consent_id {
                Some(_) => Fail::Bank(BankError::ReauthenticationRequired {
                    reason: reason.to_owned(),
                }),
                None => InvalidValue::new(
                    "password",
                    format!("the customer must re-authenticate: {reason}"),
                )
                .into(),
            });
        };
        self.pace().await;
        browser.goto(&self.url("login", None)).await?;
        let source = browser.source().await?;
        if self.expect(&source, &["login", "accounts"])? == "accounts" {
            return Ok(LoginStep::LoggedIn);
        }
        self.cookies(browser, &source).await?;
        // The login's steps in order: each page recognised, its fields filled, its button pressed; a
        // page that comes back to an earlier step (or the first) is a refusal shown there.
        let steps = &self.inner.map.login_steps;
        let mut source = source;
        for (i, step) in steps.iter().enumerate() {
            if i > 0 {
                let mut expected: Vec<&str> = vec![step.as_str()];
                expected.extend(steps[..i].iter().map(String::as_str));
                let here = self.expect(&source, &expected)?;
                if here != step {
                    return Err(self.refusal(&source, here, "LOGIN_FAILED"));
                }
            }
            let screen = self.inner.map.screen(step);
            let mut fields = Vec::new();
            if screen.fields.contains_key("customer") {
                fields.push(("customer", FillValue::Text(psu.psu_id.as_str().to_owned())));
            }
            if screen.fields.contains_key("password") {
                fields.push((
                    "password",
                    FillValue::Text(password.expose_secret().to_owned()),
                ));
            }
            self.fill(browser, step, &fields).await?;
            source = self.submit(browser, &self.action(step, "submit")).await?;
        }
        let mut expected = AFTER_PASSWORD.to_vec();
        expected.push("accounts");
        expected.extend(steps.iter().map(String::as_str));
        match self.expect(&source, &expected)? {
            "accounts" => Ok(LoginStep::LetIn),
            screen if AFTER_PASSWORD.contains(&screen) => self.login_step(&source, screen),
            step => Err(self.refusal(&source, step, "LOGIN_FAILED")),
        }
    }

    /// What a screen after the password asks (one of [`AFTER_PASSWORD`]).
    pub(super) fn login_step(&self, source: &str, screen: &str) -> FlowResult<LoginStep> {
        let page = Page::new(source, &self.inner.map);
        match screen {
            "sca" => Ok(LoginStep::Challenge(
                self.challenge(source, "sca", "login")?,
            )),
            "login_app" => Ok(LoginStep::App(want_text(
                page.required("login_app", "message")?,
            ))),
            "login_redirect" => Ok(LoginStep::Redirect(want_text(
                page.required("login_redirect", "link")?,
            ))),
            _ => {
                let actions = &self.inner.map.screen("login_method").actions;
                let defs = &self.inner.map.sca.methods;
                let methods = LOGIN_METHODS
                    .iter()
                    .filter(|m| page.has(&actions[**m]))
                    .filter_map(|m| Some((*m, defs.get(*m)?)))
                    .map(|(m, def)| ScaMethod {
                        id: def.id.clone(),
                        kind: def.kind.clone(),
                        name: page.text(&actions[m]).filter(|t| !t.is_empty()),
                    })
                    .collect();
                Ok(LoginStep::Choice(methods))
            }
        }
    }

    /// The `authenticationMethodId` the map gives a method of the login's choice (one of
    /// [`LOGIN_METHODS`]); the action's own name when the map gives none.
    pub(super) fn login_method_id<'a>(&'a self, action: &'a str) -> &'a str {
        self.inner
            .map
            .sca
            .methods
            .get(action)
            .map_or(action, |def| def.id.as_str())
    }

    /// The customer's choice on the login's choice page, by its `authenticationMethodId`: clicks the
    /// method's button and tells what follows. A method the page does not offer is refused naming
    /// `authenticationMethodId`.
    pub(super) async fn choose_login_method(
        &self,
        browser: &Browser,
        method: &str,
    ) -> FlowResult<LoginStep> {
        let source = browser.source().await?;
        self.expect(&source, &["login_method"])?;
        let actions = &self.inner.map.screen("login_method").actions;
        let Some(css) = LOGIN_METHODS
            .iter()
            .find(|action| self.login_method_id(action) == method)
            .map(|action| actions[*action].clone())
            .filter(|css| Page::new(&source, &self.inner.map).has(css))
        else {
            let ids: Vec<&str> = LOGIN_METHODS
                .iter()
                .map(|action| self.login_method_id(action))
                .collect();
            return Err(InvalidValue::new(
                "authenticationMethodId",
                format!("{method:?} is not offered: one of {}", ids.join(", ")),
            )
            .into());
        };
        let next = self.submit(browser, &css).await?;
        let mut expected = AFTER_PASSWORD.to_vec();
        expected.push("accounts");
        match self.expect(&next, &expected)? {
            "accounts" => Ok(LoginStep::LetIn),
            screen => self.login_step(&next, screen),
        }
    }

    /// Follows a login page that waits for the customer's approval in the bank's app, for at most
    /// `limit`: `Ok(true)` when the website let the customer in, `Ok(false)` while it still waits; a
    /// refusal or an expiry the page shows is the bank's answer (`SCA_FAILED` with its words).
    pub(super) async fn follow_login_app(
        &self,
        browser: &Browser,
        screen: &str,
        limit: std::time::Duration,
    ) -> FlowResult<bool> {
        let def = self.inner.map.screen(screen);
        let outcome = def.values.get("outcome").map(|v| v.css.as_str());
        browser
            .wait_to_move_on(&def.is_here, outcome, limit)
            .await?;
        let source = browser.source().await?;
        match self.expect(&source, &["accounts", "login_app", "login_redirect"])? {
            "accounts" => Ok(true),
            _ => match self.app_outcome(&source) {
                Some(message) => Err(Fail::Bank(BankError::Rejected {
                    code: "SCA_FAILED".to_owned(),
                    message,
                })),
                None => Ok(false),
            },
        }
    }

    /// How a login waiting in the app (or at the bank's own page) ended, when its page says
    /// (refused, expired, cancelled).
    pub(super) fn app_outcome(&self, source: &str) -> Option<String> {
        let page = Page::new(source, &self.inner.map);
        let screen = page.which(&WAITING)?;
        page.value(screen, "outcome")
            .ok()
            .flatten()
            .map(want_text)
            .filter(|o| !o.trim().is_empty())
    }

    /// The challenge a screen shows (the login's or an order's signing page); `what` names the
    /// authorisation.
    pub(super) fn challenge(
        &self,
        source: &str,
        screen: &str,
        what: &str,
    ) -> FlowResult<ScaChallenge> {
        let page = Page::new(source, &self.inner.map);
        let data = want_text(page.required(screen, "challenge")?);
        let sca = &self.inner.map.sca;
        Ok(ScaChallenge {
            authorisation_id: AuthorisationId::new(format!("screen-{what}")),
            method: sca.method.clone(),
            data,
            instructions: sca.instructions.clone(),
            valid_for: None,
        })
    }

    /// Answers the login challenge on the page; `true` when logged in.
    pub(super) async fn answer_login(
        &self,
        browser: &Browser,
        answer: &ScaAnswer,
    ) -> FlowResult<bool> {
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

    /// Makes sure the customer is logged in, unattended through the relay when needed. A login that
    /// waits for the customer's approval in the bank's app is followed for at most
    /// `app_login_wait`; still waiting, the call answers `ApprovalPending` and the session keeps the
    /// page, so the next call follows the same approval instead of asking for a new one. A choice of
    /// method takes the card reader when a relay can answer its challenge, else the app.
    pub(super) async fn ensure_login(&self, flow: &mut Flow, psu: &PsuContext) -> FlowResult<()> {
        if flow.session.logged_in {
            return Ok(());
        }
        let awaiting = std::mem::take(&mut flow.session.awaiting_app);
        let browser = self.browser(flow).await?;
        let step = match awaiting {
            // The approval an earlier call asked for: its page, as it stands now.
            true => {
                let source = browser.source().await?;
                match self.expect(&source, &["accounts", "login_app", "login_redirect"]) {
                    Ok("accounts") => LoginStep::LoggedIn,
                    Ok("login_redirect") if self.app_outcome(&source).is_none() => {
                        LoginStep::Redirect(String::new())
                    }
                    // Refused or expired: said once, in the bank's words; the next call logs in
                    // anew (a new approval in the app).
                    Ok(_) => match self.app_outcome(&source) {
                        Some(message) => {
                            return Err(Fail::Bank(BankError::Rejected {
                                code: "SCA_FAILED".to_owned(),
                                message,
                            }));
                        }
                        None => LoginStep::App(String::new()),
                    },
                    // The page is gone (the session ended, the browser moved): a new login.
                    Err(_) => self.login_to_challenge(browser, psu).await?,
                }
            }
            false => self.login_to_challenge(browser, psu).await?,
        };
        if !matches!(step, LoginStep::LoggedIn | LoginStep::LetIn) {
            self.inner
                .warm_counters
                .logins
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        match self.finish_login(browser, psu, step).await {
            Ok(()) => {
                flow.session.logged_in = true;
                Ok(())
            }
            Err(fail) => {
                if let Fail::Bank(BankError::ApprovalPending { .. }) = &fail {
                    flow.session.awaiting_app = true;
                }
                Err(fail)
            }
        }
    }

    /// Takes a login from what the website asked after the password to logged in (see
    /// [`ScreenBank::ensure_login`]).
    async fn finish_login(
        &self,
        browser: &Browser,
        psu: &PsuContext,
        step: LoginStep,
    ) -> FlowResult<()> {
        let mut step = step;
        // At most one choice: what follows it is a challenge or the app's page.
        for _ in 0..2 {
            match step {
                LoginStep::LoggedIn | LoginStep::LetIn => return Ok(()),
                LoginStep::Challenge(challenge) => {
                    let answer = match &self.inner.relay {
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
                    return Ok(());
                }
                LoginStep::App(_) | LoginStep::Redirect(_) => {
                    let screen = match step {
                        LoginStep::App(_) => "login_app",
                        _ => "login_redirect",
                    };
                    if self
                        .follow_login_app(browser, screen, self.inner.config.app_login_wait)
                        .await?
                    {
                        return Ok(());
                    }
                    let source = browser.source().await?;
                    let page = Page::new(&source, &self.inner.map);
                    // The bank's words; the link (it carries the login's secret state) only as a
                    // secret, for the customer's browser.
                    let message = page
                        .value(screen, "message")
                        .ok()
                        .flatten()
                        .map(want_text)
                        .unwrap_or_else(|| "the login continues at the bank's own page".to_owned());
                    let link = match screen {
                        "login_redirect" => Some(SecretString::from(want_text(
                            page.required(screen, "link")?,
                        ))),
                        _ => None,
                    };
                    tracing::info!(
                        event = "approval_pending",
                        customer = ?psu.psu_id,
                        "the website's login waits for the customer (in the bank's app or at its own page)"
                    );
                    return Err(Fail::Bank(BankError::ApprovalPending {
                        message,
                        retry_after: APP_RETRY_AFTER,
                        page: link,
                    }));
                }
                LoginStep::Choice(_) => {
                    let action = match self.inner.relay {
                        Some(_) => "card_reader",
                        None => "app",
                    };
                    let method = self.login_method_id(action).to_owned();
                    step = self.choose_login_method(browser, &method).await?;
                }
            }
        }
        Err(Fail::Unexpected {
            screen: "login_method".to_owned(),
            selector: "a choice after a choice".to_owned(),
        })
    }
}

/// When a caller told that a login waits for the app should ask again.
const APP_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(2);
