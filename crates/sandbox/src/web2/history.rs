//! An account's history: a page with the filter and an empty list that its script fills from the
//! website's JSON call, 25 items at a time, with a "Meer laden" button for the next ones.
//!
//! The JSON carries amounts as strings (`"-1234.56"`) and days as ISO dates; the script writes them
//! the way the website shows them (`1.234,56-`, `3 mrt. 2026`) without ever making a number of them.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::format::{parse_typed_day, typed_day};
use super::page::{BASE, errors, refusal, render};
use super::session::Step;
use super::site::{Customer, Visitor};
use crate::markup::{escape, url_encode};
use psd2_fallback_engine::model::belgian::format_iso_date;
use psd2_fallback_engine::model::{
    AccountId, BookingStatus, Direction, Recurrence, Transaction, TransactionFilter,
};

/// Items per JSON call (one "Meer laden").
pub(crate) const BATCH: usize = 25;

/// The filter in the query (`van`, `tot` as `dd-mm-jjjj`; `soort` `alle|bij|af`; `herhaling`
/// `alle|eenmalig|periodiek`), or every problem with it.
fn filter(query: &HashMap<String, String>) -> Result<TransactionFilter, Vec<String>> {
    let get = |k: &str| query.get(k).map(|v| v.trim()).unwrap_or("");
    let mut problems = Vec::new();
    let mut filter = TransactionFilter::default();
    for (key, label, slot) in [
        ("van", "Van", &mut filter.date_from),
        ("tot", "Tot en met", &mut filter.date_to),
    ] {
        if !get(key).is_empty() {
            match parse_typed_day(get(key)) {
                Ok(d) => *slot = Some(d),
                Err(e) => problems.push(format!("{label}: {e}")),
            }
        }
    }
    match get("soort") {
        "" | "alle" => {}
        "bij" => filter.direction = Some(Direction::Credit),
        "af" => filter.direction = Some(Direction::Debit),
        other => problems.push(format!("Soort: {other:?} is niet alle, bij of af")),
    }
    match get("herhaling") {
        "" | "alle" => {}
        "eenmalig" => filter.recurrence = Some(Recurrence::OneOff),
        "periodiek" => filter.recurrence = Some(Recurrence::Recurring),
        other => problems.push(format!(
            "Herhaling: {other:?} is niet alle, eenmalig of periodiek"
        )),
    }
    if problems.is_empty() {
        Ok(filter)
    } else {
        Err(problems)
    }
}

/// The history page (class `scherm-mutaties`).
pub(crate) async fn page(
    customer: Customer,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let ledger = &customer.site.shared.ledger;
    let id = AccountId::new(id);
    let account = match customer.account(&id) {
        Ok(account) => account,
        Err(response) => return *response,
    };
    let get = |k: &str| query.get(k).map(|v| v.trim()).unwrap_or("").to_owned();
    let chosen = |name: &str, options: &[(&str, &str)]| {
        let current = get(name);
        options
            .iter()
            .map(|(value, text)| {
                let selected = if current == *value { " selected" } else { "" };
                format!(r#"<option value="{value}"{selected}>{text}</option>"#)
            })
            .collect::<String>()
    };
    let problems = filter(&query).err().unwrap_or_default();
    let source = format!(
        "{BASE}/api/rekening/{}/mutaties?van={}&tot={}&soort={}&herhaling={}",
        url_encode(id.as_str()),
        url_encode(&get("van")),
        url_encode(&get("tot")),
        url_encode(&get("soort")),
        url_encode(&get("herhaling")),
    );
    let list = if problems.is_empty() {
        format!(
            r#"<p id="telling" aria-live="polite"></p><ol id="mutaties" class="mutaties" data-status="laden" data-bron="{}"></ol><button id="meer-laden" class="knop" type="button" hidden>Meer laden</button><script>{SCRIPT}</script>"#,
            escape(&source)
        )
    } else {
        String::new()
    };
    let body = format!(
        r#"<p class="rekening"><span id="rekening-naam">{}</span> · <span id="rekening-iban">{}</span> · <a href="{BASE}/rekening/{}/saldo">Saldo's</a></p>{}<form id="zoeken" method="get" action="{BASE}/rekening/{}/mutaties"><div class="regel"><label for="van">Van (dd-mm-jjjj)</label><input id="van" name="van" type="text" value="{}" placeholder="{}"></div><div class="regel"><label for="tot">Tot en met</label><input id="tot" name="tot" type="text" value="{}"></div><div class="regel"><label for="soort">Soort</label><select id="soort" name="soort">{}</select></div><div class="regel"><label for="herhaling">Herhaling</label><select id="herhaling" name="herhaling">{}</select></div><button class="knop" id="toon" type="submit">Toon</button></form>{list}"#,
        escape(&account.name),
        escape(&account.iban.paper()),
        url_encode(id.as_str()),
        errors(&problems),
        url_encode(id.as_str()),
        escape(&get("van")),
        typed_day(ledger.today()),
        escape(&get("tot")),
        chosen(
            "soort",
            &[
                ("alle", "Alles"),
                ("bij", "Bijschrijvingen"),
                ("af", "Afschrijvingen")
            ]
        ),
        chosen(
            "herhaling",
            &[
                ("alle", "Alles"),
                ("eenmalig", "Eenmalig"),
                ("periodiek", "Periodieke opdrachten")
            ]
        ),
    );
    render(&customer.frame, "mutaties", "Bij- en afschrijvingen", &body)
}

/// One item as the JSON call gives it.
fn item(t: &Transaction) -> Value {
    let (name, iban) = match &t.counterparty {
        Some(c) => (Some(c.name.clone()), c.iban.as_ref().map(|i| i.paper())),
        None => (None, None),
    };
    json!({
        "id": t.id.as_str(),
        "datum": format_iso_date(t.date()),
        "boekdatum": t.booking_date.map(format_iso_date),
        "valutadatum": format_iso_date(t.value_date),
        "bedrag": t.amount.to_api_string(),
        "munt": t.amount.currency().code(),
        "tegenpartij": name,
        "tegenrekening": iban,
        "omschrijving": t.remittance,
        "status": match t.status {
            BookingStatus::Booked => "Verwerkt",
            BookingStatus::Pending => "Gereserveerd",
        },
        "periodiek": t.is_recurring(),
        "code": t.bank_transaction_code,
        "kenmerk": t.end_to_end_id.as_ref().map(|e| e.as_str().to_owned()),
        "opdracht": t.standing_order.as_ref().map(|o| o.as_str().to_owned()),
    })
}

/// A JSON refusal: `{"fout": "..."}`.
fn refused(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "fout": message }))).into_response()
}

/// The JSON call: `vanaf` (an offset, `0` first) and the filter of the page; `401` without a
/// logged-in session, `400` naming a wrong parameter, `404` for an account not the customer's.
pub(crate) async fn batch(
    visitor: Visitor,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(Step::LoggedIn { customer, .. }) = visitor.session.as_ref().map(|(_, s)| &s.login)
    else {
        return refused(StatusCode::UNAUTHORIZED, "Niet ingelogd.".to_owned());
    };
    let filter = match filter(&query) {
        Ok(filter) => filter,
        Err(problems) => return refused(StatusCode::BAD_REQUEST, problems.join("; ")),
    };
    let from = match query.get("vanaf").map(|v| v.trim()).unwrap_or("0") {
        "" => 0,
        text => match text.parse::<usize>() {
            Ok(n) => n,
            Err(_) => {
                return refused(
                    StatusCode::BAD_REQUEST,
                    format!("Vanaf: {text:?} is geen getal"),
                );
            }
        },
    };
    let ledger = &visitor.site.shared.ledger;
    let all = match ledger.transactions(customer, &AccountId::new(id), &filter) {
        Ok(all) => all,
        Err(e) => return refused(StatusCode::NOT_FOUND, refusal(&e)),
    };
    let items: Vec<Value> = all.iter().skip(from).take(BATCH).map(item).collect();
    let next = (from + BATCH < all.len()).then_some(from + BATCH);
    Json(json!({
        "totaal": all.len(),
        "vanaf": from,
        "volgende": next,
        "mutaties": items,
    }))
    .into_response()
}

/// The page's script: fetches a batch, draws each item with the site's formats (text only, never
/// markup from the data), and shows "Meer laden" while there is more. `#mutaties[data-status]` is
/// `laden` while a batch is on its way, `klaar` when it is drawn, `fout` when the call failed.
const SCRIPT: &str = r#"(function(){
var MAANDEN=['jan.','feb.','mrt.','apr.','mei','jun.','jul.','aug.','sep.','okt.','nov.','dec.'];
var lijst=document.getElementById('mutaties'),knop=document.getElementById('meer-laden'),telling=document.getElementById('telling');
var volgende=0;
function dag(iso){if(!iso){return '';}var p=iso.split('-');return parseInt(p[2],10)+' '+MAANDEN[parseInt(p[1],10)-1]+' '+p[0];}
function bedrag(s){var af=s.charAt(0)==='-';if(af){s=s.slice(1);}var d=s.split('.');var heel=d[0],rest=d.length>1?d[1]:'00',groepen='';
while(heel.length>3){groepen='.'+heel.slice(-3)+groepen;heel=heel.slice(0,-3);}return heel+groepen+','+rest+(af?'-':'');}
function el(tag,cls,tekst){var e=document.createElement(tag);if(cls){e.className=cls;}if(tekst!==undefined&&tekst!==null){e.textContent=tekst;}return e;}
function rij(m){var li=el('li','mutatie');li.setAttribute('data-id',m.id);
var t=el('time','datum',dag(m.datum));t.setAttribute('datetime',m.datum);li.appendChild(t);
var wie=el('div','wie');wie.appendChild(el('span','tegenpartij',m.tegenpartij||''));
if(m.periodiek){wie.appendChild(el('span','etiket periodiek','Periodiek'));}
wie.appendChild(el('span','tegenrekening',m.tegenrekening||''));wie.appendChild(el('span','omschrijving',m.omschrijving||''));li.appendChild(wie);
li.appendChild(el('span',m.bedrag.charAt(0)==='-'?'bedrag af':'bedrag bij',bedrag(m.bedrag)));
var meer=el('details');meer.appendChild(el('summary',null,'Details'));var dl=el('dl');
function feit(cls,label,tekst,iso){dl.appendChild(el('dt',null,label));var dd=el('dd',cls,tekst);if(iso){dd.setAttribute('data-iso',iso);}dl.appendChild(dd);}
feit('staat','Status',m.status);feit('boekdatum','Boekdatum',dag(m.boekdatum),m.boekdatum);feit('valutadatum','Valutadatum',dag(m.valutadatum),m.valutadatum);
feit('code','Transactiecode',m.code||'');feit('kenmerk','Kenmerk',m.kenmerk||'');feit('opdracht','Periodieke opdracht',m.opdracht||'');
meer.appendChild(dl);li.appendChild(meer);return li;}
function laad(){lijst.setAttribute('data-status','laden');knop.disabled=true;
fetch(lijst.getAttribute('data-bron')+'&vanaf='+volgende,{credentials:'same-origin',headers:{'Accept':'application/json'}})
.then(function(r){if(r.status===401){location.href='/mijnbank/inloggen?verlopen=1';throw new Error('niet ingelogd');}if(!r.ok){throw new Error('status '+r.status);}return r.json();})
.then(function(data){data.mutaties.forEach(function(m){lijst.appendChild(rij(m));});
var getoond=lijst.children.length;telling.textContent=getoond+' van '+data.totaal+' getoond';lijst.setAttribute('data-getoond',getoond);lijst.setAttribute('data-totaal',data.totaal);
if(data.volgende===null){knop.hidden=true;}else{volgende=data.volgende;knop.hidden=false;knop.disabled=false;}
lijst.setAttribute('data-status','klaar');})
.catch(function(e){lijst.setAttribute('data-status','fout');telling.className='melding fout';telling.textContent='Laden mislukt ('+e.message+').';});}
knop.addEventListener('click',laad);laad();})();"#;
