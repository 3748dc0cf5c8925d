//! The status page in HTML, from [`BankFigures`]: pure (figures in, markup out). Charts are inline
//! SVG; the live update is one small inline script that follows `/status/live` and reloads the panel
//! (`/status/panel`) when a bank switches — no frontend build chain.

use std::fmt::Write as _;

use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};
use psd2_fallback_engine::health::Mode;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::figures::{BankFigures, TIMELINE};

fn when(at: OffsetDateTime) -> String {
    at.replace_nanosecond(0)
        .unwrap_or(at)
        .format(&Rfc3339)
        .unwrap_or_default()
}

fn colour(mode: Mode) -> &'static str {
    match mode {
        Mode::Api => "#2e7d32",
        Mode::Fallback => "#e65100",
        Mode::Probing => "#f9a825",
    }
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}\
h1{font-size:1.4rem}section.bank{border:1px solid #ccc;border-radius:6px;padding:1rem;margin:1rem 0}\
.mode{font-weight:bold;padding:.1rem .5rem;border-radius:4px;color:#fff}\
.mode-api{background:#2e7d32}.mode-fallback{background:#e65100}.mode-probing{background:#f9a825;color:#222}\
dl{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}dt{color:#555}dd{margin:0}\
figure{margin:.6rem 0}figcaption{font-size:.85rem;color:#555}.problem{color:#b71c1c}";

/// The login form (with a message after a refused token).
pub(super) fn login_page(message: Option<&str>) -> String {
    let message = message
        .map(|m| format!("<p class=\"problem\" id=\"refused\">{}</p>", text(m)))
        .unwrap_or_default();
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>psd2-fallback status: log in</title>\
<style>{STYLE}</style></head><body><h1>psd2-fallback status</h1>{message}\
<form method=\"post\" action=\"/status/login\"><label>Operator or viewer token \
<input type=\"password\" name=\"token\" id=\"token\" autocomplete=\"off\" required></label> \
<button type=\"submit\" id=\"login\">Log in</button></form></body></html>"
    )
}

/// The whole page: the panel, and the script that keeps it up to date.
pub(super) fn page(banks: &[BankFigures], now: OffsetDateTime) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>psd2-fallback status</title>\
<style>{STYLE}</style></head><body><h1>psd2-fallback status</h1>\
<form method=\"post\" action=\"/status/logout\"><button type=\"submit\" id=\"logout\">Log out</button></form>\
<p>Live: <span id=\"live\">connecting</span></p><div id=\"panel\">{}</div>\
<script>{SCRIPT}</script></body></html>",
        panel(banks, now)
    )
}

/// Follows `/status/live`; on every switch, fetches the panel again and swaps it in.
const SCRIPT: &str = "(function(){var live=document.getElementById('live');\
function refresh(){fetch('/status/panel',{credentials:'same-origin'}).then(function(r){\
if(r.status===401){location.reload();return null}return r.text()}).then(function(html){\
if(html!==null){document.getElementById('panel').innerHTML=html}})}\
var source=new EventSource('/status/live');\
source.onopen=function(){live.textContent='connected';refresh()};\
source.onerror=function(){live.textContent='reconnecting'};\
source.addEventListener('switch',function(){refresh()});})();";

/// Every bank's section.
pub(super) fn panel(banks: &[BankFigures], now: OffsetDateTime) -> String {
    let mut out = format!(
        "<p id=\"updated\" data-at=\"{}\">As of {} (UTC)</p>",
        attr(&when(now)),
        text(&when(now))
    );
    for bank in banks {
        out.push_str(&section(bank, now));
    }
    out
}

fn section(bank: &BankFigures, now: OffsetDateTime) -> String {
    let name = bank.name.as_str();
    let mode = bank.mode.name();
    let since = bank
        .since
        .map(|at| format!("since {}", text(&when(at))))
        .unwrap_or_else(|| "no switch in the last 30 days".to_owned());
    let exempt = bank
        .exempt
        .as_deref()
        .map(|why| format!("<dt>Exempt</dt><dd>{} (RTS Art. 33(6))</dd>", text(why)))
        .unwrap_or_default();
    let today = bank.days.last().map(|(_, a)| *a).unwrap_or(100.0);
    let month = if bank.days.is_empty() {
        100.0
    } else {
        bank.days.iter().map(|(_, a)| a).sum::<f64>() / bank.days.len() as f64
    };
    let accesses: u32 = bank.accesses_per_hour.iter().sum();
    let problems: String = bank
        .problems
        .iter()
        .map(|p| format!("<p class=\"problem\">{}</p>", text(p)))
        .collect();
    format!(
        "<section class=\"bank\" data-bank=\"{battr}\" data-mode=\"{mode}\"><h2>{btext} \
<span class=\"mode mode-{mode}\">{mode}</span> <small class=\"since\">{since}</small></h2>\
<dl><dt>Measured health</dt><dd class=\"measured\">{measured}</dd>\
<dt>Override</dt><dd class=\"override\">{ovr}</dd>{exempt}\
<dt>Availability today</dt><dd class=\"today\">{today:.3} %</dd>\
<dt>Availability, 30 days</dt><dd class=\"month\">{month:.3} %</dd>\
<dt>Fallback accesses today</dt><dd class=\"accesses\">{accesses}</dd>\
<dt>Payments in doubt</dt><dd class=\"in-doubt\">{in_doubt}</dd>\
<dt>Consents expiring in 7 days</dt><dd class=\"expiring\">{expiring}</dd>{certificates}</dl>\
{timeline}{availability}{per_hour}{problems}</section>",
        battr = attr(name),
        btext = text(name),
        measured = bank.measured.name(),
        ovr = bank.override_name,
        in_doubt = bank.in_doubt,
        expiring = bank.consents_expiring,
        certificates = certificates(bank, now),
        timeline = timeline(bank, now),
        availability = availability_chart(bank),
        per_hour = accesses_chart(&bank.accesses_per_hour),
    )
}

/// The TPP's certificates, when configured: per certificate whose (subject, `organizationIdentifier`,
/// the NCA), which roles, and when it expires, marked when within the 30 days' notice.
fn certificates(bank: &BankFigures, now: OffsetDateTime) -> String {
    bank.certificates
        .iter()
        .map(|(kind, facts)| {
            let left = (facts.not_after - now).whole_days();
            let notice = crate::identity::CERTIFICATE_NOTICE_DAYS;
            let roles: Vec<&str> = facts.roles().iter().map(|r| r.code()).collect();
            format!(
                "<dt>Certificate ({kind})</dt><dd class=\"certificate{soon}\" data-certificate=\"{kattr}\">\
{subject} ({id}, {nca}), roles {roles}, expires {date} ({left} days)</dd>",
                kind = text(kind),
                kattr = attr(kind),
                soon = if left <= notice { " soon" } else { "" },
                subject = text(&facts.subject),
                id = text(facts.organization_identifier.as_deref().unwrap_or("no organizationIdentifier")),
                nca = text(facts.psd2.as_ref().map_or("no NCA", |s| s.nca_id.as_str())),
                roles = text(&if roles.is_empty() { "none".to_owned() } else { roles.join(", ") }),
                date = facts.not_after.date(),
            )
        })
        .collect()
}

const WIDTH: f64 = 720.0;

/// The last 24 hours as coloured bands by mode, with a mark at each switch.
fn timeline(bank: &BankFigures, now: OffsetDateTime) -> String {
    let start = now - TIMELINE;
    let span = TIMELINE.as_seconds_f64();
    let x = |at: OffsetDateTime| ((at - start).as_seconds_f64() / span * WIDTH).clamp(0.0, WIDTH);
    let mut svg = format!(
        "<figure><svg class=\"timeline\" data-switches=\"{}\" width=\"{WIDTH}\" height=\"46\" \
viewBox=\"0 0 {WIDTH} 46\" role=\"img\" aria-label=\"Modes over the last 24 hours\">",
        bank.switches.len()
    );
    let mut from = start;
    let mut mode = bank.mode_at_start;
    let band = |svg: &mut String, a: OffsetDateTime, b: OffsetDateTime, mode: Mode| {
        let _ = write!(
            svg,
            "<rect x=\"{:.1}\" y=\"4\" width=\"{:.1}\" height=\"24\" fill=\"{}\"><title>{}</title></rect>",
            x(a),
            (x(b) - x(a)).max(0.0),
            colour(mode),
            mode.name()
        );
    };
    for switch in &bank.switches {
        band(&mut svg, from, switch.at, mode);
        from = switch.at;
        mode = switch.to;
    }
    band(&mut svg, from, now, mode);
    for switch in &bank.switches {
        let at = x(switch.at);
        let _ = write!(
            svg,
            "<line class=\"switch\" x1=\"{at:.1}\" x2=\"{at:.1}\" y1=\"0\" y2=\"32\" stroke=\"#000\" stroke-width=\"2\">\
<title>{} → {}: {}</title></line>",
            text(&when(switch.at)),
            switch.to.name(),
            text(&switch.reason)
        );
    }
    for hour in (0..=24).step_by(6) {
        let at = WIDTH * f64::from(hour) / 24.0;
        let label = if hour == 24 {
            "now".to_owned()
        } else {
            format!("-{}h", 24 - hour)
        };
        let anchor = match hour {
            0 => "start",
            24 => "end",
            _ => "middle",
        };
        let _ = write!(
            svg,
            "<text x=\"{at:.1}\" y=\"44\" font-size=\"11\" text-anchor=\"{anchor}\">{label}</text>"
        );
    }
    svg.push_str("</svg><figcaption>Last 24 hours: green API, orange fallback, yellow probing; a black mark at each switch</figcaption></figure>");
    svg
}

/// Daily availability, the last 30 days: one bar per day from 90 % (bottom) to 100 % (top).
fn availability_chart(bank: &BankFigures) -> String {
    let bar = WIDTH / 30.0;
    let mut svg = format!(
        "<figure><svg class=\"availability\" width=\"{WIDTH}\" height=\"80\" viewBox=\"0 0 {WIDTH} 80\" \
role=\"img\" aria-label=\"Daily availability, 30 days\">"
    );
    for (i, (day, percent)) in bank.days.iter().enumerate() {
        let height = ((percent - 90.0) / 10.0).clamp(0.02, 1.0) * 70.0;
        let fill = if *percent >= 99.5 {
            "#2e7d32"
        } else {
            "#c62828"
        };
        let _ = write!(
            svg,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{height:.1}\" fill=\"{fill}\">\
<title>{day}: {percent:.3} %</title></rect>",
            i as f64 * bar + 1.0,
            72.0 - height,
            bar - 2.0
        );
    }
    svg.push_str("</svg><figcaption>Availability per day (EBA/GL/2018/07), last 30 days, today on the right; bars from 90 % to 100 %</figcaption></figure>");
    svg
}

/// Today's website reads per hour.
fn accesses_chart(per_hour: &[u32; 24]) -> String {
    let most = per_hour.iter().copied().max().unwrap_or(0).max(1);
    let bar = WIDTH / 24.0;
    let mut svg = format!(
        "<figure><svg class=\"accesses\" width=\"{WIDTH}\" height=\"60\" viewBox=\"0 0 {WIDTH} 60\" \
role=\"img\" aria-label=\"Fallback accesses per hour today\">"
    );
    for (hour, count) in per_hour.iter().enumerate() {
        let height = f64::from(*count) / f64::from(most) * 50.0;
        let _ = write!(
            svg,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{height:.1}\" fill=\"#1565c0\">\
<title>{hour:02}:00: {count}</title></rect>",
            hour as f64 * bar + 1.0,
            52.0 - height,
            bar - 2.0
        );
    }
    svg.push_str("</svg><figcaption>Fallback accesses (RTS Art. 33(5) log) per hour today, UTC</figcaption></figure>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    fn figures() -> BankFigures {
        BankFigures {
            name: "<kbc>".into(),
            mode: Mode::Fallback,
            since: Some(datetime!(2026-11-27 10:00 UTC)),
            measured: Mode::Fallback,
            override_name: "auto",
            exempt: None,
            mode_at_start: Mode::Api,
            switches: vec![super::super::figures::TimelineSwitch {
                at: datetime!(2026-11-27 10:00 UTC),
                to: Mode::Fallback,
                reason: "5 requests \"not answered\" <30 s>".into(),
            }],
            days: vec![
                (date!(2026 - 11 - 26), 100.0),
                (date!(2026 - 11 - 27), 95.0),
            ],
            accesses_per_hour: [0; 24],
            in_doubt: 2,
            consents_expiring: 1,
            certificates: vec![],
            problems: vec![],
        }
    }

    #[test]
    fn a_bank_is_drawn_with_its_mode_its_switch_and_escaped_text() {
        let html = panel(&[figures()], datetime!(2026-11-27 12:00 UTC));
        assert!(
            html.contains("data-bank=\"&lt;kbc&gt;\" data-mode=\"fallback\""),
            "{html}"
        );
        assert!(
            html.contains("<h2>&lt;kbc&gt; <span class=\"mode mode-fallback\">fallback</span>")
        );
        assert!(html.contains("data-switches=\"1\""));
        assert!(html.contains("5 requests \"not answered\" &lt;30 s&gt;"));
        assert!(!html.contains("<kbc>") && !html.contains("<30 s>"));
        // The switch two hours before the end sits at 22/24 of the width.
        assert!(html.contains("x1=\"660.0\""), "{html}");
        assert!(html.contains("<dd class=\"today\">95.000 %</dd>"));
        assert!(html.contains("<dd class=\"month\">97.500 %</dd>"));
        assert!(html.contains("<dd class=\"in-doubt\">2</dd>"));
    }

    #[test]
    fn a_configured_certificate_shows_whose_which_roles_and_when_marked_within_the_notice() {
        use psd2_fallback_engine::identity::{CertificateFacts, Psd2Statement, PspRole};
        let now = datetime!(2026-11-27 12:00 UTC);
        let facts = |days: i64| CertificateFacts {
            subject: "Budget <App> NV".into(),
            organization_identifier: Some("PSDBE-NBB-0123456789".into()),
            issuer: "CN=Test QTSP".into(),
            serial: "1001".into(),
            not_before: now - time::Duration::days(300),
            not_after: now + time::Duration::days(days),
            psd2: Some(Psd2Statement {
                roles: vec![PspRole::AccountInformation, PspRole::PaymentInitiation],
                nca_name: "National Bank of Belgium".into(),
                nca_id: "BE-NBB".into(),
            }),
        };
        let mut bank = figures();
        bank.certificates = vec![("qwac".into(), facts(10)), ("qseal".into(), facts(200))];
        let html = panel(&[bank], now);
        assert!(
            html.contains(
                "<dt>Certificate (qwac)</dt><dd class=\"certificate soon\" data-certificate=\"qwac\">\
Budget &lt;App&gt; NV (PSDBE-NBB-0123456789, BE-NBB), roles PSP_AI, PSP_PI, expires 2026-12-07 (10 days)</dd>"
            ),
            "{html}"
        );
        assert!(
            html.contains("<dd class=\"certificate\" data-certificate=\"qseal\">"),
            "{html}"
        );
        // Without certificates, nothing is said of them.
        assert!(!panel(&[figures()], now).contains("Certificate ("));
    }

    #[test]
    fn the_login_form_escapes_its_message() {
        let html = login_page(Some("no <b>"));
        assert!(html.contains("no &lt;b&gt;"));
        assert!(html.contains("action=\"/status/login\""));
    }
}
