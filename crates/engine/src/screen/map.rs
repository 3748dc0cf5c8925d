//! Screen maps as data: how a bank's website is recognised and read, loaded from `selectors/<bank>.toml`.
//!
//! A map names screens by the job they do (`login`, `sca`, `accounts`, `balances`, `history`,
//! `payment_new`, …). Each screen says how it is recognised (`is_here`), where it lives (`url`, with
//! `{account}` or `{payment}`), what can be typed into it (`fields`), what can be clicked (`actions`),
//! which single values it shows (`values`), which lists (`tables`: a row selector and, per column, a
//! selector inside the row and how its text parses) and how a list pages (`paging`). Beside the
//! screens: the website's number and date formats (`[formats]`), its words for the model's values
//! (`[words]`), its SCA method (`[sca]`) and the screens it does not have (`absent`). The flows use
//! these names only; everything of the website is in the file.
//!
//! A map is checked when it is loaded against the screen contract (`screen::contract`): unknown keys are refused, every
//! selector must parse as CSS, every screen, field, action, value, column and word table the flows
//! use must be there with the right type (or its screen declared absent), and every error names the
//! file and the key. The full reference is `selectors/README.md`.
//!
//! [`ScreenMap::read`] reads a page's HTML through a map, one screen at a time, into the values the
//! flows would see: a map author checks a map against saved pages with it.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::contract::{
    ALWAYS, CONTRACT, FIELD_WORDS, HTTP_READS, Kind, MAY_LACK, Must, Need, OPERATIONS, OWN_WORDS,
    PARTIAL_WORDS, URL_PARAMETERS, WORDS,
};
use super::format::{AmountFormat, DateFormat, DateFormatDef};

pub use super::format::Parse;

impl Parse {
    fn kind(self) -> Kind {
        match self {
            Parse::Text => Kind::Text,
            Parse::Amount | Parse::Decimal => Kind::Amount,
            Parse::Date | Parse::IsoDate => Kind::Date,
            Parse::Iban => Kind::Iban,
            Parse::Integer => Kind::Integer,
            Parse::Presence => Kind::Flag,
        }
    }
}

/// How a field is filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Input {
    /// Typed key by key (for sites that validate key events).
    Keys,
    /// Set by one script call (about twice as fast).
    #[default]
    Script,
    /// A `<select>`: the option with this value is chosen.
    Select,
    /// A checkbox: ticked for `true`.
    Checkbox,
    /// A file input: a local path is sent to it.
    File,
}

/// How a `<select>` field's option is chosen for an account (the debtor of an order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OptionMatch {
    /// The option whose value is the value given (for an account: its IBAN, compact).
    #[default]
    Value,
    /// The option whose value is the account's id on the website (as the accounts list shows it).
    AccountId,
    /// The option whose text contains the IBAN, grouped in fours or compact.
    Text,
}

/// A field of a form.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldDef {
    /// The input's CSS selector.
    pub css: String,
    /// How to fill it.
    #[serde(default)]
    pub input: Input,
    /// For a select: how the option is found (`value`, `account_id`, `text`).
    #[serde(default)]
    pub option: OptionMatch,
}

/// A single item on a screen, or a column of a table (relative to its row).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValueDef {
    /// The element's CSS selector; in a table, inside the row (`"."` is the row itself).
    pub css: String,
    /// How its text parses.
    #[serde(default)]
    pub parse: Parse,
    /// Read this attribute instead of the text.
    pub attribute: Option<String>,
    /// Whether the element may be missing or empty (else it is a *screen changed*).
    #[serde(default)]
    pub optional: bool,
}

/// A list of records.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableDef {
    /// Selects every row (or card).
    pub rows: String,
    /// Per column, relative to a row; `"."` in a column's `css` means the row itself.
    pub columns: BTreeMap<String, ValueDef>,
    /// The JSON the page's script draws the rows from, read instead over HTTP on the session.
    pub json: Option<super::json_rows::JsonRows>,
}

/// How a list goes on past its first page: exactly one of the three.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Paging {
    /// A link to the next page, followed by its `href`; the last page has none.
    pub next: Option<String>,
    /// A button that adds the next rows to the same page; gone (or disabled) when all are shown.
    pub more: Option<String>,
    /// The query that asks for page `{page}` (1-based), added to the screen's address; the screen's
    /// `pages` value (an integer) says how many there are.
    pub page: Option<String>,
}

/// One screen of the website.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Screen {
    /// Present exactly when the browser shows this screen.
    pub is_here: String,
    /// Where the screen is, relative to the website's base; `{account}` / `{payment}` are replaced.
    pub url: Option<String>,
    /// Present once scripts have rendered the screen's data (waited for before reading).
    pub ready: Option<String>,
    /// The server sends the screen's data in the page itself (no script renders it): once the
    /// browser has logged in, reads fetch it over HTTP with the browser's session cookies and parse
    /// it as the browser's page, falling back to the browser when the page is not this screen.
    #[serde(default)]
    pub server_rendered: bool,
    /// The query string the screen's form submits (a GET form), with `{field}` for each field's value:
    /// the flows then open the filtered screen in one page load instead of filling the form.
    pub query: Option<String>,
    /// How its table goes on past the first page.
    pub paging: Option<Paging>,
    /// What can be typed.
    #[serde(default)]
    pub fields: BTreeMap<String, FieldDef>,
    /// What can be clicked: a CSS selector each.
    #[serde(default)]
    pub actions: BTreeMap<String, String>,
    /// Single items.
    #[serde(default)]
    pub values: BTreeMap<String, ValueDef>,
    /// Lists.
    #[serde(default)]
    pub tables: BTreeMap<String, TableDef>,
}

/// The map file's header.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BankInfo {
    /// The bank's name.
    pub name: String,
    /// Which version of the bank's website the map describes.
    pub layout: String,
}

/// The website's SCA, as the caller is told of it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaDef {
    /// The method's name as Berlin Group's `authenticationType` says it (`CHIP_OTP`, `SMS_OTP`, …).
    pub method: String,
    /// What the customer is told to do with the challenge.
    pub instructions: String,
    /// Each way of confirming the website offers a choice of (`screens.login_method`'s actions:
    /// `card_reader`, `app`), as the caller is told of it — the ids the bank's API gives the same
    /// methods, so a caller picks one the same way on both channels.
    #[serde(default)]
    pub methods: BTreeMap<String, MethodDef>,
}

/// One way of confirming, as Berlin Group names it to the caller.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MethodDef {
    /// Its `authenticationMethodId` (the bank API's id for the same method, e.g. `card-reader`).
    pub id: String,
    /// Its `authenticationType` (`CHIP_OTP`, `PUSH_OTP`, …).
    #[serde(rename = "type")]
    pub kind: String,
}

/// The website's formats.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Formats {
    /// How amounts are written.
    #[serde(default)]
    pub amount: AmountFormat,
    /// How dates are written.
    #[serde(default)]
    pub date: DateFormatDef,
}

/// One word of a table, or several spellings of it.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Words {
    One(String),
    Many(Vec<String>),
}

impl Words {
    fn all(&self) -> Vec<String> {
        match self {
            Words::One(w) => vec![w.clone()],
            Words::Many(ws) => ws.clone(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MapFile {
    bank: BankInfo,
    sca: ScaDef,
    #[serde(default)]
    formats: Formats,
    #[serde(default)]
    words: BTreeMap<String, BTreeMap<String, Words>>,
    #[serde(default)]
    absent: Vec<String>,
    #[serde(default)]
    login_steps: Vec<String>,
    screens: BTreeMap<String, Screen>,
}

/// A loaded, checked screen map.
#[derive(Debug, Clone)]
pub struct ScreenMap {
    /// The file it came from (named in every error).
    pub file: String,
    /// The bank and layout.
    pub bank: BankInfo,
    /// The website's SCA method.
    pub sca: ScaDef,
    /// Every screen by name.
    pub screens: BTreeMap<String, Screen>,
    /// Screens the website does not have.
    pub absent: Vec<String>,
    /// The screens of the login, in order, up to the challenge (`["login"]` unless the map says).
    pub login_steps: Vec<String>,
    /// How amounts parse and are typed.
    pub(crate) amounts: AmountFormat,
    /// How dates parse and are typed.
    pub(crate) dates: DateFormat,
    /// Per word table, per model word, the website's spellings (the first is the one typed).
    words: BTreeMap<String, BTreeMap<String, Vec<String>>>,
}

/// A map that cannot be used: names the file and the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("screen map {file}: {key}: {reason}")]
pub struct MapError {
    /// The map file.
    pub file: String,
    /// The key (`screens.login.fields.password`), or `-` for the whole file.
    pub key: String,
    /// What is wrong.
    pub reason: String,
}

/// A selector that does not parse, explained: the selector library's message for an unsupported
/// pseudo-class asks to report a bug, which a map author cannot act on.
pub(crate) fn check_css(css: &str) -> Result<(), String> {
    match scraper::Selector::parse(css) {
        Ok(_) => Ok(()),
        Err(e) => {
            let raw = e.to_string();
            let unsupported = css
                .split(':')
                .skip(1)
                .map(|p| {
                    p.split(|c: char| !(c.is_alphanumeric() || c == '-'))
                        .next()
                        .unwrap_or_default()
                })
                .find(|p| !p.is_empty() && scraper::Selector::parse(&format!("a:{p}")).is_err());
            Err(match unsupported {
                Some(p) if raw.contains("report") || raw.contains("Unsupported") => format!(
                    "{css:?}: the pseudo-class :{p} is not supported here; select by elements, \
                     classes or attributes instead"
                ),
                _ => format!("{css:?} is not a CSS selector: {}", first_line(&raw)),
            })
        }
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}

/// The `{name}` parameters of a template.
fn parameters(template: &str) -> impl Iterator<Item = &str> {
    template
        .split('{')
        .skip(1)
        .map(|part| part.split('}').next().unwrap_or_default())
}

impl ScreenMap {
    /// Loads and checks a map file.
    pub fn load(path: &Path) -> Result<Self, MapError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| MapError {
            file: file.clone(),
            key: "-".to_owned(),
            reason: format!("cannot read: {e}"),
        })?;
        Self::parse(&file, &text)
    }

    /// Parses and checks a map from its text; `file` names it in errors. The first problem found is
    /// the error; [`ScreenMap::problems`] lists them all.
    pub fn parse(file: &str, text: &str) -> Result<Self, MapError> {
        let (map, mut problems) = Self::parse_all(file, text);
        match map {
            Some(map) if problems.is_empty() => Ok(map),
            _ => Err(problems.remove(0)),
        }
    }

    /// Every problem of a map, in one pass (empty when it loads).
    pub fn problems(file: &str, text: &str) -> Vec<MapError> {
        Self::parse_all(file, text).1
    }

    fn parse_all(file: &str, text: &str) -> (Option<Self>, Vec<MapError>) {
        let error = |key: String, reason: String| MapError {
            file: file.to_owned(),
            key,
            reason,
        };
        let raw: MapFile = match toml::from_str(text) {
            Ok(raw) => raw,
            Err(e) => {
                // The toml error names the key or line; keep its message, without the source excerpt.
                let message = e.message().to_owned();
                let key = e
                    .span()
                    .map(|span| {
                        let line = text[..span.start.min(text.len())].lines().count().max(1);
                        format!("line {line}")
                    })
                    .unwrap_or_else(|| "-".to_owned());
                return (None, vec![error(key, message)]);
            }
        };
        let mut problems = Vec::new();
        let mut problem = |key: String, reason: String| problems.push(error(key, reason));
        if let Err((key, reason)) = raw.formats.amount.check() {
            problem(format!("formats.amount.{key}"), reason);
        }
        let dates = match DateFormat::new(&raw.formats.date) {
            Ok(d) => Some(d),
            Err((key, reason)) => {
                problem(format!("formats.date.{key}"), reason);
                None
            }
        };
        // Word tables: known tables, the model's words as keys.
        let mut words = BTreeMap::new();
        for (table, entries) in &raw.words {
            let Some((_, model)) = WORDS.iter().find(|(t, _)| t == table) else {
                problem(
                    format!("words.{table}"),
                    "not a word table the flows use".to_owned(),
                );
                continue;
            };
            for key in entries.keys() {
                if !model.contains(&key.as_str()) {
                    problem(
                        format!("words.{table}.{key}"),
                        format!("not one of {}", model.join(", ")),
                    );
                }
            }
            if !PARTIAL_WORDS.contains(&table.as_str()) {
                for key in model.iter().filter(|k| !entries.contains_key(**k)) {
                    problem(
                        format!("words.{table}.{key}"),
                        "missing: the website's word for it".to_owned(),
                    );
                }
            }
            let mut seen = BTreeMap::new();
            for (key, spellings) in entries {
                let all = spellings.all();
                if all.is_empty() {
                    problem(format!("words.{table}.{key}"), "no word given".to_owned());
                }
                for word in all {
                    if let Some(other) = seen.insert(word.clone(), key.clone()) {
                        problem(
                            format!("words.{table}.{key}"),
                            format!("{word:?} is also the word for {other}"),
                        );
                    }
                }
            }
            words.insert(
                table.clone(),
                entries.iter().map(|(k, w)| (k.clone(), w.all())).collect(),
            );
        }
        // Absent screens: known, not always needed, not also described.
        for name in &raw.absent {
            let known = CONTRACT.iter().any(|(s, _, _)| s == name);
            if !known {
                problem(
                    "absent".to_owned(),
                    format!("{name:?} is not a screen the flows use"),
                );
            } else if ALWAYS.contains(&name.as_str()) {
                problem(
                    "absent".to_owned(),
                    format!("{name:?} cannot be absent: nothing works without it"),
                );
            } else if raw.screens.contains_key(name) {
                problem(
                    format!("screens.{name}"),
                    "is also declared absent".to_owned(),
                );
            }
        }
        // Every selector parses as CSS; templates name what they may.
        for (name, screen) in &raw.screens {
            let base = format!("screens.{name}");
            if screen.server_rendered {
                let used = CONTRACT.iter().any(|(s, _, _)| s == name);
                if used && !HTTP_READS.contains(&name.as_str()) {
                    problem(
                        format!("{base}.server_rendered"),
                        format!(
                            "only the screens reads open may be read over HTTP: {}",
                            HTTP_READS.join(", ")
                        ),
                    );
                }
                // A list a script draws is read over HTTP from the JSON it is drawn from.
                let from_json =
                    !screen.tables.is_empty() && screen.tables.values().all(|t| t.json.is_some());
                if screen.ready.is_some() && !from_json {
                    problem(
                        format!("{base}.server_rendered"),
                        "a screen scripts render (it has `ready`) is not server-rendered, unless \
                         its lists say which JSON they are drawn from (`tables.<name>.json`)"
                            .to_owned(),
                    );
                }
                let batched = screen.tables.values().all(|t| {
                    t.json
                        .as_ref()
                        .and_then(|j| j.call.as_ref())
                        .is_some_and(|c| c.next.is_some())
                });
                if screen.paging.as_ref().is_some_and(|p| p.more.is_some()) && !batched {
                    problem(
                        format!("{base}.server_rendered"),
                        "a list that a button lengthens (`paging.more`) needs the browser, \
                         unless its JSON call says where each next batch starts (`json.call.next`)"
                            .to_owned(),
                    );
                }
            }
            let mut selectors = vec![(format!("{base}.is_here"), &screen.is_here)];
            if let Some(ready) = &screen.ready {
                selectors.push((format!("{base}.ready"), ready));
            }
            for (k, f) in &screen.fields {
                selectors.push((format!("{base}.fields.{k}.css"), &f.css));
            }
            for (k, a) in &screen.actions {
                selectors.push((format!("{base}.actions.{k}"), a));
            }
            for (k, v) in &screen.values {
                selectors.push((format!("{base}.values.{k}.css"), &v.css));
            }
            for (k, t) in &screen.tables {
                selectors.push((format!("{base}.tables.{k}.rows"), &t.rows));
                if let Some(json) = &t.json {
                    let columns: Vec<&str> = t.columns.keys().map(String::as_str).collect();
                    super::json_rows::check(
                        &format!("{base}.tables.{k}.json"),
                        json,
                        &columns,
                        &mut problem,
                    );
                    if let Some(island) = &json.island {
                        selectors.push((format!("{base}.tables.{k}.json.island"), island));
                    }
                    if let Some(call) = &json.call {
                        selectors.push((format!("{base}.tables.{k}.json.call.css"), &call.css));
                    }
                }
                for (c, v) in &t.columns {
                    if v.css != "." {
                        selectors.push((format!("{base}.tables.{k}.columns.{c}.css"), &v.css));
                    }
                }
            }
            if let Some(paging) = &screen.paging {
                let set = [&paging.next, &paging.more, &paging.page]
                    .iter()
                    .filter(|p| p.is_some())
                    .count();
                if set != 1 {
                    problem(
                        format!("{base}.paging"),
                        "exactly one of next, more, page".to_owned(),
                    );
                }
                if let Some(next) = &paging.next {
                    selectors.push((format!("{base}.paging.next"), next));
                }
                if let Some(more) = &paging.more {
                    selectors.push((format!("{base}.paging.more"), more));
                }
                if let Some(page) = &paging.page {
                    if parameters(page).collect::<Vec<_>>() != ["page"] {
                        problem(
                            format!("{base}.paging.page"),
                            "must use {page}, and only it".to_owned(),
                        );
                    }
                    if !screen.values.contains_key("pages") {
                        problem(
                            format!("{base}.values.pages"),
                            "missing: paging by page number needs the number of pages".to_owned(),
                        );
                    }
                }
            }
            for (key, css) in selectors {
                if let Err(reason) = check_css(css) {
                    problem(key, reason);
                }
            }
            if let Some(query) = &screen.query {
                for field in parameters(query) {
                    if !screen.fields.contains_key(field) {
                        problem(
                            format!("{base}.query"),
                            format!("{{{field}}} is not a field of the screen"),
                        );
                    }
                }
            }
            if let Some(url) = &screen.url {
                let allowed = URL_PARAMETERS
                    .iter()
                    .find(|(s, _)| s == name)
                    .map(|(_, p)| *p)
                    .unwrap_or(&[]);
                for p in parameters(url) {
                    if !allowed.contains(&p) {
                        problem(
                            format!("{base}.url"),
                            format!(
                                "{{{p}}} is not a parameter of this screen (it has {})",
                                if allowed.is_empty() {
                                    "none".to_owned()
                                } else {
                                    allowed.join(", ")
                                }
                            ),
                        );
                    }
                }
            }
            for (k, v) in screen
                .values
                .iter()
                .map(|(k, v)| (format!("values.{k}"), v))
                .chain(screen.tables.iter().flat_map(|(t, d)| {
                    d.columns
                        .iter()
                        .map(move |(c, v)| (format!("tables.{t}.columns.{c}"), v))
                }))
            {
                if v.parse == Parse::Presence && (v.optional || v.attribute.is_some()) {
                    problem(
                        format!("{base}.{k}"),
                        "a presence is never optional and reads no attribute".to_owned(),
                    );
                }
            }
        }
        // Everything the flows use is there, with its type.
        for (screen, need, must) in CONTRACT {
            if raw.absent.iter().any(|a| a == screen) {
                continue;
            }
            let Some(s) = raw.screens.get(*screen) else {
                if !MAY_LACK.contains(screen) {
                    problem(
                        format!("screens.{screen}"),
                        "missing: describe the screen, or list it in `absent` when the website \
                         has no such screen"
                            .to_owned(),
                    );
                }
                continue;
            };
            let base = format!("screens.{screen}");
            let required = *must == Must::Required;
            let (key, def, kind): (String, Option<&ValueDef>, Option<Kind>) = match need {
                Need::Url => (format!("{base}.url"), None, None),
                Need::Ready => (format!("{base}.ready"), None, None),
                Need::Paging => (format!("{base}.paging"), None, None),
                Need::Field(f) => (format!("{base}.fields.{f}"), None, None),
                Need::Action(a) => (format!("{base}.actions.{a}"), None, None),
                Need::Table(t) => (format!("{base}.tables.{t}"), None, None),
                Need::Value(v, kind) => {
                    (format!("{base}.values.{v}"), s.values.get(*v), Some(*kind))
                }
                Need::Column(t, c, kind) => (
                    format!("{base}.tables.{t}.columns.{c}"),
                    s.tables.get(*t).and_then(|t| t.columns.get(*c)),
                    Some(*kind),
                ),
            };
            let present = match need {
                Need::Url => s.url.is_some(),
                Need::Ready => s.ready.is_some(),
                Need::Paging => s.paging.is_some(),
                Need::Field(f) => s.fields.contains_key(*f),
                Need::Action(a) => s.actions.contains_key(*a),
                Need::Table(t) => s.tables.contains_key(*t),
                Need::Value(..) | Need::Column(..) => def.is_some(),
            };
            if !present {
                let table_missing =
                    matches!(need, Need::Column(t, ..) if !s.tables.contains_key(*t));
                if required && !table_missing {
                    problem(key, "missing: the flows need it".to_owned());
                }
                continue;
            }
            if let (Some(def), Some(kind)) = (def, kind) {
                let (want, words) = match kind {
                    Kind::Word(table) => (Kind::Text, Some(table)),
                    other => (other, None),
                };
                if def.parse.kind() != want {
                    problem(
                        format!("{key}.parse"),
                        format!("must parse as {}", kind_name(want)),
                    );
                }
                if let Some(table) = words {
                    need_words(&raw.words, table, &mut problem);
                }
            }
        }
        for (screen, field, table) in FIELD_WORDS {
            let has = raw
                .screens
                .get(*screen)
                .is_some_and(|s| s.fields.contains_key(*field));
            if has && !raw.absent.iter().any(|a| a == screen) {
                need_words(&raw.words, table, &mut problem);
            }
        }
        let has_balance = raw.screens.get("balances").is_some_and(|s| {
            ["booked", "available", "expected", "closing", "forward"]
                .iter()
                .any(|v| s.values.contains_key(*v))
        });
        if raw.screens.contains_key("balances") && !has_balance {
            problem(
                "screens.balances.values".to_owned(),
                "missing: at least one of booked, available, expected, closing, forward".to_owned(),
            );
        }
        let login_steps = if raw.login_steps.is_empty() {
            vec!["login".to_owned()]
        } else {
            raw.login_steps.clone()
        };
        check_login_steps(&login_steps, &raw.screens, &mut problem);
        check_options(&raw.screens, &mut problem);
        check_methods(&raw.sca, &raw.screens, &mut problem);
        problems.dedup();
        let map = dates.map(|dates| ScreenMap {
            file: file.to_owned(),
            bank: raw.bank,
            sca: raw.sca,
            screens: raw.screens,
            absent: raw.absent,
            login_steps,
            amounts: raw.formats.amount,
            dates,
            words,
        });
        (map, problems)
    }

    /// A screen the contract guarantees (or `None` for one the website does not have).
    pub(crate) fn get(&self, name: &str) -> Option<&Screen> {
        self.screens.get(name)
    }

    /// A screen the contract guarantees for an operation the caller checked with
    /// [`ScreenMap::unsupported`].
    pub(crate) fn screen(&self, name: &str) -> &Screen {
        self.screens
            .get(name)
            .unwrap_or_else(|| panic!("screen {name} is in the contract checked at load"))
    }

    /// The screen an operation needs that this website does not have, if any.
    pub(crate) fn unsupported(&self, operation: &str) -> Option<&str> {
        OPERATIONS
            .iter()
            .find(|(op, _)| *op == operation)
            .and_then(|(_, screens)| {
                screens
                    .iter()
                    .copied()
                    .find(|s| !self.screens.contains_key(*s))
            })
    }

    /// The model's word for a website's word in a table (`None` when the website's word is not in it).
    /// A table a map may leave out, left out, is the model's own words.
    pub(crate) fn model_word<'a>(&'a self, table: &str, shown: &'a str) -> Option<&'a str> {
        match self.words.get(table) {
            Some(entries) => entries
                .iter()
                .find(|(_, spellings)| spellings.iter().any(|s| s == shown))
                .map(|(key, _)| key.as_str()),
            None if OWN_WORDS.contains(&table) => Some(shown),
            None => None,
        }
    }

    /// The website's word for a model word (its first spelling).
    pub(crate) fn site_word<'a>(&'a self, table: &str, model: &'a str) -> Option<&'a str> {
        match self.words.get(table) {
            Some(entries) => entries
                .get(model)
                .and_then(|s| s.first())
                .map(String::as_str),
            None if OWN_WORDS.contains(&table) => Some(model),
            None => None,
        }
    }
}

/// The login's steps: screens of the map, the first `login` (the one with an address), none twice,
/// each with a `submit` action and only the `customer` and `password` fields, each of which one step
/// fills.
fn check_login_steps(
    steps: &[String],
    screens: &BTreeMap<String, Screen>,
    problem: &mut impl FnMut(String, String),
) {
    if steps.first().map(String::as_str) != Some("login") {
        problem(
            "login_steps".to_owned(),
            "the first step must be the screen `login` (it has the address)".to_owned(),
        );
    }
    let mut filled: BTreeMap<&str, &str> = BTreeMap::new();
    for (i, step) in steps.iter().enumerate() {
        if steps[..i].contains(step) {
            problem(
                "login_steps".to_owned(),
                format!("{step:?} is a step twice"),
            );
            continue;
        }
        if ALWAYS.contains(&step.as_str()) && step != "login" {
            problem(
                "login_steps".to_owned(),
                format!("{step:?} cannot be a step of the login form"),
            );
            continue;
        }
        let Some(screen) = screens.get(step) else {
            problem(
                format!("screens.{step}"),
                "missing: a step of `login_steps`".to_owned(),
            );
            continue;
        };
        if !screen.actions.contains_key("submit") {
            problem(
                format!("screens.{step}.actions.submit"),
                "missing: each login step presses a button".to_owned(),
            );
        }
        for field in screen.fields.keys() {
            match field.as_str() {
                "customer" | "password" => {
                    if let Some(other) = filled.insert(field, step) {
                        problem(
                            format!("screens.{step}.fields.{field}"),
                            format!("also filled on the step {other:?}"),
                        );
                    }
                }
                _ => problem(
                    format!("screens.{step}.fields.{field}"),
                    "a login step fills only customer and password".to_owned(),
                ),
            }
        }
    }
    for field in ["customer", "password"] {
        if !filled.contains_key(field) {
            problem(
                format!(
                    "screens.{}.fields.{field}",
                    steps.last().map_or("login", |s| s)
                ),
                "missing: no login step fills it".to_owned(),
            );
        }
    }
}

/// Each action of a choice of method (`screens.login_method`) has its Berlin Group id and type in
/// `sca.methods`, the ids non-empty and distinct; `sca.methods` names no other method.
fn check_methods(
    sca: &ScaDef,
    screens: &BTreeMap<String, Screen>,
    problem: &mut impl FnMut(String, String),
) {
    let actions = screens
        .get("login_method")
        .map(|s| s.actions.keys().map(String::as_str).collect::<Vec<_>>())
        .unwrap_or_default();
    for action in &actions {
        if !sca.methods.contains_key(*action) {
            problem(
                format!("sca.methods.{action}"),
                format!(
                    "missing: the `authenticationMethodId` and `authenticationType` of screens.login_method's action `{action}` (e.g. {{ id = \"card-reader\", type = \"CHIP_OTP\" }})"
                ),
            );
        }
    }
    let mut ids = std::collections::BTreeSet::new();
    for (name, method) in &sca.methods {
        let at = format!("sca.methods.{name}");
        if !actions.contains(&name.as_str()) {
            problem(
                at.clone(),
                "not an action of screens.login_method".to_owned(),
            );
        }
        if method.id.trim().is_empty() || method.kind.trim().is_empty() {
            problem(at.clone(), "id and type must not be empty".to_owned());
        }
        if !ids.insert(method.id.as_str()) {
            problem(
                format!("{at}.id"),
                format!("{:?} names another method too", method.id),
            );
        }
    }
}

/// `option` is for selects only, and `account_id` for an order's debtor.
fn check_options(screens: &BTreeMap<String, Screen>, problem: &mut impl FnMut(String, String)) {
    for (name, screen) in screens {
        for (key, field) in &screen.fields {
            if field.option == OptionMatch::Value {
                continue;
            }
            let at = format!("screens.{name}.fields.{key}.option");
            if field.input != Input::Select {
                problem(
                    at,
                    "only a select (input = \"select\") has options".to_owned(),
                );
            } else if field.option == OptionMatch::AccountId && key != "debtor" {
                problem(
                    at,
                    "account_id chooses an account: only for debtor".to_owned(),
                );
            }
        }
    }
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Text | Kind::Word(_) => "text (parse = \"text\")",
        Kind::Amount => "an amount (parse = \"amount\")",
        Kind::Date => "a date (parse = \"date\" or \"iso_date\")",
        Kind::Iban => "an IBAN (parse = \"iban\")",
        Kind::Integer => "a whole number (parse = \"integer\")",
        Kind::Flag => "a presence (parse = \"presence\")",
    }
}

/// A word table a value, column or field needs is in the map (or is one it may leave out).
fn need_words(
    words: &BTreeMap<String, BTreeMap<String, Words>>,
    table: &str,
    problem: &mut impl FnMut(String, String),
) {
    if !words.contains_key(table) && !OWN_WORDS.contains(&table) {
        problem(
            format!("words.{table}"),
            "missing: the website's words for it".to_owned(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sandbox_map() -> String {
        std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../selectors/sandbox.toml"
        ))
        .unwrap()
    }

    #[test]
    fn both_sandbox_maps_load() {
        for file in ["sandbox.toml", "sandbox-v2.toml"] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../selectors")
                .join(file);
            let map = ScreenMap::load(&path).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(map.bank.name, "sandbox");
        }
    }

    /// r12: a map lacking a column or value the flows need, or parsing it as another type, fails at
    /// load naming file, screen and key (it used to load and then panic in the flows).
    #[test]
    fn load_errors_name_the_file_and_the_key() {
        let base = sandbox_map();
        let cases: Vec<(String, &str, &str)> = vec![
            (
                base.replacen("[screens.sca]", "[screens.sca_page]", 1),
                "screens.sca",
                "missing",
            ),
            (
                base.replacen(
                    r##"password = { css = "#password" }"##,
                    r##"passwd = { css = "#password" }"##,
                    1,
                ),
                "screens.login.fields.passwd",
                "fills only customer and password",
            ),
            (
                base.replacen(
                    r##"columns.amount = { css = "td.tx-amount", parse = "amount" }"##,
                    "",
                    1,
                )
                .replacen("columns.amount = \"/tx-amount\"\n", "", 1),
                "screens.history.tables.history.columns.amount",
                "missing",
            ),
            (
                base.replacen(
                    r##"columns.iban = { css = "td.account-iban", parse = "iban" }"##,
                    "",
                    1,
                ),
                "screens.accounts.tables.accounts.columns.iban",
                "missing",
            ),
            (
                base.replacen(
                    r##"columns.amount = { css = "td.tx-amount", parse = "amount" }"##,
                    r##"columns.amount = { css = "td.tx-amount" }"##,
                    1,
                ),
                "screens.history.tables.history.columns.amount.parse",
                "must parse as an amount",
            ),
            (
                base.replacen(
                    r##"values.available = { css = "#balance-available", parse = "amount" }"##,
                    r##"values.available = { css = "#balance-available", parse = "date" }"##,
                    1,
                ),
                "screens.balances.values.available.parse",
                "must parse as an amount",
            ),
            (
                base.replacen(
                    r##"is_here = "body[data-screen=login]""##,
                    r##"is_here = "body[[data-screen=login""##,
                    1,
                ),
                "screens.login.is_here",
                "not a CSS selector",
            ),
            (
                base.replacen(
                    r##"is_here = "body[data-screen=login]""##,
                    r##"is_here = "form:has-text(Login)""##,
                    1,
                ),
                "screens.login.is_here",
                "pseudo-class :has-text is not supported",
            ),
            (
                base.replacen("[screens.login]", "[screens.login]\ncolour = \"blue\"", 1),
                "line",
                "unknown field `colour`",
            ),
            (
                base.replacen(r#"parse = "amount""#, r#"parse = "dollars""#, 1),
                "line",
                "unknown variant `dollars`",
            ),
            // r13: each method of the login's choice says its Berlin Group id and type, distinct.
            (
                base.replacen(
                    r#"methods.app = { id = "app", type = "PUSH_OTP" }"#,
                    "",
                    1,
                ),
                "sca.methods.app",
                "missing: the `authenticationMethodId` and `authenticationType`",
            ),
            (
                base.replacen(r#"{ id = "app", "#, r#"{ id = "card-reader", "#, 1),
                "sca.methods.card_reader.id",
                "names another method too",
            ),
            (
                base.replacen(
                    r#"methods.app = { id = "app", type = "PUSH_OTP" }"#,
                    "methods.app = { id = \"app\", type = \"PUSH_OTP\" }\nmethods.sms = { id = \"sms\", type = \"SMS_OTP\" }",
                    1,
                ),
                "sca.methods.sms",
                "not an action of screens.login_method",
            ),
            (
                base.replacen("&per_page={page_size}", "&per_page={rows_per_page}", 1),
                "screens.history.query",
                "{rows_per_page} is not a field",
            ),
            (
                base.replace("[screens.payments", "[screens.orders"),
                "screens.payments",
                "missing",
            ),
            (
                base.replacen("/accounts/{account}", "/accounts/{id}", 1),
                "screens.balances.url",
                "{id} is not a parameter",
            ),
            (
                base.replacen("pending = \"Pending\"", "waiting = \"Pending\"", 1),
                "words.booking_status",
                "",
            ),
            (
                base.replacen("[words.yes_no]", "[words.oui_non]", 1),
                "words.",
                "",
            ),
            (
                base.replacen("[formats.date]", "[formats.date]\nmonths = [\"jan\"]", 1),
                "formats.date.months",
                "twelve names",
            ),
            (
                base.replacen(r#"decimal = ",""#, r#"decimal = ".""#, 1),
                "formats.amount.grouping",
                "also the decimal",
            ),
            (
                format!("absent = [\"accounts\"]\n{base}"),
                "absent",
                "cannot be absent",
            ),
            (
                base.replacen(
                    "paging = { next = \"a#page-next\" }",
                    "paging = { next = \"a#page-next\", more = \"button.more\" }",
                    1,
                )
                .replacen(
                    "server_rendered = true\nis_here = \"body[data-screen=account]\"\nready",
                    "is_here = \"body[data-screen=account]\"\nready",
                    1,
                ),
                "screens.history.paging",
                "exactly one",
            ),
        ];
        for (text, key, reason) in cases {
            let error = ScreenMap::parse("selectors/broken.toml", &text).unwrap_err();
            assert_eq!(error.file, "selectors/broken.toml");
            assert!(error.key.starts_with(key), "{key}: {error}");
            assert!(error.reason.contains(reason), "{reason}: {error}");
            assert!(
                error.to_string().contains("selectors/broken.toml"),
                "{error}"
            );
        }
    }

    /// r15: `server_rendered` is for the screens reads open, and never with script-rendered data or
    /// a list a button lengthens; each refusal names the key.
    #[test]
    fn server_rendered_is_checked_at_load() {
        let base = sandbox_map();
        assert!(
            base.contains("server_rendered = true"),
            "the map reads over HTTP"
        );
        for (from, to, why) in [
            (
                "url = \"/payments/new\"\n",
                "url = \"/payments/new\"\nserver_rendered = true\n",
                "only the screens reads open",
            ),
            (
                "url = \"/accounts\"\nserver_rendered = true\n",
                "url = \"/accounts\"\nserver_rendered = true\nready = \"table\"\n",
                "scripts render",
            ),
            (
                "url = \"/accounts\"\nserver_rendered = true\n",
                "url = \"/accounts\"\nserver_rendered = true\npaging = { more = \"button\" }\n",
                "paging.more",
            ),
        ] {
            assert!(base.contains(from), "{from}");
            let problems = ScreenMap::problems("x.toml", &base.replacen(from, to, 1));
            let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
            assert!(
                text.iter()
                    .any(|p| p.contains("server_rendered") && p.contains(why)),
                "{why}: {text:?}"
            );
        }
    }

    /// Every problem of a map is listed in one pass, not only the first.
    #[test]
    fn every_problem_is_listed_at_once() {
        let broken = sandbox_map()
            .replacen(
                r##"columns.amount = { css = "td.tx-amount", parse = "amount" }"##,
                "",
                1,
            )
            .replacen("columns.amount = \"/tx-amount\"\n", "", 1)
            .replacen(
                r##"is_here = "body[data-screen=sca]""##,
                r##"is_here = "div:contains(x)""##,
                1,
            )
            .replacen(r##"actions.submit = "#login-submit""##, "", 1);
        let problems = ScreenMap::problems("broken.toml", &broken);
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "screens.sca.is_here",
                "screens.history.tables.history.columns.amount",
                "screens.login.actions.submit",
            ],
            "{problems:?}"
        );
    }

    /// The first website's map with its login in two steps, a choice of signing method and the
    /// debtor chosen by the IBAN its option shows.
    fn stepped_map() -> String {
        let base = sandbox_map()
            .replacen("fields.password = { css = \"#password\" }\n", "", 1)
            .replacen(
                "fields.debtor = { css = \"#from_account\", input = \"select\" }",
                "fields.debtor = { css = \"#from_account\", input = \"select\", option = \"text\" }",
                1,
            );
        format!(
            "login_steps = [\"login\", \"login_password\"]\n{base}\n\
             [screens.login_password]\nis_here = \"body.step-password\"\n\
             fields.password = {{ css = \"#password\" }}\nactions.submit = \"#log-in\"\n\n\
             [screens.sign_method]\nis_here = \"body.sign-choose\"\n\
             actions.choose = \"#with-card-reader\"\n"
        )
    }

    /// A login in steps, a signing-method step and options matched by account load, and each new
    /// key's mistakes are named at load with file and key.
    #[test]
    fn login_steps_signing_method_and_options_are_checked_at_load() {
        let map =
            ScreenMap::parse("stepped.toml", &stepped_map()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(map.login_steps, ["login", "login_password"]);
        assert_eq!(
            map.screen("payment_new").fields["debtor"].option,
            OptionMatch::Text
        );
        assert!(map.get("sign_method").is_some());
        let first = ScreenMap::parse("first.toml", &sandbox_map()).unwrap();
        assert_eq!(first.login_steps, ["login"]);
        let base = stepped_map();
        let cases: Vec<(String, &str, &str)> = vec![
            (
                base.replacen("\"login\", \"login_password\"", "\"login_password\"", 1),
                "login_steps",
                "first step must be the screen `login`",
            ),
            (
                base.replacen("\"login_password\"]", "\"login_pin\"]", 1),
                "screens.login_pin",
                "missing: a step of `login_steps`",
            ),
            (
                base.replacen("login_steps = [\"login\", \"login_password\"]", "", 1),
                "screens.login.fields.password",
                "no login step fills it",
            ),
            (
                base.replacen("actions.submit = \"#log-in\"", "", 1),
                "screens.login_password.actions.submit",
                "each login step presses a button",
            ),
            (
                base.replacen(
                    "fields.password = { css = \"#password\" }",
                    "fields.password = { css = \"#password\" }\nfields.customer = { css = \"#c\" }",
                    1,
                ),
                "screens.login_password.fields.customer",
                "also filled on the step \"login\"",
            ),
            (
                base.replacen("actions.choose = ", "actions.pick = ", 1),
                "screens.sign_method.actions.choose",
                "missing",
            ),
            (
                base.replacen(
                    "fields.creditor_name = { css = \"#beneficiary_name\" }",
                    "fields.creditor_name = { css = \"#beneficiary_name\", option = \"text\" }",
                    1,
                ),
                "screens.payment_new.fields.creditor_name.option",
                "only a select",
            ),
            (
                base.replacen("option = \"text\"", "option = \"label\"", 1),
                "line",
                "unknown variant `label`",
            ),
        ];
        for (text, key, reason) in cases {
            let error = ScreenMap::parse("selectors/stepped.toml", &text).unwrap_err();
            assert!(error.key.starts_with(key), "{key}: {error}");
            assert!(error.reason.contains(reason), "{reason}: {error}");
            assert!(
                error.to_string().contains("selectors/stepped.toml"),
                "{error}"
            );
        }
    }

    /// A website without payments, standing orders or files declares those screens absent: the map
    /// loads, and the operations that walk them are named as not supported.
    #[test]
    fn absent_screens_make_their_operations_unsupported() {
        let mut text = sandbox_map();
        for screen in ["order_new", "order_confirm", "files", "file_review"] {
            let start = text.find(&format!("[screens.{screen}]")).unwrap();
            let end = text[start + 1..]
                .find("\n[screens.")
                .map_or(text.len(), |i| start + 1 + i);
            text.replace_range(start..end, "");
        }
        let text = format!(
            "absent = [\"order_new\", \"order_confirm\", \"files\", \"file_review\"]\n{text}"
        );
        let map = ScreenMap::parse("lean.toml", &text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(map.unsupported("create_standing_order"), Some("order_new"));
        assert_eq!(map.unsupported("upload_payment_file"), Some("files"));
        assert_eq!(map.unsupported("initiate_payment"), None);
        assert_eq!(map.unsupported("sign"), None);
        assert_eq!(map.unsupported("transactions"), None);
    }
}
