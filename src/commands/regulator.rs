//! The regulator's figures per bank and day (`report --format csv|json`, `report --html`): downtime and
//! availability (EBA/GL/2018/07), and the fallback accesses with the switch that justified each
//! (RTS Art. 33(5)). Rendering only: the figures come from the engine's `report::regulator_figures`.

use std::fmt::Write as _;

use html_escape::encode_text as text;
use psd2_fallback_engine::report::DayFigures;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn when(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

/// The switch ids the day's accesses name, space-separated (`-` for an access without one).
fn justifications(figures: &DayFigures) -> String {
    let mut ids: Vec<String> = figures
        .accesses
        .iter()
        .map(|a| a.switch_event.map_or("-".to_owned(), |id| id.to_string()))
        .collect();
    ids.dedup();
    ids.join(" ")
}

/// One CSV row per bank and day.
pub(crate) fn csv(figures: &[DayFigures]) -> anyhow::Result<String> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record([
        "bank",
        "day",
        "downtime_seconds",
        "availability_percent",
        "outages",
        "fallback_accesses",
        "justifying_switches",
    ])?;
    for f in figures {
        let a = &f.availability;
        out.write_record([
            a.bank.clone(),
            a.day.to_string(),
            a.downtime_seconds.to_string(),
            format!("{:.4}", a.availability_percent()),
            a.outages.len().to_string(),
            f.accesses.len().to_string(),
            justifications(f),
        ])?;
    }
    Ok(String::from_utf8(out.into_inner()?)?)
}

/// The figures as JSON: per bank and day, with every outage and every access and its switch.
pub(crate) fn json(figures: &[DayFigures]) -> Value {
    let days: Vec<Value> = figures
        .iter()
        .map(|f| {
            let a = &f.availability;
            json!({
                "bank": a.bank,
                "day": a.day.to_string(),
                "downtimeSeconds": a.downtime_seconds,
                "availabilityPercent": (a.availability_percent() * 10_000.0).round() / 10_000.0,
                "outages": a.outages.iter().map(|(s, e)| json!({"start": when(*s), "end": when(*e)})).collect::<Vec<_>>(),
                "fallbackAccesses": f.accesses.iter().map(|x| json!({
                    "at": when(x.at),
                    "psu": x.psu,
                    "data": x.data,
                    "switchEvent": x.switch_event,
                })).collect::<Vec<_>>(),
                "justifyingSwitches": f.justifying.iter().map(|s| json!({
                    "id": s.id,
                    "from": s.from.name(),
                    "to": s.to.name(),
                    "reason": s.reason,
                    "evidence": s.evidence,
                    "at": when(s.at),
                    "downtimeStarted": s.downtime_started.map(when),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({ "method": "EBA/GL/2018/07", "days": days })
}

/// The figures as one HTML page: per bank, a bar chart of daily availability (inline SVG) and a table.
pub(crate) fn html(figures: &[DayFigures]) -> String {
    let mut banks: Vec<&str> = figures
        .iter()
        .map(|f| f.availability.bank.as_str())
        .collect();
    banks.dedup();
    let mut body = String::new();
    for bank in banks {
        let days: Vec<&DayFigures> = figures
            .iter()
            .filter(|f| f.availability.bank == bank)
            .collect();
        let width = 24.0 * days.len().max(1) as f64;
        let _ = write!(
            body,
            "<section><h2>{}</h2><svg class=\"availability\" width=\"{width}\" height=\"120\" \
viewBox=\"0 0 {width} 120\" role=\"img\" aria-label=\"Daily availability\">",
            text(bank)
        );
        for (i, f) in days.iter().enumerate() {
            let percent = f.availability.availability_percent();
            let height = ((percent - 90.0) / 10.0).clamp(0.02, 1.0) * 100.0;
            let fill = if percent >= 99.5 {
                "#2e7d32"
            } else {
                "#c62828"
            };
            let _ = write!(
                body,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"20\" height=\"{height:.1}\" fill=\"{fill}\">\
<title>{}: {percent:.4} %</title></rect>",
                i as f64 * 24.0 + 2.0,
                110.0 - height,
                f.availability.day
            );
        }
        body.push_str(
            "</svg><p>Bars from 90 % (bottom) to 100 % (top); red below 99.5 %.</p>\
<table><tr><th>day</th><th>downtime (s)</th><th>availability</th><th>outages</th>\
<th>fallback accesses</th><th>justifying switches</th></tr>",
        );
        for f in &days {
            let a = &f.availability;
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{:.4} %</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                a.day,
                a.downtime_seconds,
                a.availability_percent(),
                a.outages.len(),
                f.accesses.len(),
                text(&justifications(f))
            );
        }
        body.push_str("</table></section>");
    }
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>psd2-fallback availability report</title><style>body{{font-family:system-ui,sans-serif;margin:1.5rem}}\
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.2rem .5rem;text-align:right}}</style>\
</head><body><h1>Availability of the dedicated interfaces (EBA/GL/2018/07)</h1>{body}</body></html>"
    )
}
