//! The `Bank` trait: every operation the engine offers, whichever channel serves it, and the error that
//! tells the failover what to do.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::SecretString;
use time::Date;

use crate::model::{
    Account, AccountId, Amount, AuthorisationCode, AuthorisationId, Balance, Cancellation, Consent,
    ConsentAccess, ConsentCreated, ConsentId, ConsentRequest, ConsentStatus, FundsConfirmation,
    Iban, InvalidValue, PaymentFile, PaymentInitiation, PaymentRef, PaymentRequest, PaymentStatus,
    PsuId, ScaAnswer, ScaChallenge, ScaPreference, ScaProgress, ScaStatus, ScaStep, ScaTarget,
    StandingOrderRequest, Transaction, TransactionFilter,
};

/// Which way a request reached the bank.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// The bank's dedicated PSD2 interface (its API).
    Api,
    /// The bank's customer interface (its online-banking website), driven through WebDriver.
    Screen,
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Channel::Api => "api",
            Channel::Screen => "screen",
        })
    }
}

/// Who a call is for: the customer (PSU), whether they are present, and what they authorised.
#[derive(Clone)]
pub struct PsuContext {
    /// The customer's number at the bank.
    pub psu_id: PsuId,
    /// The customer's IP address when the customer is present (Berlin Group `PSU-IP-Address`);
    /// `None` marks unattended access, limited by RTS Art. 36(5).
    pub ip_address: Option<IpAddr>,
    /// The consent account reads are made under.
    pub consent_id: Option<ConsentId>,
    /// What the engine recorded of that consent (access, `validUntil`, `frequencyPerDay`, status),
    /// for a channel that must enforce it itself as the bank's API would (the website). `Failover`
    /// fills it from its journal; `None` when the consent is not known to the engine.
    pub grant: Option<Consent>,
    /// The customer's online-banking password, for the channels that log in on their behalf (embedded
    /// SCA on the API, the login form on the website). Secret.
    pub password: Option<SecretString>,
    /// How the caller would like the customer to authenticate (redirect, decoupled) and where a
    /// redirect returns; the bank decides.
    pub sca: ScaPreference,
}

impl PsuContext {
    /// A context for a customer, unattended, without consent or password.
    pub fn new(psu_id: PsuId) -> Self {
        Self {
            psu_id,
            ip_address: None,
            consent_id: None,
            grant: None,
            password: None,
            sca: ScaPreference::default(),
        }
    }

    /// Marks the customer as present, from this address.
    pub fn present_at(mut self, ip: IpAddr) -> Self {
        self.ip_address = Some(ip);
        self
    }

    /// Reads under this consent.
    pub fn with_consent(mut self, consent: ConsentId) -> Self {
        self.consent_id = Some(consent);
        self
    }

    /// Logs in with this password.
    pub fn with_password(mut self, password: SecretString) -> Self {
        self.password = Some(password);
        self
    }
}

impl fmt::Debug for PsuContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PsuContext")
            .field("psu_id", &self.psu_id)
            .field("present", &self.ip_address.is_some())
            .field("consent_id", &self.consent_id.as_ref().map(|_| "***"))
            .field("grant", &self.grant.as_ref().map(|g| g.status))
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("sca", &self.sca)
            .finish()
    }
}

/// What went wrong, classified by what the failover must do about it.
///
/// [`BankError::triggers_switch`] says when the same call goes to the other channel (nothing reached
/// the bank, or a read got no usable answer). [`BankError::is_outcome_unknown`] says when a write may
/// have reached the bank: it must be looked up, never simply re-sent. Everything else is an answer,
/// passed to the caller as it is.
///
/// Three kinds of failure are kept apart, because health counts them apart: *not answered*
/// ([`BankError::Unavailable`], [`BankError::OutcomeUnknown`]: the only input to the RTS Art. 33(1)
/// rule), *answered but not served* ([`BankError::ServiceUnavailable`]: the bank said it is down) or
/// *answered but unusable* ([`BankError::Unusable`]: a malformed body, a field failing validation),
/// and *caused by the caller* ([`BankError::InvalidInput`], [`BankError::Rejected`]), which never
/// counts against the bank.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BankError {
    /// Nothing reached the bank, or a read failed: safe to try the other channel.
    #[error("the {channel} channel is unavailable: {reason}")]
    Unavailable {
        /// Which channel failed.
        channel: Channel,
        /// What happened (connection refused, timeout, 503, malformed answer, maintenance page).
        reason: String,
    },
    /// The bank answered that it cannot serve the request now: HTTP 503 with its Berlin Group error
    /// body. Nothing was served (nor executed), so the call may go to the other channel; the bank did
    /// answer, so it is no "request not answered" in the sense of RTS Art. 33(1).
    #[error("the {channel} channel answered that it is unavailable: {code}: {message}")]
    ServiceUnavailable {
        /// Which channel answered.
        channel: Channel,
        /// The bank's code (`tppMessages[].code`, e.g. `SERVICE_UNAVAILABLE`).
        code: String,
        /// The bank's words.
        message: String,
    },
    /// The bank answered, but the answer cannot be used: a malformed body, or a field failing
    /// validation (an IBAN failing mod-97, an unknown currency). It names the field. A read so answered
    /// is served by the other channel; a write so answered may have been executed (`write_sent`), so it
    /// is settled like an outcome unknown. Never a "request not answered" (RTS Art. 33(1)): health
    /// counts it under its own policy.
    #[error("the {channel} channel answered with an unusable {field}: {reason}{}", if *.write_sent { "; the write may have been executed" } else { "" })]
    Unusable {
        /// Which channel answered.
        channel: Channel,
        /// The part of the answer that could not be used (`body`, `accounts[0].iban`, …).
        field: String,
        /// Why.
        reason: String,
        /// Whether the call was a write that moves money, which may have been executed although its
        /// answer is unusable.
        write_sent: bool,
    },
    /// A write was sent and no definite answer came back: it may or may not have been executed.
    #[error("the outcome on the {channel} channel is unknown: {reason}")]
    OutcomeUnknown {
        /// Which channel the write went through.
        channel: Channel,
        /// What happened.
        reason: String,
    },
    /// The website needs the customer to log in again and no password is at hand (it is not kept
    /// past the authorisation that brought it): the caller asks the customer for a new consent. The
    /// failover tries the other channel first; the caller hears this only when no channel serves.
    #[error("the customer must re-authenticate: {reason}")]
    ReauthenticationRequired {
        /// Why.
        reason: String,
    },
    /// The website waits for the customer to approve its login in the bank's app (or to continue it
    /// at the bank's own page), and no approval came while the call waited (at most `ScreenBankConfig::app_login_wait`): nothing was read or
    /// sent. The login keeps waiting in its session until the bank's own expiry; asking again after
    /// `retry_after` follows the same approval (no new one is pushed to the customer meanwhile). The
    /// failover tries the other channel first.
    #[error("the customer must confirm the login in the bank's app: {message}")]
    ApprovalPending {
        /// What the bank tells the customer ("confirm in your app").
        message: String,
        /// When to ask again.
        retry_after: Duration,
        /// When the login continues at the bank's own page: that page's address, for the customer's
        /// browser (the caller relays it as `_links.scaRedirect`). Held as a secret — it carries the
        /// login's state — so it is never logged nor shown by `Debug`; `None` for an approval in the app.
        page: Option<SecretString>,
    },
    /// The bank answered no. An answer, never a reason to switch.
    #[error("the bank rejected the request: {code}: {message}")]
    Rejected {
        /// The bank's code (Berlin Group `tppMessages[].code`, or an ISO 20022 reason).
        code: String,
        /// The bank's words.
        message: String,
    },
    /// The customer must answer this challenge first.
    #[error("strong customer authentication is required (authorisation {})", .challenge.authorisation_id)]
    ScaRequired {
        /// The challenge to relay to the customer.
        challenge: ScaChallenge,
    },
    /// The website no longer matches its screen map.
    #[error("the website changed: {file}: screen {screen:?}: selector {selector:?} not found{}", capture_note(.capture))]
    ScreenChanged {
        /// The screen map file.
        file: String,
        /// The screen that did not match.
        screen: String,
        /// The selector that found nothing.
        selector: String,
        /// Where the page was captured (secrets masked), if it was.
        capture: Option<PathBuf>,
    },
    /// This channel cannot do this operation.
    #[error("the {channel} channel does not support {operation}")]
    NotSupported {
        /// Which channel.
        channel: Channel,
        /// The operation, in the `Bank` trait's words, and what it lacks on this channel (the screen
        /// a website's map declares absent).
        operation: String,
    },
    /// The channel is serving as many calls as it can and its queue is full: nothing was sent. Not a
    /// failure of the bank (health does not count it) and no reason to switch; the caller tries again
    /// after `retry_after` (the service: 503 with `Retry-After`, at once).
    #[error("the {channel} channel is at capacity; try again in {} s", retry_after.as_secs().max(1))]
    Overloaded {
        /// Which channel.
        channel: Channel,
        /// When to try again.
        retry_after: Duration,
    },
    /// A limit was reached: unattended access (RTS Art. 36(5)) or a rate limit.
    #[error("limit reached: {limit}")]
    LimitReached {
        /// Which limit, in words.
        limit: String,
        /// When to try again, if known.
        retry_after: Option<Duration>,
    },
    /// The request was refused before anything was sent: it names the field.
    #[error(transparent)]
    InvalidInput(#[from] InvalidValue),
    /// The API is unavailable and the bank is exempt from offering the fallback (RTS Art. 33(6)).
    #[error("the API of {bank} is unavailable and {bank} is exempt from the fallback: {reason}")]
    FallbackExempt {
        /// The bank.
        bank: String,
        /// The exemption, as configured.
        reason: String,
        /// What the API said.
        api_error: String,
    },
    /// The bank's confirmation screen showed something else than was asked for; the order was
    /// cancelled on the screen before it was confirmed, so nothing was sent. Not a reason to switch.
    #[error(
        "the confirmation screen shows another {field}: expected {expected:?}, shown {shown:?}; the order was cancelled"
    )]
    ReadBackMismatch {
        /// The field that differs, in the domain's words (`amount`, `creditorAccount`, …).
        field: &'static str,
        /// What the request asked for (IBANs masked).
        expected: String,
        /// What the screen showed (IBANs masked).
        shown: String,
    },
}

fn capture_note(capture: &Option<PathBuf>) -> String {
    capture
        .as_ref()
        .map(|p| format!(" (page captured in {})", p.display()))
        .unwrap_or_default()
}

impl BankError {
    /// A short stable name of the error's class (`unavailable`, `outcome_unknown`, `rejected`, …), for
    /// metrics labels and logs.
    pub fn class(&self) -> &'static str {
        match self {
            BankError::Unavailable { .. } => "unavailable",
            BankError::OutcomeUnknown { .. } => "outcome_unknown",
            BankError::ServiceUnavailable { .. } => "service_unavailable",
            BankError::Unusable { .. } => "unusable",
            BankError::Rejected { .. } => "rejected",
            BankError::ScaRequired { .. } => "sca_required",
            BankError::ScreenChanged { .. } => "screen_changed",
            BankError::NotSupported { .. } => "not_supported",
            BankError::LimitReached { .. } => "limit_reached",
            BankError::Overloaded { .. } => "overloaded",
            BankError::InvalidInput(_) => "invalid_input",
            BankError::FallbackExempt { .. } => "fallback_exempt",
            BankError::ReadBackMismatch { .. } => "read_back_mismatch",
            BankError::ReauthenticationRequired { .. } => "reauthentication_required",
            BankError::ApprovalPending { .. } => "approval_pending",
        }
    }

    /// Whether the failover should serve this call through the other channel: nothing was served, and
    /// nothing was executed.
    pub fn triggers_switch(&self) -> bool {
        matches!(
            self,
            BankError::Unavailable { .. }
                | BankError::ServiceUnavailable { .. }
                | BankError::Unusable {
                    write_sent: false,
                    ..
                }
        )
    }

    /// Whether a write may have been executed although no answer says so.
    pub fn is_outcome_unknown(&self) -> bool {
        matches!(
            self,
            BankError::OutcomeUnknown { .. }
                | BankError::Unusable {
                    write_sent: true,
                    ..
                }
        )
    }

    /// Whether the bank answered with something that could not be used (a malformed body, a field
    /// failing validation).
    pub fn is_unusable(&self) -> bool {
        matches!(self, BankError::Unusable { .. })
    }

    /// Whether the call failed because of what the caller sent, before anything reached the bank.
    /// Such a failure says nothing about the bank: health never hears of it.
    pub fn is_caused_by_caller(&self) -> bool {
        matches!(self, BankError::InvalidInput(_))
    }

    /// Whether the bank gave a definite "no".
    pub fn is_rejected(&self) -> bool {
        matches!(self, BankError::Rejected { .. })
    }

    /// Whether the customer has to answer a challenge.
    pub fn is_sca_required(&self) -> bool {
        matches!(self, BankError::ScaRequired { .. })
    }

    /// Whether the website no longer matches its screen map.
    pub fn is_screen_changed(&self) -> bool {
        matches!(self, BankError::ScreenChanged { .. })
    }

    /// Whether a screen's read-back differed from the request (the order was cancelled, nothing sent).
    pub fn is_read_back_mismatch(&self) -> bool {
        matches!(self, BankError::ReadBackMismatch { .. })
    }

    /// Whether a limit stopped the call.
    pub fn is_limit_reached(&self) -> bool {
        matches!(self, BankError::LimitReached { .. })
    }
}

/// Answers a challenge on the customer's behalf when a channel must log in without them at hand: the
/// screen channel logging in to the website for an unattended read during a failover.
///
/// An implementation relays the challenge to the customer (an app, a card reader the TPP was given
/// access to) and their answer back; `None` means no answer, and the call fails with
/// [`BankError::ScaRequired`]. The engine never makes an answer up.
#[async_trait]
pub trait ScaRelay: Send + Sync + fmt::Debug {
    /// The customer's answer to `challenge`, or `None`.
    async fn answer(&self, psu: &PsuId, challenge: &ScaChallenge) -> Option<ScaAnswer>;
}

/// The result of a bank operation.
pub type BankResult<T> = Result<T, BankError>;

/// Every operation a TPP performs at a bank, one method each, whatever the channel.
///
/// Object-safe: use it as `Arc<dyn Bank>`. `ApiBank` serves it through the dedicated interface,
/// `ScreenBank` through the website, and `Failover` wraps the two and is a `Bank` itself.
///
/// Signing is one conversation for every kind of thing that needs it ([`ScaTarget`]): a consent, a
/// payment, a standing order, a payment file. [`Bank::start_authorisation`] says what the bank asks of
/// the customer ([`ScaStep`]: a challenge, a choice of methods, a redirect, a decoupled approval);
/// [`Bank::select_sca_method`] sends the customer's choice, [`Bank::authorise`] their answer to a
/// challenge, and [`Bank::authorisation_status`] polls a redirect or decoupled authorisation. Every
/// call about one authorisation goes to the channel that started it.
#[async_trait]
pub trait Bank: Send + Sync + fmt::Debug {
    /// The customer's accounts (under the consent in `psu`).
    async fn accounts(&self, psu: &PsuContext) -> BankResult<Vec<Account>>;

    /// An account's balances now, or its booked balance at the end of an earlier day.
    async fn balances(
        &self,
        psu: &PsuContext,
        account: &AccountId,
        at: Option<Date>,
    ) -> BankResult<Vec<Balance>>;

    /// An account's transactions that pass `filter`, all pages read.
    async fn transactions(
        &self,
        psu: &PsuContext,
        account: &AccountId,
        filter: &TransactionFilter,
    ) -> BankResult<Vec<Transaction>>;

    /// Initiates a single payment; it waits for the customer's signature.
    async fn initiate_payment(
        &self,
        psu: &PsuContext,
        request: &PaymentRequest,
    ) -> BankResult<PaymentInitiation>;

    /// The status of a payment, standing order or payment file.
    async fn payment_status(
        &self,
        psu: &PsuContext,
        payment: &PaymentRef,
    ) -> BankResult<PaymentStatus>;

    /// Cancels a payment that has not been executed yet; returns its new status, and whether the bank
    /// wants the cancellation authorised first ([`ScaTarget::Cancellation`]).
    async fn cancel_payment(
        &self,
        psu: &PsuContext,
        payment: &PaymentRef,
    ) -> BankResult<Cancellation>;

    /// Uploads a validated payment file; it waits for the customer's signature.
    async fn upload_payment_file(
        &self,
        psu: &PsuContext,
        file: &PaymentFile,
    ) -> BankResult<PaymentInitiation>;

    /// Sets up a standing order; it waits for the customer's signature.
    async fn create_standing_order(
        &self,
        psu: &PsuContext,
        request: &StandingOrderRequest,
    ) -> BankResult<PaymentInitiation>;

    /// Cancels a standing order: no further executions (once authorised, when the bank wants that).
    async fn cancel_standing_order(
        &self,
        psu: &PsuContext,
        order: &PaymentRef,
    ) -> BankResult<Cancellation>;

    /// Whether an amount is available on an account now.
    async fn confirm_funds(
        &self,
        psu: &PsuContext,
        account: &Iban,
        amount: &Amount,
    ) -> BankResult<FundsConfirmation>;

    /// Asks for a consent; it waits for the customer's signature.
    async fn create_consent(
        &self,
        psu: &PsuContext,
        request: &ConsentRequest,
    ) -> BankResult<ConsentId>;

    /// [`Bank::create_consent`], with the SCA approach the bank announced on its answer, when it
    /// announced one (the API channel reads `ASPSP-SCA-Approach`). The default announces none: the
    /// caller then asks for the customer's password, as a website login needs it.
    async fn create_consent_announced(
        &self,
        psu: &PsuContext,
        request: &ConsentRequest,
    ) -> BankResult<ConsentCreated> {
        Ok(ConsentCreated {
            id: self.create_consent(psu, request).await?,
            approach: None,
        })
    }

    /// The status of a consent.
    async fn consent_status(
        &self,
        psu: &PsuContext,
        consent: &ConsentId,
    ) -> BankResult<ConsentStatus>;

    /// What a consent gives access to now, as the bank holds it: for a bank-offered consent, the
    /// accounts the customer picked at its SCA (scope `Listed` when the bank answers lists). A
    /// channel that cannot say answers [`BankError::NotSupported`].
    async fn consent_access(
        &self,
        psu: &PsuContext,
        consent: &ConsentId,
    ) -> BankResult<ConsentAccess> {
        let _ = (psu, consent);
        Err(BankError::NotSupported {
            channel: Channel::Api,
            operation: "consent_access".to_owned(),
        })
    }

    /// Starts the signing of a consent, payment, standing order or file: what the bank asks of the
    /// customer, following `psu.sca` where the bank lets the caller choose.
    async fn start_authorisation(
        &self,
        psu: &PsuContext,
        target: &ScaTarget,
    ) -> BankResult<ScaStep>;

    /// The customer's choice among the methods a [`ScaStep::ChooseMethod`] offered (its `id`): the
    /// next step (usually the challenge of that method).
    async fn select_sca_method(
        &self,
        psu: &PsuContext,
        target: &ScaTarget,
        authorisation: &AuthorisationId,
        method: &str,
    ) -> BankResult<ScaStep> {
        let _ = (psu, target, authorisation, method);
        Err(BankError::NotSupported {
            channel: Channel::Api,
            operation: "select_sca_method".to_owned(),
        })
    }

    /// The ids of `target`'s authorisations the bank holds (Berlin Group "get authorisation
    /// sub-resources", e.g. `GET …/cancellation-authorisations`). The default: not supported.
    async fn authorisation_ids(
        &self,
        psu: &PsuContext,
        target: &ScaTarget,
    ) -> BankResult<Vec<AuthorisationId>> {
        let _ = (psu, target);
        Err(BankError::NotSupported {
            channel: Channel::Screen,
            operation: "authorisation_ids".to_owned(),
        })
    }

    /// Where an authorisation stands (a redirect the customer came back from, a decoupled approval
    /// in the bank's app): polled by the caller until it has ended.
    async fn authorisation_status(
        &self,
        psu: &PsuContext,
        target: &ScaTarget,
        authorisation: &AuthorisationId,
    ) -> BankResult<ScaProgress> {
        let _ = (psu, target, authorisation);
        Err(BankError::NotSupported {
            channel: Channel::Api,
            operation: "authorisation_status".to_owned(),
        })
    }

    /// Ends an OAuth2 authorisation ([`ScaStep::OAuth`]): the authorization `code` the bank sent back
    /// to the redirect URI, with its `state`, is exchanged (with the PKCE verifier the channel kept) for
    /// the access token the bank then requires on the consent's or payment's calls. The answer is the
    /// authorisation's status afterwards (`Finalised` when the customer signed). A `state` that is not
    /// the authorisation's is refused before anything is sent.
    async fn exchange_authorisation_code(
        &self,
        psu: &PsuContext,
        target: &ScaTarget,
        authorisation: &AuthorisationId,
        code: &AuthorisationCode,
        state: &str,
    ) -> BankResult<ScaStatus> {
        let _ = (psu, target, authorisation, code, state);
        Err(BankError::NotSupported {
            channel: Channel::Screen,
            operation: "exchange_authorisation_code (the OAuth2 approach is the API's)".to_owned(),
        })
    }

    /// Sends the customer's answer to a challenge; `Finalised` when signed.
    async fn authorise(
        &self,
        psu: &PsuContext,
        target: &ScaTarget,
        authorisation: &AuthorisationId,
        answer: &ScaAnswer,
    ) -> BankResult<ScaStatus>;

    /// Finds a payment, standing order or file of the customer by its debtor account and end-to-end id
    /// (for a file: its message id) — how a write of unknown outcome is reconciled. `Ok(None)` proves it
    /// absent. A channel that cannot look payments up says [`BankError::NotSupported`].
    async fn find_payment(
        &self,
        psu: &PsuContext,
        debtor: &Iban,
        end_to_end_id: &str,
    ) -> BankResult<Option<(PaymentRef, PaymentStatus)>> {
        let _ = (psu, debtor, end_to_end_id);
        Err(BankError::NotSupported {
            channel: Channel::Api,
            operation: "find_payment".to_owned(),
        })
    }
}
