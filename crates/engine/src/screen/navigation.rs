//! Navigation: opening screens by the map's URLs, recognising which screen the page is (and the
//! maintenance, login and error pages that no flow expects), filling forms, submitting with an explicit
//! wait for the next page, the cookie banner, and pacing.

use std::path::Path;

use super::ScreenBank;
use super::driver::{Browser, FillValue};
use super::extract::{ExtractError, Page, Value};
use super::fail::{Fail, FlowResult, unavailable};
use super::map::{Input, OptionMatch};
use crate::bank::BankError;
use crate::model::Iban;

/// A value as text: the text itself, or its debug form when the map parses it as something else.
pub(super) fn want_text(v: Value) -> String {
    match v {
        Value::Text(t) => t,
        other => format!("{other:?}"),
    }
}

/// Percent-encodes a text for a URL path or query, keeping only RFC 3986's unreserved characters.
pub(super) fn url_encode(text: &str) -> String {
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

impl ScreenBank {
    /// The address of a screen, with its parameter (`{account}` or `{payment}`) replaced by the
    /// (encoded) id.
    pub(super) fn url(&self, screen: &str, id: Option<&str>) -> String {
        let id = id.map(url_encode).unwrap_or_default();
        let path = self
            .inner
            .map
            .screen(screen)
            .url
            .as_deref()
            .unwrap_or("/")
            .replace("{account}", &id)
            .replace("{payment}", &id);
        format!("{}{path}", self.inner.base)
    }

    /// A link's address as the browser would follow it: absolute as it is, else on the website.
    pub(super) fn absolute(&self, href: &str) -> String {
        if href.starts_with("http://") || href.starts_with("https://") {
            href.to_owned()
        } else {
            format!("{}{href}", self.inner.base)
        }
    }

    /// Waits until this bank's pacing allows one more page load or click.
    pub(super) async fn pace(&self) {
        self.inner.pacing.until_ready().await;
    }

    /// Opens a screen and checks it is there; the source is returned for extraction.
    pub(super) async fn open(
        &self,
        browser: &Browser,
        screen: &str,
        id: Option<&str>,
    ) -> FlowResult<String> {
        self.pace().await;
        browser.goto(&self.url(screen, id)).await?;
        let source = browser.source().await?;
        self.expect(&source, &[screen])?;
        Ok(source)
    }

    /// Which of the expected screens the page is; the maintenance page, the login page (session ended),
    /// the bank's error page and anything else become failures.
    pub(super) fn expect<'a>(&self, source: &str, screens: &[&'a str]) -> FlowResult<&'a str> {
        self.expect_on(&Page::new(source, &self.inner.map), screens)
    }

    /// [`ScreenBank::expect`] on a page already parsed (read once, checked and extracted).
    pub(super) fn expect_on<'a>(
        &self,
        page: &Page<'_>,
        screens: &[&'a str],
    ) -> FlowResult<&'a str> {
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
            selector: self
                .inner
                .map
                .get(first)
                .map(|s| s.is_here.clone())
                .unwrap_or_default(),
        })
    }

    /// Clicks an action after marking the page stale, and waits for the next page.
    pub(super) async fn submit(&self, browser: &Browser, css: &str) -> FlowResult<String> {
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
    pub(super) async fn fill(
        &self,
        browser: &Browser,
        screen: &str,
        values: &[(&str, FillValue)],
    ) -> FlowResult<()> {
        let def = self.inner.map.screen(screen);
        let mut by_script = Vec::new();
        let mut source: Option<String> = None;
        for (name, value) in values {
            let field = &def.fields[*name];
            match (field.input, value) {
                (Input::Select, FillValue::Text(t)) if field.option == OptionMatch::Text => {
                    if source.is_none() {
                        source = Some(browser.source().await?);
                    }
                    let html = source.as_deref().unwrap_or_default();
                    let chosen = option_showing(html, &field.css, t).ok_or_else(|| {
                        Fail::Extract(ExtractError::Missing {
                            screen: screen.to_owned(),
                            selector: format!("{} option showing {t}", field.css),
                        })
                    })?;
                    by_script.push((field.css.clone(), FillValue::Text(chosen)));
                }
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

    /// What a debtor select takes for an account: its IBAN, or (when the map's `option` says
    /// `account_id`) the account's id on the website, looked up on the accounts list. Called before
    /// the form is opened.
    pub(super) async fn debtor_option(
        &self,
        browser: &Browser,
        screen: &str,
        iban: &Iban,
    ) -> FlowResult<String> {
        let field = &self.inner.map.screen(screen).fields["debtor"];
        if field.option != OptionMatch::AccountId {
            return Ok(iban.as_str().to_owned());
        }
        let accounts = self.account_rows(browser).await?;
        accounts
            .into_iter()
            .find(|a| &a.iban == iban)
            .map(|a| a.id.to_string())
            .ok_or_else(|| {
                Fail::Bank(BankError::Rejected {
                    code: "ACCOUNT_UNKNOWN".to_owned(),
                    message: format!("the website lists no account {}", iban.as_str()),
                })
            })
    }

    /// An action's selector (the contract checked at load guarantees it is in the map).
    pub(super) fn action(&self, screen: &str, name: &str) -> String {
        self.inner.map.screen(screen).actions[name].clone()
    }

    /// Accepts the cookie banner if it covers the page (a website without one has none in its map).
    pub(super) async fn cookies(&self, browser: &Browser, source: &str) -> FlowResult<()> {
        if Page::new(source, &self.inner.map).is("cookie_banner") {
            browser
                .click(&self.action("cookie_banner", "accept"))
                .await?;
        }
        Ok(())
    }

    /// The bank's error message on a screen, as a rejection.
    pub(super) fn refusal(&self, source: &str, screen: &str, code: &str) -> Fail {
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
}

/// The value of the option of a select whose text shows `wanted` (an IBAN, grouped in fours or
/// compact; spaces and case are ignored).
fn option_showing(html: &str, select: &str, wanted: &str) -> Option<String> {
    let compact = |t: &str| -> String {
        t.chars()
            .filter(|c| !c.is_whitespace())
            .flat_map(char::to_uppercase)
            .collect()
    };
    let wanted = compact(wanted);
    let document = scraper::Html::parse_document(html);
    let options = scraper::Selector::parse(&format!("{select} option")).ok()?;
    document.select(&options).find_map(|option| {
        let text: String = option.text().collect();
        compact(&text).contains(&wanted).then(|| {
            option
                .value()
                .attr("value")
                .map_or_else(|| text.trim().to_owned(), str::to_owned)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::option_showing;

    #[test]
    fn an_option_is_found_by_the_iban_its_text_shows() {
        let html = r#"<select id="from"><option value="a-1">Current – BE60 7381 2345 6770</option>
            <option value="a-2">Savings – BE71096123456769</option></select>"#;
        assert_eq!(
            option_showing(html, "#from", "BE60738123456770").as_deref(),
            Some("a-1")
        );
        assert_eq!(
            option_showing(html, "#from", "BE71 0961 2345 6769").as_deref(),
            Some("a-2")
        );
        assert_eq!(option_showing(html, "#from", "BE00000000000000"), None);
    }
}
