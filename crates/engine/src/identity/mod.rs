//! The TPP's identity towards a bank: its eIDAS certificates and what a bank checks in them.
//!
//! RTS Art. 33(5)(a) and PSD2 Arts 66(3)(d), 67(2)(c): the TPP identifies itself on every session, on
//! both channels. Banks check it with eIDAS certificates (the EBA's opinion: a QWAC for TLS, a QSeal
//! for signed requests). A [`TppCertificate`] is one of them, loaded from PEM (a file or an
//! environment variable) with its private key, which is secret: never in `Debug`, logs or errors.
//!
//! Loading reads what a bank will read — the validity dates, the subject's `organizationIdentifier`
//! (`PSDBE-NBB-0123456789`: the authorisation number) and the PSD2 QC statement (ETSI TS 119 495:
//! roles `PSP_AS`/`PSP_PI`/`PSP_AI`/`PSP_IC` and the authority that granted them) — and
//! [`TppCertificate::check`] refuses, naming the source and the field, a certificate that is not yet
//! valid, expired, or lacks a role an enabled service needs.
//!
//! - `psd2` — the QC statement's DER (pure).
//! - `signing` — Berlin Group message signing with the QSeal (`Digest`, `Signature`,
//!   `TPP-Signature-Certificate`), and its verification, as a bank does it.
//!
//! Only this module parses certificates; nothing here does network IO.

mod psd2;
mod signing;
#[cfg(any(test, feature = "test-pki"))]
pub mod test_pki;

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls::sign::SigningKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use secrecy::{ExposeSecret, SecretBox};
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};

pub use psd2::{
    PSD2_STATEMENT_OID, Psd2Statement, PspRole, QC_STATEMENTS_OID, StatementError,
    encode_qc_statements, parse_qc_statements,
};
pub use signing::{
    RequestSigner, SignatureError, SignedHeaders, VerifiedSignature, verify_request,
};

/// The OID of the subject's `organizationIdentifier` attribute (X.520), where a PSD2 certificate
/// carries `PSD<country>-<NCA>-<authorisation number>`.
const ORGANIZATION_IDENTIFIER_OID: &str = "2.5.4.97";

/// Why a certificate cannot identify the TPP. Every variant names where the certificate came from (a
/// file path or `env:VAR`) and, for a refused certificate, the field; never a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// The source could not be read.
    #[error("{origin}: cannot be read: {reason}")]
    Unreadable {
        /// The file path or `env:VAR`.
        origin: String,
        /// Why (the OS's words, or "not set").
        reason: String,
    },
    /// The PEM does not hold what is needed (a certificate, a private key that matches it).
    #[error("{origin}: {reason}")]
    Pem {
        /// The file path or `env:VAR`.
        origin: String,
        /// What is missing or wrong.
        reason: String,
    },
    /// A field of the certificate refuses it for this use.
    #[error("{origin}: {field}: {reason}")]
    Refused {
        /// The file path or `env:VAR`.
        origin: String,
        /// The certificate's field, e.g. `validity.notAfter` or `qcStatements.rolesOfPSP`.
        field: &'static str,
        /// Why, e.g. "expired on 2026-01-01 00:00:00 UTC".
        reason: String,
    },
}

/// What a bank reads in a TPP certificate. No secret: safe to show (`/health`, the start-up summary).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFacts {
    /// The subject's common name (or organisation when it has none).
    pub subject: String,
    /// The subject's `organizationIdentifier`, e.g. `PSDBE-NBB-0123456789`.
    pub organization_identifier: Option<String>,
    /// The issuer's distinguished name (RFC 4514).
    pub issuer: String,
    /// The serial number, upper-case hex without separators.
    pub serial: String,
    /// Not valid before.
    pub not_before: OffsetDateTime,
    /// Not valid after.
    pub not_after: OffsetDateTime,
    /// The PSD2 QC statement, when the certificate has one.
    pub psd2: Option<Psd2Statement>,
}

impl CertificateFacts {
    /// Reads the facts out of a DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, String> {
        let (rest, cert) =
            X509Certificate::from_der(der).map_err(|e| format!("not an X.509 certificate: {e}"))?;
        if !rest.is_empty() {
            return Err("bytes after the certificate".to_owned());
        }
        let subject = cert
            .subject()
            .iter_common_name()
            .chain(cert.subject().iter_organization())
            .find_map(|a| a.as_str().ok())
            .unwrap_or_default()
            .to_owned();
        let organization_identifier = cert
            .subject()
            .iter_attributes()
            .find(|a| a.attr_type().to_id_string() == ORGANIZATION_IDENTIFIER_OID)
            .and_then(|a| a.as_str().ok())
            .map(str::to_owned);
        let mut psd2 = None;
        for extension in cert.extensions() {
            if extension.oid.to_id_string() == QC_STATEMENTS_OID {
                psd2 = parse_qc_statements(extension.value).map_err(|e| e.0)?;
            }
        }
        Ok(Self {
            subject,
            organization_identifier,
            issuer: cert.issuer().to_string(),
            serial: cert.raw_serial_as_string().replace(':', "").to_uppercase(),
            not_before: cert.validity().not_before.to_datetime(),
            not_after: cert.validity().not_after.to_datetime(),
            psd2,
        })
    }

    /// The authorisation number out of the `organizationIdentifier` (`PSDBE-NBB-0123456789` →
    /// `0123456789`), when it has the PSD2 shape.
    pub fn authorisation_number(&self) -> Option<&str> {
        let id = self.organization_identifier.as_deref()?;
        let rest = id.strip_prefix("PSD")?;
        let mut parts = rest.splitn(3, '-');
        let (country, nca, number) = (parts.next()?, parts.next()?, parts.next()?);
        (country.len() == 2 && !nca.is_empty() && !number.is_empty()).then_some(number)
    }

    /// The roles the PSD2 statement grants (none without one).
    pub fn roles(&self) -> &[PspRole] {
        self.psd2.as_ref().map_or(&[], |s| &s.roles)
    }
}

/// The Berlin Group services a bank configuration enables, and the role each needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PsdService {
    /// Accounts, balances, transactions and consents: `PSP_AI`.
    AccountInformation,
    /// Payments, payment files and standing orders: `PSP_PI`.
    PaymentInitiation,
    /// Confirmation of funds: `PSP_IC`.
    FundsConfirmation,
}

impl PsdService {
    /// The role a bank wants to see for this service.
    pub fn role(self) -> PspRole {
        match self {
            PsdService::AccountInformation => PspRole::AccountInformation,
            PsdService::PaymentInitiation => PspRole::PaymentInitiation,
            PsdService::FundsConfirmation => PspRole::IssuingCards,
        }
    }

    /// The service a Berlin Group API path belongs to (`/v1/accounts/…` → account information), as a
    /// bank decides which role a request needs.
    pub fn of_api_path(path: &str) -> Option<Self> {
        let first = path.strip_prefix("/v1/")?.split('/').next()?;
        match first {
            "accounts" | "consents" | "card-accounts" => Some(PsdService::AccountInformation),
            "payments" | "periodic-payments" | "bulk-payments" | "signing-baskets" => {
                Some(PsdService::PaymentInitiation)
            }
            "funds-confirmations" => Some(PsdService::FundsConfirmation),
            _ => None,
        }
    }

    fn words(self) -> &'static str {
        match self {
            PsdService::AccountInformation => "account information",
            PsdService::PaymentInitiation => "payment initiation",
            PsdService::FundsConfirmation => "funds confirmation",
        }
    }
}

/// One eIDAS certificate of the TPP (a QWAC or a QSeal) with its private key.
#[derive(Clone)]
pub struct TppCertificate {
    /// Where it came from: a file path or `env:VAR`; named in every error.
    source: String,
    /// The certificate first, then its chain.
    chain: Vec<CertificateDer<'static>>,
    /// The PEM as given (chain and key), for TLS clients that take PEM. Secret.
    pem: Arc<SecretBox<Vec<u8>>>,
    /// The private key, ready to sign; its `Debug` shows the algorithm only.
    key: Arc<dyn SigningKey>,
    /// What a bank reads in the certificate.
    facts: CertificateFacts,
}

impl fmt::Debug for TppCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TppCertificate")
            .field("source", &self.source)
            .field("subject", &self.facts.subject)
            .field("serial", &self.facts.serial)
            .field("not_after", &self.facts.not_after)
            .field("key", &"***")
            .finish()
    }
}

impl TppCertificate {
    /// Reads a PEM file holding the certificate, its chain and its private key.
    pub fn from_pem_file(path: &Path) -> Result<Self, IdentityError> {
        let source = path.display().to_string();
        let pem = std::fs::read(path).map_err(|e| IdentityError::Unreadable {
            origin: source.clone(),
            reason: e.kind().to_string(),
        })?;
        Self::from_pem(source, pem)
    }

    /// Reads the PEM (certificate, chain and private key) from an environment variable.
    pub fn from_env(var: &str) -> Result<Self, IdentityError> {
        let source = format!("env:{var}");
        let pem = std::env::var(var).map_err(|e| IdentityError::Unreadable {
            origin: source.clone(),
            reason: match e {
                std::env::VarError::NotPresent => "not set".to_owned(),
                std::env::VarError::NotUnicode(_) => "not UTF-8".to_owned(),
            },
        })?;
        Self::from_pem(source, pem.into_bytes())
    }

    /// Reads PEM bytes holding the certificate, its chain and its private key; `source` names them in
    /// errors. The key must belong to the (first) certificate.
    pub fn from_pem(source: impl Into<String>, pem: Vec<u8>) -> Result<Self, IdentityError> {
        let source = source.into();
        let pem = SecretBox::new(Box::new(pem));
        let bad = |reason: &str| IdentityError::Pem {
            origin: source.clone(),
            reason: reason.to_owned(),
        };
        let chain = CertificateDer::pem_slice_iter(pem.expose_secret())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| bad("a CERTIFICATE block is not valid PEM"))?;
        let first = chain
            .first()
            .ok_or_else(|| bad("no CERTIFICATE in the PEM"))?;
        let key = PrivateKeyDer::from_pem_slice(pem.expose_secret())
            .map_err(|_| bad("no private key (PKCS#8, PKCS#1 or SEC1) in the PEM"))?;
        let key = rustls::crypto::aws_lc_rs::sign::any_supported_type(&key)
            .map_err(|_| bad("the private key is of an unsupported type"))?;
        let facts = CertificateFacts::from_der(first).map_err(|reason| bad(&reason))?;
        let (_, cert) = X509Certificate::from_der(first).map_err(|_| bad("not X.509"))?;
        let key_spki = key
            .public_key()
            .ok_or_else(|| bad("the private key has no public key"))?;
        if key_spki.as_ref() != cert.public_key().raw {
            return Err(bad("the private key does not belong to the certificate"));
        }
        Ok(Self {
            source,
            chain,
            pem: Arc::new(pem),
            key,
            facts,
        })
    }

    /// Where the certificate came from: a file path or `env:VAR`.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// What a bank reads in it.
    pub fn facts(&self) -> &CertificateFacts {
        &self.facts
    }

    /// The certificate first, then its chain (public).
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    /// The PEM as given, chain and key. Secret: for building a TLS client, nothing else.
    pub fn pem(&self) -> &SecretBox<Vec<u8>> {
        &self.pem
    }

    pub(crate) fn signing_key(&self) -> &Arc<dyn SigningKey> {
        &self.key
    }

    /// Refuses the certificate, naming the field, when at `now` it is not yet valid or expired, has
    /// no PSD2 statement or authorisation number, or lacks the role one of `services` needs.
    pub fn check(&self, now: OffsetDateTime, services: &[PsdService]) -> Result<(), IdentityError> {
        let refuse = |field: &'static str, reason: String| IdentityError::Refused {
            origin: self.source.clone(),
            field,
            reason,
        };
        let facts = &self.facts;
        if now < facts.not_before {
            return Err(refuse(
                "validity.notBefore",
                format!("not valid before {}", facts.not_before),
            ));
        }
        if now > facts.not_after {
            return Err(refuse(
                "validity.notAfter",
                format!("expired on {}", facts.not_after),
            ));
        }
        if facts.authorisation_number().is_none() {
            return Err(refuse(
                "subject.organizationIdentifier",
                match &facts.organization_identifier {
                    Some(id) => format!("{id:?} is not PSD<country>-<NCA>-<authorisation number>"),
                    None => {
                        "missing: a PSD2 certificate carries the TPP's authorisation number there"
                            .to_owned()
                    }
                },
            ));
        }
        let Some(statement) = &facts.psd2 else {
            return Err(refuse(
                "qcStatements",
                "no PSD2 QC statement (ETSI TS 119 495): no roles granted".to_owned(),
            ));
        };
        for service in services {
            if !statement.roles.contains(&service.role()) {
                return Err(refuse(
                    "qcStatements.rolesOfPSP",
                    format!(
                        "lacks {}, which {} needs (granted: {})",
                        service.role(),
                        service.words(),
                        role_list(&statement.roles)
                    ),
                ));
            }
        }
        Ok(())
    }

    /// One line for people: whose certificate, which roles, expiring when. No secret.
    pub fn summary(&self) -> String {
        let facts = &self.facts;
        format!(
            "{} ({}), roles {}, NCA {}, expires {}",
            facts.subject,
            facts
                .organization_identifier
                .as_deref()
                .unwrap_or("no organizationIdentifier"),
            role_list(facts.roles()),
            facts.psd2.as_ref().map_or("-", |s| s.nca_id.as_str()),
            facts.not_after.date()
        )
    }
}

fn role_list(roles: &[PspRole]) -> String {
    if roles.is_empty() {
        return "none".to_owned();
    }
    roles
        .iter()
        .map(|r| r.code())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests;
