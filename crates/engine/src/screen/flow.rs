//! Running a flow and classifying its failure: `run` logs in first (again when the website ended the
//! session, with a new browser when the old one died), and `classify` turns a `Fail` into the
//! `BankError` a caller sees — a changed screen with a trace bundle (page source and screenshot,
//! customer number, password and IBANs masked).

use std::path::{Path, PathBuf};

use secrecy::ExposeSecret;

use super::ScreenBank;
use super::driver::Browser;
use super::extract::ExtractError;
use super::fail::{Fail, FlowResult, unavailable};
use super::sessions::Flow;
use crate::bank::{BankError, BankResult, Channel, PsuContext};
use crate::mask::mask;

/// Whether a failure without an answer may have moved money.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Effect {
    /// A read, or a step before anything is sent: a broken browser makes the channel unavailable.
    Safe,
    /// A write: a broken browser leaves the outcome unknown.
    MovesMoney,
}

impl ScreenBank {
    /// Runs a flow for a logged-in customer: logs in first, again when the website's session ended,
    /// and with a new browser when the old one died. Failures are classified for the caller.
    pub(super) async fn run<T, F>(&self, psu: &PsuContext, effect: Effect, op: F) -> BankResult<T>
    where
        F: for<'a> Fn(&'a ScreenBank, &'a Browser) -> crate::BoxFuture<'a, FlowResult<T>>,
    {
        let mut flow = self.flow(psu).await?;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let login = match flow.session.logged_in {
                true => Ok(()),
                false => {
                    let (back, login) = self.login_to_the_end(flow, psu).await?;
                    flow = back;
                    login
                }
            };
            let result = async {
                login?;
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

    /// The error a caller sees for a flow's failure; a broken browser is closed on the way.
    pub(super) async fn classify(
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
        private_folder(&folder).ok()?;
        let mut secrets = vec![psu.psu_id.as_str().to_owned()];
        if let Some(p) = &psu.password {
            secrets.push(p.expose_secret().to_owned());
        }
        let _ = browser.mask_page(&secrets).await;
        if let Ok(png) = browser.screenshot().await {
            let _ = private_write(&folder.join("screenshot.png"), &png);
        }
        let source = browser.source().await.unwrap_or_default();
        let _ = private_write(
            &folder.join("page.html"),
            mask(&source, &secrets).as_bytes(),
        );
        let note = format!(
            "map: {}\nscreen: {screen}\nselector: {selector}\npath: {}\n",
            self.inner.map.file,
            browser.current_path().await.unwrap_or_default()
        );
        let _ = private_write(&folder.join("README.txt"), note.as_bytes());
        Some(folder)
    }
}

/// Creates a trace folder only its owner can enter (0700): a bank page, even masked, is nobody else's.
fn private_folder(folder: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(folder)?;
    std::fs::set_permissions(folder, std::fs::Permissions::from_mode(0o700))
}

/// Writes a trace file only its owner can read (0600).
fn private_write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?
        .write_all(bytes)
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
