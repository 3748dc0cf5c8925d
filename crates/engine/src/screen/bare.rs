//! A bare WebDriver session on the engine's own driver, for benchmarks' floors: no screen map, no
//! checks, no pacing — the fantoccini client itself. Its chromedriver and Chromium are started, and
//! ended, by the driver's own guarded code (its `psd2fb-<pid>-<8hex>` folder, its rules on what may be
//! killed), with the browser the screen channel would launch: a floor and the channel it is the floor
//! of run the same browser.

use std::time::Duration;

use super::driver::{Browser, Driver, DriverError, WebDriverTarget};

/// A blank browser session and the driver that started it (both ended by [`BareBrowser::close`], or
/// the driver on drop).
#[derive(Debug)]
pub struct BareBrowser {
    browser: Browser,
    driver: Driver,
}

impl BareBrowser {
    /// Starts a driver for `target` and opens one blank browser session (pages may take
    /// `page_timeout` to load).
    pub async fn start(
        target: &WebDriverTarget,
        page_timeout: Duration,
    ) -> Result<Self, DriverError> {
        let driver = Driver::start(target, page_timeout).await?;
        let browser = driver.new_browser().await?;
        Ok(Self { browser, driver })
    }

    /// The session's fantoccini client, to act on as a bare caller would.
    pub fn client(&self) -> &fantoccini::Client {
        &self.browser.client
    }

    /// Closes the session and stops the driver; nothing is left running or on disk.
    pub async fn close(self) {
        let Self { browser, driver } = self;
        browser.close().await;
        driver.shutdown();
    }
}
