//! Payment files: ISO 20022 `pain.001` customer credit transfer initiations, versions `.03` and `.09`.
//!
//! A file is validated in the order a bank would: well-formed XML without a DTD, then valid against its
//! version's schema (the ISO 20022 XSDs in `schemas/`, checked by libxml2), then `NbOfTxs` and `CtrlSum`
//! against the content (for the group header and every payment information block), then every IBAN
//! (ISO 13616 mod-97). Each failure names the element, so the customer can mend the file.

use std::fmt;

use rust_decimal::Decimal;
use time::Date;

use super::belgian::parse_iso_date;
use super::xml_shape::{self, XmlLimits};
use super::{Amount, Currency, Iban, InvalidValue};

/// The largest file accepted, in bytes (10 MiB).
pub const MAX_FILE_SIZE: usize = 10 * 1024 * 1024;

/// The shape a pain.001 file may have, checked in one pass before any parser runs: its deepest element
/// is about a dozen levels down, amounts carry one attribute and the root its namespaces, so these
/// bounds refuse only what no bank's file looks like (ten thousand nested elements, sixty thousand
/// attributes) while leaving room for the largest files [`MAX_FILE_SIZE`] admits.
const LIMITS: XmlLimits = XmlLimits {
    depth: 32,
    elements: 1_000_000,
    attributes_per_element: 8,
    namespace_declarations: 8,
};

/// A pain.001 message version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pain001Version {
    /// `pain.001.001.03` (2009), still accepted by many banks.
    V03,
    /// `pain.001.001.09` (2019), the version the current SEPA rulebook pins.
    V09,
}

impl Pain001Version {
    /// The XML namespace of the version.
    pub fn namespace(self) -> &'static str {
        match self {
            Pain001Version::V03 => "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03",
            Pain001Version::V09 => "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09",
        }
    }

    /// The message name: `pain.001.001.03`.
    pub fn name(self) -> &'static str {
        &self.namespace()["urn:iso:std:iso:20022:tech:xsd:".len()..]
    }

    /// The version's ISO 20022 schema (XSD), as bundled.
    pub fn schema(self) -> &'static str {
        match self {
            Pain001Version::V03 => include_str!("../../schemas/pain.001.001.03.xsd"),
            Pain001Version::V09 => include_str!("../../schemas/pain.001.001.09.xsd"),
        }
    }

    fn from_namespace(ns: &str) -> Option<Self> {
        [Self::V03, Self::V09]
            .into_iter()
            .find(|v| v.namespace() == ns)
    }
}

/// One credit transfer inside a payment file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePayment {
    /// The payment information block it belongs to (`PmtInfId`).
    pub batch_id: String,
    /// The account paid from (`PmtInf/DbtrAcct`).
    pub debtor: Iban,
    /// The day to execute (`PmtInf/ReqdExctnDt`).
    pub requested_execution_date: Date,
    /// The creditor's name (`Cdtr/Nm`).
    pub creditor_name: String,
    /// The creditor's account (`CdtrAcct`).
    pub creditor: Iban,
    /// The amount (`Amt/InstdAmt`).
    pub amount: Amount,
    /// The end-to-end id (`PmtId/EndToEndId`).
    pub end_to_end_id: String,
    /// The communication (`RmtInf/Ustrd`).
    pub remittance: Option<String>,
}

/// A validated pain.001 file: its header, its payments and the bytes to upload.
#[derive(Clone, PartialEq, Eq)]
pub struct PaymentFile {
    /// Which version.
    pub version: Pain001Version,
    /// The message id (`GrpHdr/MsgId`), unique per initiating party.
    pub message_id: String,
    /// The declared number of transactions (`GrpHdr/NbOfTxs`), checked against the content.
    pub number_of_transactions: usize,
    /// The declared control sum (`GrpHdr/CtrlSum`), checked against the content.
    pub control_sum: Decimal,
    /// Who made the file (`GrpHdr/InitgPty/Nm`).
    pub initiating_party: Option<String>,
    /// Every credit transfer, in file order.
    pub payments: Vec<FilePayment>,
    /// The file as given.
    xml: String,
}

impl fmt::Debug for PaymentFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PaymentFile")
            .field("version", &self.version)
            .field("message_id", &self.message_id)
            .field("number_of_transactions", &self.number_of_transactions)
            .field("control_sum", &self.control_sum)
            .finish_non_exhaustive()
    }
}

/// Why a payment file was refused. Every variant names the element at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PaymentFileError {
    /// The file is larger than the limit.
    #[error("payment file is {size} bytes, more than the {limit} bytes accepted")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The file goes past a bound on its shape (checked before parsing).
    #[error("payment file has more {what} than the {limit} accepted (line {line})")]
    Limit {
        /// What was counted: `depth`, `elements`, `attributes on one element`,
        /// `namespace declarations`.
        what: &'static str,
        /// The bound.
        limit: usize,
        /// The line where it was passed.
        line: usize,
    },
    /// Not well-formed XML (or it carries a DTD, which is refused).
    #[error("payment file is not well-formed XML: {reason}")]
    NotXml {
        /// What the parser said, with the position.
        reason: String,
    },
    /// The root element is not a pain.001.001.03 or .09 `Document`.
    #[error(
        "payment file root element {element} is not a pain.001.001.03 or pain.001.001.09 Document"
    )]
    UnknownVersion {
        /// The root element with its namespace.
        element: String,
    },
    /// The file does not match its version's schema.
    #[error("payment file is not valid {version}: {}", .violations.join("; "))]
    Schema {
        /// The version it declared.
        version: &'static str,
        /// Each violation: line, element, reason.
        violations: Vec<String>,
    },
    /// `NbOfTxs` does not match the content.
    #[error("{element} declares {declared} transactions but the file holds {actual}")]
    NumberOfTransactions {
        /// The element, e.g. `GrpHdr/NbOfTxs` or `PmtInf[2]/NbOfTxs`.
        element: String,
        /// The declared count.
        declared: String,
        /// The count found.
        actual: usize,
    },
    /// `CtrlSum` does not match the content.
    #[error("{element} declares {declared} but the amounts add up to {actual}")]
    ControlSum {
        /// The element, e.g. `GrpHdr/CtrlSum`.
        element: String,
        /// The declared sum.
        declared: Decimal,
        /// The sum found.
        actual: Decimal,
    },
    /// A value inside the file is invalid (an IBAN, a currency, an amount).
    #[error("{element}: {reason}")]
    Value {
        /// The element, e.g. `PmtInf[1]/CdtTrfTxInf[3]/CdtrAcct/Id/IBAN`.
        element: String,
        /// Why.
        reason: String,
    },
}

impl PaymentFile {
    /// Parses and validates a pain.001 file: schema, then counts and sums, then every IBAN.
    pub fn parse(xml: &str) -> Result<Self, PaymentFileError> {
        let version = Self::check_schema(xml)?;
        let doc = roxmltree::Document::parse(xml).map_err(|e| PaymentFileError::NotXml {
            reason: e.to_string(),
        })?;
        extract(version, xml, &doc)
    }

    /// Only the first step of [`PaymentFile::parse`]: the size, well-formed XML without a DTD, a known
    /// version, valid against that version's schema. Returns the version.
    pub fn check_schema(xml: &str) -> Result<Pain001Version, PaymentFileError> {
        if xml.len() > MAX_FILE_SIZE {
            return Err(PaymentFileError::TooLarge {
                size: xml.len(),
                limit: MAX_FILE_SIZE,
            });
        }
        xml_shape::check(xml, &LIMITS).map_err(|e| PaymentFileError::Limit {
            what: e.what,
            limit: e.limit,
            line: e.line,
        })?;
        // roxmltree refuses a DTD, so no entity can expand or be fetched.
        let doc = roxmltree::Document::parse(xml).map_err(|e| PaymentFileError::NotXml {
            reason: e.to_string(),
        })?;
        let root = doc.root_element();
        let ns = root.tag_name().namespace().unwrap_or("");
        let version = Pain001Version::from_namespace(ns)
            .filter(|_| root.tag_name().name() == "Document")
            .ok_or_else(|| PaymentFileError::UnknownVersion {
                element: format!("{{{ns}}}{}", root.tag_name().name()),
            })?;
        validate_schema(version, xml)?;
        Ok(version)
    }

    /// The file as given, to upload.
    pub fn xml(&self) -> &str {
        &self.xml
    }

    /// The sum of all amounts.
    pub fn total(&self) -> Decimal {
        self.payments.iter().map(|p| p.amount.value()).sum()
    }
}

#[cfg(feature = "pain001-schema")]
thread_local! {
    /// Compiled schemas, one per version, per thread (libxml2 contexts are not `Send`).
    static SCHEMAS: std::cell::RefCell<Vec<(Pain001Version, libxml::schemas::SchemaValidationContext)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Without the `pain001-schema` feature the schema step is skipped: the content reader still requires
/// every element it reads, and counts, sums and IBANs are checked as always.
#[cfg(not(feature = "pain001-schema"))]
fn validate_schema(_version: Pain001Version, _xml: &str) -> Result<(), PaymentFileError> {
    Ok(())
}

#[cfg(feature = "pain001-schema")]
fn validate_schema(version: Pain001Version, xml: &str) -> Result<(), PaymentFileError> {
    let doc = libxml::parser::Parser::default()
        .parse_string(xml)
        .map_err(|e| PaymentFileError::NotXml {
            reason: format!("{e:?}"),
        })?;
    SCHEMAS.with(|cell| {
        let mut schemas = cell.borrow_mut();
        if !schemas.iter().any(|(v, _)| *v == version) {
            let mut parser = libxml::schemas::SchemaParserContext::from_buffer(version.schema());
            let context = libxml::schemas::SchemaValidationContext::from_parser(&mut parser)
                .unwrap_or_else(|errors| {
                    panic!(
                        "the bundled {} schema does not compile: {errors:?}",
                        version.name()
                    )
                });
            schemas.push((version, context));
        }
        let (_, context) = schemas
            .iter_mut()
            .find(|(v, _)| *v == version)
            .expect("the schema was just added");
        context
            .validate_document(&doc)
            .map_err(|errors| PaymentFileError::Schema {
                version: version.name(),
                violations: errors
                    .iter()
                    .map(|e| {
                        let message = e.message.as_deref().unwrap_or("invalid").trim();
                        let message = message.replace(&format!("{{{}}}", version.namespace()), "");
                        match e.line {
                            Some(line) => format!("line {line}: {message}"),
                            None => message,
                        }
                    })
                    .collect(),
            })
    })
}

/// The child element the schema requires; checked here too, so a file read without the schema step
/// (feature `pain001-schema` off) is refused naming the element instead of being misread.
fn required<'a, 'i>(
    node: roxmltree::Node<'a, 'i>,
    name: &str,
    at: &str,
) -> Result<roxmltree::Node<'a, 'i>, PaymentFileError> {
    child(node, name).ok_or_else(|| PaymentFileError::Value {
        element: format!("{at}/{name}"),
        reason: "a required element is missing".to_owned(),
    })
}

/// Child elements by local name (the namespace is the document's, already checked).
fn child<'a, 'i>(node: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
    node.children()
        .find(|n| n.is_element() && n.tag_name().name() == name)
}

fn children<'a, 'i>(
    node: roxmltree::Node<'a, 'i>,
    name: &'static str,
) -> impl Iterator<Item = roxmltree::Node<'a, 'i>> {
    node.children()
        .filter(move |n| n.is_element() && n.tag_name().name() == name)
}

fn path_text<'a>(node: roxmltree::Node<'a, '_>, path: &[&str]) -> Option<&'a str> {
    let mut at = node;
    for name in path {
        at = child(at, name)?;
    }
    at.text().map(str::trim)
}

fn extract(
    version: Pain001Version,
    xml: &str,
    doc: &roxmltree::Document<'_>,
) -> Result<PaymentFile, PaymentFileError> {
    let initiation = required(doc.root_element(), "CstmrCdtTrfInitn", "Document")?;
    let header = required(initiation, "GrpHdr", "CstmrCdtTrfInitn")?;
    let message_id = path_text(header, &["MsgId"]).unwrap_or_default().to_owned();
    let declared_count = path_text(header, &["NbOfTxs"]).unwrap_or_default();
    let declared_sum = path_text(header, &["CtrlSum"]);
    let initiating_party = path_text(header, &["InitgPty", "Nm"]).map(str::to_owned);

    let mut payments = Vec::new();
    for (b, block) in children(initiation, "PmtInf").enumerate() {
        let at = format!("PmtInf[{}]", b + 1);
        let batch_id = path_text(block, &["PmtInfId"])
            .unwrap_or_default()
            .to_owned();
        let debtor = iban_at(block, &at, &["DbtrAcct", "Id", "IBAN"])?;
        let date_text = match version {
            Pain001Version::V03 => path_text(block, &["ReqdExctnDt"]),
            Pain001Version::V09 => path_text(block, &["ReqdExctnDt", "Dt"]).or_else(|| {
                path_text(block, &["ReqdExctnDt", "DtTm"]).map(|t| t.get(..10).unwrap_or(t))
            }),
        }
        .unwrap_or_default();
        let requested_execution_date =
            parse_iso_date(date_text).map_err(|e| value_error(format!("{at}/ReqdExctnDt"), e))?;
        let first = payments.len();
        for (t, tx) in children(block, "CdtTrfTxInf").enumerate() {
            let at = format!("{at}/CdtTrfTxInf[{}]", t + 1);
            let amount_node = child(required(tx, "Amt", &at)?, "InstdAmt").ok_or_else(|| {
                value_error(
                    format!("{at}/Amt"),
                    InvalidValue::new("amount", "only InstdAmt is supported"),
                )
            })?;
            let currency = Currency::from_code(amount_node.attribute("Ccy").unwrap_or_default())
                .map_err(|e| value_error(format!("{at}/Amt/InstdAmt/@Ccy"), e))?;
            let amount = Amount::parse_api(amount_node.text().unwrap_or_default().trim(), currency)
                .map_err(|e| value_error(format!("{at}/Amt/InstdAmt"), e))?;
            payments.push(FilePayment {
                batch_id: batch_id.clone(),
                debtor: debtor.clone(),
                requested_execution_date,
                creditor_name: path_text(tx, &["Cdtr", "Nm"])
                    .unwrap_or_default()
                    .to_owned(),
                creditor: iban_at(tx, &at, &["CdtrAcct", "Id", "IBAN"])?,
                amount,
                end_to_end_id: path_text(tx, &["PmtId", "EndToEndId"])
                    .unwrap_or_default()
                    .to_owned(),
                remittance: path_text(tx, &["RmtInf", "Ustrd"]).map(str::to_owned),
            });
        }
        let block_payments = &payments[first..];
        if let Some(declared) = path_text(block, &["NbOfTxs"]) {
            check_count(format!("{at}/NbOfTxs"), declared, block_payments.len())?;
        }
        if let Some(declared) = path_text(block, &["CtrlSum"]) {
            check_sum(format!("{at}/CtrlSum"), declared, block_payments)?;
        }
    }
    check_count("GrpHdr/NbOfTxs".to_owned(), declared_count, payments.len())?;
    let control_sum = match declared_sum {
        Some(declared) => check_sum("GrpHdr/CtrlSum".to_owned(), declared, &payments)?,
        None => payments.iter().map(|p| p.amount.value()).sum(),
    };
    Ok(PaymentFile {
        version,
        message_id,
        number_of_transactions: payments.len(),
        control_sum,
        initiating_party,
        payments,
        xml: xml.to_owned(),
    })
}

fn value_error(element: String, error: InvalidValue) -> PaymentFileError {
    PaymentFileError::Value {
        element,
        reason: error.reason,
    }
}

fn iban_at(
    node: roxmltree::Node<'_, '_>,
    at: &str,
    path: &[&str],
) -> Result<Iban, PaymentFileError> {
    let element = format!("{at}/{}", path.join("/"));
    let text = path_text(node, path).ok_or_else(|| PaymentFileError::Value {
        element: element.clone(),
        reason: "an IBAN is required".to_owned(),
    })?;
    Iban::parse(text).map_err(|e| value_error(element, e))
}

fn check_count(element: String, declared: &str, actual: usize) -> Result<(), PaymentFileError> {
    if declared.parse::<usize>().ok() == Some(actual) {
        Ok(())
    } else {
        Err(PaymentFileError::NumberOfTransactions {
            element,
            declared: declared.to_owned(),
            actual,
        })
    }
}

fn check_sum(
    element: String,
    declared: &str,
    payments: &[FilePayment],
) -> Result<Decimal, PaymentFileError> {
    let actual: Decimal = payments.iter().map(|p| p.amount.value()).sum();
    let declared: Decimal = declared.parse().map_err(|_| PaymentFileError::Value {
        element: element.clone(),
        reason: format!("{declared:?} is not a decimal"),
    })?;
    if declared == actual {
        Ok(declared)
    } else {
        Err(PaymentFileError::ControlSum {
            element,
            declared,
            actual,
        })
    }
}
