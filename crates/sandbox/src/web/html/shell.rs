//! The page around every screen: the head with its styles, the header and the menu of a logged-in
//! customer, the screen marker (`body[data-screen]` in layout 1, `main#view-…` in layout 2), and the
//! cookie banner.

use std::fmt::Write as _;

use super::forms::{Button, Field, button, form, hidden};
use super::text::{Layout, escape};

/// What the page shell needs to know about the visitor.
#[derive(Debug, Clone)]
pub(crate) struct Chrome {
    pub(crate) layout: Layout,
    /// The logged-in customer's name, for the header and the menu; `None` before login.
    pub(crate) customer: Option<String>,
    /// The session's CSRF token, for the cookie banner's form.
    pub(crate) csrf: Option<String>,
    /// Whether the cookie banner is shown (no `cookies=accepted` cookie yet).
    pub(crate) banner: bool,
    /// The path of the page, where the banner's form comes back to.
    pub(crate) path: String,
}

const MENU: [(&str, &str, &str, &str); 6] = [
    ("accounts", "/accounts", "Accounts", "My accounts"),
    (
        "new-payment",
        "/payments/new",
        "New payment",
        "Transfer money",
    ),
    ("payments", "/payments", "Payments", "Payment overview"),
    (
        "standing-orders",
        "/standing-orders",
        "Standing orders",
        "Recurring transfers",
    ),
    ("files", "/files", "Payment files", "Batch upload"),
    ("logout", "/logout", "Log out", "Sign out"),
];

/// The whole page: head with styles, header and menu, the screen marker, the cookie banner.
///
/// The screen marker is `body[data-screen=<screen>]` in layout 1 and `main#view-<screen>` in layout 2.
pub(crate) fn page(chrome: &Chrome, screen: &str, title: &str, body: &str) -> String {
    let layout = chrome.layout;
    let mut out = String::with_capacity(body.len() + 8192);
    let _ = write!(
        out,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{} · Sandbox Bank</title><style>{CSS}</style></head>"#,
        escape(title)
    );
    match layout {
        Layout::V1 => {
            let _ = write!(
                out,
                r#"<body data-screen="{screen}" class="v1"><header class="topbar"><span class="brand">Sandbox Bank</span>"#
            );
            if let Some(name) = &chrome.customer {
                let _ = write!(
                    out,
                    r#"<span id="customer-name" class="who">{}</span></header><nav id="menu">"#,
                    escape(name)
                );
                for (key, href, text, _) in MENU {
                    let _ = write!(out, r#"<a id="nav-{key}" href="{href}">{text}</a>"#);
                }
                out.push_str("</nav>");
            } else {
                out.push_str("</header>");
            }
            let _ = write!(
                out,
                r#"<main class="content"><h1>{}</h1>{body}</main>"#,
                escape(title)
            );
        }
        Layout::V2 => {
            out.push_str(r#"<body class="v2"><div class="shell"><div class="masthead"><b class="logo">SANDBOX<span>bank</span></b>"#);
            if let Some(name) = &chrome.customer {
                let _ = write!(
                    out,
                    r#"<span class="user" data-item="customerName">{}</span></div><aside class="sidebar"><ul class="nav-list">"#,
                    escape(name)
                );
                for (key, href, _, text) in MENU {
                    let _ = write!(
                        out,
                        r#"<li><a data-nav="{key}" href="{href}">{text}</a></li>"#
                    );
                }
                out.push_str("</ul></aside>");
            } else {
                out.push_str("</div>");
            }
            let _ = write!(
                out,
                r#"<main id="view-{screen}" class="panel"><h2 class="title">{}</h2>{body}</main></div>"#,
                escape(title)
            );
        }
    }
    if chrome.banner {
        out.push_str(&banner(chrome));
    }
    out.push_str("</body></html>");
    out
}

/// The cookie banner: an overlay covering the page until accepted, by a script setting the cookie or,
/// without script, by posting its form.
fn banner(chrome: &Chrome) -> String {
    let layout = chrome.layout;
    let accept = Button {
        v1: "cookie-accept",
        v1_text: "Accept",
        v2: "accept-cookies",
        v2_text: "Accept all cookies",
    };
    let inner = format!(
        "{}{}",
        hidden(layout, Field::Return, &chrome.path),
        button(layout, &accept, false, None)
    );
    let form = form(
        layout,
        ("cookie-form", "consent-form"),
        "/cookies",
        chrome.csrf.as_deref(),
        &inner,
    );
    let (open, text, button_sel, overlay_sel) = match layout {
        Layout::V1 => (
            r#"<div id="cookie-banner" class="overlay"><div class="overlay-box">"#,
            "<p>Sandbox Bank uses cookies to keep you logged in and to remember this choice.</p>",
            "#cookie-accept",
            "#cookie-banner",
        ),
        Layout::V2 => (
            r#"<div class="consent-overlay overlay" role="dialog" data-item="cookieConsent"><div class="overlay-box">"#,
            "<h3>Your privacy</h3><p>We use functional cookies only. Please accept them to continue.</p>",
            r#"[data-action="accept-cookies"]"#,
            r#"[data-item="cookieConsent"]"#,
        ),
    };
    format!(
        r#"{open}{text}{form}</div></div><script>(function(){{var b=document.querySelector('{button_sel}');b.addEventListener('click',function(e){{e.preventDefault();document.cookie='cookies=accepted; path=/; max-age=31536000; SameSite=Lax';var o=document.querySelector('{overlay_sel}');o.hidden=true;o.remove();}});}})();</script>"#
    )
}

const CSS: &str = r#"
*{box-sizing:border-box}
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2733;background:#f4f6f8;font-size:15px}
a{color:#0b5cad}
.topbar{display:flex;justify-content:space-between;align-items:center;background:#0b3d6e;color:#fff;padding:12px 24px}
.brand{font-weight:700;font-size:20px;letter-spacing:.5px}
.who{opacity:.9}
#menu{display:flex;gap:4px;background:#12528f;padding:0 16px}
#menu a{color:#fff;text-decoration:none;padding:10px 14px;display:inline-block}
#menu a:hover{background:#0b3d6e}
.content{max-width:1100px;margin:24px auto;background:#fff;padding:24px 32px;border-radius:6px;box-shadow:0 1px 3px rgba(0,0,0,.1)}
h1{margin-top:0;font-size:24px}
table{border-collapse:collapse;width:100%;margin:12px 0}
th,td{text-align:left;padding:7px 10px;border-bottom:1px solid #e3e7eb;vertical-align:top}
thead th{background:#eef2f6;font-weight:600}
table.details{width:auto;min-width:420px}
table.details th{background:none;color:#52606d;font-weight:500;padding-right:24px}
td.balance,td.available,td.amount,td.tx-amount,.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
.neg{color:#b3261e}
.field{margin:10px 0;display:flex;align-items:center;gap:12px}
.field label{width:220px;color:#3e4c59}
input[type=text],input[type=password],input[type=number],input[type=file],select{padding:7px 9px;border:1px solid #9aa5b1;border-radius:4px;min-width:260px;font-size:15px}
button,.btn{background:#0b5cad;color:#fff;border:0;border-radius:4px;padding:8px 16px;font-size:15px;cursor:pointer;margin:6px 6px 6px 0}
button:hover{background:#084a8c}
button[value=cancel],button.cancel-payment,button[value=discard]{background:#6b7785}
.msg{padding:10px 14px;border-radius:4px}
.msg-error{background:#fdecea;color:#8a1c13;border:1px solid #f5c2bd}
.msg-info{background:#e8f1fb;color:#0b3d6e;border:1px solid #bcd6f2}
ul.msg{list-style:none}
.challenge{font-size:28px;letter-spacing:4px;font-family:monospace}
.pager{display:flex;gap:16px;align-items:center;margin:12px 0}
.filters{display:flex;flex-wrap:wrap;gap:4px 20px;background:#f7f9fb;padding:8px 14px;border-radius:4px}
.filters .field label{width:auto}
.filters input[type=text],.filters select{min-width:140px}
.overlay{position:fixed;inset:0;background:rgba(10,20,30,.55);display:flex;align-items:center;justify-content:center;z-index:1000}
.overlay-box{background:#fff;padding:24px 32px;border-radius:8px;max-width:480px;box-shadow:0 8px 24px rgba(0,0,0,.3)}
.overlay[hidden]{display:none}
body.v2{background:#fbf7f2;font-family:Georgia,"Times New Roman",serif}
.v2 .shell{display:grid;grid-template-columns:220px 1fr;grid-template-rows:auto 1fr;min-height:100vh}
.v2 .masthead{grid-column:1/3;display:flex;justify-content:space-between;align-items:center;padding:14px 28px;background:#2d1e3e;color:#f3e9ff}
.v2 .logo{font-size:22px;letter-spacing:3px}.v2 .logo span{color:#e0a85b;margin-left:4px}
.v2 .sidebar{background:#3d2b52;padding:18px 0}
.v2 .nav-list{list-style:none;margin:0;padding:0}
.v2 .nav-list a{display:block;color:#f3e9ff;padding:10px 24px;text-decoration:none}
.v2 .nav-list a:hover{background:#2d1e3e}
.v2 .panel{padding:24px 36px;grid-column:2}
.v2 .title{margin-top:0;color:#2d1e3e}
.v2 .cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:14px}
.v2 .card{background:#fff;border:1px solid #e4d9ee;border-radius:10px;padding:12px 16px}
.v2 dl{margin:0}.v2 dt{font-size:12px;text-transform:uppercase;color:#7a6a8a;margin-top:6px}.v2 dd{margin:0 0 4px 0}
.v2 .summary .pair{display:flex;gap:18px;border-bottom:1px dotted #d9cce6;padding:6px 0}.v2 .summary dt{width:200px}
.v2 .frow{display:flex;gap:12px;align-items:center}.v2 .lbl{width:200px}
.v2 .btn{background:#7b3fa0;border-radius:18px}
.v2 .alert{padding:10px 14px;border-radius:8px;margin:10px 0}.v2 .alert-danger{background:#fde8ec;color:#7d1028}.v2 .alert-info{background:#efe6fa;color:#2d1e3e}
.v2 .movements{list-style:none;padding:0}.v2 .movement{display:grid;grid-template-columns:100px 1.4fr 1.4fr 2fr 130px 110px 80px;gap:8px;padding:7px 4px;border-bottom:1px solid #eadff3}
.v2 .movement [data-field=amount]{text-align:right;font-variant-numeric:tabular-nums}
"#;
