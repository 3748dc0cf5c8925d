//! Property-based fuzzing of every parser that reads what a caller or a bank sends: pain.001 files, the
//! bank API's JSON answers, website pages read through a screen map, screen maps themselves, and the
//! amount, date, IBAN and identifier parsers. Each target feeds generated and mutated input — random
//! text, valid samples with bytes inserted, deleted or swapped, deep nesting — and asserts the parser
//! answers (a value or an error) without panicking, and that what it accepts is consistent.
//!
//! A bounded run is part of `cargo test` (`PROPTEST_CASES`, 256 cases per target by default); a longer
//! one is the same command with more cases, e.g. `PROPTEST_CASES=20000 cargo test -p
//! psd2-fallback-engine fuzz`. A failure prints its minimal input; it becomes a regression case in
//! [`regressions`].

use proptest::prelude::*;

use crate::model::belgian::{parse_amount, parse_date, parse_iso_date};
use crate::model::{AccountId, Amount, Currency, Iban, PaymentFile};
use crate::screen::format::{AmountFormat, DateFormat, DateFormatDef, MinusPosition};
use crate::screen::map::ScreenMap;

const SAMPLE_03: &str = include_str!("../../../../shared/spec/sample-pain.001.001.03.xml");
const SAMPLE_09: &str = include_str!("../../../../shared/spec/sample-pain.001.001.09.xml");
const SANDBOX_MAP: &str = include_str!("../../../selectors/sandbox.toml");

/// A mutation of `base`: a byte range replaced by generated text.
fn mutated(base: &'static str) -> impl Strategy<Value = String> {
    (0..base.len(), 0usize..64, ".{0,32}").prop_map(move |(at, len, insert)| {
        let bytes = base.as_bytes();
        let end = (at + len).min(bytes.len());
        let mut out = Vec::with_capacity(bytes.len() + insert.len());
        out.extend_from_slice(&bytes[..at]);
        out.extend_from_slice(insert.as_bytes());
        out.extend_from_slice(&bytes[end..]);
        String::from_utf8_lossy(&out).into_owned()
    })
}

/// Text shaped like XML: nested tags, attributes, entities and stray markup.
fn xmlish() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        "[a-zA-Z0-9 <>&;/=\"']{0,20}",
        Just("<!DOCTYPE x [<!ENTITY a \"b\">]>".to_owned()),
        Just("<![CDATA[<x>]]>".to_owned()),
        Just("&amp;&#x41;&unknown;".to_owned()),
    ];
    leaf.prop_recursive(8, 256, 4, |inner| {
        (
            "[A-Za-z]{1,8}",
            prop::collection::vec(("[a-z]{1,4}", "[a-z0-9]{0,4}"), 0..4),
            prop::collection::vec(inner, 0..4),
        )
            .prop_map(|(tag, attributes, children)| {
                let attributes: String = attributes
                    .iter()
                    .map(|(k, v)| format!(" {k}=\"{v}\""))
                    .collect();
                format!("<{tag}{attributes}>{}</{tag}>", children.concat())
            })
    })
}

/// Text shaped like a bank's JSON answer: objects and arrays of Berlin Group field names.
fn jsonish() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        ".{0,12}".prop_map(serde_json::Value::String),
        Just(serde_json::json!("BE68539007547034")),
        Just(serde_json::json!("-12.30")),
        Just(serde_json::json!("2026-11-23")),
    ];
    let keys = prop_oneof![
        Just("accounts"),
        Just("balances"),
        Just("transactions"),
        Just("booked"),
        Just("pending"),
        Just("iban"),
        Just("resourceId"),
        Just("currency"),
        Just("amount"),
        Just("balanceAmount"),
        Just("balanceType"),
        Just("transactionAmount"),
        Just("valueDate"),
        Just("bookingDate"),
        Just("transactionStatus"),
        Just("consentStatus"),
        Just("scaStatus"),
        Just("_links"),
        Just("href"),
        Just("next"),
    ];
    leaf.prop_recursive(6, 128, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            prop::collection::vec((keys.clone(), inner), 0..6).prop_map(|fields| {
                serde_json::Value::Object(
                    fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
                )
            }),
        ]
    })
}

/// Reads a bank answer's JSON through every wire shape the API client parses, as it would.
fn read_answer(json: &str) {
    use crate::api::wire;
    if let Ok(list) = serde_json::from_str::<wire::AccountList>(json) {
        for (i, account) in list.accounts.iter().enumerate() {
            let _ = account.to_account(i);
        }
    }
    if let Ok(list) = serde_json::from_str::<wire::BalanceList>(json) {
        for (i, balance) in list.balances.iter().enumerate() {
            let _ = balance.to_balance(i);
        }
    }
    if let Ok(page) = serde_json::from_str::<wire::TransactionsResponse>(json) {
        for t in page
            .transactions
            .booked
            .iter()
            .chain(&page.transactions.pending)
        {
            let _ = t.to_transaction(crate::model::BookingStatus::Booked, "transactions");
        }
    }
    if let Ok(answer) = serde_json::from_str::<wire::PaymentStatusResponse>(json) {
        let _ = answer.status();
    }
    if let Ok(answer) = serde_json::from_str::<wire::ConsentStatusResponse>(json) {
        let _ = answer.status();
    }
    if let Ok(answer) = serde_json::from_str::<wire::ScaStatusResponse>(json) {
        let _ = answer.status();
    }
}

fn sandbox_map() -> ScreenMap {
    ScreenMap::parse("selectors/sandbox.toml", SANDBOX_MAP).expect("the sandbox map loads")
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(256),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn payment_files_never_panic_on_mutated_samples(xml in prop_oneof![mutated(SAMPLE_03), mutated(SAMPLE_09)]) {
        if let Ok(file) = PaymentFile::parse(&xml) {
            // What is accepted is consistent: the counts and sums it declares are the content's.
            prop_assert_eq!(file.payments.len(), file.number_of_transactions);
            prop_assert_eq!(file.total(), file.control_sum);
        }
    }

    #[test]
    fn payment_files_never_panic_on_xml_shaped_text(body in xmlish()) {
        let ns = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03";
        let _ = PaymentFile::parse(&format!("<Document xmlns=\"{ns}\">{body}</Document>"));
        let _ = PaymentFile::parse(&body);
    }

    #[test]
    fn bank_answers_never_panic(value in jsonish(), noise in ".{0,40}") {
        let text = value.to_string();
        read_answer(&text);
        read_answer(&format!("{text}{noise}"));
        read_answer(&noise);
    }

    #[test]
    fn pages_read_through_a_map_never_panic(body in xmlish(), screen in prop_oneof![
        Just("accounts"), Just("balances"), Just("history"), Just("login"), Just("sca"), Just("payments"),
        Just("payment_confirm"), Just("no-such-screen"),
    ]) {
        let map = sandbox_map();
        let html = format!("<html><body data-screen=\"{screen}\">{body}</body></html>");
        let _ = map.read(screen, &html);
        let _ = map.read(screen, &body);
    }

    #[test]
    fn screen_maps_never_panic_on_mutated_files(text in mutated(SANDBOX_MAP)) {
        if let Ok(map) = ScreenMap::parse("fuzz.toml", &text) {
            // A map that loads can read a page (whatever the page says).
            let _ = map.read("accounts", "<html><body></body></html>");
        }
    }

    #[test]
    fn configured_amount_and_date_formats_never_panic(
        text in ".{0,32}",
        decimal in prop_oneof![Just(','), Just('.'), Just('\'')],
        grouping in "[. ,'\u{a0}]{0,3}",
        minus in prop_oneof![Just(MinusPosition::Leading), Just(MinusPosition::Trailing), Just(MinusPosition::Either)],
    ) {
        prop_assume!(!grouping.contains(decimal));
        let format = AmountFormat {
            decimal,
            grouping,
            minus,
            symbols: [("€".to_owned(), "EUR".to_owned()), ("kr".to_owned(), "SEK".to_owned())].into(),
            currency: Some("EUR".to_owned()),
        };
        if let Ok(amount) = format.parse(&text) {
            // What parses, typed back into a form, parses to the same number.
            let typed = format.input(amount.value());
            prop_assert_eq!(format.parse(&typed).map(|a| a.value()), Ok(amount.value()));
        }
        let dates = DateFormat::new(&DateFormatDef {
            patterns: vec!["[day padding:none] [month] [year]".to_owned(), "[day]/[month]/[year]".to_owned()],
            months: ["jän|januar", "feb", "mär", "apr", "mai", "jun", "jul", "aug", "sep", "okt", "nov", "dez"]
                .map(str::to_owned).to_vec(),
            input: None,
        }).expect("the format compiles");
        if let Ok(date) = dates.parse(&text) {
            prop_assert_eq!(dates.parse(&dates.input(date)), Ok(date));
        }
    }

    #[test]
    fn amounts_dates_ibans_and_ids_never_panic(text in ".{0,48}") {
        let _ = parse_amount(&text, None);
        let _ = parse_amount(&text, Some(Currency::EUR));
        let _ = parse_date(&text);
        let _ = parse_iso_date(&text);
        let _ = Amount::parse_api(&text, Currency::EUR);
        if let Ok(iban) = Iban::parse(&text) {
            // An accepted IBAN round-trips and passes mod-97 again.
            prop_assert_eq!(Iban::parse(iban.as_str()).ok(), Some(iban));
        }
        let _ = AccountId::parse(text);
    }

    #[test]
    fn belgian_amounts_round_trip_whatever_their_spacing(cents in -10_000_000_000i64..10_000_000_000i64, spaces in "[ \u{a0}\u{202f}]{0,3}") {
        let amount = Amount::new(rust_decimal::Decimal::new(cents, 2), Currency::EUR).unwrap();
        let shown = crate::model::belgian::format_amount(&amount).replace(' ', &spaces);
        if let Ok(parsed) = parse_amount(&shown, None) {
            prop_assert_eq!(parsed, amount);
        }
    }
}

/// Inputs that once broke a parser, kept as tests of their own.
mod regressions {
    use super::*;

    /// A file nested ten thousand deep aborted the process in a parser's stack; the shape pre-scan
    /// refuses it first.
    #[test]
    fn a_ten_thousand_deep_file() {
        let ns = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03";
        let xml = format!(
            "<Document xmlns=\"{ns}\">{}{}</Document>",
            "<a>".repeat(10_000),
            "</a>".repeat(10_000)
        );
        assert!(PaymentFile::parse(&xml).is_err());
    }
}
