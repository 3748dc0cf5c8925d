//! pain.001 payment files: the two reference samples pass; every kind of defect is refused, naming the
//! element at fault.

use psd2_fallback_engine::model::{Pain001Version, PaymentFile, PaymentFileError};
use rust_decimal::dec;

use crate::support::{pain001, spec_file};

/// The reference samples are schema-valid, but their debtor IBAN `BG87 2005 0000 1234 5678 90` is the
/// German example number with the country changed: its check digits are wrong, and the file is refused
/// at the IBAN step, naming the element. With a valid debtor account the same files pass every step.
#[test]
fn the_reference_samples_pass_the_schema_and_fail_on_their_debtor_iban() {
    for (name, version) in [
        ("sample-pain.001.001.03.xml", Pain001Version::V03),
        ("sample-pain.001.001.09.xml", Pain001Version::V09),
    ] {
        let xml = spec_file(name);
        assert_eq!(PaymentFile::check_schema(&xml).unwrap(), version);
        let error = PaymentFile::parse(&xml).unwrap_err();
        assert_eq!(
            error,
            PaymentFileError::Value {
                element: "PmtInf[1]/DbtrAcct/Id/IBAN".to_owned(),
                reason: "check digits do not match (ISO 13616 mod-97)".to_owned(),
            },
            "{name}"
        );
        let mended =
            PaymentFile::parse(&xml.replace("BG87200500001234567890", "BE68539007547034")).unwrap();
        assert_eq!(mended.version, version);
        assert_eq!(mended.message_id, "OurMessageIdentification");
        assert_eq!(mended.payments.len(), mended.number_of_transactions);
        assert_eq!(mended.total(), mended.control_sum);
        assert_eq!(mended.payments[0].creditor_name, "John Doe");
        assert_eq!(
            mended.payments[0].creditor.as_str(),
            "DE87200500001234567890"
        );
    }
    let v03 = PaymentFile::parse(
        &spec_file("sample-pain.001.001.03.xml")
            .replace("BG87200500001234567890", "BE68539007547034"),
    )
    .unwrap();
    assert_eq!(v03.control_sum, dec!(12.34));
    assert_eq!(v03.payments[0].amount.value(), dec!(12.34));
}

#[test]
fn the_bundled_schemas_are_the_reference_ones() {
    for name in ["pain.001.001.03.xsd", "pain.001.001.09.xsd"] {
        let bundled = std::fs::read_to_string(format!(
            "{}/crates/engine/schemas/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        assert_eq!(
            bundled,
            spec_file(name),
            "schemas/{name} differs from the reference copy"
        );
    }
}

/// The Berlin Group specification's own pain.001 example is not schema-valid (a missing `DbtrAgt`, a
/// space before an IBAN): a bank that validates refuses it, and so do we.
#[test]
fn the_berlin_group_example_is_refused_by_the_schema() {
    let yaml = spec_file("berlin-group-psd2-api-1.3.12.yaml");
    let start = yaml.find("paymentInitiationSct_pain.001:").unwrap();
    let from = start + yaml[start..].find("<Document").unwrap();
    let to = from + yaml[from..].find("</Document>").unwrap() + "</Document>".len();
    let error = PaymentFile::parse(&yaml[from..to]).unwrap_err();
    let PaymentFileError::Schema {
        version,
        violations,
    } = &error
    else {
        panic!("expected a schema error, got {error}")
    };
    assert_eq!(*version, "pain.001.001.03");
    assert!(
        violations.iter().any(|v| v.contains("DbtrAgt")),
        "{violations:?}"
    );
}

const DEBTOR: &str = "BE68539007547034";
const CREDITOR: &str = "BE71096123456769";

fn valid() -> String {
    pain001(
        DEBTOR,
        &[("Alpha", CREDITOR, "100.00"), ("Beta", CREDITOR, "23.45")],
        "2026-12-01",
    )
}

/// Each defect, what it does to the valid file, and what the error must name.
#[test]
fn defects_are_refused_naming_the_element() {
    let base = valid();
    assert!(PaymentFile::parse(&base).is_ok());
    let cases: [(&str, String, &str); 8] = [
        (
            "wrong group CtrlSum",
            base.replacen("<CtrlSum>123.45</CtrlSum>", "<CtrlSum>123.46</CtrlSum>", 1),
            "GrpHdr/CtrlSum",
        ),
        (
            "wrong batch CtrlSum",
            replace_nth(
                &base,
                "<CtrlSum>123.45</CtrlSum>",
                "<CtrlSum>1.00</CtrlSum>",
                1,
            ),
            "PmtInf[1]/CtrlSum",
        ),
        (
            "wrong group NbOfTxs",
            base.replacen("<NbOfTxs>2</NbOfTxs>", "<NbOfTxs>3</NbOfTxs>", 1),
            "GrpHdr/NbOfTxs",
        ),
        (
            "bad creditor IBAN",
            base.replacen(CREDITOR, "BE71096123456760", 1),
            "PmtInf[1]/CdtTrfTxInf[1]/CdtrAcct/Id/IBAN",
        ),
        (
            "bad debtor IBAN",
            base.replacen(DEBTOR, "BE68539007547035", 1),
            "PmtInf[1]/DbtrAcct/Id/IBAN",
        ),
        (
            "schema: amount with a comma",
            base.replacen(">100.00<", ">100,00<", 1),
            "InstdAmt",
        ),
        (
            "schema: missing payment method",
            base.replacen("<PmtMtd>TRF</PmtMtd>", "", 1),
            "PmtMtd",
        ),
        (
            "not a pain.001",
            base.replace("pain.001.001.03", "pain.008.001.02"),
            "pain.008.001.02",
        ),
    ];
    for (what, xml, element) in cases {
        let error = PaymentFile::parse(&xml).expect_err(what);
        assert!(
            error.to_string().contains(element),
            "{what}: {error} does not name {element}"
        );
    }
}

fn replace_nth(text: &str, from: &str, to: &str, n: usize) -> String {
    let at = text.match_indices(from).nth(n).unwrap().0;
    format!("{}{to}{}", &text[..at], &text[at + from.len()..])
}

#[test]
fn hostile_or_broken_files_are_refused() {
    let dtd = format!(
        "<!DOCTYPE d [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>{}",
        valid().replacen("<?xml version=\"1.0\" encoding=\"UTF-8\"?>", "", 1)
    );
    assert!(matches!(
        PaymentFile::parse(&dtd),
        Err(PaymentFileError::NotXml { .. })
    ));
    assert!(matches!(
        PaymentFile::parse("<Document"),
        Err(PaymentFileError::NotXml { .. })
    ));
    let huge = " ".repeat(psd2_fallback_engine::model::payment_file::MAX_FILE_SIZE + 1);
    assert!(matches!(
        PaymentFile::parse(&huge),
        Err(PaymentFileError::TooLarge { .. })
    ));
}

/// r11: hostile shapes are refused by the pre-scan, naming the bound, before any parser runs — a file
/// nested ten thousand deep once aborted the whole process (a parser's stack), and sixty thousand
/// attributes kept a parser busy for minutes.
#[test]
fn hostile_shapes_are_refused_naming_the_bound_before_any_parser_runs() {
    let ns = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03";
    let deep = format!(
        "<Document xmlns=\"{ns}\">{}{}</Document>",
        "<a>".repeat(10_000),
        "</a>".repeat(10_000)
    );
    assert!(deep.len() < 100_000, "well under the size limit");
    let attributes: String = (0..60_000).map(|i| format!(" a{i}=\"x\"")).collect();
    let wide = format!("<Document xmlns=\"{ns}\"><GrpHdr{attributes}/></Document>");
    let namespaces: String = (0..20)
        .map(|i| format!("<p{i}:a xmlns:p{i}=\"urn:{i}\"/>"))
        .collect();
    let spread = format!("<Document xmlns=\"{ns}\">{namespaces}</Document>");
    let crowded = format!(
        "<Document xmlns=\"{ns}\">{}</Document>",
        "<a/>".repeat(1_000_001)
    );
    for (xml, what, limit) in [
        (&deep, "depth", 32),
        (&wide, "attributes on one element", 8),
        (&spread, "namespace declarations", 8),
        (&crowded, "elements", 1_000_000),
    ] {
        match PaymentFile::parse(xml) {
            Err(PaymentFileError::Limit {
                what: found,
                limit: bound,
                line,
            }) => {
                assert_eq!((found, bound, line), (what, limit, 1));
                let text = PaymentFile::parse(xml).unwrap_err().to_string();
                assert!(text.contains(what), "{text}");
            }
            other => panic!("{what}: {other:?}"),
        }
    }
    // A real file is far inside every bound.
    let sample = spec_file("sample-pain.001.001.09.xml")
        .replace("BG87200500001234567890", "BE68539007547034");
    assert!(PaymentFile::parse(&sample).is_ok());
}
