//! A bank's `website_egress`: the website channel's browsers reach the bank only through the engine's
//! egress proxy ([`Egress`]), which allows the configured hosts alone, presents the TPP's QWAC to the
//! website when asked, and writes every request into the Art. 33(5) access log with the switch event
//! that justified the fallback — fed here from the bank's health.
//!
//! Rows name no customer (`psu` is `-`): one egress serves every browser of the bank, and Chromium
//! gives a proxy nothing that says which browser a request came from (no credentials in
//! `--proxy-server`; the spare browser is launched before it knows its customer). The engine's own
//! row for the same call, written by the failover, names the customer and the data.

use std::path::PathBuf;
use std::sync::Arc;

use psd2_fallback_engine::egress::{Egress, EgressConfig, Identification};
use psd2_fallback_engine::health::Health;
use psd2_fallback_engine::identity::RequestSigner;
use psd2_fallback_engine::journal::JournalStore;
use serde::Deserialize;

use crate::identity::BankIdentity;

/// `[banks.website_egress]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebsiteEgressConfig {
    /// The hosts the browser may reach, `host` (any port) or `host:port`: the website's own and any
    /// it loads pages or scripts from. Every other host is refused.
    pub hosts: Vec<String>,
    /// Present the bank's `qwac` to the website over TLS (default yes; it needs a `qwac`).
    #[serde(default = "yes")]
    pub present_qwac: bool,
    /// The website's server CA (a PEM file), trusted instead of the system's.
    #[serde(default)]
    pub server_ca: Option<PathBuf>,
    /// The bank's fallback interface wants the TPP to identify itself with a call signed with the
    /// `qseal` before any page, which opens a short-lived session.
    #[serde(default)]
    pub identify: Option<IdentifyConfig>,
}

/// `[banks.website_egress.identify]`: the fallback interface's identification call, as the bank
/// publishes it (every value the bank's own words).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentifyConfig {
    /// The call's URL: `POST` with the body `{}`, signed with the bank's `qseal`; its host is listed.
    pub url: String,
    /// The field of the answer's JSON object holding the session's id.
    pub session_field: String,
    /// The header that carries the session's id on every request to the bank.
    pub session_header: String,
    /// How long a session is used before the call is made again, in seconds (at most the bank's).
    pub lifetime_secs: u64,
}

fn yes() -> bool {
    true
}

impl WebsiteEgressConfig {
    /// Checks the settings against the bank's: an error is (key under `website_egress`, reason).
    pub(crate) fn check(
        &self,
        website_url: Option<&str>,
        has_qwac: bool,
        has_qseal: bool,
        remote_webdriver: bool,
    ) -> Result<(), (&'static str, String)> {
        let Some(website) = website_url else {
            return Err(("", "needs website_url and screen_map".to_owned()));
        };
        if remote_webdriver {
            return Err((
                "",
                "needs a local browser (chromedriver): a remote WebDriver's browsers cannot reach \
                 the egress, which listens on this machine's loopback only"
                    .to_owned(),
            ));
        }
        if self.hosts.is_empty() {
            return Err(("hosts", "at least one host is needed".to_owned()));
        }
        if let Some(bad) = self
            .hosts
            .iter()
            .find(|h| h.is_empty() || h.contains('/') || h.contains(char::is_whitespace))
        {
            return Err(("hosts", format!("{bad:?} is not host or host:port")));
        }
        let url = reqwest::Url::parse(website)
            .map_err(|_| ("hosts", format!("website_url {website:?} is not a URL")))?;
        let host = url.host_str().unwrap_or_default();
        let port = url.port_or_known_default().unwrap_or(0);
        let with_port = format!("{host}:{port}");
        if !self
            .hosts
            .iter()
            .any(|h| h.eq_ignore_ascii_case(host) || h.eq_ignore_ascii_case(&with_port))
        {
            return Err((
                "hosts",
                format!("the website's own host {with_port} is not among them"),
            ));
        }
        if self.present_qwac && !has_qwac {
            return Err((
                "present_qwac",
                "the bank has no qwac to present (set qwac, or present_qwac = false)".to_owned(),
            ));
        }
        if let Some(path) = &self.server_ca
            && !path.is_file()
        {
            return Err(("server_ca", format!("{} is not a file", path.display())));
        }
        if let Some(identify) = &self.identify {
            identify.check(&self.hosts, has_qseal)?;
        }
        Ok(())
    }

    /// Starts the bank's egress, writing `journal`'s access log.
    pub(crate) async fn start(
        &self,
        bank: &str,
        identity: &BankIdentity,
        journal: Arc<dyn JournalStore>,
    ) -> Result<Egress, (&'static str, String)> {
        let server_roots_pem = self
            .server_ca
            .as_ref()
            .map(|path| {
                std::fs::read(path).map_err(|e| ("server_ca", format!("{}: {e}", path.display())))
            })
            .transpose()?;
        let identification = match (&self.identify, &identity.qseal) {
            (Some(identify), Some(qseal)) => Some(Identification {
                url: identify.url.clone(),
                signer: RequestSigner::new(qseal.clone())
                    .map_err(|e| ("identify", e.to_string()))?,
                session_field: identify.session_field.clone(),
                session_header: identify.session_header.clone(),
                lifetime: std::time::Duration::from_secs(identify.lifetime_secs),
            }),
            _ => None,
        };
        Egress::start(EgressConfig {
            bank: bank.to_owned(),
            allowed_hosts: self.hosts.clone(),
            qwac: if self.present_qwac {
                identity.qwac.clone()
            } else {
                None
            },
            server_roots_pem,
            journal: Some(journal),
            identification,
            ..EgressConfig::default()
        })
        .await
        .map_err(|e| ("", e.to_string()))
    }
}

impl IdentifyConfig {
    fn check(&self, hosts: &[String], has_qseal: bool) -> Result<(), (&'static str, String)> {
        if !has_qseal {
            return Err((
                "identify",
                "the identification call is signed with the bank's qseal: set qseal".to_owned(),
            ));
        }
        let url = reqwest::Url::parse(&self.url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
            .ok_or_else(|| {
                (
                    "identify.url",
                    format!("{:?} is not an http(s) URL", self.url),
                )
            })?;
        let host = url.host_str().unwrap_or_default();
        let with_port = format!("{host}:{}", url.port_or_known_default().unwrap_or(0));
        if !hosts
            .iter()
            .any(|h| h.eq_ignore_ascii_case(host) || h.eq_ignore_ascii_case(&with_port))
        {
            return Err((
                "identify.url",
                format!("its host {with_port} is not among the hosts"),
            ));
        }
        if reqwest::header::HeaderName::from_bytes(self.session_header.as_bytes()).is_err() {
            return Err((
                "identify.session_header",
                format!("{:?} is not a header name", self.session_header),
            ));
        }
        if self.session_field.is_empty() {
            return Err(("identify.session_field", "is empty".to_owned()));
        }
        if self.lifetime_secs == 0 {
            return Err(("identify.lifetime_secs", "must be above 0".to_owned()));
        }
        Ok(())
    }
}

/// Keeps the egress's justification equal to the bank's: the switch event that put it on the fallback,
/// or none on the API. Health sets its justification before it publishes the mode, so each change of
/// mode brings the right one. Runs until aborted.
pub(crate) fn follow_justification(
    egress: Arc<Egress>,
    health: Arc<Health>,
) -> tokio::task::JoinHandle<()> {
    let mut mode = health.watch();
    tokio::spawn(async move {
        loop {
            egress.set_justification(health.justification());
            if mode.changed().await.is_err() {
                return;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::ServiceConfig;

    fn config(bank_lines: &str) -> String {
        format!(
            "listen = \"127.0.0.1:0\"\njournal = \"journal.db\"\n[[banks]]\nname = \"sandbox\"\napi_base_url = \"http://127.0.0.1:9/\"\n{bank_lines}"
        )
    }

    /// A bad `website_egress` refuses the start naming the key: no website, the website's own host not
    /// listed, no QWAC to present, a remote browser that cannot reach a loopback proxy, a typo.
    #[test]
    fn website_egress_is_checked_at_load_naming_the_key() {
        let map = concat!(env!("CARGO_MANIFEST_DIR"), "/../../selectors/sandbox.toml");
        let website = format!("website_url = \"http://127.0.0.1:8080\"\nscreen_map = \"{map}\"\n");
        let file = Path::new("psd2-fallback.toml");
        let cases = [
            (
                "website_egress = { hosts = [\"127.0.0.1:8080\"], present_qwac = false }\n"
                    .to_owned(),
                "banks[0].website_egress: needs website_url and screen_map",
            ),
            (
                format!(
                    "{website}website_egress = {{ hosts = [\"127.0.0.1:9999\"], present_qwac = false }}\n"
                ),
                "banks[0].website_egress.hosts: the website's own host 127.0.0.1:8080 is not among them",
            ),
            (
                format!("{website}website_egress = {{ hosts = [] }}\n"),
                "banks[0].website_egress.hosts: at least one host is needed",
            ),
            (
                format!("{website}website_egress = {{ hosts = [\"https://127.0.0.1\"] }}\n"),
                "banks[0].website_egress.hosts: \"https://127.0.0.1\" is not host or host:port",
            ),
            (
                format!("{website}website_egress = {{ hosts = [\"127.0.0.1\"] }}\n"),
                "banks[0].website_egress.present_qwac: the bank has no qwac to present",
            ),
            (
                format!(
                    "{website}webdriver_url = \"http://127.0.0.1:4444\"\nwebsite_egress = {{ hosts = [\"127.0.0.1\"], present_qwac = false }}\n"
                ),
                "banks[0].website_egress: needs a local browser",
            ),
            (
                format!("{website}website_egress = {{ host = [\"127.0.0.1\"] }}\n"),
                "unknown field `host`",
            ),
            (
                format!(
                    "{website}website_egress = {{ hosts = [\"127.0.0.1\"], present_qwac = false, identify = {{ url = \"http://127.0.0.1:8080/id\", session_field = \"s\", session_header = \"S\", lifetime_secs = 60 }} }}\n"
                ),
                "banks[0].website_egress.identify: the identification call is signed with the bank's qseal",
            ),
        ];
        for (lines, says) in cases {
            let error = ServiceConfig::parse(&config(&lines), file)
                .unwrap_err()
                .to_string();
            assert!(error.contains(says), "{error}\nshould say {says}");
        }
        let ok = ServiceConfig::parse(
            &config(&format!(
                "{website}website_egress = {{ hosts = [\"127.0.0.1\", \"static.example:443\"], present_qwac = false }}\n"
            )),
            file,
        )
        .unwrap();
        let egress = ok.banks[0].website_egress.as_ref().unwrap();
        assert_eq!(egress.hosts, ["127.0.0.1", "static.example:443"]);
        assert!(!egress.present_qwac);
    }
}
