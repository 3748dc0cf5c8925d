//! The selector check: every selector of a screen map tried on the live website (`psd2-fallback
//! selectors check`), so a map author sees which ones the website no longer matches.

use super::ScreenBank;
use super::driver::Browser;
use super::extract::Page;
use super::fail::FlowResult;
use super::flow::Effect;
use crate::bank::{Bank, BankResult, PsuContext};
use crate::model::AccountId;

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

    /// Visits every screen that has a URL and tries each of its selectors on the page.
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
            if let Some(paging) = &screen.paging {
                for (k, css) in [("next", &paging.next), ("more", &paging.more)] {
                    if let Some(css) = css {
                        selectors.push((format!("paging.{k}"), css.clone()));
                    }
                }
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
                Some(url) if url.contains("{account}") => account.clone().map(|a| a.to_string()),
                Some(url) if !url.contains('{') && name != "login" => Some(String::new()),
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
