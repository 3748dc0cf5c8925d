//! What the flows need of a screen map, as data: per operation the screens it walks, and per screen
//! the fields, actions, values (with their type), table columns (with their type) and word tables the
//! flows use. [`super::map`] checks every map against it when it is loaded, so a map that lacks
//! something, or parses it as the wrong type, fails at load naming file, screen and key.

/// The type a value or column must parse to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Text, as shown.
    Text,
    /// An amount (`parse = "amount"`).
    Amount,
    /// A date (`parse = "date"` or `"iso_date"`).
    Date,
    /// An IBAN (`parse = "iban"`).
    Iban,
    /// A whole number (`parse = "integer"`).
    Integer,
    /// Whether an element is there (`parse = "presence"`).
    Flag,
    /// Text translated through the named word table (`[words.<table>]`).
    Word(&'static str),
}

/// One thing a flow uses on a screen.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Need {
    /// The screen's `url`.
    Url,
    /// The screen's `ready` selector.
    Ready,
    /// A field.
    Field(&'static str),
    /// An action.
    Action(&'static str),
    /// A single value and its type.
    Value(&'static str, Kind),
    /// A table.
    Table(&'static str),
    /// A column of a table and its type.
    Column(&'static str, &'static str, Kind),
    /// The screen's `paging`.
    Paging,
}

/// Whether a need must be in the map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Must {
    /// The flows fail without it: missing is a load error.
    Required,
    /// The flows do without it (a balance type the site never shows, a filter the site lacks); when
    /// it is there, its type is checked.
    Optional,
}

use Kind::*;
use Must::*;
use Need::*;

/// Screens every map must have: nothing works without logging in and listing the accounts.
pub(crate) const ALWAYS: &[&str] = &["login", "sca", "accounts"];

/// Screens a website may simply not have: no cookie wall, no maintenance page, no error page, no choice
/// of signing method between confirming an order and its challenge, no signing in the bank's app
/// (`sign_app`: a page that waits for the customer's approval there), no login confirmed in the app
/// (`login_app`: the same, at the login), no choice of how to confirm a login (`login_method`), no
/// login that continues at the bank's own page (`login_redirect`: a link for the customer to open).
pub(crate) const MAY_LACK: &[&str] = &[
    "cookie_banner",
    "maintenance",
    "error",
    "sign_method",
    "sign_app",
    "login_app",
    "login_method",
    "login_redirect",
];

/// Screens only reads open, which a map may mark `server_rendered` (read over HTTP on the browser's
/// session): no flow acts on them in the browser after opening them. The history is read over HTTP
/// from the page at its filtered address (`query`); a history filtered by filling its form is read in
/// the browser.
pub(crate) const HTTP_READS: &[&str] = &["accounts", "balances", "history", "payments", "payment"];

/// Per operation (the `Bank` trait's words), the screens it walks. A map that declares one of them
/// `absent` makes the operation answer *not supported*, naming the screen.
pub(crate) const OPERATIONS: &[(&str, &[&str])] = &[
    ("balances", &["balances"]),
    ("balances on a date", &["balance_on_date"]),
    ("transactions", &["history"]),
    (
        "initiate_payment",
        &["payment_new", "payment_confirm", "sign", "result"],
    ),
    (
        "create_standing_order",
        &["order_new", "order_confirm", "sign", "result"],
    ),
    (
        "upload_payment_file",
        &["files", "file_review", "sign", "result"],
    ),
    ("sign", &["sign", "result"]),
    ("payment_status", &["payment"]),
    ("cancel_payment", &["payment"]),
    ("find_payment", &["payments"]),
];

/// The URL parameters each screen's `url` may use (`{account}` is the account's id on the website).
pub(crate) const URL_PARAMETERS: &[(&str, &[&str])] = &[
    ("balances", &["account"]),
    ("balance_on_date", &["account"]),
    ("history", &["account"]),
    ("sign", &["payment"]),
    ("sign_method", &["payment"]),
    ("payment", &["payment"]),
];

/// The model's words of each word table: a map's `[words.<table>]` has a key for each (all of them
/// unless the table is in [`PARTIAL_WORDS`]), and nothing else.
pub(crate) const WORDS: &[(&str, &[&str])] = &[
    ("booking_status", &["booked", "pending"]),
    (
        "order_kind",
        &[
            "transfer",
            "instant_transfer",
            "standing_order",
            "payment_file",
        ],
    ),
    ("yes_no", &["yes", "no"]),
    ("debit_credit", &["credit", "debit"]),
    ("direction", &["all", "credit", "debit"]),
    ("recurrence", &["all", "one_off", "recurring"]),
    ("page_size", &["largest"]),
    (
        "frequency",
        &[
            "Daily",
            "Weekly",
            "EveryTwoWeeks",
            "Monthly",
            "EveryTwoMonths",
            "Quarterly",
            "SemiAnnual",
            "Annual",
            "MonthlyVariable",
        ],
    ),
    (
        "payment_status",
        &[
            "RCVD", "PATC", "ACTC", "ACFC", "ACCP", "ACWC", "ACSP", "ACWP", "ACSC", "ACCC", "PDNG",
            "PART", "RJCT", "CANC",
        ],
    ),
];

/// Word tables that need not name every model word (a website shows only some statuses, offers
/// only some frequencies).
pub(crate) const PARTIAL_WORDS: &[&str] = &["frequency", "payment_status"];

/// Word tables a map may leave out: the website then shows the model's own words (the Berlin Group
/// frequency codes, the ISO 20022 status codes).
pub(crate) const OWN_WORDS: &[&str] = &["frequency", "payment_status"];

/// Per screen, what the flows use of it.
pub(crate) const CONTRACT: &[(&str, Need, Must)] = &[
    ("cookie_banner", Action("accept"), Required),
    ("maintenance", Value("message", Text), Optional),
    ("error", Value("message", Text), Optional),
    ("login", Url, Required),
    // The login's fields and buttons are checked per step of `login_steps`.
    ("login", Value("error", Text), Optional),
    ("sca", Value("challenge", Text), Required),
    ("sca", Value("error", Text), Optional),
    ("sca", Field("response"), Required),
    ("sca", Action("submit"), Required),
    ("login_app", Value("message", Text), Required),
    ("login_app", Value("outcome", Text), Optional),
    ("login_redirect", Value("link", Text), Required),
    ("login_redirect", Value("message", Text), Optional),
    ("login_redirect", Value("outcome", Text), Optional),
    ("login_method", Action("card_reader"), Required),
    ("login_method", Action("app"), Required),
    ("accounts", Url, Required),
    ("accounts", Table("accounts"), Required),
    ("accounts", Column("accounts", "id", Text), Required),
    ("accounts", Column("accounts", "iban", Iban), Required),
    ("accounts", Column("accounts", "name", Text), Optional),
    ("accounts", Column("accounts", "product", Text), Optional),
    ("accounts", Column("accounts", "owner", Text), Optional),
    ("accounts", Column("accounts", "currency", Text), Optional),
    ("accounts", Column("accounts", "booked", Amount), Optional),
    ("balances", Url, Required),
    ("balances", Ready, Optional),
    ("balances", Value("booked", Amount), Optional),
    ("balances", Value("available", Amount), Optional),
    ("balances", Value("expected", Amount), Optional),
    ("balances", Value("closing", Amount), Optional),
    ("balances", Value("forward", Amount), Optional),
    ("balances", Value("closing_date", Date), Optional),
    ("balances", Value("today", Date), Optional),
    ("balance_on_date", Url, Required),
    ("balance_on_date", Field("balance_date"), Required),
    ("balance_on_date", Action("show_balance"), Required),
    (
        "balance_on_date",
        Value("balance_on_date", Amount),
        Required,
    ),
    (
        "balance_on_date",
        Value("balance_on_date_day", Date),
        Required,
    ),
    ("balance_on_date", Value("error", Text), Optional),
    ("history", Url, Required),
    ("history", Ready, Optional),
    ("history", Field("date_from"), Optional),
    ("history", Field("date_to"), Optional),
    ("history", Field("direction"), Optional),
    ("history", Field("recurrence"), Optional),
    ("history", Field("page_size"), Optional),
    ("history", Action("filter"), Optional),
    ("history", Paging, Optional),
    ("history", Value("error", Text), Optional),
    ("history", Value("total", Integer), Optional),
    ("history", Table("history"), Required),
    ("history", Column("history", "id", Text), Required),
    ("history", Column("history", "amount", Amount), Required),
    ("history", Column("history", "date", Date), Optional),
    ("history", Column("history", "value_date", Date), Optional),
    ("history", Column("history", "booking_date", Date), Optional),
    ("history", Column("history", "name", Text), Optional),
    ("history", Column("history", "iban", Iban), Optional),
    (
        "history",
        Column("history", "communication", Text),
        Optional,
    ),
    (
        "history",
        Column("history", "status", Word("booking_status")),
        Optional,
    ),
    ("history", Column("history", "code", Text), Optional),
    ("history", Column("history", "e2e", Text), Optional),
    ("history", Column("history", "order", Text), Optional),
    ("history", Column("history", "recurring", Flag), Optional),
    ("history", Column("history", "balance", Amount), Optional),
    (
        "history",
        Column("history", "direction", Word("debit_credit")),
        Optional,
    ),
    ("payment_new", Url, Required),
    ("payment_new", Field("debtor"), Required),
    ("payment_new", Field("creditor_name"), Required),
    ("payment_new", Field("creditor_iban"), Required),
    ("payment_new", Field("amount"), Required),
    ("payment_new", Field("communication"), Required),
    ("payment_new", Field("execution_date"), Required),
    ("payment_new", Field("instant"), Optional),
    ("payment_new", Field("reference"), Required),
    ("payment_new", Action("submit"), Required),
    ("payment_new", Value("error", Text), Optional),
    ("payment_confirm", Value("debtor", Iban), Required),
    ("payment_confirm", Value("creditor_name", Text), Required),
    ("payment_confirm", Value("creditor_iban", Iban), Required),
    ("payment_confirm", Value("amount", Amount), Required),
    ("payment_confirm", Value("communication", Text), Optional),
    ("payment_confirm", Value("date", Date), Required),
    (
        "payment_confirm",
        Value("instant", Word("yes_no")),
        Optional,
    ),
    ("payment_confirm", Value("reference", Text), Required),
    ("payment_confirm", Action("confirm"), Required),
    ("payment_confirm", Action("cancel"), Required),
    ("order_new", Url, Required),
    ("order_new", Field("debtor"), Required),
    ("order_new", Field("creditor_name"), Required),
    ("order_new", Field("creditor_iban"), Required),
    ("order_new", Field("amount"), Required),
    ("order_new", Field("communication"), Required),
    ("order_new", Field("start_date"), Required),
    ("order_new", Field("end_date"), Required),
    ("order_new", Field("frequency"), Required),
    ("order_new", Field("day"), Required),
    ("order_new", Field("reference"), Required),
    ("order_new", Action("submit"), Required),
    ("order_new", Value("error", Text), Optional),
    ("order_confirm", Value("debtor", Iban), Required),
    ("order_confirm", Value("creditor_name", Text), Required),
    ("order_confirm", Value("creditor_iban", Iban), Required),
    ("order_confirm", Value("amount", Amount), Required),
    ("order_confirm", Value("communication", Text), Optional),
    ("order_confirm", Value("start_date", Date), Required),
    (
        "order_confirm",
        Value("frequency", Word("frequency")),
        Required,
    ),
    ("order_confirm", Value("reference", Text), Required),
    ("order_confirm", Action("confirm"), Required),
    ("order_confirm", Action("cancel"), Required),
    ("files", Url, Required),
    ("files", Field("file"), Required),
    ("files", Action("upload"), Required),
    ("files", Value("error", Text), Optional),
    ("file_review", Value("message_id", Text), Required),
    ("file_review", Value("count", Integer), Required),
    ("file_review", Action("confirm"), Required),
    ("file_review", Action("cancel"), Required),
    ("sign_method", Action("choose"), Required),
    ("sign_method", Value("reference", Text), Optional),
    ("sign_app", Value("reference", Text), Required),
    ("sign_app", Value("message", Text), Required),
    ("sign_app", Value("outcome", Text), Optional),
    ("sign", Url, Required),
    ("sign", Value("reference", Text), Required),
    ("sign", Value("challenge", Text), Required),
    ("sign", Value("error", Text), Optional),
    ("sign", Field("response"), Required),
    ("sign", Action("submit"), Required),
    ("result", Value("reference", Text), Required),
    ("result", Value("status", Word("payment_status")), Required),
    ("payments", Url, Required),
    ("payments", Paging, Optional),
    ("payments", Table("payments"), Required),
    ("payments", Column("payments", "id", Text), Required),
    (
        "payments",
        Column("payments", "kind", Word("order_kind")),
        Required,
    ),
    ("payments", Column("payments", "reference", Text), Required),
    (
        "payments",
        Column("payments", "status", Word("payment_status")),
        Required,
    ),
    ("payment", Url, Required),
    ("payment", Value("reference", Text), Required),
    ("payment", Value("status", Word("payment_status")), Required),
    ("payment", Action("cancel"), Optional),
];

/// A field that, when a map has it, needs a word table (its select options).
pub(crate) const FIELD_WORDS: &[(&str, &str, &str)] = &[
    ("history", "direction", "direction"),
    ("history", "recurrence", "recurrence"),
    ("history", "page_size", "page_size"),
    ("order_new", "frequency", "frequency"),
];
