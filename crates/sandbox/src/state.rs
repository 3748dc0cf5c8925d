//! What the API and the website share: the ledger (and with it the bank's day), the faults in force,
//! the configuration, and the marker that lets a fault drop a connection. `api` and `web` read it;
//! `server` builds it and composes the two faces over it.

use std::sync::Arc;
use std::time::Duration;

use time::Date;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::faults::{ApiFault, WebsiteFault};
use crate::ledger::Ledger;

/// How the sandbox bank is set up.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// The bank's business day; `None` for today's date (UTC). Pin it for reproducible data.
    pub today: Option<Date>,
    /// How long an accepted payment waits before it settles (`ACTC` → `ACSC`).
    pub settle_after: Duration,
    /// How long a website session may stay idle before the customer must log in again.
    pub session_idle: Duration,
    /// Which SCA approaches the API offers (see [`SandboxSca`]).
    pub sca: SandboxSca,
    /// Whether a cancellation (`DELETE` of a payment or standing order) must be authorised: `202` with
    /// `_links.startAuthorisation`, cancelled only once its authorisation finalises.
    pub cancel_sca: bool,
    /// How long a redirect or a decoupled approval may wait for the customer before it lapses.
    pub approval_expiry: Duration,
    /// The customers (numbers) who sign orders on the website in the banking app ("confirm in your
    /// app") instead of with the card reader.
    pub app_signers: Vec<String>,
    /// The customers (numbers) who confirm their website logins in the banking app: after the
    /// password, the website waits for the approval there ("confirm in your app") instead of asking
    /// for the card reader's response.
    pub app_logins: Vec<String>,
    /// The customers (numbers) offered a choice at the website's login, after the password: the card
    /// reader or the banking app.
    pub login_choices: Vec<String>,
    /// The customers (numbers) whose website login continues at the bank's own authentication page
    /// (a link the website shows after the password, opened by the customer, e.g. on their phone,
    /// where they answer the card reader); the website waits for it.
    pub login_redirects: Vec<String>,
    /// How long an OAuth2 authorization code may wait to be exchanged (`--sca oauth2`).
    pub oauth_code_expiry: Duration,
    /// How long an OAuth2 access token lasts before it must be renewed with the refresh token.
    pub access_token_expiry: Duration,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            today: None,
            settle_after: Duration::from_secs(2),
            session_idle: Duration::from_secs(10 * 60),
            sca: SandboxSca::Choice,
            approval_expiry: Duration::from_secs(5 * 60),
            cancel_sca: false,
            app_signers: Vec::new(),
            app_logins: Vec::new(),
            login_choices: Vec::new(),
            login_redirects: Vec::new(),
            oauth_code_expiry: Duration::from_secs(60),
            access_token_expiry: Duration::from_secs(5 * 60),
        }
    }
}

/// Which SCA approach the sandbox API uses for an authorisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SandboxSca {
    /// The TPP's choice, per request: `TPP-Decoupled-Preferred: true` → decoupled;
    /// `TPP-Redirect-Preferred: true` → redirect; a password in the body → embedded; no password →
    /// redirect when a `TPP-Redirect-URI` is given, else decoupled.
    #[default]
    Choice,
    /// Embedded only: the password in, the challenge out.
    Embedded,
    /// Redirect only: the bank's page.
    Redirect,
    /// Decoupled only: the bank's app.
    Decoupled,
    /// Embedded, with a choice of method: the card reader (a challenge) or the banking app (which
    /// makes the authorisation decoupled).
    Methods,
    /// OAuth2 (Berlin Group `OAUTH`): `_links.scaOAuth` to the bank's authorisation server; the
    /// customer authorises on its page, the TPP exchanges the code (PKCE S256) for tokens, and the
    /// consent's or payment's calls then need the access token.
    #[serde(rename = "oauth2")]
    OAuth2,
}

impl SandboxSca {
    /// The approach every authorisation takes, when the bank fixed one (`None`: the TPP's choice).
    pub fn fixed_approach(self) -> Option<psd2_fallback_engine::model::ScaApproach> {
        use psd2_fallback_engine::model::ScaApproach;
        match self {
            SandboxSca::Choice => None,
            SandboxSca::Embedded | SandboxSca::Methods => Some(ScaApproach::Embedded),
            SandboxSca::Redirect => Some(ScaApproach::Redirect),
            SandboxSca::Decoupled => Some(ScaApproach::Decoupled),
            SandboxSca::OAuth2 => Some(ScaApproach::OAuth),
        }
    }
}

impl std::str::FromStr for SandboxSca {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "choice" => Ok(Self::Choice),
            "embedded" => Ok(Self::Embedded),
            "redirect" => Ok(Self::Redirect),
            "decoupled" => Ok(Self::Decoupled),
            "methods" => Ok(Self::Methods),
            "oauth2" => Ok(Self::OAuth2),
            other => Err(format!(
                "{other:?} is no SCA approach: choice, embedded, redirect, decoupled, methods or oauth2"
            )),
        }
    }
}

/// The API fault in force and when it was set (flapping counts its phases from then).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ApiFaultSetting {
    /// The fault.
    pub(crate) fault: ApiFault,
    /// When it was set.
    pub(crate) since: Instant,
}

/// What the API and the website share: the ledger and the faults.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The one book behind both faces.
    pub(crate) ledger: Arc<Ledger>,
    /// The API's fault; the API port's connection handling watches it too.
    pub(crate) api_fault: watch::Sender<ApiFaultSetting>,
    /// The website's fault.
    pub(crate) web_fault: watch::Sender<WebsiteFault>,
    /// How the bank was set up.
    pub(crate) config: SandboxConfig,
    /// The website's base URL, where the redirect approach sends the customer.
    pub(crate) web_url: String,
    /// The API's base URL, where the OAuth2 metadata and token endpoint are.
    pub(crate) api_url: String,
    /// The OAuth2 authorisation server (`--sca oauth2`).
    pub(crate) oauth: crate::oauth::server::OAuthServer,
    /// How many starts of authorisation on the API carried the customer's password (`psuData`).
    pub(crate) api_passwords: std::sync::atomic::AtomicU64,
}

impl Shared {
    /// Both faces up, over `ledger`.
    pub(crate) fn new(
        ledger: Arc<Ledger>,
        config: SandboxConfig,
        web_url: String,
        api_url: String,
    ) -> Self {
        Self {
            ledger,
            api_fault: watch::Sender::new(ApiFaultSetting {
                fault: ApiFault::Up,
                since: Instant::now(),
            }),
            web_fault: watch::Sender::new(WebsiteFault::Up),
            config,
            web_url,
            api_url,
            oauth: crate::oauth::server::OAuthServer::default(),
            api_passwords: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Makes the API misbehave (or behave again) from now on.
    pub(crate) fn set_api_fault(&self, fault: ApiFault) {
        tracing::info!(%fault, "sandbox API fault");
        self.api_fault.send_replace(ApiFaultSetting {
            fault,
            since: Instant::now(),
        });
    }

    /// Applies the website fault before a page of either website: waits out a `slow` delay, and says
    /// whether the maintenance page answers instead.
    pub(crate) async fn website_in_maintenance(&self) -> bool {
        let fault = *self.web_fault.borrow();
        match fault {
            WebsiteFault::Maintenance => true,
            WebsiteFault::Slow { ms } => {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                false
            }
            WebsiteFault::Up | WebsiteFault::LayoutV2 => false,
        }
    }

    /// Makes the website misbehave (or behave again).
    pub(crate) fn set_website_fault(&self, fault: WebsiteFault) {
        tracing::info!(%fault, "sandbox website fault");
        self.web_fault.send_replace(fault);
    }
}

/// Closes the connection a request came on, without an answer (for `processed-but-no-answer`).
#[derive(Debug, Clone)]
pub(crate) struct DropConnection(pub(crate) Arc<Notify>);
