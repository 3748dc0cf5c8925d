//! A list a page's script draws from JSON, read from that JSON over HTTP on the browser's session.
//!
//! A map gives a table a `json` source when the website's script draws the rows from data it has as
//! JSON — in the page itself (`island`: the element whose text is the document) or from a call the
//! script makes to the bank (`call`: the page names the address, batches follow one another). Over
//! HTTP the rows are then taken from that JSON, each column from its JSON pointer, and parsed as the
//! table's column parses (or as the JSON column says: JSON carries `-1234.56` where the page shows
//! `1.234,56-`), so the rows equal those the browser reads off the drawn page. The browser still reads
//! the drawn page: the JSON is only for reads over HTTP.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::format::Parse;

/// Where a table's rows are as JSON, and where each column is in a row.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonRows {
    /// The element of the page whose text is the JSON document (a `<script type="application/json">`).
    pub island: Option<String>,
    /// The call the page's script makes for the rows, batch after batch.
    pub call: Option<JsonCall>,
    /// JSON pointer to the array of rows in the document (or in each batch).
    pub rows: String,
    /// JSON pointer to how many rows the list has in all (in the document or the first batch).
    pub total: Option<String>,
    /// Per column of the table, where it is in a row.
    pub columns: BTreeMap<String, JsonColumn>,
}

/// The call a page's script makes for a list's rows.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonCall {
    /// The element naming the call's address.
    pub css: String,
    /// The attribute of that element holding the address (relative to the page, or absolute).
    pub attribute: String,
    /// Added to the address for each batch, with `{from}` where the batch starts.
    pub query: Option<String>,
    /// Where the first batch starts (`{from}` of the first call).
    pub first: Option<String>,
    /// JSON pointer to where the next batch starts in a batch; absent or `null` in the last one.
    pub next: Option<String>,
}

/// Where one column is in a JSON row: a pointer, or a pointer with how its value parses.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum JsonColumn {
    /// A JSON pointer, parsed as the table's column parses.
    At(String),
    /// A JSON pointer and how its value parses.
    Parsed {
        /// The JSON pointer.
        at: String,
        /// How the value parses (the table column's parse when absent).
        parse: Option<Parse>,
        /// JSON pointer to the amount's currency code in the row (`decimal` amounts).
        currency: Option<String>,
    },
}

impl JsonColumn {
    /// The JSON pointer to the column in a row.
    pub fn at(&self) -> &str {
        match self {
            JsonColumn::At(at) | JsonColumn::Parsed { at, .. } => at,
        }
    }
}

/// Whether a text is a JSON pointer (RFC 6901: empty, or `/` and the path).
fn is_pointer(text: &str) -> bool {
    text.is_empty() || text.starts_with('/')
}

/// Checks a table's JSON source when the map is loaded against the table's `columns`, naming each
/// problem's key under `base` (`screens.history.tables.history.json`).
pub(crate) fn check(
    base: &str,
    json: &JsonRows,
    columns: &[&str],
    problem: &mut dyn FnMut(String, String),
) {
    if json.island.is_some() == json.call.is_some() {
        problem(base.to_owned(), "exactly one of island, call".to_owned());
    }
    let mut pointers = vec![(format!("{base}.rows"), json.rows.as_str())];
    if let Some(total) = &json.total {
        pointers.push((format!("{base}.total"), total));
    }
    if let Some(call) = &json.call
        && let Some(next) = &call.next
    {
        pointers.push((format!("{base}.call.next"), next));
        if !call.query.as_deref().is_some_and(|q| q.contains("{from}")) {
            problem(
                format!("{base}.call.query"),
                "batches that follow one another (`next`) need a query with {from}".to_owned(),
            );
        }
    }
    for (name, column) in &json.columns {
        let key = format!("{base}.columns.{name}");
        pointers.push((key.clone(), column.at()));
        if let JsonColumn::Parsed {
            currency: Some(currency),
            parse,
            ..
        } = column
        {
            if *parse != Some(Parse::Decimal) {
                problem(
                    format!("{key}.currency"),
                    "only a `decimal` amount takes its currency from the row".to_owned(),
                );
            }
            pointers.push((format!("{key}.currency"), currency));
        }
        if !columns.contains(&name.as_str()) {
            problem(key, "is not a column of the table".to_owned());
        }
    }
    for name in columns {
        if !json.columns.contains_key(*name) {
            problem(
                format!("{base}.columns.{name}"),
                "missing: every column of the table is read from the JSON too".to_owned(),
            );
        }
    }
    for (key, pointer) in pointers {
        if !is_pointer(pointer) {
            problem(
                key,
                format!("{pointer:?} is not a JSON pointer (it starts with /)"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::extract::{Value, json_records as records, json_total as total};
    use super::super::map::ScreenMap;
    use crate::model::{Amount, Iban};
    use rust_decimal::dec;

    fn map(name: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/../../selectors/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    fn second() -> ScreenMap {
        ScreenMap::parse("mijnbank.toml", &map("mijnbank.toml")).unwrap()
    }

    /// A batch of the second website's JSON call: amounts as `-1234.56` with their currency, ISO
    /// days, `null` for what the item lacks, a flag for a standing order's item.
    #[test]
    fn a_batch_reads_as_the_drawn_rows_would() {
        let doc = serde_json::json!({
            "totaal": 2, "vanaf": 0, "volgende": null,
            "mutaties": [
                {"id": "tx-1", "datum": "2026-03-03", "boekdatum": "2026-03-03", "valutadatum": "2026-03-04",
                 "bedrag": "-1234.56", "munt": "EUR", "tegenpartij": "Garage Vermeulen",
                 "tegenrekening": "BE71 0961 2345 6769", "omschrijving": null, "status": "Verwerkt",
                 "periodiek": false, "code": null, "kenmerk": null, "opdracht": null},
                {"id": "tx-2", "datum": "2026-03-05", "boekdatum": null, "valutadatum": "2026-03-05",
                 "bedrag": "25", "munt": "EUR", "tegenpartij": null, "tegenrekening": null,
                 "omschrijving": "Huur", "status": "Gereserveerd", "periodiek": true, "code": "PMNT",
                 "kenmerk": "E2E-1", "opdracht": "SO-9"}
            ]
        });
        let map = second();
        let rows = records(&map, "history", "history", &doc).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            rows[0].get("amount"),
            Some(&Value::Amount(Amount::eur(dec!(-1234.56)).unwrap()))
        );
        assert_eq!(
            rows[0].get("iban"),
            Some(&Value::Iban(Iban::parse("BE71096123456769").unwrap()))
        );
        assert_eq!(
            rows[0].get("communication"),
            None,
            "null is an empty, optional item"
        );
        assert_eq!(rows[0].get("recurring"), Some(&Value::Flag(false)));
        assert_eq!(rows[1].get("recurring"), Some(&Value::Flag(true)));
        assert_eq!(rows[1].get("booking_date"), None);
        assert_eq!(
            rows[1].get("amount"),
            Some(&Value::Amount(Amount::eur(dec!(25)).unwrap()))
        );
        assert_eq!(total(&map, "history", "history", &doc), Some(2));
    }

    /// An item the website got wrong is refused naming the table's column, never read as zero; a
    /// document without the rows names the pointer.
    #[test]
    fn a_bad_item_or_document_is_named() {
        let map = second();
        let bad = serde_json::json!({"mutaties": [{"id": "tx-1", "datum": "2026-03-03",
            "valutadatum": "2026-03-03", "bedrag": "12,50", "munt": "EUR", "status": "Verwerkt"}]});
        let error = records(&map, "history", "history", &bad).unwrap_err();
        assert!(
            error.to_string().contains("history.amount") && error.to_string().contains("12,50"),
            "{error}"
        );
        let no_currency = serde_json::json!({"mutaties": [{"id": "tx-1", "datum": "2026-03-03",
            "valutadatum": "2026-03-03", "bedrag": "1.00", "munt": "XYZ", "status": "Verwerkt"}]});
        assert!(records(&map, "history", "history", &no_currency).is_err());
        let none = serde_json::json!({"fout": "Niet ingelogd."});
        let error = records(&map, "history", "history", &none).unwrap_err();
        assert!(error.to_string().contains("/mutaties"), "{error}");
    }

    /// A map's JSON source is checked at load: one of island or call, pointers, every column of the
    /// table and no other, a currency only for plain amounts, batches with a query; each problem
    /// names its key.
    #[test]
    fn a_json_source_is_checked_at_load() {
        let base = map("mijnbank.toml");
        for (from, to, key, why) in [
            (
                "call = { css",
                "island = \"script\"\ncall = { css",
                "json",
                "exactly one of island, call",
            ),
            (
                "rows = \"/mutaties\"",
                "rows = \"mutaties\"",
                "json.rows",
                "JSON pointer",
            ),
            (
                "columns.code = \"/code\"\n",
                "",
                "json.columns.code",
                "missing",
            ),
            (
                "columns.code = \"/code\"\n",
                "columns.code = \"/code\"\ncolumns.balance = \"/saldo\"\n",
                "json.columns.balance",
                "not a column",
            ),
            (
                "parse = \"decimal\", currency",
                "parse = \"amount\", currency",
                "json.columns.amount.currency",
                "only a `decimal` amount",
            ),
            (
                "query = \"vanaf={from}\", ",
                "",
                "json.call.query",
                "{from}",
            ),
        ] {
            assert!(base.contains(from), "{from}");
            let problems = ScreenMap::problems("mijnbank.toml", &base.replacen(from, to, 1));
            assert!(
                problems
                    .iter()
                    .any(|p| p.key == format!("screens.history.tables.history.{key}")
                        && p.reason.contains(why)),
                "{key}: {problems:?}"
            );
        }
        // Without its JSON, a list a script draws and a button lengthens is not read over HTTP.
        let start = base.find("[screens.history.tables.history.json]").unwrap();
        let end = base[start..].find("\n\n").map_or(base.len(), |e| start + e);
        let problems = ScreenMap::problems(
            "mijnbank.toml",
            &format!("{}{}", &base[..start], &base[end..]),
        );
        assert!(
            problems
                .iter()
                .any(|p| p.key == "screens.history.server_rendered"),
            "{problems:?}"
        );
    }
}
