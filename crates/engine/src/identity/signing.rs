//! Berlin Group message signing (NextGenPSD2 Implementation Guidelines §"Signature", after
//! draft-cavage-http-signatures): the TPP signs each request with its QSeal.
//!
//! - `Digest: SHA-256=<base64 of the body's SHA-256>` (the empty body included);
//! - `Signature: keyId="SN=<serial>,CA=<issuer>",algorithm="rsa-sha256",headers="digest
//!   x-request-id …",signature="<base64>"` over the signing string: one `name: value` line per signed
//!   header, in that order, joined by `\n`. Signed: `digest`, `x-request-id`, `date`, and `psu-id`,
//!   `psu-corporate-id`, `tpp-redirect-uri` when the request carries them;
//! - `TPP-Signature-Certificate: <base64 of the QSeal's DER>`.
//!
//! [`verify_request`] is the bank's side: what the sandbox runs, and what a test runs to check a
//! signature independently of the signer.

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1, ECDSA_P384_SHA384_ASN1, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey,
    VerificationAlgorithm,
};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use rustls::SignatureScheme;
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use time::macros::format_description;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::{CertificateFacts, IdentityError, TppCertificate};

/// Headers signed when the request carries them, after `digest`, `x-request-id` and `date`.
const CONDITIONAL: [&str; 3] = ["psu-id", "psu-corporate-id", "tpp-redirect-uri"];
/// Headers a signature must cover.
const MANDATORY: [&str; 2] = ["digest", "x-request-id"];

/// Signs requests with a QSeal.
#[derive(Debug, Clone)]
pub struct RequestSigner {
    qseal: TppCertificate,
    /// `SN=…,CA=…`, computed once.
    key_id: String,
    /// The certificate, base64, for `TPP-Signature-Certificate`.
    certificate: String,
}

/// The headers a signed request carries, to add to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    /// `Digest`.
    pub digest: String,
    /// `Date` (IMF-fixdate), signed.
    pub date: String,
    /// `Signature`.
    pub signature: String,
    /// `TPP-Signature-Certificate`.
    pub certificate: String,
}

impl SignedHeaders {
    /// The headers as (name, value) pairs, in the order they are added.
    pub fn pairs(&self) -> [(&'static str, &str); 4] {
        [
            ("Digest", &self.digest),
            ("Date", &self.date),
            ("Signature", &self.signature),
            ("TPP-Signature-Certificate", &self.certificate),
        ]
    }
}

impl RequestSigner {
    /// A signer with this QSeal; refused if its key cannot sign with RSA-SHA256 or ECDSA.
    pub fn new(qseal: TppCertificate) -> Result<Self, IdentityError> {
        if qseal
            .signing_key()
            .choose_scheme(&SCHEMES.map(|(s, _)| s))
            .is_none()
        {
            return Err(IdentityError::Pem {
                origin: qseal.source().to_owned(),
                reason: "the key cannot sign with rsa-sha256 or ecdsa".to_owned(),
            });
        }
        let facts = qseal.facts();
        let key_id = format!("SN={},CA={}", facts.serial, escape_key_id(&facts.issuer));
        let certificate = BASE64.encode(qseal.chain()[0].as_ref());
        Ok(Self {
            qseal,
            key_id,
            certificate,
        })
    }

    /// The QSeal this signer uses.
    pub fn certificate(&self) -> &TppCertificate {
        &self.qseal
    }

    /// The headers that sign a request with these `headers` (name, value; any case) and `body`, at `now`.
    pub fn sign(
        &self,
        headers: &[(&str, &str)],
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<SignedHeaders, IdentityError> {
        let digest = format!("SHA-256={}", BASE64.encode(Sha256::digest(body)));
        let date = http_date(now);
        let find = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| *v)
        };
        let request_id = find("x-request-id").ok_or_else(|| IdentityError::Pem {
            origin: self.qseal.source().to_owned(),
            reason: "a signed request needs an X-Request-ID".to_owned(),
        })?;
        let mut lines = vec![
            ("digest", digest.as_str()),
            ("x-request-id", request_id),
            ("date", date.as_str()),
        ];
        for name in CONDITIONAL {
            if let Some(value) = find(name) {
                lines.push((name, value));
            }
        }
        let signing_string = signing_string(&lines);
        let signer = self
            .qseal
            .signing_key()
            .choose_scheme(&SCHEMES.map(|(s, _)| s))
            .ok_or_else(|| self.failed())?;
        let algorithm = SCHEMES
            .iter()
            .find(|(s, _)| *s == signer.scheme())
            .map_or("rsa-sha256", |(_, name)| *name);
        let signature = signer
            .sign(signing_string.as_bytes())
            .map_err(|_| self.failed())?;
        let names: Vec<&str> = lines.iter().map(|(n, _)| *n).collect();
        Ok(SignedHeaders {
            digest,
            date,
            signature: format!(
                "keyId=\"{}\",algorithm=\"{algorithm}\",headers=\"{}\",signature=\"{}\"",
                self.key_id,
                names.join(" "),
                BASE64.encode(signature)
            ),
            certificate: self.certificate.clone(),
        })
    }

    /// Signs a `reqwest` request in place (its body must be in memory).
    pub fn sign_reqwest(&self, request: &mut reqwest::Request) -> Result<(), IdentityError> {
        let body = request
            .body()
            .map(|b| b.as_bytes().map(<[u8]>::to_vec))
            .unwrap_or(Some(Vec::new()))
            .ok_or_else(|| IdentityError::Pem {
                origin: self.qseal.source().to_owned(),
                reason: "a streamed body cannot be signed".to_owned(),
            })?;
        let pairs: Vec<(String, String)> = request
            .headers()
            .iter()
            .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        let borrowed: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let signed = self.sign(&borrowed, &body, OffsetDateTime::now_utc())?;
        for (name, value) in signed.pairs() {
            if let Ok(value) = reqwest::header::HeaderValue::from_str(value) {
                request.headers_mut().insert(name, value);
            }
        }
        Ok(())
    }

    fn failed(&self) -> IdentityError {
        IdentityError::Pem {
            origin: self.qseal.source().to_owned(),
            reason: "signing failed".to_owned(),
        }
    }
}

/// The schemes the signer offers, with their names in the `Signature` header.
const SCHEMES: [(SignatureScheme, &str); 3] = [
    (SignatureScheme::RSA_PKCS1_SHA256, "rsa-sha256"),
    (SignatureScheme::ECDSA_NISTP256_SHA256, "ecdsa-sha256"),
    (SignatureScheme::ECDSA_NISTP384_SHA384, "ecdsa-sha384"),
];

/// Why a bank refuses a request's signature. The Berlin Group code to answer with is
/// [`SignatureError::code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// No `Signature` (or no `Digest`, or no `TPP-Signature-Certificate`).
    #[error("{0} header missing")]
    Missing(&'static str),
    /// The `Digest` does not match the body.
    #[error("Digest does not match the body")]
    Digest,
    /// The `Signature` header or the certificate cannot be read; names the part.
    #[error("{0}")]
    Malformed(String),
    /// The signature does not verify with the certificate's key.
    #[error("signature does not verify with TPP-Signature-Certificate")]
    Invalid,
}

impl SignatureError {
    /// The Berlin Group `tppMessages` code a bank answers with (HTTP 401).
    pub fn code(&self) -> &'static str {
        match self {
            SignatureError::Missing(_) => "SIGNATURE_MISSING",
            SignatureError::Malformed(m) if m.starts_with("TPP-Signature-Certificate") => {
                "CERTIFICATE_INVALID"
            }
            _ => "SIGNATURE_INVALID",
        }
    }
}

/// A signature that verified: whose seal signed, and what it covered.
#[derive(Debug, Clone)]
pub struct VerifiedSignature {
    /// The QSeal's facts (roles, authorisation number, validity): the bank checks them next.
    pub signer: CertificateFacts,
    /// The signed headers, lower case, in order.
    pub headers: Vec<String>,
}

/// Verifies a signed request as a bank does: the digest against `body`, the signature over the
/// headers it names (read with `header`, any case) with the key of `TPP-Signature-Certificate`, whose
/// serial must be the `keyId`'s. `digest` and `x-request-id` must be signed, and so must each
/// conditional header the request carries.
pub fn verify_request(
    header: impl Fn(&str) -> Option<String>,
    body: &[u8],
) -> Result<VerifiedSignature, SignatureError> {
    let signature = header("signature").ok_or(SignatureError::Missing("Signature"))?;
    let digest = header("digest").ok_or(SignatureError::Missing("Digest"))?;
    let certificate = header("tpp-signature-certificate")
        .ok_or(SignatureError::Missing("TPP-Signature-Certificate"))?;
    let expected = format!("SHA-256={}", BASE64.encode(Sha256::digest(body)));
    if !digest.split(',').any(|d| d.trim() == expected) {
        return Err(SignatureError::Digest);
    }
    let params = parse_signature(&signature)?;
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| SignatureError::Malformed(format!("Signature has no {name}")))
    };
    let names: Vec<String> = get("headers")?
        .split_ascii_whitespace()
        .map(str::to_ascii_lowercase)
        .collect();
    for needed in MANDATORY {
        if !names.iter().any(|n| n == needed) {
            return Err(SignatureError::Malformed(format!(
                "Signature headers do not include {needed}"
            )));
        }
    }
    for conditional in CONDITIONAL {
        if header(conditional).is_some() && !names.iter().any(|n| n == conditional) {
            return Err(SignatureError::Malformed(format!(
                "Signature headers do not include {conditional}, which the request carries"
            )));
        }
    }
    let mut lines = Vec::with_capacity(names.len());
    for name in &names {
        let value = header(name)
            .ok_or_else(|| SignatureError::Malformed(format!("signed header {name} is absent")))?;
        lines.push((name.clone(), value));
    }
    let signing_string = signing_string(&lines);
    let bytes = BASE64
        .decode(get("signature")?)
        .map_err(|_| SignatureError::Malformed("Signature signature is not base64".to_owned()))?;
    let der = BASE64.decode(certificate.trim()).map_err(|_| {
        SignatureError::Malformed("TPP-Signature-Certificate is not base64".to_owned())
    })?;
    let (_, cert) = X509Certificate::from_der(&der).map_err(|_| {
        SignatureError::Malformed(
            "TPP-Signature-Certificate is not an X.509 certificate".to_owned(),
        )
    })?;
    let facts = CertificateFacts::from_der(&der)
        .map_err(|e| SignatureError::Malformed(format!("TPP-Signature-Certificate: {e}")))?;
    let key_id = get("keyId")?;
    let serial = key_id
        .split(',')
        .find_map(|p| p.trim().strip_prefix("SN="))
        .ok_or_else(|| SignatureError::Malformed("keyId has no SN=".to_owned()))?;
    if !serial
        .trim_start_matches('0')
        .eq_ignore_ascii_case(facts.serial.trim_start_matches('0'))
    {
        return Err(SignatureError::Malformed(
            "keyId SN is not the serial of TPP-Signature-Certificate".to_owned(),
        ));
    }
    let algorithm: &'static dyn VerificationAlgorithm = match get("algorithm")? {
        "rsa-sha256" | "SHA256withRSA" => &RSA_PKCS1_2048_8192_SHA256,
        "ecdsa-sha256" | "SHA256withECDSA" => &ECDSA_P256_SHA256_ASN1,
        "ecdsa-sha384" | "SHA384withECDSA" => &ECDSA_P384_SHA384_ASN1,
        other => {
            return Err(SignatureError::Malformed(format!(
                "Signature algorithm {other:?} is not supported"
            )));
        }
    };
    UnparsedPublicKey::new(algorithm, &cert.public_key().subject_public_key.data)
        .verify(signing_string.as_bytes(), &bytes)
        .map_err(|_| SignatureError::Invalid)?;
    Ok(VerifiedSignature {
        signer: facts,
        headers: names,
    })
}

/// The draft-cavage signing string: `name: value` lines joined by `\n`.
fn signing_string<N: AsRef<str>, V: AsRef<str>>(lines: &[(N, V)]) -> String {
    lines
        .iter()
        .map(|(n, v)| format!("{}: {}", n.as_ref(), v.as_ref().trim()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `key="value"` pairs of a `Signature` header (commas inside quotes kept).
fn parse_signature(header: &str) -> Result<Vec<(String, String)>, SignatureError> {
    let mut out = Vec::new();
    let mut rest = header.trim();
    while !rest.is_empty() {
        let eq = rest.find('=').ok_or_else(|| {
            SignatureError::Malformed("Signature is not key=\"value\" pairs".to_owned())
        })?;
        let key = rest[..eq].trim().to_owned();
        let after = rest[eq + 1..].trim_start();
        let value = after
            .strip_prefix('"')
            .and_then(|v| v.find('"').map(|end| (v[..end].to_owned(), &v[end + 1..])))
            .ok_or_else(|| SignatureError::Malformed(format!("Signature {key} is not quoted")))?;
        out.push((key, value.0));
        rest = value.1.trim_start().trim_start_matches(',').trim_start();
    }
    Ok(out)
}

/// The issuer in a `keyId`: spaces, quotes and percent signs percent-encoded, as the spec's example.
fn escape_key_id(issuer: &str) -> String {
    issuer
        .replace('%', "%25")
        .replace(' ', "%20")
        .replace('"', "%22")
}

/// An IMF-fixdate (`Fri, 27 Nov 2026 19:30:00 GMT`).
fn http_date(at: OffsetDateTime) -> String {
    let format = format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    at.to_offset(time::UtcOffset::UTC)
        .format(&format)
        .unwrap_or_default()
}
