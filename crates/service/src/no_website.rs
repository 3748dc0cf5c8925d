//! The website channel of a bank that has none configured: every call is *unavailable*, saying why.

use async_trait::async_trait;
use time::Date;

use psd2_fallback_engine::bank::{Bank, BankError, BankResult, Channel, PsuContext};
use psd2_fallback_engine::model::{
    Account, AccountId, Amount, AuthorisationId, Balance, Cancellation, ConsentId, ConsentRequest,
    ConsentStatus, FundsConfirmation, Iban, PaymentFile, PaymentInitiation, PaymentRef,
    PaymentRequest, PaymentStatus, ScaAnswer, ScaStatus, ScaStep, ScaTarget, StandingOrderRequest,
    Transaction, TransactionFilter,
};

/// A bank without a configured website channel: every call is *unavailable*, with the reason. It does
/// not pretend to serve anything.
#[derive(Debug)]
pub(crate) struct NoScreenChannel {
    /// Why there is no website channel, as callers hear it.
    pub(crate) reason: String,
}

impl NoScreenChannel {
    fn no<T>(&self) -> BankResult<T> {
        Err(BankError::Unavailable {
            channel: Channel::Screen,
            reason: self.reason.clone(),
        })
    }
}

#[async_trait]
impl Bank for NoScreenChannel {
    async fn accounts(&self, _: &PsuContext) -> BankResult<Vec<Account>> {
        self.no()
    }
    async fn balances(
        &self,
        _: &PsuContext,
        _: &AccountId,
        _: Option<Date>,
    ) -> BankResult<Vec<Balance>> {
        self.no()
    }
    async fn transactions(
        &self,
        _: &PsuContext,
        _: &AccountId,
        _: &TransactionFilter,
    ) -> BankResult<Vec<Transaction>> {
        self.no()
    }
    async fn initiate_payment(
        &self,
        _: &PsuContext,
        _: &PaymentRequest,
    ) -> BankResult<PaymentInitiation> {
        self.no()
    }
    async fn payment_status(&self, _: &PsuContext, _: &PaymentRef) -> BankResult<PaymentStatus> {
        self.no()
    }
    async fn cancel_payment(&self, _: &PsuContext, _: &PaymentRef) -> BankResult<Cancellation> {
        self.no()
    }
    async fn upload_payment_file(
        &self,
        _: &PsuContext,
        _: &PaymentFile,
    ) -> BankResult<PaymentInitiation> {
        self.no()
    }
    async fn create_standing_order(
        &self,
        _: &PsuContext,
        _: &StandingOrderRequest,
    ) -> BankResult<PaymentInitiation> {
        self.no()
    }
    async fn cancel_standing_order(
        &self,
        _: &PsuContext,
        _: &PaymentRef,
    ) -> BankResult<Cancellation> {
        self.no()
    }
    async fn confirm_funds(
        &self,
        _: &PsuContext,
        _: &Iban,
        _: &Amount,
    ) -> BankResult<FundsConfirmation> {
        self.no()
    }
    async fn create_consent(&self, _: &PsuContext, _: &ConsentRequest) -> BankResult<ConsentId> {
        self.no()
    }
    async fn consent_status(&self, _: &PsuContext, _: &ConsentId) -> BankResult<ConsentStatus> {
        self.no()
    }
    async fn start_authorisation(&self, _: &PsuContext, _: &ScaTarget) -> BankResult<ScaStep> {
        self.no()
    }
    async fn authorise(
        &self,
        _: &PsuContext,
        _: &ScaTarget,
        _: &AuthorisationId,
        _: &ScaAnswer,
    ) -> BankResult<ScaStatus> {
        self.no()
    }
    async fn find_payment(
        &self,
        _: &PsuContext,
        _: &Iban,
        _: &str,
    ) -> BankResult<Option<(PaymentRef, PaymentStatus)>> {
        self.no()
    }
}
