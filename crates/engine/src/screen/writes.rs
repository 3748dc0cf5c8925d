//! Two-phase writes: payments, standing orders and payment files are filled in, the confirmation
//! screen is read back and compared with the request field by field (a difference cancels the order on
//! the page), and only then confirmed; then cancelling an order and signing one with the card reader,
//! or following the page that waits for its approval in the bank's app.

use std::path::Path;

use secrecy::ExposeSecret;

use super::ScreenBank;
use super::driver::{Browser, FillValue};
use super::extract::{Page, Value};
use super::fail::{Fail, FlowResult, unavailable};
use super::login::APP_POLL_EVERY;
use super::navigation::want_text;
use super::rows::model_word;
use crate::bank::{BankError, Channel};
use crate::mask::mask;
use crate::model::{
    AuthorisationId, PaymentFile, PaymentId, PaymentInitiation, PaymentKind, PaymentProduct,
    PaymentRef, PaymentRequest, PaymentStatus, ScaAnswer, ScaProgress, ScaStatus, ScaStep,
    StandingOrderRequest,
};

impl ScreenBank {
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
    /// A choice of signing method in between (`sign_method`) is taken with its `choose` action; the
    /// order is recorded by then, so when that page names it, a failure past it still returns it (its
    /// signing page opens by address).
    async fn confirm_to_signing(&self, browser: &Browser, screen: &str) -> FlowResult<PaymentId> {
        let mut source = self
            .submit(browser, &self.action(screen, "confirm"))
            .await?;
        let mut known = None;
        if let Ok("sign_method") = self.expect(&source, &["sign", "sign_method"]) {
            known = Page::new(&source, &self.inner.map)
                .value("sign_method", "reference")
                .ok()
                .flatten()
                .map(want_text)
                .filter(|r| !r.is_empty())
                .map(PaymentId::new);
            match self
                .submit(browser, &self.action("sign_method", "choose"))
                .await
            {
                Ok(next) => source = next,
                Err(e) => return known.ok_or(e),
            }
        }
        match (self.expect(&source, &["sign", "sign_app"]), known) {
            (Ok(found), known) => {
                let page = Page::new(&source, &self.inner.map);
                match (page.required(found, "reference"), known) {
                    (Ok(reference), _) => Ok(PaymentId::new(want_text(reference))),
                    (Err(_), Some(known)) => Ok(known),
                    (Err(e), None) => Err(e.into()),
                }
            }
            (Err(_), Some(known)) => Ok(known),
            (Err(Fail::Bank(e @ BankError::Rejected { .. })), None) => Err(Fail::Bank(e)),
            (Err(_), None) => Err(Fail::Bank(BankError::OutcomeUnknown {
                channel: Channel::Screen,
                reason: format!("no signing page after confirming on {screen}"),
            })),
        }
    }

    /// A single payment: filled in, read back and compared, confirmed up to its signing page.
    pub(super) async fn pay(
        &self,
        browser: &Browser,
        request: &PaymentRequest,
    ) -> FlowResult<PaymentInitiation> {
        let debtor = self
            .debtor_option(browser, "payment_new", &request.debtor)
            .await?;
        self.open(browser, "payment_new", None).await?;
        let instant = request.product == PaymentProduct::InstantSepaCreditTransfer;
        let map = &self.inner.map;
        let offers_instant = map.screen("payment_new").fields.contains_key("instant");
        if instant && !offers_instant {
            return Err(Fail::Bank(BankError::NotSupported {
                channel: Channel::Screen,
                operation: "initiate_payment (instant: the website's form has no instant field)"
                    .to_owned(),
            }));
        }
        let mut fields = vec![
            ("debtor", FillValue::Text(debtor)),
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
                FillValue::Text(map.amounts.input(request.amount.value())),
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
                        .map(|d| map.dates.input(d))
                        .unwrap_or_default(),
                ),
            ),
            (
                "reference",
                FillValue::Text(request.end_to_end_id.as_str().to_owned()),
            ),
        ];
        if offers_instant {
            fields.push(("instant", FillValue::Checked(instant)));
        }
        self.fill(browser, "payment_new", &fields).await?;
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
            if let Some(shown) = page.value(s, "instant")? {
                let shown = model_word(&self.inner.map, s, "instant", "yes_no", &show(&shown))?;
                checks.push((
                    "paymentProduct",
                    if instant { "yes" } else { "no" }.to_owned(),
                    shown,
                ));
            }
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
            // The website's login takes a password: no approach to announce.
            approach: None,
        })
    }

    /// A standing order: filled in, read back and compared, confirmed up to its signing page.
    pub(super) async fn order(
        &self,
        browser: &Browser,
        request: &StandingOrderRequest,
    ) -> FlowResult<PaymentInitiation> {
        let p = &request.payment;
        let map = &self.inner.map;
        let code = request.frequency.code();
        let frequency = map.site_word("frequency", code).ok_or_else(|| {
            Fail::Bank(BankError::NotSupported {
                channel: Channel::Screen,
                operation:
                    "create_standing_order (the frequency is not in the map's words.frequency)"
                        .to_owned(),
            })
        })?;
        let debtor = self.debtor_option(browser, "order_new", &p.debtor).await?;
        self.open(browser, "order_new", None).await?;
        self.fill(
            browser,
            "order_new",
            &[
                ("debtor", FillValue::Text(debtor)),
                ("creditor_name", FillValue::Text(p.creditor_name.clone())),
                (
                    "creditor_iban",
                    FillValue::Text(p.creditor.as_str().to_owned()),
                ),
                (
                    "amount",
                    FillValue::Text(map.amounts.input(p.amount.value())),
                ),
                (
                    "communication",
                    FillValue::Text(p.remittance.clone().unwrap_or_default()),
                ),
                (
                    "start_date",
                    FillValue::Text(map.dates.input(request.start_date)),
                ),
                (
                    "end_date",
                    FillValue::Text(
                        request
                            .end_date
                            .map(|d| map.dates.input(d))
                            .unwrap_or_default(),
                    ),
                ),
                ("frequency", FillValue::Text(frequency.to_owned())),
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
            let shown = show(&page.required(s, "frequency")?);
            checks.push((
                "frequency",
                code.to_owned(),
                model_word(&self.inner.map, s, "frequency", "frequency", &shown)?,
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
            // The website's login takes a password: no approach to announce.
            approach: None,
        })
    }

    /// A payment file: staged next to the browsers, uploaded, its review compared, confirmed up to its
    /// signing page.
    pub(super) async fn upload(
        &self,
        browser: &Browser,
        file: &PaymentFile,
    ) -> FlowResult<PaymentInitiation> {
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
            // The website's login takes a password: no approach to announce.
            approach: None,
        })
    }

    /// Cancels an order on its detail page; a click without an answer leaves the outcome unknown.
    pub(super) async fn cancel(
        &self,
        browser: &Browser,
        payment: &PaymentRef,
    ) -> FlowResult<PaymentStatus> {
        let source = self
            .open(browser, "payment", Some(payment.id.as_str()))
            .await?;
        let cancel = self
            .inner
            .map
            .screen("payment")
            .actions
            .get("cancel")
            .cloned()
            .ok_or(Fail::Bank(BankError::NotSupported {
                channel: Channel::Screen,
                operation: "cancel_payment (the map's payment screen has no cancel action)"
                    .to_owned(),
            }))?;
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
        self.status_on(&Page::new(&source, &self.inner.map), "payment")
    }

    /// What signing an order waiting for its signature asks: the card reader's challenge (`sign`), or
    /// an approval in the bank's app that the page waits for (`sign_app`), relayed as decoupled.
    pub(super) async fn sign_step(
        &self,
        browser: &Browser,
        payment: &PaymentRef,
    ) -> FlowResult<ScaStep> {
        self.pace().await;
        browser
            .goto(&self.url("sign", Some(payment.id.as_str())))
            .await?;
        let source = browser.source().await?;
        let found = self
            .expect(&source, &["sign", "sign_app"])
            .map_err(|e| match e {
                Fail::Unexpected { .. } => Fail::Bank(BankError::Rejected {
                    code: "STATUS_INVALID".to_owned(),
                    message: "this order does not wait for a signature".to_owned(),
                }),
                other => other,
            })?;
        if found == "sign" {
            return Ok(ScaStep::Challenge(self.challenge(
                &source,
                "sign",
                payment.id.as_str(),
            )?));
        }
        let page = Page::new(&source, &self.inner.map);
        Ok(ScaStep::Decoupled {
            authorisation_id: AuthorisationId::new(format!("screen-{}", payment.id)),
            message: want_text(page.required("sign_app", "message")?),
            poll_every: APP_POLL_EVERY,
            expires_in: None,
        })
    }

    /// Where an approval in the bank's app stands, read from the page that waits for it: still
    /// waiting (`started`), refused or expired (`failed`, the page's words), or moved on to the result
    /// (`finalised` unless the order was refused). The page moves on by itself; reading it is one
    /// round trip. A browser that left the page opens the order's signing page again.
    pub(super) async fn sign_progress(
        &self,
        browser: &Browser,
        payment: &PaymentRef,
    ) -> FlowResult<ScaProgress> {
        let mut source = browser.source().await?;
        let here = |source: &str| {
            let page = Page::new(source, &self.inner.map);
            let screen = page.which(&["sign_app", "result"])?;
            let reference = page
                .value(screen, "reference")
                .ok()
                .flatten()
                .map(want_text);
            (reference.as_deref() == Some(payment.id.as_str())).then_some(screen)
        };
        if here(&source).is_none() {
            self.pace().await;
            browser
                .goto(&self.url("sign", Some(payment.id.as_str())))
                .await?;
            source = browser.source().await?;
        }
        let screen = self.expect(&source, &["sign_app", "result"])?;
        let page = Page::new(&source, &self.inner.map);
        if screen == "result" {
            let status = self.status_on(&page, "result")?;
            let ended = matches!(status, PaymentStatus::Rejected | PaymentStatus::Received);
            return Ok(ScaProgress {
                status: if ended {
                    ScaStatus::Failed
                } else {
                    ScaStatus::Finalised
                },
                message: None,
            });
        }
        let outcome = (page.value("sign_app", "outcome").ok().flatten())
            .map(want_text)
            .filter(|o| !o.trim().is_empty());
        Ok(match outcome {
            Some(message) => ScaProgress {
                status: ScaStatus::Failed,
                message: Some(message),
            },
            None => ScaProgress {
                status: ScaStatus::Started,
                message: None,
            },
        })
    }

    /// Signs an order with the card reader's answer.
    pub(super) async fn sign(
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
                let status = self.status_on(&Page::new(&source, &self.inner.map), "result")?;
                Ok(if status == PaymentStatus::Received {
                    ScaStatus::Failed
                } else {
                    ScaStatus::Finalised
                })
            }
        }
    }
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
        Value::Flag(b) => b.to_string(),
    }
}
