//! The second website over real HTTP on loopback, as a browser without script sees it: the cookie
//! wall, the three login steps, cards, balances, the history's JSON call, and orders that land once in
//! the ledger. (The script-drawn history and the wall taking clicks are tested in a real Chromium, in
//! the integration tests.)

use std::collections::HashMap;

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, LOCATION, SET_COOKIE};
use serde_json::Value;
use time::macros::date;

use crate::{Sandbox, SandboxConfig, card_reader_response};
use psd2_fallback_engine::model::{AccountId, BalanceType, PaymentStatus, TransactionFilter};

use super::format::euro;

const ANNA: &str = "1000001";
const PASSWORD: &str = "anna-sandbox";

/// A visitor without script: keeps its cookies, follows nothing by itself.
struct Visitor {
    http: reqwest::Client,
    root: String,
    cookies: HashMap<String, String>,
}

/// What a request gave: status, where it redirects, the body.
struct Answer {
    status: StatusCode,
    location: String,
    body: String,
}

impl Visitor {
    fn new(sandbox: &Sandbox) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let root = sandbox.web_url();
        Self {
            http,
            root,
            cookies: HashMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Answer {
        let response = request
            .header("Cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        for value in response.headers().get_all(SET_COOKIE) {
            let text = value.to_str().unwrap();
            let (pair, attrs) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').unwrap();
            assert!(
                attrs.contains("Path=/mijnbank"),
                "{text}: the site's own path"
            );
            if attrs.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        let status = response.status();
        let location = response
            .headers()
            .get(LOCATION)
            .map(|l| l.to_str().unwrap().to_owned())
            .unwrap_or_default();
        Answer {
            status,
            location,
            body: response.text().await.unwrap(),
        }
    }

    async fn get(&mut self, path: &str) -> Answer {
        let request = self.http.get(format!("{}{path}", self.root));
        self.send(request).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Answer {
        let request = self.http.post(format!("{}{path}", self.root)).form(form);
        self.send(request).await
    }

    /// Logs in through the three steps and leaves the visitor on the accounts.
    async fn log_in(&mut self, customer: &str, password: &str) {
        let page = self.get("/mijnbank/inloggen").await;
        let first = token(&page.body);
        let next = self
            .post(
                "/mijnbank/inloggen",
                &[("formtoken", &first), ("klantnummer", customer)],
            )
            .await;
        assert_eq!(next.location, "/mijnbank/inloggen/wachtwoord");
        let page = self.get(&next.location).await;
        assert!(page.body.contains("scherm-wachtwoord"), "{}", page.body);
        let next = self
            .post(
                "/mijnbank/inloggen/wachtwoord",
                &[("formtoken", &token(&page.body)), ("wachtwoord", password)],
            )
            .await;
        assert_eq!(next.location, "/mijnbank/inloggen/kaartlezer");
        let page = self.get(&next.location).await;
        let challenge = between(&page.body, r#"id="uitdaging" class="uitdaging">"#, "<");
        let next = self
            .post(
                "/mijnbank/inloggen/kaartlezer",
                &[
                    ("formtoken", &token(&page.body)),
                    ("respons", &card_reader_response(customer, &challenge)),
                ],
            )
            .await;
        assert_eq!(next.location, "/mijnbank/overzicht");
    }
}

/// The text between two markers.
fn between(body: &str, start: &str, end: &str) -> String {
    let from = body
        .find(start)
        .unwrap_or_else(|| panic!("{start} in {body}"))
        + start.len();
    let to = body[from..].find(end).unwrap() + from;
    body[from..to].to_owned()
}

/// The page's form token.
fn token(body: &str) -> String {
    between(body, r#"name="formtoken" value=""#, "\"")
}

async fn sandbox() -> Sandbox {
    Sandbox::start(SandboxConfig {
        today: Some(date!(2026 - 11 - 23)),
        ..Default::default()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn the_cookie_wall_and_three_login_steps_guard_the_accounts() {
    let sandbox = sandbox().await;
    let mut v = Visitor::new(&sandbox);
    assert_eq!(v.get("/mijnbank/").await.location, "/mijnbank/inloggen");
    assert_eq!(
        v.get("/mijnbank/overzicht").await.location,
        "/mijnbank/inloggen"
    );
    let page = v.get("/mijnbank/inloggen").await;
    assert!(page.body.contains(r#"id="cookiemuur""#), "the wall is up");
    assert!(page.body.contains("scherm-inloggen"));
    assert!(
        v.cookies.contains_key("mb_sessie"),
        "its own session cookie"
    );
    let back = v
        .post(
            "/mijnbank/cookies",
            &[
                ("formtoken", &token(&page.body)),
                ("keuze", "alles"),
                ("terug", "/mijnbank/inloggen"),
            ],
        )
        .await;
    assert_eq!(back.location, "/mijnbank/inloggen");
    assert_eq!(
        v.cookies.get("mb_cookiekeuze").map(String::as_str),
        Some("alles")
    );
    assert!(
        !v.get("/mijnbank/inloggen")
            .await
            .body
            .contains("cookiemuur")
    );

    // A wrong password sends the visitor back to the first step, with the error.
    let page = v.get("/mijnbank/inloggen").await;
    v.post(
        "/mijnbank/inloggen",
        &[("formtoken", &token(&page.body)), ("klantnummer", ANNA)],
    )
    .await;
    let page = v.get("/mijnbank/inloggen/wachtwoord").await;
    assert!(
        page.body
            .contains(&format!(r#"<strong id="gekozen-klant">{ANNA}</strong>"#))
    );
    let wrong = v
        .post(
            "/mijnbank/inloggen/wachtwoord",
            &[
                ("formtoken", &token(&page.body)),
                ("wachtwoord", "luc-sandbox"),
            ],
        )
        .await;
    assert_eq!(wrong.location, "/mijnbank/inloggen?fout=1");
    let page = v.get(&wrong.location).await;
    assert!(page.body.contains("Klantnummer of wachtwoord onjuist."));
    assert_eq!(
        v.get("/mijnbank/overzicht").await.location,
        "/mijnbank/inloggen"
    );

    // Three wrong card-reader responses end the attempt.
    let page = v.get("/mijnbank/inloggen").await;
    v.post(
        "/mijnbank/inloggen",
        &[("formtoken", &token(&page.body)), ("klantnummer", ANNA)],
    )
    .await;
    let page = v.get("/mijnbank/inloggen/wachtwoord").await;
    let right = v
        .post(
            "/mijnbank/inloggen/wachtwoord",
            &[("formtoken", &token(&page.body)), ("wachtwoord", PASSWORD)],
        )
        .await;
    assert_eq!(right.location, "/mijnbank/inloggen/kaartlezer");
    let mut page = v.get(&right.location).await;
    for left in [2, 1] {
        page = v
            .post(
                "/mijnbank/inloggen/kaartlezer",
                &[("formtoken", &token(&page.body)), ("respons", "00000000")],
            )
            .await;
        assert!(
            page.body
                .contains(&format!(r#"<span id="pogingen">{left}</span>"#))
        );
    }
    let blocked = v
        .post(
            "/mijnbank/inloggen/kaartlezer",
            &[("formtoken", &token(&page.body)), ("respons", "00000000")],
        )
        .await;
    assert_eq!(blocked.location, "/mijnbank/inloggen?geblokkeerd=1");

    v.log_in(ANNA, PASSWORD).await;
    let cards = v.get("/mijnbank/overzicht").await.body;
    assert!(cards.contains("scherm-overzicht"));
    for account in sandbox.ledger().accounts(ANNA) {
        assert!(cards.contains(&format!(r#"data-rekening="{}""#, account.id.as_str())));
        assert!(cards.contains(&account.iban.paper()));
    }
    assert!(!cards.contains(" EUR"), "the cards show only the euro sign");
    // The first website does not know this session.
    let mut first = Visitor::new(&sandbox);
    first.cookies = v.cookies.clone();
    let request = first.http.get(format!("{}/accounts", first.root));
    let answer = first.send(request).await;
    assert_eq!(answer.location, "/login");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn balances_have_their_own_page_with_a_past_day() {
    let sandbox = sandbox().await;
    let mut v = Visitor::new(&sandbox);
    v.log_in(ANNA, PASSWORD).await;
    let id = AccountId::new("acc-01");
    let page = v.get("/mijnbank/rekening/acc-01/saldo").await.body;
    assert!(page.contains("scherm-saldo"));
    let balances = sandbox.ledger().balances(ANNA, &id, None).unwrap();
    for (key, kind) in [
        ("geboekt", BalanceType::InterimBooked),
        ("beschikbaar", BalanceType::InterimAvailable),
        ("verwacht", BalanceType::Expected),
        ("eindsaldo", BalanceType::ClosingBooked),
        ("termijn", BalanceType::ForwardAvailable),
    ] {
        let balance = balances.iter().find(|b| b.kind == kind).unwrap();
        let shown = between(&page, &format!(r#"data-veld="{key}">"#), "</dd>");
        assert!(
            shown.ends_with(&format!("{}</span>", euro(&balance.amount))),
            "{key}: {shown}"
        );
    }
    assert!(
        page.contains(r#"data-datum="2026-11-22""#),
        "the closing day, ISO"
    );
    let past = v
        .get("/mijnbank/rekening/acc-01/saldo?datum=30-06-2026")
        .await
        .body;
    let closing = sandbox
        .ledger()
        .balances(ANNA, &id, Some(date!(2026 - 06 - 30)))
        .unwrap();
    let closing = closing
        .iter()
        .find(|b| b.kind == BalanceType::ClosingBooked)
        .unwrap();
    let shown = between(
        &past,
        r#"<p id="saldo-op-datum" data-datum="2026-06-30">"#,
        "</p>",
    );
    assert!(
        shown.starts_with("Saldo aan het eind van 30 jun. 2026: "),
        "{shown}"
    );
    assert!(shown.contains(&euro(&closing.amount)), "{shown}");
    let wrong = v
        .get("/mijnbank/rekening/acc-01/saldo?datum=2026-06-30")
        .await
        .body;
    assert!(
        wrong.contains("Datum: &quot;2026-06-30&quot; is geen datum in de vorm dd-mm-jjjj"),
        "{wrong}"
    );
    let other = v.get("/mijnbank/rekening/acc-05/saldo").await;
    assert_eq!(
        other.status,
        StatusCode::NOT_FOUND,
        "another customer's account"
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn the_history_json_gives_every_item_25_at_a_time_as_the_ledger_holds_it() {
    let sandbox = sandbox().await;
    let mut v = Visitor::new(&sandbox);
    let api = "/mijnbank/api/rekening/acc-01/mutaties?van=&tot=&soort=&herhaling=";
    let anonymous = v.get(&format!("{api}&vanaf=0")).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert!(anonymous.body.contains("fout"));
    v.log_in(ANNA, PASSWORD).await;
    let page = v.get("/mijnbank/rekening/acc-01/mutaties").await.body;
    assert!(page.contains(r#"<ol id="mutaties" class="mutaties" data-status="laden""#));
    assert!(page.contains(r#"id="meer-laden""#));

    let expected = sandbox
        .ledger()
        .transactions(
            ANNA,
            &AccountId::new("acc-01"),
            &TransactionFilter::default(),
        )
        .unwrap();
    assert!(expected.len() > 50, "enough history for several batches");
    let mut got = Vec::new();
    let mut from = Some(0_u64);
    while let Some(n) = from {
        let answer = v.get(&format!("{api}&vanaf={n}")).await;
        assert_eq!(answer.status, StatusCode::OK);
        let batch: Value = serde_json::from_str(&answer.body).unwrap();
        assert_eq!(batch["totaal"].as_u64(), Some(expected.len() as u64));
        let items = batch["mutaties"].as_array().unwrap();
        assert!(items.len() <= 25);
        got.extend(items.iter().cloned());
        from = batch["volgende"].as_u64();
    }
    assert_eq!(got.len(), expected.len());
    for (item, t) in got.iter().zip(&expected) {
        assert_eq!(item["id"], t.id.as_str());
        assert_eq!(
            item["bedrag"],
            t.amount.to_api_string(),
            "amounts are strings"
        );
        assert_eq!(item["periodiek"], t.is_recurring());
    }
    let debits: Value = serde_json::from_str(
        &v.get("/mijnbank/api/rekening/acc-01/mutaties?soort=af&vanaf=0")
            .await
            .body,
    )
    .unwrap();
    for item in debits["mutaties"].as_array().unwrap() {
        assert!(item["bedrag"].as_str().unwrap().starts_with('-'), "{item}");
    }
    let bad = v
        .get("/mijnbank/api/rekening/acc-01/mutaties?van=1%2F1%2F2026")
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("Van: "), "{}", bad.body);
    let page = v
        .get("/mijnbank/rekening/acc-01/mutaties?herhaling=soms")
        .await
        .body;
    assert!(page.contains("Herhaling: &quot;soms&quot; is niet alle, eenmalig of periodiek"));
    assert!(
        !page.contains(r#"id="mutaties""#),
        "no list under a wrong filter"
    );
    let other = v
        .get("/mijnbank/api/rekening/acc-05/mutaties?vanaf=0")
        .await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    sandbox.shutdown().await;
}

/// Fills the transfer form and returns the answer to it.
async fn transfer(v: &mut Visitor, fields: &[(&str, &str)]) -> Answer {
    let page = v.get("/mijnbank/overmaken").await;
    let token = token(&page.body);
    let mut form = vec![("formtoken", token.as_str())];
    form.extend_from_slice(fields);
    v.post("/mijnbank/overmaken", &form).await
}

/// Signs an order waiting at its first signing page; returns the status page.
async fn sign(v: &mut Visitor, signing: &str) -> String {
    let choose = v.get(signing).await.body;
    assert!(choose.contains("scherm-ondertekenen"), "{choose}");
    let reader = format!("{signing}/kaartlezer");
    let page = v.get(&reader).await.body;
    let challenge = between(&page, r#"<div id="code" class="uitdaging">"#, "<");
    let done = v
        .post(
            &reader,
            &[
                ("formtoken", &token(&page)),
                ("respons", &card_reader_response(ANNA, &challenge)),
            ],
        )
        .await;
    assert!(done.location.ends_with("/status"), "{}", done.location);
    v.get(&done.location).await.body
}

#[tokio::test]
async fn a_transfer_is_read_back_lands_once_and_is_signed_with_the_card_reader() {
    let sandbox = sandbox().await;
    let mut v = Visitor::new(&sandbox);
    v.log_in(ANNA, PASSWORD).await;
    let before = sandbox.ledger().payments(ANNA).len();
    let form = [
        ("van", "acc-01"),
        ("naam", "Luc 'de' Janssens"),
        ("iban", "BE71 0961 2345 6769"),
        ("bedrag", "1.234,5"),
        ("omschrijving", "Huur maart"),
        ("kenmerk", "WEB2-PAY-1"),
    ];
    let next = transfer(&mut v, &form).await;
    assert_eq!(next.location, "/mijnbank/overmaken/controle");
    let check = v.get(&next.location).await.body;
    assert!(
        check.contains(r#"data-veld="bedrag">€&nbsp;1.234,50"#)
            || check.contains("data-veld=\"bedrag\">€\u{a0}1.234,50"),
        "{check}"
    );
    assert!(check.contains(r#"data-veld="datum">23 nov. 2026"#));
    assert!(check.contains(r#"data-veld="direct">Nee"#));
    assert!(check.contains("Luc &#39;de&#39; Janssens"), "escaped");
    let token = token(&check);
    let confirmed = v
        .post(
            "/mijnbank/overmaken/controle",
            &[("formtoken", &token), ("actie", "bevestigen")],
        )
        .await;
    let again = v
        .post(
            "/mijnbank/overmaken/controle",
            &[("formtoken", &token), ("actie", "bevestigen")],
        )
        .await;
    assert_eq!(
        again.location, "/mijnbank/overmaken",
        "the draft is gone: nothing twice ({} {})",
        again.status, again.body
    );
    assert_eq!(
        sandbox.ledger().payments(ANNA).len(),
        before + 1,
        "one payment"
    );
    let made = sandbox
        .ledger()
        .find_by_end_to_end_id(ANNA, "WEB2-PAY-1")
        .unwrap();
    assert_eq!(made.status, PaymentStatus::Received);
    assert_eq!(
        confirmed.location,
        format!(
            "/mijnbank/opdrachten/{}/ondertekenen",
            made.payment.id.as_str()
        )
    );
    let status = sign(&mut v, &confirmed.location).await;
    assert!(
        status.contains(r#"data-veld="status">Aanvaard<"#)
            || status.contains(r#"data-veld="status">Uitgevoerd<"#),
        "{status}"
    );
    let now = sandbox
        .ledger()
        .payment(ANNA, &made.payment.id)
        .unwrap()
        .status;
    assert!(
        matches!(
            now,
            PaymentStatus::AcceptedTechnical | PaymentStatus::AcceptedSettlementCompleted
        ),
        "{now:?}"
    );
    let list = v.get("/mijnbank/opdrachten").await.body;
    assert!(list.contains(&format!(r#"data-opdracht="{}""#, made.payment.id.as_str())));
    assert!(list.contains(r#"<span class="kenmerk">WEB2-PAY-1</span>"#));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn it_refuses_what_the_first_website_refuses_and_stale_forms() {
    let sandbox = sandbox().await;
    let mut v = Visitor::new(&sandbox);
    v.log_in(ANNA, PASSWORD).await;
    let before = sandbox.ledger().payments(ANNA).len();
    let own = sandbox.ledger().accounts(ANNA)[0].iban.paper();
    for (field, value, problem) in [
        ("iban", "BE00 0000 0000 0000", "IBAN begunstigde: "),
        (
            "iban",
            own.as_str(),
            "IBAN begunstigde: is de rekening waarvan u betaalt",
        ),
        ("bedrag", "0", "Bedrag: moet groter dan nul zijn"),
        ("bedrag", "12,34 USD", "Bedrag: alleen betalingen in euro"),
        (
            "datum",
            "22-11-2026",
            "Uitvoerdatum: ligt in het verleden (vandaag is 23 nov. 2026)",
        ),
        ("van", "acc-05", "Van rekening: kies een van uw rekeningen"),
    ] {
        let mut form = vec![
            ("van", "acc-01"),
            ("naam", "Luc Janssens"),
            ("iban", "BE71096123456769"),
            ("bedrag", "5,00"),
        ];
        form.retain(|(k, _)| *k != field);
        form.push((field, value));
        let page = transfer(&mut v, &form).await;
        assert_eq!(page.status, StatusCode::OK, "{field}");
        assert!(
            page.body.contains(problem),
            "{field}={value}: {}",
            page.body
        );
    }
    let stale = v
        .post(
            "/mijnbank/overmaken",
            &[("formtoken", "oud"), ("van", "acc-01")],
        )
        .await;
    assert_eq!(stale.status, StatusCode::FORBIDDEN);
    assert!(stale.body.contains("scherm-fout"));
    assert_eq!(
        sandbox.ledger().payments(ANNA).len(),
        before,
        "nothing recorded"
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn standing_orders_and_files_land_once_and_can_be_withdrawn() {
    let sandbox = sandbox().await;
    let mut v = Visitor::new(&sandbox);
    v.log_in(ANNA, PASSWORD).await;
    let page = v.get("/mijnbank/periodiek").await.body;
    assert!(page.contains(r#"<option value="maand" selected>Elke maand</option>"#));
    let sent = v
        .post(
            "/mijnbank/periodiek",
            &[
                ("formtoken", &token(&page)),
                ("van", "acc-01"),
                ("naam", "Luc Janssens"),
                ("iban", "BE71096123456769"),
                ("bedrag", "25"),
                ("eerste", "01-12-2026"),
                ("frequentie", "kwartaal"),
                ("kenmerk", "WEB2-SO-1"),
            ],
        )
        .await;
    assert_eq!(sent.location, "/mijnbank/periodiek/controle");
    let check = v.get(&sent.location).await.body;
    assert!(check.contains(r#"data-veld="frequentie">Elk kwartaal"#));
    assert!(check.contains(r#"data-veld="eerste">1 dec. 2026"#));
    let confirmed = v
        .post(
            "/mijnbank/periodiek/controle",
            &[("formtoken", &token(&check)), ("actie", "bevestigen")],
        )
        .await;
    let status = sign(&mut v, &confirmed.location).await;
    assert!(status.contains("scherm-status"));
    let order = sandbox
        .ledger()
        .find_by_end_to_end_id(ANNA, "WEB2-SO-1")
        .unwrap();
    let detail_path = format!("/mijnbank/opdrachten/{}", order.payment.id.as_str());
    let detail = v.get(&detail_path).await.body;
    assert!(detail.contains(r#"data-veld="soort">Periodieke opdracht"#));
    let withdrawn = v
        .post(
            &format!("{detail_path}/intrekken"),
            &[("formtoken", &token(&detail))],
        )
        .await;
    assert_eq!(withdrawn.location, format!("{detail_path}?ingetrokken=1"));
    let detail = v.get(&withdrawn.location).await.body;
    assert!(detail.contains(r#"data-veld="status">Ingetrokken"#));
    assert_eq!(
        sandbox
            .ledger()
            .payment(ANNA, &order.payment.id)
            .unwrap()
            .status,
        PaymentStatus::Cancelled
    );

    // A payment file: uploaded (multipart, by hand), reviewed, offered for signature once.
    let debtor = sandbox.ledger().accounts(ANNA)[0].iban.clone();
    let xml = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"><CstmrCdtTrfInitn><GrpHdr><MsgId>WEB2-FILE-1</MsgId><CreDtTm>2026-11-23T09:00:00</CreDtTm><NbOfTxs>1</NbOfTxs><CtrlSum>5.00</CtrlSum><InitgPty><Nm>Anna</Nm></InitgPty></GrpHdr><PmtInf><PmtInfId>B1</PmtInfId><PmtMtd>TRF</PmtMtd><NbOfTxs>1</NbOfTxs><CtrlSum>5.00</CtrlSum><PmtTpInf><SvcLvl><Cd>SEPA</Cd></SvcLvl></PmtTpInf><ReqdExctnDt>2026-11-24</ReqdExctnDt><Dbtr><Nm>Anna</Nm></Dbtr><DbtrAcct><Id><IBAN>{}</IBAN></Id></DbtrAcct><DbtrAgt><FinInstnId><BIC>GEBABEBB</BIC></FinInstnId></DbtrAgt><ChrgBr>SLEV</ChrgBr><CdtTrfTxInf><PmtId><EndToEndId>WEB2-F-1</EndToEndId></PmtId><Amt><InstdAmt Ccy="EUR">5.00</InstdAmt></Amt><Cdtr><Nm>Luc Janssens</Nm></Cdtr><CdtrAcct><Id><IBAN>BE71096123456769</IBAN></Id></CdtrAcct></CdtTrfTxInf></PmtInf></CstmrCdtTrfInitn></Document>"#,
        debtor.as_str()
    );
    let page = v.get("/mijnbank/bestanden").await.body;
    let boundary = "grens123";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"formtoken\"\r\n\r\n{}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"bestand\"; filename=\"b.xml\"\r\nContent-Type: text/xml\r\n\r\n{xml}\r\n--{boundary}--\r\n",
        token(&page)
    );
    let request = v
        .http
        .post(format!("{}/mijnbank/bestanden", v.root))
        .header(
            CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body);
    let uploaded = v.send(request).await;
    assert_eq!(
        uploaded.location, "/mijnbank/bestanden/controle",
        "{}",
        uploaded.body
    );
    let review = v.get(&uploaded.location).await.body;
    assert!(review.contains(r#"data-veld="berichtkenmerk">WEB2-FILE-1"#));
    assert!(review.contains(r#"data-veld="aantal">1"#));
    let before = sandbox.ledger().payments(ANNA).len();
    let offered = v
        .post(
            "/mijnbank/bestanden/controle",
            &[("formtoken", &token(&review)), ("actie", "aanbieden")],
        )
        .await;
    assert_eq!(sandbox.ledger().payments(ANNA).len(), before + 1);
    let status = sign(&mut v, &offered.location).await;
    assert!(
        status.contains(r#"data-veld="kenmerk">WEB2-FILE-1"#),
        "{status}"
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn maintenance_is_the_sites_own_page() {
    let sandbox = sandbox().await;
    sandbox.set_website_fault(crate::WebsiteFault::Maintenance);
    let mut v = Visitor::new(&sandbox);
    let page = v.get("/mijnbank/inloggen").await;
    assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(page.body.contains("scherm-onderhoud"));
    let missing = {
        sandbox.set_website_fault(crate::WebsiteFault::Up);
        v.get("/mijnbank/bestaat-niet").await
    };
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.body.contains("Deze pagina bestaat niet."));
    sandbox.shutdown().await;
}
