//! The PSD2 QC statement of an eIDAS certificate (ETSI TS 119 495 §5.1): the roles a national competent
//! authority (NCA) granted the TPP, and that authority's name and id. Pure: DER in, values out (and the
//! reverse, for certificates the tests and the sandbox make).
//!
//! ```text
//! QCStatements ::= SEQUENCE OF QCStatement                      -- extension 1.3.6.1.5.5.7.1.3
//! QCStatement  ::= SEQUENCE { statementId OID, statementInfo ANY OPTIONAL }
//! PSD2QcType   ::= SEQUENCE { rolesOfPSP RolesOfPSP, nCAName UTF8String, nCAId UTF8String }
//!                                                               -- statementId 0.4.0.19495.2
//! RolesOfPSP   ::= SEQUENCE OF SEQUENCE { roleOfPspOid OID, roleOfPspName UTF8String }
//! ```

use std::fmt;

use x509_parser::der_parser::ber::{BerObject, BerObjectContent};
use x509_parser::der_parser::parse_der;

/// The OID of the X.509 `qcStatements` extension (RFC 3739).
pub const QC_STATEMENTS_OID: &str = "1.3.6.1.5.5.7.1.3";
/// The OID of the PSD2 QC statement (ETSI TS 119 495).
pub const PSD2_STATEMENT_OID: &str = "0.4.0.19495.2";

/// A role of a payment service provider, as ETSI TS 119 495 names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum PspRole {
    /// `PSP_AS`: account servicing (a bank).
    AccountServicing,
    /// `PSP_PI`: payment initiation.
    PaymentInitiation,
    /// `PSP_AI`: account information.
    AccountInformation,
    /// `PSP_IC`: issuing card-based payment instruments (funds confirmation).
    IssuingCards,
}

impl PspRole {
    /// Every role, in the standard's order.
    pub const ALL: [PspRole; 4] = [
        PspRole::AccountServicing,
        PspRole::PaymentInitiation,
        PspRole::AccountInformation,
        PspRole::IssuingCards,
    ];

    /// The role's name in the certificate: `PSP_AS`, `PSP_PI`, `PSP_AI`, `PSP_IC`.
    pub fn code(self) -> &'static str {
        match self {
            PspRole::AccountServicing => "PSP_AS",
            PspRole::PaymentInitiation => "PSP_PI",
            PspRole::AccountInformation => "PSP_AI",
            PspRole::IssuingCards => "PSP_IC",
        }
    }

    /// The role's OID (`id-psd2-role-psp-*`).
    pub fn oid(self) -> &'static str {
        match self {
            PspRole::AccountServicing => "0.4.0.19495.1.1",
            PspRole::PaymentInitiation => "0.4.0.19495.1.2",
            PspRole::AccountInformation => "0.4.0.19495.1.3",
            PspRole::IssuingCards => "0.4.0.19495.1.4",
        }
    }

    /// The role named `PSP_AS` … `PSP_IC`.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.code() == code)
    }

    fn from_oid(oid: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.oid() == oid)
    }
}

impl fmt::Display for PspRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// What the PSD2 QC statement says: the roles and the authority that granted them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Psd2Statement {
    /// The roles granted, in the certificate's order.
    pub roles: Vec<PspRole>,
    /// The authority's name, e.g. `National Bank of Belgium`.
    pub nca_name: String,
    /// The authority's id, e.g. `BE-NBB`.
    pub nca_id: String,
}

/// Why a `qcStatements` extension could not be read; the text names the element.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StatementError(pub String);

/// Reads the PSD2 statement out of the DER value of a `qcStatements` extension: `Ok(None)` when the
/// extension holds no PSD2 statement.
pub fn parse_qc_statements(der: &[u8]) -> Result<Option<Psd2Statement>, StatementError> {
    let err = |what: &str| StatementError(format!("qcStatements: {what}"));
    let (rest, outer) = parse_der(der).map_err(|_| err("not DER"))?;
    if !rest.is_empty() {
        return Err(err("bytes after the sequence"));
    }
    let statements = sequence(&outer).ok_or_else(|| err("not a SEQUENCE OF QCStatement"))?;
    for statement in statements {
        let parts = sequence(statement).ok_or_else(|| err("a QCStatement is not a SEQUENCE"))?;
        let id = parts
            .first()
            .and_then(oid)
            .ok_or_else(|| err("a QCStatement has no statementId"))?;
        if id != PSD2_STATEMENT_OID {
            continue;
        }
        let info = parts
            .get(1)
            .and_then(sequence)
            .ok_or_else(|| err("PSD2QcType is not a SEQUENCE"))?;
        let [roles, nca_name, nca_id] = info else {
            return Err(err("PSD2QcType needs rolesOfPSP, nCAName and nCAId"));
        };
        let roles = sequence(roles).ok_or_else(|| err("rolesOfPSP is not a SEQUENCE"))?;
        let mut parsed = Vec::with_capacity(roles.len());
        for role in roles {
            let role = sequence(role).ok_or_else(|| err("a RoleOfPSP is not a SEQUENCE"))?;
            let role_oid = role.first().and_then(oid);
            let role_name = role.get(1).and_then(text);
            let by_oid = role_oid.as_deref().and_then(PspRole::from_oid);
            let by_name = role_name.and_then(PspRole::from_code);
            match (by_oid, by_name) {
                (Some(a), Some(b)) if a == b => parsed.push(a),
                (Some(a), None) if role_name.is_none() => parsed.push(a),
                _ => {
                    return Err(err(&format!(
                        "rolesOfPSP: unknown or inconsistent role {:?} ({})",
                        role_name.unwrap_or("?"),
                        role_oid.unwrap_or_else(|| "?".to_owned())
                    )));
                }
            }
        }
        let nca_name = text(nca_name).ok_or_else(|| err("nCAName is not a UTF8String"))?;
        let nca_id = text(nca_id).ok_or_else(|| err("nCAId is not a UTF8String"))?;
        return Ok(Some(Psd2Statement {
            roles: parsed,
            nca_name: nca_name.to_owned(),
            nca_id: nca_id.to_owned(),
        }));
    }
    Ok(None)
}

fn sequence<'a>(object: &'a BerObject<'a>) -> Option<&'a [BerObject<'a>]> {
    match &object.content {
        BerObjectContent::Sequence(items) => Some(items),
        _ => None,
    }
}

fn oid(object: &BerObject<'_>) -> Option<String> {
    match &object.content {
        BerObjectContent::OID(oid) => Some(oid.to_id_string()),
        _ => None,
    }
}

fn text<'a>(object: &'a BerObject<'a>) -> Option<&'a str> {
    match &object.content {
        BerObjectContent::UTF8String(s) | BerObjectContent::PrintableString(s) => Some(s),
        _ => None,
    }
}

/// The DER value of a `qcStatements` extension holding one PSD2 statement: what a QTSP writes into a
/// QWAC or QSeal. The engine only reads certificates; this is for the ones tests and the sandbox make.
pub fn encode_qc_statements(statement: &Psd2Statement) -> Vec<u8> {
    let roles: Vec<u8> = statement
        .roles
        .iter()
        .flat_map(|role| {
            der(
                0x30,
                &[encode_oid(role.oid()), der(0x0c, role.code().as_bytes())].concat(),
            )
        })
        .collect();
    let psd2 = der(
        0x30,
        &[
            der(0x30, &roles),
            der(0x0c, statement.nca_name.as_bytes()),
            der(0x0c, statement.nca_id.as_bytes()),
        ]
        .concat(),
    );
    let qc = der(0x30, &[encode_oid(PSD2_STATEMENT_OID), psd2].concat());
    der(0x30, &qc)
}

/// One DER element: tag, definite length, content.
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

/// An OBJECT IDENTIFIER from its dotted form (the OIDs here are constants, all well formed).
fn encode_oid(dotted: &str) -> Vec<u8> {
    let arcs: Vec<u64> = dotted.split('.').filter_map(|a| a.parse().ok()).collect();
    let mut body = Vec::new();
    let first = arcs.first().copied().unwrap_or(0) * 40 + arcs.get(1).copied().unwrap_or(0);
    for arc in std::iter::once(first).chain(arcs.iter().skip(2).copied()) {
        let mut chunk = vec![(arc & 0x7f) as u8];
        let mut rest = arc >> 7;
        while rest > 0 {
            chunk.push(((rest & 0x7f) as u8) | 0x80);
            rest >>= 7;
        }
        chunk.reverse();
        body.extend(chunk);
    }
    der(0x06, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement(roles: &[PspRole]) -> Psd2Statement {
        Psd2Statement {
            roles: roles.to_vec(),
            nca_name: "National Bank of Belgium".to_owned(),
            nca_id: "BE-NBB".to_owned(),
        }
    }

    #[test]
    fn a_statement_reads_back_as_written() {
        for roles in [
            vec![],
            vec![PspRole::AccountInformation],
            PspRole::ALL.to_vec(),
        ] {
            let written = statement(&roles);
            let read = parse_qc_statements(&encode_qc_statements(&written)).unwrap();
            assert_eq!(read, Some(written));
        }
    }

    #[test]
    fn other_statements_are_skipped() {
        // QcCompliance (0.4.0.1862.1.1) alone: no PSD2 statement.
        let compliance = der(0x30, &der(0x30, &encode_oid("0.4.0.1862.1.1")));
        assert_eq!(parse_qc_statements(&compliance).unwrap(), None);
    }

    #[test]
    fn garbage_is_an_error_naming_the_element() {
        for (bytes, says) in [
            (vec![], "not DER"),
            (vec![0x30, 0x05, 0x01], "not DER"),
            (der(0x0c, b"hi"), "SEQUENCE OF"),
            (
                der(
                    0x30,
                    &der(
                        0x30,
                        &[encode_oid(PSD2_STATEMENT_OID), der(0x30, &[])].concat(),
                    ),
                ),
                "PSD2QcType needs",
            ),
        ] {
            let error = parse_qc_statements(&bytes).unwrap_err();
            assert!(error.0.contains(says), "{error} should say {says}");
        }
    }

    #[test]
    fn an_unknown_role_is_refused() {
        let role = der(
            0x30,
            &[encode_oid("0.4.0.19495.1.9"), der(0x0c, b"PSP_XX")].concat(),
        );
        let psd2 = der(
            0x30,
            &[der(0x30, &role), der(0x0c, b"NBB"), der(0x0c, b"BE-NBB")].concat(),
        );
        let bytes = der(
            0x30,
            &der(0x30, &[encode_oid(PSD2_STATEMENT_OID), psd2].concat()),
        );
        let error = parse_qc_statements(&bytes).unwrap_err();
        assert!(error.0.contains("PSP_XX"), "{error}");
    }

    #[test]
    fn role_codes_round_trip() {
        for role in PspRole::ALL {
            assert_eq!(PspRole::from_code(role.code()), Some(role));
            assert_eq!(PspRole::from_oid(role.oid()), Some(role));
        }
        assert_eq!(PspRole::from_code("psp_ai"), None);
    }
}
