//! Reads over HTTP on the browser's session: a screen the map marks `server_rendered` is fetched with
//! the logged-in browser's cookies by one shared HTTP client and handed, as the page source, to the
//! same extraction as a browser read. A page that is not the screen expected (the session ended, an
//! interstitial, maintenance, the bank's error page, a network failure) is read again through the
//! browser for that call, and counted.
//!
//! The browser keeps everything else: logging in, SCA, screens scripts render, and every write. The
//! cookies are a `SecretString`, sent as a sensitive header: never logged, never written anywhere.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::header::{ACCEPT, COOKIE, HeaderValue};
use secrecy::ExposeSecret;

use super::ScreenBank;
use super::driver::Browser;
use super::extract::Page;
use super::fail::FlowResult;

/// The largest page an HTTP read accepts; a longer answer is read through the browser instead.
const MAX_PAGE: usize = 8 * 1024 * 1024;

/// How many reads went over HTTP on a browser's session, and how many of those fell back to the
/// browser.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HttpReads {
    /// Pages read over HTTP and used as they came.
    pub served: u64,
    /// HTTP reads that did not land on the screen expected and were read through the browser.
    pub fell_back: u64,
}

/// The counters behind [`HttpReads`], shared by a bank's clones.
#[derive(Debug, Default)]
pub(super) struct HttpReadCounters {
    /// Pages served over HTTP.
    served: AtomicU64,
    /// HTTP reads that fell back to the browser.
    fell_back: AtomicU64,
}

/// What a read over HTTP fetches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Want {
    /// A page: it says what it is whatever its status (a refused filter's page is the screen with
    /// its error).
    Page,
    /// A JSON answer of the bank's: the list's only when it succeeded.
    Json,
}

impl Want {
    fn accept(self) -> &'static str {
        match self {
            Want::Page => "text/html",
            Want::Json => "application/json",
        }
    }
}

/// The HTTP client for reads on browsers' sessions: no cookie store of its own (each request carries
/// its browser's cookies), redirects followed within five hops (a cross-host redirect drops the
/// cookies, as reqwest does for sensitive headers).
pub(super) fn http_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::limited(5))
        .build()
        .unwrap_or_default()
}

impl ScreenBank {
    /// How many reads went over HTTP on browsers' sessions, and how many fell back to the browser.
    pub fn http_reads(&self) -> HttpReads {
        let c = &self.inner.http_counters;
        HttpReads {
            served: c.served.load(Ordering::Relaxed),
            fell_back: c.fell_back.load(Ordering::Relaxed),
        }
    }

    /// Opens a screen for reading: over HTTP on the browser's session when the map marks it
    /// `server_rendered` (and HTTP reads are on), else (or when that does not land on the screen)
    /// through the browser. The page is parsed once: checked to be the screen, and returned for
    /// extraction.
    pub(super) async fn read_page(
        &self,
        browser: &Browser,
        screen: &str,
        id: Option<&str>,
    ) -> FlowResult<Page<'_>> {
        let url = self.url(screen, id);
        self.read_checked(browser, screen, &url)
            .await
            .map(|(_, page)| page)
    }

    /// Reads the screen `screen` at `url` (a page of a list, say), as [`ScreenBank::read_page`], and
    /// returns its source (to be kept across the list's next steps).
    pub(super) async fn read_at(
        &self,
        browser: &Browser,
        screen: &str,
        url: &str,
    ) -> FlowResult<String> {
        self.read_checked(browser, screen, url)
            .await
            .map(|(source, _)| source)
    }

    /// The source of the screen `screen` at `url` and the page parsed from it, checked to be that
    /// screen.
    async fn read_checked(
        &self,
        browser: &Browser,
        screen: &str,
        url: &str,
    ) -> FlowResult<(String, Page<'_>)> {
        let map = &self.inner.map;
        if self.inner.config.http_reads && map.screen(screen).server_rendered {
            self.pace().await;
            if let Some(source) = self.fetch(browser, url, Want::Page).await {
                let page = Page::new(&source, map);
                if self.expect_on(&page, &[screen]).is_ok() {
                    self.http_served();
                    return Ok((source, page));
                }
            }
            self.http_fell_back::<()>(browser, screen);
        }
        self.pace().await;
        browser.goto(url).await?;
        let source = browser.source().await?;
        let page = Page::new(&source, map);
        self.expect_on(&page, &[screen])?;
        Ok((source, page))
    }

    /// One page (or JSON answer) served over HTTP, counted.
    pub(super) fn http_served(&self) {
        self.inner
            .http_counters
            .served
            .fetch_add(1, Ordering::Relaxed);
    }

    /// An HTTP read that did not come back as what was expected (`why`): counted, the browser's
    /// cookies read afresh next time, and `None` — the read is made in the browser.
    pub(super) fn http_fell_back<T>(&self, browser: &Browser, why: &str) -> Option<T> {
        browser.forget_cookies();
        self.inner
            .http_counters
            .fell_back
            .fetch_add(1, Ordering::Relaxed);
        tracing::debug!(
            why,
            "a read over HTTP did not land; reading it in the browser"
        );
        None
    }

    /// The answer at `url` fetched with the browser's cookies, or `None` when it could not be had
    /// (no cookies, a network failure, a JSON answer other than a success, a body too long or not
    /// text).
    pub(super) async fn fetch(&self, browser: &Browser, url: &str, want: Want) -> Option<String> {
        let cookies = browser.cookie_header().await.ok()?;
        let mut cookie = HeaderValue::from_str(cookies.expose_secret()).ok()?;
        cookie.set_sensitive(true);
        let mut response = self
            .inner
            .http
            .get(url)
            .header(COOKIE, cookie)
            .header(ACCEPT, want.accept())
            .send()
            .await
            .ok()?;
        if want == Want::Json && !response.status().is_success() {
            return None;
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_PAGE as u64)
        {
            return None;
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.ok()? {
            if body.len() + chunk.len() > MAX_PAGE {
                return None;
            }
            body.extend_from_slice(&chunk);
        }
        String::from_utf8(body).ok()
    }
}
