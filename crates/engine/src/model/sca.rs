//! Strong Customer Authentication as a typed conversation: what the bank asks of the customer
//! ([`ScaStep`]: a challenge, a choice of methods, a redirect, a decoupled approval, an action at the
//! bank, or done), what the caller prefers ([`ScaPreference`]), and the customer's answer.
//!
//! The engine never answers a challenge itself: it relays what the bank asks to its caller and the
//! answer back to the bank, on the channel that asked.

use std::fmt;
use std::time::Duration;

use secrecy::SecretString;

use super::{AuthorisationId, ConsentId, PaymentRef, PaymentStatus};

/// The state of one authorisation, in Berlin Group terms (`scaStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScaStatus {
    /// The authorisation was created.
    Received,
    /// The customer is identified.
    PsuIdentified,
    /// The customer is authenticated (password checked).
    PsuAuthenticated,
    /// A method was chosen and the challenge is out.
    ScaMethodSelected,
    /// The authorisation started (redirect or decoupled).
    Started,
    /// Authenticated but an extra confirmation is still needed.
    Unconfirmed,
    /// Done: the customer signed.
    Finalised,
    /// The customer failed or gave up.
    Failed,
    /// No SCA was needed.
    Exempted,
}

impl ScaStatus {
    /// Every status.
    pub const ALL: [ScaStatus; 9] = [
        ScaStatus::Received,
        ScaStatus::PsuIdentified,
        ScaStatus::PsuAuthenticated,
        ScaStatus::ScaMethodSelected,
        ScaStatus::Started,
        ScaStatus::Unconfirmed,
        ScaStatus::Finalised,
        ScaStatus::Failed,
        ScaStatus::Exempted,
    ];

    /// The Berlin Group code: `received`, `scaMethodSelected`, `finalised`, …
    pub fn code(self) -> &'static str {
        match self {
            ScaStatus::Received => "received",
            ScaStatus::PsuIdentified => "psuIdentified",
            ScaStatus::PsuAuthenticated => "psuAuthenticated",
            ScaStatus::ScaMethodSelected => "scaMethodSelected",
            ScaStatus::Started => "started",
            ScaStatus::Unconfirmed => "unconfirmed",
            ScaStatus::Finalised => "finalised",
            ScaStatus::Failed => "failed",
            ScaStatus::Exempted => "exempted",
        }
    }

    /// The status for a Berlin Group code.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }
}

/// A challenge the customer must answer to sign (Berlin Group embedded SCA `challengeData`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaChallenge {
    /// The authorisation this challenge belongs to; the answer goes back to it.
    pub authorisation_id: AuthorisationId,
    /// The method (`CHIP_OTP` for a card reader).
    pub method: String,
    /// What the customer types into their card reader.
    pub data: String,
    /// What the bank tells the customer to do.
    pub instructions: String,
    /// How long the challenge may be answered, when the bank says.
    pub valid_for: Option<Duration>,
}

/// The customer's answer to a challenge. Secret: never in `Debug`, logs or errors.
#[derive(Clone)]
pub struct ScaAnswer(SecretString);

impl ScaAnswer {
    /// Wraps the answer the customer gave.
    pub fn new(answer: impl Into<String>) -> Self {
        Self(SecretString::from(answer.into()))
    }

    /// The secret, to be sent to the bank and nowhere else.
    pub fn secret(&self) -> &SecretString {
        &self.0
    }
}

impl fmt::Debug for ScaAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ScaAnswer(***)")
    }
}

/// What an authorisation signs: a consent, a payment resource (single, standing order or file), or the
/// cancellation of one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ScaTarget {
    /// A consent to read accounts.
    Consent(ConsentId),
    /// A payment, standing order or payment file.
    Payment(PaymentRef),
    /// The cancellation of a payment or standing order the bank wants authorised (Berlin Group
    /// `…/{paymentId}/cancellation-authorisations`): the payment is cancelled only once it finalises.
    Cancellation(PaymentRef),
}

impl ScaTarget {
    /// The collection of the target's authorisations under its resource: `authorisations`, or
    /// `cancellation-authorisations` for a cancellation.
    pub fn collection(&self) -> &'static str {
        match self {
            ScaTarget::Cancellation(_) => "cancellation-authorisations",
            _ => "authorisations",
        }
    }
}

/// What a bank answered to a cancellation (Berlin Group `DELETE` of a payment resource).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cancellation {
    /// The payment's status now: `CANC` when it was cancelled at once, else unchanged.
    pub status: PaymentStatus,
    /// Whether the bank wants the cancellation authorised first (`202` with `_links.startAuthorisation`):
    /// start it with [`crate::Bank::start_authorisation`] on [`ScaTarget::Cancellation`].
    pub authorisation_needed: bool,
}

impl Cancellation {
    /// A cancellation done at once.
    pub fn done() -> Self {
        Self {
            status: PaymentStatus::Cancelled,
            authorisation_needed: false,
        }
    }
}

/// How a bank authenticates the customer for one authorisation (Berlin Group `ASPSP-SCA-Approach`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScaApproach {
    /// The customer's credentials and answers pass through the TPP.
    Embedded,
    /// The customer is sent to the bank's own pages, and comes back to the TPP.
    Redirect,
    /// The customer approves in the bank's app; the TPP polls the status.
    Decoupled,
    /// The customer is sent to the bank's OAuth2 authorisation server.
    OAuth,
}

impl ScaApproach {
    /// The Berlin Group code: `EMBEDDED`, `REDIRECT`, `DECOUPLED`, `OAUTH`.
    pub fn code(self) -> &'static str {
        match self {
            ScaApproach::Embedded => "EMBEDDED",
            ScaApproach::Redirect => "REDIRECT",
            ScaApproach::Decoupled => "DECOUPLED",
            ScaApproach::OAuth => "OAUTH",
        }
    }

    /// The value of the `ASPSP-SCA-Approach` header: the specification's enumeration has no `OAUTH`
    /// ("the OAuth SCA approach will be subsumed by REDIRECT"); `_links.scaOAuth` tells it apart.
    pub fn header_value(self) -> &'static str {
        match self {
            ScaApproach::OAuth => ScaApproach::Redirect.code(),
            other => other.code(),
        }
    }

    /// The approach for a Berlin Group code (any case).
    pub fn from_code(code: &str) -> Option<Self> {
        [Self::Embedded, Self::Redirect, Self::Decoupled, Self::OAuth]
            .into_iter()
            .find(|a| a.code().eq_ignore_ascii_case(code.trim()))
    }
}

/// One SCA method the bank offers the customer (Berlin Group `scaMethods[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaMethod {
    /// The bank's id of the method, sent back to choose it (`authenticationMethodId`).
    pub id: String,
    /// The kind (`SMS_OTP`, `CHIP_OTP`, `PUSH_OTP`, …).
    pub kind: String,
    /// The method's name as the customer knows it, if the bank gives one.
    pub name: Option<String>,
}

/// How often a decoupled authorisation is polled when the bank does not say otherwise.
pub const DECOUPLED_POLL_EVERY: Duration = Duration::from_secs(1);

/// What the bank asks of the customer after an authorisation started (or moved on): the caller's next
/// move. Both channels answer with it; `Failover` and the service pass it on unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScaStep {
    /// Embedded: answer this challenge ([`crate::Bank::authorise`]).
    Challenge(ScaChallenge),
    /// Several methods are offered: choose one ([`crate::Bank::select_sca_method`]).
    ChooseMethod {
        /// The authorisation the choice belongs to.
        authorisation_id: AuthorisationId,
        /// The methods offered, in the bank's order.
        methods: Vec<ScaMethod>,
    },
    /// Send the customer's browser to `url` at the bank; the bank sends it back to the TPP's redirect
    /// URI, and the authorisation's status says how it ended.
    Redirect {
        /// The authorisation to poll once the customer is back.
        authorisation_id: AuthorisationId,
        /// Where the customer's browser goes (`_links.scaRedirect`).
        url: String,
    },
    /// OAuth2: the customer is sent to the bank's authorisation server, described at `metadata_url`
    /// (`_links.scaOAuth`). The API channel reads the metadata and builds the authorization request
    /// itself (`authorization`), keeping the PKCE verifier; the code the bank sends back to the redirect
    /// URI is handed to [`crate::Bank::exchange_authorisation_code`] with its `state`.
    OAuth {
        /// The authorisation to poll once the customer is back.
        authorisation_id: AuthorisationId,
        /// The authorisation server's metadata (RFC 8414).
        metadata_url: String,
        /// The authorization request the engine built, once it read the metadata.
        authorization: Option<OAuthAuthorization>,
    },
    /// Decoupled: the customer approves in the bank's app; poll the status
    /// ([`crate::Bank::authorisation_status`]) until it ends.
    Decoupled {
        /// The authorisation to poll.
        authorisation_id: AuthorisationId,
        /// What the bank tells the customer (`psuMessage`: "confirm in your app").
        message: String,
        /// How often to poll.
        poll_every: Duration,
        /// How long the approval may take, when the bank says.
        expires_in: Option<Duration>,
    },
    /// The customer must do something at the bank first that the engine cannot relay (identify,
    /// authenticate on the bank's own screen).
    ActionNeeded {
        /// The authorisation it belongs to.
        authorisation_id: AuthorisationId,
        /// What, in the bank's words.
        what: String,
    },
    /// Nothing more to do: `Finalised`, `Exempted` or `Failed`.
    Done {
        /// The authorisation, if the bank made one.
        authorisation_id: Option<AuthorisationId>,
        /// How it ended.
        status: ScaStatus,
    },
}

impl ScaStep {
    /// The authorisation this step belongs to.
    pub fn authorisation_id(&self) -> Option<&AuthorisationId> {
        match self {
            ScaStep::Challenge(c) => Some(&c.authorisation_id),
            ScaStep::ChooseMethod {
                authorisation_id, ..
            }
            | ScaStep::Redirect {
                authorisation_id, ..
            }
            | ScaStep::OAuth {
                authorisation_id, ..
            }
            | ScaStep::Decoupled {
                authorisation_id, ..
            }
            | ScaStep::ActionNeeded {
                authorisation_id, ..
            } => Some(authorisation_id),
            ScaStep::Done {
                authorisation_id, ..
            } => authorisation_id.as_ref(),
        }
    }

    /// The approach the bank chose for this step.
    pub fn approach(&self) -> ScaApproach {
        match self {
            ScaStep::Redirect { .. } => ScaApproach::Redirect,
            ScaStep::OAuth { .. } => ScaApproach::OAuth,
            ScaStep::Decoupled { .. } => ScaApproach::Decoupled,
            _ => ScaApproach::Embedded,
        }
    }

    /// The Berlin Group `scaStatus` of the authorisation at this step.
    pub fn status(&self) -> ScaStatus {
        match self {
            ScaStep::Challenge(_) => ScaStatus::ScaMethodSelected,
            ScaStep::ChooseMethod { .. } => ScaStatus::PsuAuthenticated,
            ScaStep::Redirect { .. } | ScaStep::OAuth { .. } => ScaStatus::Received,
            ScaStep::Decoupled { .. } => ScaStatus::Started,
            ScaStep::ActionNeeded { .. } => ScaStatus::Received,
            ScaStep::Done { status, .. } => *status,
        }
    }

    /// The challenge, when the step is one.
    pub fn into_challenge(self) -> Option<ScaChallenge> {
        match self {
            ScaStep::Challenge(challenge) => Some(challenge),
            _ => None,
        }
    }
}

/// An OAuth2 authorization request (RFC 6749 §4.1.1 with PKCE, RFC 7636) the engine built for a
/// [`ScaStep::OAuth`]: where the customer's browser goes, and the `state` the bank sends back with the
/// code. The PKCE verifier stays inside the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthAuthorization {
    /// The authorization endpoint with `response_type=code`, `client_id`, `redirect_uri`, `scope`
    /// (`AIS:<consentId>` or `PIS:<paymentId>`), `state`, `code_challenge` and
    /// `code_challenge_method=S256`.
    pub url: String,
    /// The `state`: the return to the redirect URI carries it, and only it is accepted with the code.
    pub state: String,
    /// Where the bank sends the customer back (`redirect_uri`).
    pub redirect_uri: String,
}

/// The authorization code the bank's authorisation server sent back to the redirect URI (RFC 6749
/// §4.1.2). Secret: it buys an access token once; never in `Debug`, logs or errors.
#[derive(Clone)]
pub struct AuthorisationCode(SecretString);

impl AuthorisationCode {
    /// Wraps the code from the redirect.
    pub fn new(code: impl Into<String>) -> Self {
        Self(SecretString::from(code.into()))
    }

    /// The secret, to be sent to the bank's token endpoint and nowhere else.
    pub fn secret(&self) -> &SecretString {
        &self.0
    }
}

impl fmt::Debug for AuthorisationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthorisationCode(***)")
    }
}

/// What a caller prefers when it starts an authorisation (Berlin Group `TPP-Redirect-Preferred`,
/// `TPP-Decoupled-Preferred`, `TPP-Redirect-URI`, `TPP-Nok-Redirect-URI`). The bank decides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScaPreference {
    /// `TPP-Redirect-Preferred`: `Some(true)` asks for redirect, `Some(false)` for embedded or decoupled.
    pub redirect_preferred: Option<bool>,
    /// `TPP-Decoupled-Preferred`: `Some(true)` asks for decoupled.
    pub decoupled_preferred: Option<bool>,
    /// Where the bank sends the customer back after a redirect that succeeded.
    pub redirect_uri: Option<String>,
    /// Where the bank sends the customer back after a redirect that failed.
    pub nok_redirect_uri: Option<String>,
}

/// An authorisation's state when polled: its status and what the bank says about it (`psuMessage`:
/// refused in the app, expired, cancelled).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaProgress {
    /// The `scaStatus`.
    pub status: ScaStatus,
    /// The bank's words, if any.
    pub message: Option<String>,
}

impl ScaProgress {
    /// Whether the authorisation has ended (`finalised`, `failed` or `exempted`).
    pub fn has_ended(&self) -> bool {
        matches!(
            self.status,
            ScaStatus::Finalised | ScaStatus::Failed | ScaStatus::Exempted
        )
    }
}
