//! A throw-away PKI made at run time, for tests, benchmarks and the sandbox: a CA, TLS server
//! certificates, and TPP certificates (QWAC/QSeal stand-ins) with a PSD2 QC statement. Nothing it makes
//! is ever written to the repository; every run has its own keys. Behind the `test-pki` feature.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, CustomExtension, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, PKCS_RSA_SHA256, RsaKeySize,
    SerialNumber,
};
use time::{Duration, OffsetDateTime};

use super::{Psd2Statement, PspRole, encode_qc_statements};

/// A test certificate authority.
#[derive(Debug)]
pub struct TestPki {
    ca: CertifiedIssuer<'static, KeyPair>,
    /// Serial numbers handed out, so each certificate has its own.
    next_serial: std::sync::atomic::AtomicU64,
}

/// What a test TPP certificate says.
#[derive(Debug, Clone)]
pub struct TppSpec {
    /// The subject's common name.
    pub name: String,
    /// The subject's `organizationIdentifier` (`None`: left out).
    pub organization_identifier: Option<String>,
    /// The roles in the PSD2 statement (`None`: no statement at all).
    pub roles: Option<Vec<PspRole>>,
    /// Not valid before.
    pub not_before: OffsetDateTime,
    /// Not valid after.
    pub not_after: OffsetDateTime,
    /// An RSA-2048 key (as QSeals usually are) instead of ECDSA P-256.
    pub rsa: bool,
}

impl Default for TppSpec {
    /// A TPP with every TPP role, valid from yesterday for a year, ECDSA.
    fn default() -> Self {
        let now = OffsetDateTime::now_utc();
        Self {
            name: "Test TPP".to_owned(),
            organization_identifier: Some("PSDBE-NBB-0123456789".to_owned()),
            roles: Some(vec![
                PspRole::AccountInformation,
                PspRole::PaymentInitiation,
                PspRole::IssuingCards,
            ]),
            not_before: now - Duration::days(1),
            not_after: now + Duration::days(365),
            rsa: false,
        }
    }
}

/// A failure to make a test certificate (rcgen's words).
#[derive(Debug, thiserror::Error)]
#[error("test PKI: {0}")]
pub struct TestPkiError(String);

fn pki_err(e: impl std::fmt::Display) -> TestPkiError {
    TestPkiError(e.to_string())
}

impl TestPki {
    /// A new CA named `name`, with a fresh key.
    pub fn new(name: &str) -> Result<Self, TestPkiError> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(pki_err)?;
        params.distinguished_name.push(DnType::CommonName, name);
        params
            .distinguished_name
            .push(DnType::OrganizationName, "psd2-fallback test PKI");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::days(400);
        params.not_after = now + Duration::days(3650);
        let key = KeyPair::generate().map_err(pki_err)?;
        let ca = CertifiedIssuer::self_signed(params, key).map_err(pki_err)?;
        Ok(Self {
            ca,
            next_serial: std::sync::atomic::AtomicU64::new(0x1000),
        })
    }

    /// The CA certificate, PEM: what a server trusts for client certificates, or a client for servers.
    pub fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    /// A TLS server certificate for `hosts` (DNS names or IP addresses): (certificate PEM, key PEM).
    pub fn server(&self, hosts: &[&str]) -> Result<(String, String), TestPkiError> {
        let mut params =
            CertificateParams::new(hosts.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>())
                .map_err(pki_err)?;
        params.distinguished_name.push(
            DnType::CommonName,
            hosts.first().copied().unwrap_or("server"),
        );
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.serial_number = Some(self.serial());
        let key = KeyPair::generate().map_err(pki_err)?;
        let cert = params.signed_by(&key, &self.ca).map_err(pki_err)?;
        Ok((cert.pem(), key.serialize_pem()))
    }

    /// A TPP certificate (certificate then key, one PEM) as `spec` says.
    pub fn tpp(&self, spec: &TppSpec) -> Result<String, TestPkiError> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(pki_err)?;
        params
            .distinguished_name
            .push(DnType::CommonName, &spec.name);
        params
            .distinguished_name
            .push(DnType::OrganizationName, &spec.name);
        params.distinguished_name.push(DnType::CountryName, "BE");
        if let Some(id) = &spec.organization_identifier {
            params
                .distinguished_name
                .push(DnType::CustomDnType(vec![2, 5, 4, 97]), id.as_str());
        }
        params.not_before = spec.not_before;
        params.not_after = spec.not_after;
        params.serial_number = Some(self.serial());
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::ContentCommitment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        if let Some(roles) = &spec.roles {
            let statement = Psd2Statement {
                roles: roles.clone(),
                nca_name: "National Bank of Belgium".to_owned(),
                nca_id: "BE-NBB".to_owned(),
            };
            params
                .custom_extensions
                .push(CustomExtension::from_oid_content(
                    &[1, 3, 6, 1, 5, 5, 7, 1, 3],
                    encode_qc_statements(&statement),
                ));
        }
        let key = if spec.rsa {
            KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_2048).map_err(pki_err)?
        } else {
            KeyPair::generate().map_err(pki_err)?
        };
        let cert = params.signed_by(&key, &self.ca).map_err(pki_err)?;
        Ok(format!("{}{}", cert.pem(), key.serialize_pem()))
    }

    fn serial(&self) -> SerialNumber {
        let n = self
            .next_serial
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        SerialNumber::from_slice(&n.to_be_bytes()[4..])
    }
}
