//! `impl Bank for ScreenBank`: each operation as a flow run for the customer — reads and writes
//! through [`ScreenBank::run`] — and consents, enforced here as the bank's API enforces them.
//!
//! A consent is known to this channel when it was made here, or when the caller passes what it
//! recorded of it in [`PsuContext::grant`] (`Failover` does, from its journal). Every read under a
//! consent checks, before any browser is used, that the consent is known and made for this customer
//! (else `CONSENT_UNKNOWN`), valid (else `CONSENT_INVALID`) and not past `validUntil` (else
//! `CONSENT_EXPIRED`); then that the account read is in its access (else `CONSENT_INVALID`, an
//! account not the customer's `RESOURCE_UNKNOWN`) — the sandbox API's codes. A consent made here is
//! `received` until its own login challenge is answered in its own session.

use async_trait::async_trait;
use time::Date;

use super::ScreenBank;
use super::driver::Browser;
use super::extract::Page;
use super::fail::{Fail, FlowResult, unavailable};
use super::flow::Effect;
use super::login::{AFTER_PASSWORD, APP_POLL_EVERY, LoginStep};
use super::sessions::Flow;
use crate::bank::{Bank, BankError, BankResult, Channel, PsuContext};
use crate::model::{
    AccessUse, Account, AccountId, AccountScope, Amount, AuthorisationId, Balance, BalanceType,
    Cancellation, Consent, ConsentAccess, ConsentId, ConsentRequest, ConsentStatus,
    FundsConfirmation, Iban, InvalidValue, PaymentFile, PaymentInitiation, PaymentKind, PaymentRef,
    PaymentRequest, PaymentStatus, PsuId, ScaAnswer, ScaProgress, ScaStatus, ScaStep, ScaTarget,
    StandingOrderRequest, Transaction, TransactionFilter,
};

/// A consent this channel knows: made here, or authorised here from a caller's grant. Its `Debug`
/// shows the status only.
#[derive(Clone)]
pub(super) struct ConsentState {
    /// The customer who asked for it: no one else may see or use it.
    psu: PsuId,
    /// What it gives access to and until when; its status is received until its own login
    /// challenge is answered, then valid (or rejected).
    consent: Consent,
}

impl std::fmt::Debug for ConsentState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsentState")
            .field("psu", &self.psu)
            .field("status", &self.consent.status)
            .finish_non_exhaustive()
    }
}

fn refused(code: &str, message: impl Into<String>) -> BankError {
    BankError::Rejected {
        code: code.to_owned(),
        message: message.into(),
    }
}

impl ScreenBank {
    /// *Not supported* when the website lacks a screen the operation walks (its map declares it
    /// absent), naming the screen.
    fn offered(&self, operation: &str) -> BankResult<()> {
        match self.inner.map.unsupported(operation) {
            None => Ok(()),
            Some(screen) => Err(BankError::NotSupported {
                channel: Channel::Screen,
                operation: format!(
                    "{operation}: the website has no {screen} screen (absent in {})",
                    self.inner.map.file
                ),
            }),
        }
    }

    /// The consent a call is made under, as this channel knows it; `None` for a call made without a
    /// consent. A consent unknown here, or made for another customer, is `CONSENT_UNKNOWN`.
    fn consent_of(&self, psu: &PsuContext) -> BankResult<Option<Consent>> {
        let Some(id) = &psu.consent_id else {
            return Ok(None);
        };
        // The caller's record first: it follows what the bank's API said of the consent since.
        let granted = psu.grant.clone().filter(|grant| &grant.id == id);
        granted
            .or_else(|| {
                self.inner
                    .consents
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(id)
                    .filter(|state| state.psu == psu.psu_id)
                    .map(|state| state.consent.clone())
            })
            .map(Some)
            .ok_or_else(|| refused("CONSENT_UNKNOWN", "no such consent for this customer"))
    }

    /// The context of a consent's own SCA: the consent's own session, and only while the consent
    /// waits for it (`received`); otherwise `STATUS_INVALID`, as the API answers.
    fn awaiting_sca(
        &self,
        psu: &PsuContext,
        consent: &ConsentId,
    ) -> BankResult<(PsuContext, Consent)> {
        let psu = psu.clone().with_consent(consent.clone());
        let known = self
            .consent_of(&psu)?
            .ok_or_else(|| refused("CONSENT_UNKNOWN", "no such consent for this customer"))?;
        if known.status != ConsentStatus::Received {
            return Err(refused(
                "STATUS_INVALID",
                format!("the consent's status is {}", known.status.code()),
            ));
        }
        Ok((psu, known))
    }

    /// The consent a read is made under, checked as the API checks it: valid and not expired.
    pub(super) fn usable_consent(&self, psu: &PsuContext) -> BankResult<Option<Consent>> {
        let Some(consent) = self.consent_of(psu)? else {
            return Ok(None);
        };
        let today = time::OffsetDateTime::now_utc().date();
        match consent.status {
            ConsentStatus::Expired => Err(refused("CONSENT_EXPIRED", "the consent has expired")),
            ConsentStatus::Valid if consent.request.valid_until < today => Err(refused(
                "CONSENT_EXPIRED",
                "the consent is past its validUntil",
            )),
            ConsentStatus::Valid => Ok(Some(consent)),
            other => Err(refused(
                "CONSENT_INVALID",
                format!("the consent's status is {}", other.code()),
            )),
        }
    }

    /// Checks that a consent gives `what` access to an account, found among the customer's accounts
    /// (read in the same flow) by its id.
    fn check_scope(
        consent: Option<&Consent>,
        accounts: &[Account],
        account: &AccountId,
        what: AccessUse,
    ) -> Result<(), Fail> {
        let Some(consent) = consent else {
            return Ok(());
        };
        let Some(found) = accounts.iter().find(|a| &a.id == account) else {
            return Err(Fail::Bank(BankError::Rejected {
                code: "RESOURCE_UNKNOWN".to_owned(),
                message: format!("no account {account} for this customer"),
            }));
        };
        if consent.request.access.allows(&found.iban, what) {
            Ok(())
        } else {
            Err(Fail::Bank(refused(
                "CONSENT_INVALID",
                format!(
                    "the consent gives no {} access to {}",
                    what.code(),
                    found.iban.masked()
                ),
            )))
        }
    }

    /// Sets a consent's status after its login challenge, keeping what it gives access to.
    fn settle_consent(&self, psu: &PsuContext, mut consent: Consent, status: ConsentStatus) {
        consent.status = status;
        self.inner
            .consents
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                consent.id.clone(),
                ConsentState {
                    psu: psu.psu_id.clone(),
                    consent,
                },
            );
    }
}

/// The step a consent's login asks for, under the consent's own authorisation id.
fn consent_step(consent: &ConsentId, step: LoginStep) -> BankResult<ScaStep> {
    let authorisation_id = AuthorisationId::new(format!("screen-{consent}"));
    match step {
        LoginStep::Challenge(mut challenge) => {
            challenge.authorisation_id = authorisation_id;
            Ok(ScaStep::Challenge(challenge))
        }
        LoginStep::App(message) => Ok(ScaStep::Decoupled {
            authorisation_id,
            message,
            poll_every: APP_POLL_EVERY,
            expires_in: None,
        }),
        LoginStep::Choice(methods) => Ok(ScaStep::ChooseMethod {
            authorisation_id,
            methods,
        }),
        LoginStep::Redirect(url) => Ok(ScaStep::Redirect {
            authorisation_id,
            url,
        }),
        LoginStep::LoggedIn => Err(refused(
            "STATUS_INVALID",
            "the consent is already authorised",
        )),
        LoginStep::LetIn => Ok(ScaStep::Done {
            authorisation_id: Some(authorisation_id),
            status: ScaStatus::Finalised,
        }),
    }
}

impl ScreenBank {
    /// What a bank-offered consent made here reaches once the customer is logged in: the website
    /// offers no choice of accounts, so it is what the customer sees, read now in the same session.
    async fn consent_choice(&self, browser: &Browser, known: &Consent) -> FlowResult<Vec<Iban>> {
        let offered = known.request.access.scope == AccountScope::BankOffered
            && known.request.access.lists_none();
        Ok(match offered {
            true => self
                .account_rows(browser)
                .await?
                .into_iter()
                .map(|a| a.iban)
                .collect(),
            false => Vec::new(),
        })
    }

    /// The step a consent's login reached, for the caller: a website that let the customer in at
    /// once makes the consent valid now (`Done`, finalised).
    async fn consent_next(
        &self,
        flow: &mut Flow,
        psu: &PsuContext,
        consent: &ConsentId,
        reached: FlowResult<LoginStep>,
    ) -> BankResult<ScaStep> {
        let reached = match reached {
            Ok(LoginStep::LetIn) => {
                let known = self.awaiting_sca(psu, consent)?.1;
                let browser = match self.browser(flow).await {
                    Ok(browser) => browser,
                    Err(fail) => return Err(self.classify(flow, psu, fail, Effect::Safe).await),
                };
                match self.consent_choice(browser, &known).await {
                    Ok(chosen) => {
                        self.consent_signed(flow, psu, &known, chosen);
                        Ok(LoginStep::LetIn)
                    }
                    Err(fail) => Err(fail),
                }
            }
            other => other,
        };
        match reached {
            Ok(step) => consent_step(consent, step),
            Err(fail) => Err(self.classify(flow, psu, fail, Effect::Safe).await),
        }
    }

    /// The consent's login succeeded: its session is logged in, the consent valid.
    fn consent_signed(
        &self,
        flow: &mut Flow,
        psu: &PsuContext,
        known: &Consent,
        chosen: Vec<Iban>,
    ) {
        flow.session.logged_in = true;
        flow.session.awaiting_app = false;
        let mut known = known.clone();
        known.request.access = known.request.access.with_choice(chosen);
        self.settle_consent(psu, known, ConsentStatus::Valid);
    }

    /// The consent's login failed: a rejected consent never reads, so its browser is closed now.
    async fn consent_refused(&self, flow: &mut Flow, psu: &PsuContext, known: &Consent) {
        if let Some(browser) = flow.session.browser.take() {
            browser.close().await;
        }
        flow.session.logged_in = false;
        flow.session.awaiting_app = false;
        self.settle_consent(psu, known.clone(), ConsentStatus::Rejected);
    }

    /// Where a consent's authorisation stands: ended when the consent is valid or rejected; else read
    /// off its session's page — the login waiting in the bank's app (`started`, or `failed` with the
    /// bank's words once it shows the refusal or the expiry), moved on to the accounts (`finalised`:
    /// the consent becomes valid), the challenge, or the choice of method.
    async fn consent_progress(
        &self,
        psu: &PsuContext,
        consent: &ConsentId,
    ) -> BankResult<ScaProgress> {
        let psu = &psu.clone().with_consent(consent.clone());
        let known = self
            .consent_of(psu)?
            .ok_or_else(|| refused("CONSENT_UNKNOWN", "no such consent for this customer"))?;
        let ended = |status| {
            Ok(ScaProgress {
                status,
                message: None,
            })
        };
        match known.status {
            ConsentStatus::Valid => return ended(ScaStatus::Finalised),
            ConsentStatus::Rejected => return ended(ScaStatus::Failed),
            ConsentStatus::Received => {}
            other => {
                return Err(refused(
                    "STATUS_INVALID",
                    format!("the consent's status is {}", other.code()),
                ));
            }
        }
        let mut flow = self.flow(psu).await?;
        let mut screens = vec!["accounts"];
        screens.extend(AFTER_PASSWORD);
        let result = async {
            let browser = self.browser(&mut flow).await?;
            let source = browser.source().await?;
            let found = match self.expect(&source, &screens) {
                Ok(found) => found,
                // The website ended the login (its session ran out): it was not confirmed.
                Err(Fail::LoggedOut) => {
                    return Ok(Err(
                        "the website ended the login before it was confirmed".to_owned()
                    ));
                }
                Err(fail) => return Err(fail),
            };
            Ok(match found {
                "accounts" => Ok(Some(self.consent_choice(browser, &known).await?)),
                "login_app" | "login_redirect" => match self.app_outcome(&source) {
                    Some(message) => Err(message),
                    None => Ok(None),
                },
                _ => Ok(None),
            })
            .map(|r| r.map(|chosen| (found, chosen)))
        }
        .await;
        match result {
            Ok(Ok((_, Some(chosen)))) => {
                self.consent_signed(&mut flow, psu, &known, chosen);
                ended(ScaStatus::Finalised)
            }
            Ok(Ok((found, None))) => ended(match found {
                "sca" => ScaStatus::ScaMethodSelected,
                "login_method" => ScaStatus::PsuAuthenticated,
                _ => ScaStatus::Started,
            }),
            Ok(Err(message)) => {
                self.consent_refused(&mut flow, psu, &known).await;
                Ok(ScaProgress {
                    status: ScaStatus::Failed,
                    message: Some(message),
                })
            }
            Err(fail) => Err(self.classify(&mut flow, psu, fail, Effect::Safe).await),
        }
    }
}

/// A cancellation on the website is done there at once (its own confirmation is the customer's
/// signature): the bank never asks the engine to authorise it.
fn on_the_website(status: PaymentStatus) -> Cancellation {
    Cancellation {
        status,
        authorisation_needed: false,
    }
}

/// The website has no cancellation to authorise: a cancellation there is done at once.
fn no_cancellation_sca(operation: &str) -> BankError {
    BankError::NotSupported {
        channel: Channel::Screen,
        operation: format!("{operation} of a cancellation (the website cancels at once)"),
    }
}

#[async_trait]
impl Bank for ScreenBank {
    async fn accounts(&self, psu: &PsuContext) -> BankResult<Vec<Account>> {
        let consent = self.usable_consent(psu)?;
        let mut accounts = self
            .run(psu, Effect::Safe, |bank, b| Box::pin(bank.account_rows(b)))
            .await?;
        if let Some(consent) = &consent {
            accounts.retain(|a| consent.request.access.allows(&a.iban, AccessUse::Accounts));
        }
        Ok(accounts)
    }

    async fn balances(
        &self,
        psu: &PsuContext,
        account: &AccountId,
        at: Option<Date>,
    ) -> BankResult<Vec<Balance>> {
        self.offered(if at.is_some() {
            "balances on a date"
        } else {
            "balances"
        })?;
        let consent = self.usable_consent(psu)?;
        self.run(psu, Effect::Safe, move |bank, b| {
            let (account, consent) = (account.clone(), consent.clone());
            Box::pin(async move {
                if consent.is_some() {
                    let accounts = bank.account_rows(b).await?;
                    Self::check_scope(consent.as_ref(), &accounts, &account, AccessUse::Balances)?;
                }
                bank.read_balances(b, &account, at).await
            })
        })
        .await
    }

    async fn transactions(
        &self,
        psu: &PsuContext,
        account: &AccountId,
        filter: &TransactionFilter,
    ) -> BankResult<Vec<Transaction>> {
        self.offered("transactions")?;
        let consent = self.usable_consent(psu)?;
        let mut all = self
            .run(psu, Effect::Safe, move |bank, b| {
                let (account, filter, consent) = (account.clone(), filter.clone(), consent.clone());
                Box::pin(async move {
                    if consent.is_some() {
                        let accounts = bank.account_rows(b).await?;
                        Self::check_scope(
                            consent.as_ref(),
                            &accounts,
                            &account,
                            AccessUse::Transactions,
                        )?;
                    }
                    bank.read_transactions(b, &account, &filter).await
                })
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
        self.offered("initiate_payment")?;
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
        self.offered("payment_status")?;
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
        self.offered("find_payment")?;
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
    ) -> BankResult<Cancellation> {
        self.offered("cancel_payment")?;
        self.run(psu, Effect::MovesMoney, move |bank, b| {
            let payment = payment.clone();
            Box::pin(async move { bank.cancel(b, &payment).await })
        })
        .await
        .map(on_the_website)
    }

    async fn upload_payment_file(
        &self,
        psu: &PsuContext,
        file: &PaymentFile,
    ) -> BankResult<PaymentInitiation> {
        self.offered("upload_payment_file")?;
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
        self.offered("create_standing_order")?;
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
    ) -> BankResult<Cancellation> {
        self.offered("cancel_payment")?;
        if !matches!(order.kind, PaymentKind::Periodic(_)) {
            return Err(InvalidValue::new("order", "is not a standing order").into());
        }
        self.run(psu, Effect::MovesMoney, move |bank, b| {
            let order = order.clone();
            Box::pin(async move { bank.cancel(b, &order).await })
        })
        .await
        .map(on_the_website)
    }

    async fn confirm_funds(
        &self,
        psu: &PsuContext,
        account: &Iban,
        amount: &Amount,
    ) -> BankResult<FundsConfirmation> {
        if !self
            .inner
            .map
            .get("balances")
            .is_some_and(|s| s.values.contains_key("available"))
        {
            return Err(BankError::NotSupported {
                channel: Channel::Screen,
                operation: format!(
                    "confirm_funds: the website shows no available balance (no balances.values.available in {})",
                    self.inner.map.file
                ),
            });
        }
        let accounts = self.accounts(psu).await?;
        let Some(found) = accounts.iter().find(|a| &a.iban == account) else {
            // Under a consent, as the API answers for an account the consent does not cover.
            return Err(match psu.consent_id {
                Some(_) => refused(
                    "CONSENT_INVALID",
                    format!("the consent does not cover account {}", account.masked()),
                ),
                None => BankError::Rejected {
                    code: "RESOURCE_UNKNOWN".to_owned(),
                    message: format!("account {} is not one of the customer's", account.masked()),
                },
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
        request: &ConsentRequest,
    ) -> BankResult<ConsentId> {
        // Nothing is asked of the website yet: the consent's own session logs in when it is
        // authorised, so no session already logged in can make it valid.
        let id = ConsentId::new(format!("screen-{}", uuid::Uuid::new_v4().simple()));
        self.settle_consent(
            psu,
            Consent {
                id: id.clone(),
                request: request.clone(),
                status: ConsentStatus::Received,
            },
            ConsentStatus::Received,
        );
        Ok(id)
    }

    async fn consent_status(
        &self,
        psu: &PsuContext,
        consent: &ConsentId,
    ) -> BankResult<ConsentStatus> {
        let psu = psu.clone().with_consent(consent.clone());
        Ok(self
            .consent_of(&psu)?
            .expect("a consent id was given")
            .status)
    }

    async fn consent_access(
        &self,
        psu: &PsuContext,
        consent: &ConsentId,
    ) -> BankResult<ConsentAccess> {
        // What this channel settled (a bank-offered consent authorised here lists what the
        // customer saw) before the caller's record, which may predate the SCA.
        let own = self
            .inner
            .consents
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(consent)
            .filter(|state| state.psu == psu.psu_id)
            .map(|state| state.consent.request.access.clone());
        match own {
            Some(access) => Ok(access),
            None => {
                let psu = psu.clone().with_consent(consent.clone());
                Ok(self
                    .consent_of(&psu)?
                    .map(|c| c.request.access)
                    .unwrap_or_default())
            }
        }
    }

    async fn start_authorisation(
        &self,
        psu: &PsuContext,
        target: &ScaTarget,
    ) -> BankResult<ScaStep> {
        match target {
            ScaTarget::Consent(consent) => {
                // The consent's own session: never one logged in for another consent.
                let (psu, _) = &self.awaiting_sca(psu, consent)?;
                let mut flow = self.flow(psu).await?;
                let result = async {
                    let browser = self.browser(&mut flow).await?;
                    let source = browser.source().await?;
                    let here = Page::new(&source, &self.inner.map).which(&AFTER_PASSWORD);
                    match here {
                        Some(screen) => self.login_step(&source, screen),
                        None => self.login_to_challenge(browser, psu).await,
                    }
                }
                .await;
                self.consent_next(&mut flow, psu, consent, result).await
            }
            ScaTarget::Payment(payment) => {
                self.offered("sign")?;
                self.run(psu, Effect::Safe, move |bank, b| {
                    let payment = payment.clone();
                    Box::pin(async move { bank.sign_step(b, &payment).await })
                })
                .await
            }
            ScaTarget::Cancellation(_) => Err(no_cancellation_sca("start_authorisation")),
        }
    }

    async fn select_sca_method(
        &self,
        psu: &PsuContext,
        target: &ScaTarget,
        _authorisation: &AuthorisationId,
        method: &str,
    ) -> BankResult<ScaStep> {
        match target {
            ScaTarget::Consent(consent) => {
                let (psu, _) = &self.awaiting_sca(psu, consent)?;
                let mut flow = self.flow(psu).await?;
                let result = async {
                    let browser = self.browser(&mut flow).await?;
                    self.choose_login_method(browser, method).await
                }
                .await;
                match result {
                    Err(Fail::Unexpected { .. }) => Err(refused(
                        "STATUS_INVALID",
                        "the website offers no choice of method for this consent now",
                    )),
                    result => self.consent_next(&mut flow, psu, consent, result).await,
                }
            }
            // The website's choice of signing method before an order's challenge is taken with the
            // map's `sign_method` action when the order is confirmed.
            ScaTarget::Payment(_) => Err(BankError::NotSupported {
                channel: Channel::Screen,
                operation: "select_sca_method of an order (the website's signing page chooses it)"
                    .to_owned(),
            }),
            ScaTarget::Cancellation(_) => Err(no_cancellation_sca("select_sca_method")),
        }
    }

    async fn authorisation_status(
        &self,
        psu: &PsuContext,
        target: &ScaTarget,
        _authorisation: &AuthorisationId,
    ) -> BankResult<ScaProgress> {
        match target {
            ScaTarget::Consent(consent) => self.consent_progress(psu, consent).await,
            ScaTarget::Payment(payment) => {
                self.offered("sign")?;
                self.run(psu, Effect::Safe, move |bank, b| {
                    let payment = payment.clone();
                    Box::pin(async move { bank.sign_progress(b, &payment).await })
                })
                .await
            }
            ScaTarget::Cancellation(_) => Err(no_cancellation_sca("authorisation_status")),
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
                let (psu, known) = &self.awaiting_sca(psu, consent)?;
                let mut flow = self.flow(psu).await?;
                let result = async {
                    let browser = self.browser(&mut flow).await?;
                    if !self.answer_login(browser, answer).await? {
                        return Ok(None);
                    }
                    self.consent_choice(browser, known).await.map(Some)
                }
                .await;
                match result {
                    Ok(Some(chosen)) => {
                        self.consent_signed(&mut flow, psu, known, chosen);
                        Ok(ScaStatus::Finalised)
                    }
                    Ok(None) => {
                        self.consent_refused(&mut flow, psu, known).await;
                        Ok(ScaStatus::Failed)
                    }
                    Err(fail) => Err(self.classify(&mut flow, psu, fail, Effect::Safe).await),
                }
            }
            ScaTarget::Payment(payment) => {
                self.offered("sign")?;
                self.run(psu, Effect::MovesMoney, move |bank, b| {
                    let (payment, answer) = (payment.clone(), answer.clone());
                    Box::pin(async move { bank.sign(b, &payment, &answer).await })
                })
                .await
            }
            ScaTarget::Cancellation(_) => Err(no_cancellation_sca("authorise")),
        }
    }
}
