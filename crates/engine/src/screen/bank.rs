//! `impl Bank for ScreenBank`: each operation as a flow run for the customer — reads and writes
//! through [`ScreenBank::run`], consents as logged-in website sessions.

use async_trait::async_trait;
use time::Date;

use super::ScreenBank;
use super::fail::{Fail, unavailable};
use super::flow::Effect;
use crate::bank::{Bank, BankError, BankResult, PsuContext};
use crate::model::{
    Account, AccountId, Amount, AuthorisationId, Balance, BalanceType, ConsentId, ConsentRequest,
    ConsentStatus, FundsConfirmation, Iban, InvalidValue, PaymentFile, PaymentInitiation,
    PaymentKind, PaymentRef, PaymentRequest, PaymentStatus, PsuId, ScaAnswer, ScaChallenge,
    ScaStatus, ScaTarget, StandingOrderRequest, Transaction, TransactionFilter,
};

/// Where a consent's login stands.
#[derive(Debug, Clone)]
pub(super) struct ConsentState {
    /// The customer who asked for it: no one else may see or use it.
    psu: PsuId,
    /// Received until the login challenge is answered, then valid (or rejected).
    status: ConsentStatus,
}

#[async_trait]
impl Bank for ScreenBank {
    async fn accounts(&self, psu: &PsuContext) -> BankResult<Vec<Account>> {
        self.run(psu, Effect::Safe, |bank, b| Box::pin(bank.account_rows(b)))
            .await
    }

    async fn balances(
        &self,
        psu: &PsuContext,
        account: &AccountId,
        at: Option<Date>,
    ) -> BankResult<Vec<Balance>> {
        self.run(psu, Effect::Safe, move |bank, b| {
            let account = account.clone();
            Box::pin(async move { bank.read_balances(b, &account, at).await })
        })
        .await
    }

    async fn transactions(
        &self,
        psu: &PsuContext,
        account: &AccountId,
        filter: &TransactionFilter,
    ) -> BankResult<Vec<Transaction>> {
        let mut all = self
            .run(psu, Effect::Safe, move |bank, b| {
                let (account, filter) = (account.clone(), filter.clone());
                Box::pin(async move { bank.read_transactions(b, &account, &filter).await })
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
    ) -> BankResult<PaymentStatus> {
        self.run(psu, Effect::MovesMoney, move |bank, b| {
            let payment = payment.clone();
            Box::pin(async move { bank.cancel(b, &payment).await })
        })
        .await
    }

    async fn upload_payment_file(
        &self,
        psu: &PsuContext,
        file: &PaymentFile,
    ) -> BankResult<PaymentInitiation> {
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
    ) -> BankResult<PaymentStatus> {
        if !matches!(order.kind, PaymentKind::Periodic(_)) {
            return Err(InvalidValue::new("order", "is not a standing order").into());
        }
        self.run(psu, Effect::MovesMoney, move |bank, b| {
            let order = order.clone();
            Box::pin(async move { bank.cancel(b, &order).await })
        })
        .await
    }

    async fn confirm_funds(
        &self,
        psu: &PsuContext,
        account: &Iban,
        amount: &Amount,
    ) -> BankResult<FundsConfirmation> {
        let accounts = self.accounts(psu).await?;
        let Some(found) = accounts.iter().find(|a| &a.iban == account) else {
            return Err(BankError::Rejected {
                code: "RESOURCE_UNKNOWN".to_owned(),
                message: format!("account {} is not one of the customer's", account.masked()),
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
        _request: &ConsentRequest,
    ) -> BankResult<ConsentId> {
        let mut flow = self.flow(&psu.psu_id).await;
        let result = async {
            let browser = self.browser(&mut flow).await?;
            self.login_to_challenge(browser, psu).await
        }
        .await;
        let status = match result {
            Ok(Some(_)) => ConsentStatus::Received,
            Ok(None) => {
                flow.session.logged_in = true;
                ConsentStatus::Valid
            }
            Err(fail) => return Err(self.classify(&mut flow, psu, fail, Effect::Safe).await),
        };
        let id = ConsentId::new(format!("screen-{}", uuid::Uuid::new_v4().simple()));
        self.inner
            .consents
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                id.clone(),
                ConsentState {
                    psu: psu.psu_id.clone(),
                    status,
                },
            );
        Ok(id)
    }

    async fn consent_status(
        &self,
        psu: &PsuContext,
        consent: &ConsentId,
    ) -> BankResult<ConsentStatus> {
        let consents = self
            .inner
            .consents
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match consents.get(consent) {
            Some(state) if state.psu == psu.psu_id => Ok(state.status),
            _ => Err(BankError::Rejected {
                code: "CONSENT_UNKNOWN".to_owned(),
                message: "no such consent on the screen channel".to_owned(),
            }),
        }
    }

    async fn start_authorisation(
        &self,
        psu: &PsuContext,
        target: &ScaTarget,
    ) -> BankResult<ScaChallenge> {
        match target {
            ScaTarget::Consent(consent) => {
                self.consent_status(psu, consent).await?;
                let mut flow = self.flow(&psu.psu_id).await;
                let result = async {
                    let browser = self.browser(&mut flow).await?;
                    let source = browser.source().await?;
                    if self.expect(&source, &["sca"]).is_ok() {
                        return self.challenge(&source, "sca", consent.as_str());
                    }
                    match self.login_to_challenge(browser, psu).await? {
                        Some(mut c) => {
                            c.authorisation_id = AuthorisationId::new(format!("screen-{consent}"));
                            Ok(c)
                        }
                        None => Err(Fail::Bank(BankError::Rejected {
                            code: "STATUS_INVALID".to_owned(),
                            message: "the consent is already authorised".to_owned(),
                        })),
                    }
                }
                .await;
                match result {
                    Ok(c) => Ok(c),
                    Err(fail) => Err(self.classify(&mut flow, psu, fail, Effect::Safe).await),
                }
            }
            ScaTarget::Payment(payment) => {
                self.run(psu, Effect::Safe, move |bank, b| {
                    let payment = payment.clone();
                    Box::pin(async move { bank.sign_challenge(b, &payment).await })
                })
                .await
            }
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
                self.consent_status(psu, consent).await?;
                let mut flow = self.flow(&psu.psu_id).await;
                let result = async {
                    let browser = self.browser(&mut flow).await?;
                    self.answer_login(browser, answer).await
                }
                .await;
                let status = match result {
                    Ok(true) => {
                        flow.session.logged_in = true;
                        (ScaStatus::Finalised, ConsentStatus::Valid)
                    }
                    Ok(false) => (ScaStatus::Failed, ConsentStatus::Rejected),
                    Err(fail) => {
                        return Err(self.classify(&mut flow, psu, fail, Effect::Safe).await);
                    }
                };
                if let Some(state) = self
                    .inner
                    .consents
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get_mut(consent)
                {
                    state.status = status.1;
                }
                Ok(status.0)
            }
            ScaTarget::Payment(payment) => {
                self.run(psu, Effect::MovesMoney, move |bank, b| {
                    let (payment, answer) = (payment.clone(), answer.clone());
                    Box::pin(async move { bank.sign(b, &payment, &answer).await })
                })
                .await
            }
        }
    }
}
