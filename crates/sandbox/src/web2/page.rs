//! The page around every screen of the second website: the head and its styles, the header, the menu
//! of a logged-in customer, the screen's class on `body` (`scherm-…`), the cookie wall, messages, and
//! the error, maintenance and not-found pages. A ledger refusal in the customer's (Dutch) words.

use std::fmt::Write as _;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::ledger::LedgerError;
use crate::markup::escape;

/// Where the website lives on the sandbox's website port; every link and cookie path starts here.
pub(crate) const BASE: &str = "/mijnbank";

/// What the shell needs to know about the visitor.
#[derive(Debug, Clone, Default)]
pub(crate) struct Frame {
    /// The logged-in customer's name; `None` before login.
    pub(crate) name: Option<String>,
    /// The session's form token, for the cookie wall's form.
    pub(crate) token: Option<String>,
    /// Whether the cookie wall covers the page (no choice made yet).
    pub(crate) wall: bool,
    /// The page's path, where the wall's form comes back to.
    pub(crate) path: String,
}

const MENU: [(&str, &str); 6] = [
    ("/overzicht", "Mijn rekeningen"),
    ("/overmaken", "Geld overmaken"),
    ("/periodiek", "Periodieke opdracht"),
    ("/opdrachten", "Opdrachten"),
    ("/bestanden", "Betaalbestanden"),
    ("/uitloggen", "Uitloggen"),
];

/// A whole page with status `200`: `screen` becomes the body's class `scherm-<screen>`.
pub(crate) fn render(frame: &Frame, screen: &str, title: &str, body: &str) -> Response {
    Html(page(frame, screen, title, body)).into_response()
}

/// A whole page as text.
pub(crate) fn page(frame: &Frame, screen: &str, title: &str, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + 6000);
    let _ = write!(
        out,
        r#"<!doctype html><html lang="nl"><head><meta charset="utf-8"><title>{} | Mijn Bank</title><style>{CSS}</style></head><body class="mb scherm-{screen}"><div class="balk"><a class="logo" href="{BASE}/">mijn<b>bank</b></a>"#,
        escape(title)
    );
    if let Some(name) = &frame.name {
        let _ = write!(
            out,
            r#"<span class="ingelogd">Welkom, <strong>{}</strong></span></div><nav class="hoofdmenu"><ul>"#,
            escape(name)
        );
        for (href, text) in MENU {
            let _ = write!(out, r#"<li><a href="{BASE}{href}">{text}</a></li>"#);
        }
        out.push_str("</ul></nav>");
    } else {
        out.push_str("</div>");
    }
    let _ = write!(
        out,
        r#"<section class="inhoud"><h1 class="paginatitel">{}</h1>{body}</section><footer class="voet">Mijn Bank · een zandbakbank · alle bedragen in euro</footer>"#,
        escape(title)
    );
    if frame.wall {
        out.push_str(&wall(frame));
    }
    out.push_str("</body></html>");
    out
}

/// The cookie wall: a layer over the whole page that takes every click until the visitor chooses.
/// A script records the choice in place; without script the form posts it.
fn wall(frame: &Frame) -> String {
    format!(
        r#"<div id="cookiemuur" class="muur" role="dialog" aria-modal="true"><form class="muur-venster" method="post" action="{BASE}/cookies"><h2>Cookies op Mijn Bank</h2><p>Wij gebruiken functionele cookies om u ingelogd te houden. Kies hieronder om verder te gaan.</p><input type="hidden" name="formtoken" value="{}"><input type="hidden" name="terug" value="{}"><button type="submit" name="keuze" value="alles" class="knop" data-keuze="alles">Alle cookies accepteren</button> <button type="submit" name="keuze" value="nodig" class="knop knop-licht" data-keuze="nodig">Alleen noodzakelijke</button></form></div><script>document.querySelectorAll('#cookiemuur button').forEach(function(b){{b.addEventListener('click',function(e){{e.preventDefault();document.cookie='mb_cookiekeuze='+b.dataset.keuze+'; path={BASE}; max-age=31536000; SameSite=Lax';document.getElementById('cookiemuur').remove();}});}});</script>"#,
        escape(frame.token.as_deref().unwrap_or("")),
        escape(&frame.path),
    )
}

/// A notice (`p.melding.info`).
pub(crate) fn notice(text: &str) -> String {
    format!(r#"<p class="melding info">{}</p>"#, escape(text))
}

/// An error message (`p.melding.fout`).
pub(crate) fn error(text: &str) -> String {
    format!(
        r#"<p class="melding fout" role="alert">{}</p>"#,
        escape(text)
    )
}

/// A list of form errors, one line each (`div.melding.fout`), or nothing.
pub(crate) fn errors(list: &[String]) -> String {
    if list.is_empty() {
        return String::new();
    }
    let mut out = String::from(r#"<div class="melding fout" role="alert"><b>Controleer:</b><ul>"#);
    for e in list {
        let _ = write!(out, "<li>{}</li>", escape(e));
    }
    out.push_str("</ul></div>");
    out
}

/// A definition list of facts, each `dd` carrying `data-veld`.
pub(crate) fn facts(class: &str, items: &[(&str, &str, String)]) -> String {
    let mut out = format!(r#"<dl class="feiten {class}">"#);
    for (key, label, html) in items {
        let _ = write!(
            out,
            r#"<div class="feit"><dt>{}</dt><dd data-veld="{key}">{html}</dd></div>"#,
            escape(label)
        );
    }
    out.push_str("</dl>");
    out
}

/// The error page (class `scherm-fout`) with a way back.
pub(crate) fn error_page(frame: &Frame, status: StatusCode, message: &str, back: &str) -> Response {
    let body = format!(
        r#"{}<p><a class="terug" href="{BASE}{}">Terug</a></p>"#,
        error(message),
        escape(back)
    );
    (status, Html(page(frame, "fout", "Dat lukte niet", &body))).into_response()
}

/// The page for a form whose token is not the session's (class `scherm-fout`, `403`).
pub(crate) fn forbidden(frame: &Frame) -> Response {
    error_page(
        frame,
        StatusCode::FORBIDDEN,
        "Dit formulier is verlopen of kwam niet van Mijn Bank. Er is niets gedaan.",
        "/",
    )
}

/// The maintenance page (class `scherm-onderhoud`, `503` with `Retry-After`).
pub(crate) fn maintenance() -> Response {
    let body = r#"<p class="melding info" id="onderhoud">Mijn Bank is even niet beschikbaar wegens gepland onderhoud. Probeer het later opnieuw.</p>"#;
    let mut response = (
        StatusCode::SERVICE_UNAVAILABLE,
        Html(page(&Frame::default(), "onderhoud", "Onderhoud", body)),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("120"));
    response
}

/// The page for an address the website does not have (`404`, class `scherm-fout`).
pub(crate) async fn not_found() -> Response {
    error_page(
        &Frame::default(),
        StatusCode::NOT_FOUND,
        "Deze pagina bestaat niet.",
        "/",
    )
}

/// A ledger refusal in the customer's words.
pub(crate) fn refusal(error: &LedgerError) -> String {
    match error {
        LedgerError::NotFound { what, id } => {
            let what = match *what {
                "account" => "Rekening",
                "payment" => "Opdracht",
                other => other,
            };
            format!("{what} {id} is onbekend.")
        }
        LedgerError::Invalid(invalid) => {
            format!("{}: {}", field_label(invalid.field), invalid.reason)
        }
        LedgerError::CredentialsInvalid => "Klantnummer of wachtwoord onjuist.".to_owned(),
        LedgerError::ScaInvalid { attempts_left } => {
            format!("De respons klopt niet; nog {attempts_left} poging(en).")
        }
        LedgerError::InsufficientFunds { account } => {
            format!("Onvoldoende saldo op {account} (AM04).")
        }
        LedgerError::NotCancellable { id, .. } => {
            format!("Opdracht {id} kan niet meer worden ingetrokken.")
        }
        other => format!("De bank weigert dit: {other}."),
    }
}

/// The form label of a domain field, so a refusal names what the customer typed.
fn field_label(field: &str) -> &str {
    match field {
        "instructedAmount" | "amount" => "Bedrag",
        "creditorName" => "Naam begunstigde",
        "creditorAccount" | "iban" => "IBAN begunstigde",
        "debtorAccount" | "DbtrAcct" => "Van rekening",
        "remittanceInformationUnstructured" => "Omschrijving",
        "requestedExecutionDate" => "Uitvoerdatum",
        "endToEndIdentification" => "Kenmerk",
        "startDate" => "Eerste uitvoering",
        "endDate" => "Laatste uitvoering",
        "dayOfExecution" => "Dag van uitvoering",
        "referenceDate" | "date" => "Datum",
        other => other,
    }
}

const CSS: &str = r#"
*{box-sizing:border-box}
body.mb{margin:0;font-family:"Trebuchet MS",Verdana,sans-serif;background:#fff7ef;color:#232323;font-size:15px}
.balk{display:flex;justify-content:space-between;align-items:center;padding:10px 28px;background:#ff6a00;color:#fff}
.logo{color:#fff;text-decoration:none;font-size:24px}.logo b{font-weight:800}
.hoofdmenu ul{display:flex;list-style:none;margin:0;padding:0 20px;background:#2b2b2b}
.hoofdmenu a{display:block;color:#fff;text-decoration:none;padding:10px 16px}
.hoofdmenu a:hover{background:#ff6a00}
.inhoud{max-width:980px;margin:22px auto;padding:0 20px}
.paginatitel{font-size:26px;color:#ff6a00}
.kaarten{display:flex;flex-wrap:wrap;gap:16px;padding:0;list-style:none}
.rekeningkaart{width:300px;background:#fff;border-radius:14px;box-shadow:0 2px 8px rgba(0,0,0,.12);padding:16px 18px}
.rekeningkaart h2{font-size:18px;margin:0 0 4px}
.rekeningkaart .saldo{font-size:24px;font-weight:700;margin:10px 0}
.feiten .feit{display:flex;gap:16px;padding:5px 0;border-bottom:1px dashed #f0d9c4}
.feiten dt{width:230px;color:#6b5a4a}.feiten dd{margin:0}
.melding{padding:10px 14px;border-radius:8px}.melding.fout{background:#ffe3e0;color:#8c1a10}.melding.info{background:#fff0d6}
.regel{margin:10px 0}.regel label{display:block;font-size:13px;color:#6b5a4a}
.regel input,.regel select{padding:8px;border:2px solid #e0c9b3;border-radius:8px;min-width:280px;font-size:15px}
.knop{background:#ff6a00;color:#fff;border:0;border-radius:20px;padding:9px 20px;font-size:15px;cursor:pointer}
.knop-licht{background:#b9a898}
.mutaties{list-style:none;padding:0}
.mutatie{display:grid;grid-template-columns:110px 1fr 140px;gap:4px 10px;background:#fff;margin:6px 0;padding:8px 12px;border-radius:10px}
.mutatie .bedrag{text-align:right;font-weight:700}.mutatie .bedrag.af{color:#8c1a10}
.mutatie details{grid-column:1/4;font-size:13px;color:#6b5a4a}
.etiket{background:#2b2b2b;color:#fff;border-radius:10px;padding:1px 8px;font-size:12px;margin-left:6px}
.uitdaging{font-family:monospace;font-size:30px;letter-spacing:6px}
.muur{position:fixed;top:0;left:0;width:100vw;height:100vh;background:rgba(43,43,43,.8);z-index:9999;display:flex;align-items:center;justify-content:center}
.muur-venster{background:#fff;border-radius:16px;padding:26px 30px;max-width:520px}
.voet{text-align:center;color:#9b8b7b;font-size:12px;margin:40px 0 20px}
"#;
