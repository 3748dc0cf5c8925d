//! The history over HTTP on the browser's session: each page of the list fetched with the session's
//! cookies, its rows read off the page when the server sends them in it, or from the JSON the page's
//! script draws them from (`tables.history.json`: in the page itself, or a call the script makes,
//! batch after batch). What does not come back as the history or its JSON — an ended session, an
//! interstitial, a JSON answer that is not the list's — is read in the browser for that call, and
//! counted as a fallback.

use std::collections::HashSet;

use super::ScreenBank;
use super::driver::Browser;
use super::extract::{Page, Value};
use super::fail::{Fail, FlowResult};
use super::http_read::Want;
use super::json_rows::{JsonCall, JsonRows};
use super::reads::Pager;
use super::rows::{check_total, history_on, history_rows, shown_total};
use crate::bank::BankError;
use crate::model::Transaction;

/// The most batches one JSON call is followed for (a list that never ends is read in the browser).
const MAX_BATCHES: usize = 10_000;

/// What one fetched history page gave.
enum Got {
    /// The page was not the history (or its JSON was not the list's): read in the browser.
    NotTheList(String),
    /// Its rows, its total if it shows one, the JSON call its rows come from, and the next page.
    Page {
        rows: Vec<Transaction>,
        total: Option<i64>,
        call: Option<String>,
        next: Option<String>,
    },
}

impl ScreenBank {
    /// The history at the pager's first page and every page after it, over HTTP; `Ok(None)` when
    /// it is to be read in the browser instead (HTTP reads off, a history the map does not mark
    /// `server_rendered`, or a page or JSON that is not the list's — then counted).
    pub(super) async fn history_over_http(
        &self,
        browser: &Browser,
        pager: &mut Pager,
    ) -> FlowResult<Option<Vec<Transaction>>> {
        let map = &self.inner.map;
        if !self.inner.config.http_reads || !map.screen("history").server_rendered {
            return Ok(None);
        }
        let call = self.history_json().and_then(|j| j.call.clone());
        let mut url = pager.first();
        let mut out = Vec::new();
        let mut total = None;
        loop {
            self.pace().await;
            let Some(source) = self.fetch(browser, &url, Want::Page).await else {
                return Ok(self.http_fell_back(browser, "the history page did not come back"));
            };
            let (rows, shown, call_at, next) = match self.history_on_page(&source, &url, pager)? {
                Got::NotTheList(why) => return Ok(self.http_fell_back(browser, &why)),
                Got::Page {
                    rows,
                    total,
                    call,
                    next,
                } => (rows, total, call, next),
            };
            self.http_served();
            total = total.or(shown);
            out.extend(rows);
            if let (Some(call), Some(at)) = (&call, call_at) {
                match self.json_batches(browser, call, &at).await? {
                    Ok((rows, all)) => {
                        total = total.or(all);
                        out.extend(rows);
                    }
                    Err(why) => return Ok(self.http_fell_back(browser, &why)),
                }
            }
            match next {
                Some(next) => url = next,
                None => break,
            }
        }
        check_total(total, out.len())?;
        Ok(Some(out))
    }

    /// Where the history's rows are as JSON, when the map says.
    fn history_json(&self) -> Option<&JsonRows> {
        self.inner
            .map
            .screen("history")
            .tables
            .get("history")
            .and_then(|t| t.json.as_ref())
    }

    /// One fetched history page, parsed once: checked, a refused filter said as the browser says
    /// it, its rows (off the page or from its island), its total, where its JSON call is, the next
    /// page.
    fn history_on_page(&self, source: &str, url: &str, pager: &mut Pager) -> FlowResult<Got> {
        let map = &self.inner.map;
        let page = Page::new(source, map);
        if self.expect_on(&page, &["history"]).is_err() {
            return Ok(Got::NotTheList("the page is not the history".to_owned()));
        }
        if let Some(Value::Text(error)) = page.value("history", "error")? {
            return Err(Fail::Bank(BankError::Rejected {
                code: "FILTER_REFUSED".to_owned(),
                message: error,
            }));
        }
        let json = self.history_json();
        let mut total = shown_total(&page)?;
        let (rows, call) = match json {
            None => (history_on(map, &page)?, None),
            Some(json) => match (&json.island, &json.call) {
                (Some(island), _) => {
                    let Some(text) = page.text(island) else {
                        return Ok(Got::NotTheList(format!("no JSON at {island:?}")));
                    };
                    let doc = match serde_json::from_str::<serde_json::Value>(&text) {
                        Ok(doc) => doc,
                        Err(e) => return Ok(Got::NotTheList(format!("{island:?}: {e}"))),
                    };
                    total = total.or(super::extract::json_total(map, "history", "history", &doc));
                    match super::extract::json_records(map, "history", "history", &doc) {
                        Ok(records) => (history_rows(map, records)?, None),
                        Err(e) => return Ok(Got::NotTheList(e.to_string())),
                    }
                }
                (None, Some(call)) => {
                    let Some(href) = page.attribute(&call.css, &call.attribute) else {
                        return Ok(Got::NotTheList(format!(
                            "no {:?} at {:?}",
                            call.attribute, call.css
                        )));
                    };
                    let Some(at) = reqwest::Url::parse(url).and_then(|u| u.join(&href)).ok() else {
                        return Ok(Got::NotTheList(format!("{href:?} is not an address")));
                    };
                    (Vec::new(), Some(at.to_string()))
                }
                (None, None) => (history_on(map, &page)?, None),
            },
        };
        let next = self.next_history_page(&page, pager)?;
        Ok(Got::Page {
            rows,
            total,
            call,
            next,
        })
    }

    /// Every batch of a JSON call from its first, and the list's total if the first batch says it;
    /// `Err(why)` when an answer is not the list's JSON (the call is then read in the browser).
    async fn json_batches(
        &self,
        browser: &Browser,
        call: &JsonCall,
        at: &str,
    ) -> FlowResult<Result<(Vec<Transaction>, Option<i64>), String>> {
        let map = &self.inner.map;
        let mut from = call.first.clone();
        let mut seen = HashSet::new();
        let (mut out, mut total) = (Vec::new(), None);
        for _ in 0..MAX_BATCHES {
            let url = match (&call.query, &from) {
                (Some(query), Some(from)) => {
                    let sep = if at.contains('?') { '&' } else { '?' };
                    format!("{at}{sep}{}", query.replace("{from}", from))
                }
                _ => at.to_owned(),
            };
            self.pace().await;
            let Some(body) = self.fetch(browser, &url, Want::Json).await else {
                return Ok(Err("the list's JSON call did not answer".to_owned()));
            };
            let doc = match serde_json::from_str::<serde_json::Value>(&body) {
                Ok(doc) => doc,
                Err(e) => return Ok(Err(format!("the list's JSON call: {e}"))),
            };
            let records = match super::extract::json_records(map, "history", "history", &doc) {
                Ok(records) => records,
                Err(e) => return Ok(Err(e.to_string())),
            };
            self.http_served();
            if total.is_none() {
                total = super::extract::json_total(map, "history", "history", &doc);
            }
            out.extend(history_rows(map, records)?);
            let next = call
                .next
                .as_deref()
                .and_then(|pointer| doc.pointer(pointer))
                .and_then(|next| match next {
                    serde_json::Value::Null => None,
                    serde_json::Value::String(s) => Some(s.clone()),
                    other => Some(other.to_string()),
                });
            match next {
                Some(next) if seen.insert(next.clone()) => from = Some(next),
                Some(next) => {
                    return Ok(Err(format!("the list's JSON call goes back to {next:?}")));
                }
                None => return Ok(Ok((out, total))),
            }
        }
        Ok(Err(format!(
            "the list's JSON call goes on past {MAX_BATCHES} batches"
        )))
    }
}
