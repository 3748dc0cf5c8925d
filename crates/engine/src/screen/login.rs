//! Login and SCA: logging in up to the card-reader challenge, reading a challenge off a screen,
//! answering the login challenge, and logging in unattended through the `ScaRelay` before a flow.

use secrecy::ExposeSecret;

use super::ScreenBank;
use super::driver::{Browser, FillValue};
use super::extract::Page;
use super::fail::{Fail, FlowResult};
use super::navigation::want_text;
use super::sessions::Flow;
use crate::bank::{BankError, PsuContext};
use crate::model::{AuthorisationId, InvalidValue, ScaAnswer, ScaChallenge};

impl ScreenBank {
    /// Logs in up to the challenge: `Ok(Some(challenge))`, or `Ok(None)` when the website already
    /// knows the customer.
    pub(super) async fn login_to_challenge(
        &self,
        browser: &Browser,
        psu: &PsuContext,
    ) -> FlowResult<Option<ScaChallenge>> {
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
            return Ok(None);
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
        let mut expected = vec!["sca"];
        expected.extend(steps.iter().map(String::as_str));
        match self.expect(&source, &expected)? {
            "sca" => Ok(Some(self.challenge(&source, "sca", "login")?)),
            step => Err(self.refusal(&source, step, "LOGIN_FAILED")),
        }
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

    /// Makes sure the customer is logged in, unattended through the relay when needed.
    pub(super) async fn ensure_login(&self, flow: &mut Flow, psu: &PsuContext) -> FlowResult<()> {
        if flow.session.logged_in {
            return Ok(());
        }
        let relay = self.inner.relay.clone();
        let browser = self.browser(flow).await?;
        if let Some(challenge) = self.login_to_challenge(browser, psu).await? {
            self.inner
                .warm_counters
                .logins
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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
}
