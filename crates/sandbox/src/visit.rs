//! What a visit to either website carries besides its login: the orders a customer filled in and has
//! not confirmed yet, and the signings in progress. The bank's own bookkeeping of a session, shared by
//! both websites (each keeps its own sessions and cookies).

use psd2_fallback_engine::model::{
    AuthorisationId, PaymentFile, PaymentRequest, StandingOrderRequest,
};

/// A signing in progress, per payment: the ledger's authorisation and its challenge.
#[derive(Debug, Clone)]
pub(crate) struct Signing {
    pub(crate) authorisation: AuthorisationId,
    pub(crate) challenge: String,
    pub(crate) attempts_left: u32,
}

/// What the customer filled in and has not confirmed yet. The draft id is the request id given to the
/// ledger, so confirming twice (a double click, a retried POST) makes one payment.
#[derive(Debug, Clone, Default)]
pub(crate) struct Drafts {
    pub(crate) payment: Option<(String, PaymentRequest)>,
    pub(crate) order: Option<(String, StandingOrderRequest)>,
    pub(crate) file: Option<(String, PaymentFile)>,
}
