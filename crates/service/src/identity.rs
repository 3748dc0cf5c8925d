//! The TPP's certificates per bank in the service's configuration: `qwac`, `qseal` (each `{ file =
//! "…" }` or `{ env = "VAR" }`), `sign_requests`, `server_ca`, and the `services` the bank is used for.
//! Loaded and checked at start — an expired certificate, or one lacking the role an enabled service
//! needs, refuses the start naming the bank's key, the file and the certificate's field — then handed
//! to the API client (mutual TLS, signing) and to the certificate-expiry gauge.

use std::path::PathBuf;

use psd2_fallback_engine::api::{ApiBankConfig, ClientIdentity};
use psd2_fallback_engine::identity::{CertificateFacts, PsdService, RequestSigner, TppCertificate};
use serde::Deserialize;

/// Where a certificate and its key are read from: one PEM file, or an environment variable holding
/// the PEM text (for secret stores that inject variables).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateSource {
    /// A PEM file with the certificate, its chain and its private key.
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// An environment variable holding that PEM.
    #[serde(default)]
    pub env: Option<String>,
}

/// A service a bank is used for, as the configuration names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceName {
    /// Accounts, balances, transactions, consents (`PSP_AI`).
    AccountInformation,
    /// Payments, files, standing orders (`PSP_PI`).
    PaymentInitiation,
    /// Confirmation of funds (`PSP_IC`).
    FundsConfirmation,
}

impl ServiceName {
    fn service(self) -> PsdService {
        match self {
            ServiceName::AccountInformation => PsdService::AccountInformation,
            ServiceName::PaymentInitiation => PsdService::PaymentInitiation,
            ServiceName::FundsConfirmation => PsdService::FundsConfirmation,
        }
    }
}

/// Every service: the default.
pub(crate) fn all_services() -> Vec<ServiceName> {
    vec![
        ServiceName::AccountInformation,
        ServiceName::PaymentInitiation,
        ServiceName::FundsConfirmation,
    ]
}

impl CertificateSource {
    fn load(&self) -> Result<TppCertificate, String> {
        match (&self.file, &self.env) {
            (Some(file), None) => TppCertificate::from_pem_file(file).map_err(|e| e.to_string()),
            (None, Some(var)) => TppCertificate::from_env(var).map_err(|e| e.to_string()),
            _ => Err("give file or env, one of them".to_owned()),
        }
    }
}

/// A bank's certificates, loaded and checked.
#[derive(Debug, Clone, Default)]
pub(crate) struct BankIdentity {
    /// The QWAC, for mutual TLS.
    pub(crate) qwac: Option<TppCertificate>,
    /// The signer with the QSeal, when the bank wants signed requests.
    pub(crate) signer: Option<RequestSigner>,
    /// The QSeal, when configured (the website's identification call signs with it too).
    pub(crate) qseal: Option<TppCertificate>,
    /// The bank's server CA (PEM), when pinned.
    pub(crate) server_ca: Option<Vec<u8>>,
}

impl BankIdentity {
    /// Loads and checks a bank's certificates now; an error is (key, reason).
    pub(crate) fn load(
        qwac: Option<&CertificateSource>,
        qseal: Option<&CertificateSource>,
        sign_requests: bool,
        server_ca: Option<&PathBuf>,
        services: &[ServiceName],
    ) -> Result<Self, (&'static str, String)> {
        let now = time::OffsetDateTime::now_utc();
        let services: Vec<PsdService> = services.iter().map(|s| s.service()).collect();
        let load = |key: &'static str, source: Option<&CertificateSource>| {
            source
                .map(|s| {
                    let cert = s.load().map_err(|e| (key, e))?;
                    cert.check(now, &services)
                        .map_err(|e| (key, e.to_string()))?;
                    Ok(cert)
                })
                .transpose()
        };
        let qwac = load("qwac", qwac)?;
        let qseal = load("qseal", qseal)?;
        let signer = match (sign_requests, &qseal) {
            (false, _) => None,
            (true, None) => {
                return Err(("sign_requests", "signing needs a qseal".to_owned()));
            }
            (true, Some(qseal)) => {
                Some(RequestSigner::new(qseal.clone()).map_err(|e| ("qseal", e.to_string()))?)
            }
        };
        let server_ca = server_ca
            .map(|path| {
                std::fs::read(path).map_err(|e| ("server_ca", format!("{}: {e}", path.display())))
            })
            .transpose()?;
        Ok(Self {
            qwac,
            signer,
            qseal,
            server_ca,
        })
    }

    /// Puts the certificates into an API client's configuration.
    pub(crate) fn apply(&self, config: &mut ApiBankConfig) {
        config.identity = self.qwac.as_ref().map(ClientIdentity::from_certificate);
        config.signer = self.signer.clone();
        config.server_roots_pem = self.server_ca.clone();
    }

    /// (`qwac`/`qseal`, expiry) of each certificate, for the expiry gauge and the start-up summary.
    pub(crate) fn certificates(&self) -> Vec<(&'static str, &TppCertificate)> {
        let mut out = Vec::new();
        if let Some(qwac) = &self.qwac {
            out.push(("qwac", qwac));
        }
        if let Some(signer) = &self.signer {
            out.push(("qseal", signer.certificate()));
        }
        out
    }
}

/// Days before a certificate's `notAfter` that `certificate.expiring` is sent.
pub(crate) const CERTIFICATE_NOTICE_DAYS: i64 = 30;

/// A certificate as operators see it (`/health`): whose (subject, `organizationIdentifier`, the NCA),
/// which roles, expiring when. Public facts only: no key, no PEM.
pub(crate) fn certificate_json(
    kind: &str,
    facts: &CertificateFacts,
    now: time::OffsetDateTime,
) -> serde_json::Value {
    let rfc3339 = |at: time::OffsetDateTime| {
        at.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    serde_json::json!({
        "certificate": kind,
        "subject": facts.subject,
        "organizationIdentifier": facts.organization_identifier,
        "ncaId": facts.psd2.as_ref().map(|s| s.nca_id.as_str()),
        "ncaName": facts.psd2.as_ref().map(|s| s.nca_name.as_str()),
        "roles": facts.roles().iter().map(|r| r.code()).collect::<Vec<_>>(),
        "issuer": facts.issuer,
        "serial": facts.serial,
        "notBefore": rfc3339(facts.not_before),
        "notAfter": rfc3339(facts.not_after),
        "daysLeft": (facts.not_after - now).whole_days(),
        "expiring": facts.not_after - now <= time::Duration::days(CERTIFICATE_NOTICE_DAYS),
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use psd2_fallback_engine::identity::PspRole;
    use psd2_fallback_engine::identity::test_pki::{TestPki, TppSpec};

    use crate::ServiceConfig;

    /// A folder for the test's PEM files, removed afterwards.
    struct Scratch(std::path::PathBuf);

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn config(bank_lines: &str) -> String {
        format!(
            "listen = \"127.0.0.1:0\"\njournal = \"journal.db\"\n[[banks]]\nname = \"sandbox\"\napi_base_url = \"http://127.0.0.1:9/\"\nallow_plain_http = true\n{bank_lines}"
        )
    }

    #[test]
    fn certificates_are_checked_at_start_naming_bank_key_file_and_field() {
        let scratch = Scratch(
            std::env::temp_dir().join(format!("psd2-fallback-certs-{}", uuid::Uuid::new_v4())),
        );
        std::fs::create_dir_all(&scratch.0).unwrap();
        let pki = TestPki::new("Test QTSP").unwrap();
        let now = time::OffsetDateTime::now_utc();
        let write = |name: &str, spec: &TppSpec| {
            let path = scratch.0.join(name);
            std::fs::write(&path, pki.tpp(spec).unwrap()).unwrap();
            path.display().to_string()
        };
        let good = write("qwac.pem", &TppSpec::default());
        let expired = write(
            "expired.pem",
            &TppSpec {
                not_before: now - time::Duration::days(400),
                not_after: now - time::Duration::days(1),
                ..TppSpec::default()
            },
        );
        let ais_only = write(
            "ais.pem",
            &TppSpec {
                roles: Some(vec![PspRole::AccountInformation]),
                ..TppSpec::default()
            },
        );
        let file = Path::new("psd2-fallback.toml");
        let ok = ServiceConfig::parse(
            &config(&format!(
                "sign_requests = true\nqwac = {{ file = \"{good}\" }}\nqseal = {{ file = \"{good}\" }}\n"
            )),
            file,
        )
        .unwrap();
        let identity = ok.banks[0].identity().unwrap();
        assert_eq!(identity.certificates().len(), 2);
        assert!(!format!("{identity:?}").contains("PRIVATE KEY"));

        let cases = [
            (
                format!("qwac = {{ file = \"{expired}\" }}\n"),
                format!("banks[0].qwac: {expired}: validity.notAfter: expired on"),
            ),
            (
                format!("qwac = {{ file = \"{ais_only}\" }}\n"),
                format!("banks[0].qwac: {ais_only}: qcStatements.rolesOfPSP: lacks PSP_PI"),
            ),
            (
                format!(
                    "services = [\"account_information\"]\nqwac = {{ file = \"{ais_only}\" }}\nsign_requests = true\n"
                ),
                "banks[0].sign_requests: signing needs a qseal".to_owned(),
            ),
            (
                "qseal = { env = \"PSD2_FALLBACK_TEST_NO_SUCH_VAR\" }\n".to_owned(),
                "banks[0].qseal: env:PSD2_FALLBACK_TEST_NO_SUCH_VAR: cannot be read: not set"
                    .to_owned(),
            ),
            (
                format!("qwac = {{ file = \"{good}\", env = \"X\" }}\n"),
                "banks[0].qwac: give file or env".to_owned(),
            ),
        ];
        for (lines, says) in cases {
            let error = ServiceConfig::parse(&config(&lines), file)
                .unwrap_err()
                .to_string();
            assert!(error.contains(&says), "{error}\nshould say {says}");
        }
        // With only account information enabled, the AIS-only QWAC is enough.
        ServiceConfig::parse(
            &config(&format!(
                "services = [\"account_information\"]\nqwac = {{ file = \"{ais_only}\" }}\n"
            )),
            file,
        )
        .unwrap();
    }
}
