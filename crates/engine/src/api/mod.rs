//! The API channel: `ApiBank`, a Berlin Group NextGenPSD2 client for every `Bank` operation.
//!
//! The heart of this module is the classification of failures ([`BankError`]): what the failover may
//! do after a failed call depends on whether anything reached the bank. A call that could not connect
//! sent nothing (*unavailable*, whatever it was). A read that got no usable answer is *unavailable* (it
//! can be asked elsewhere). A write that was sent and got no definite answer — a timeout, a dropped
//! connection, a 500/502/504 — is *outcome unknown*: it may have been executed. A `503` with a Berlin
//! Group error body is the bank saying it did not serve the request (*service unavailable*: an answer,
//! not a request left unanswered); a `503` without one is no answer. An answer that cannot be used — a
//! malformed body, a field failing validation such as an IBAN failing mod-97 — is *unusable*, naming
//! the field (a write so answered may have been executed). Any other `4xx` is the bank's answer
//! (*rejected*), never a reason to switch; `429` is a *limit*.
//!
//! Only `wire` knows the JSON. Consent ids and passwords travel in headers marked sensitive and never
//! appear in errors; errors never carry URLs.

mod classify;
mod config;
mod oauth;
mod sca;
#[cfg(test)]
mod spec_examples;
mod transport;
pub(crate) mod wire;

use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, RequestBuilder, StatusCode};
use secrecy::ExposeSecret;
use time::Date;

use crate::bank::{Bank, BankError, BankResult, Channel, PsuContext};
use crate::health::{Probe, ProbeFailure};
use crate::identity::RequestSigner;
use crate::model::belgian::format_iso_date;
use crate::model::{
    Account, AccountId, Amount, AuthorisationId, Balance, BalanceType, BookingStatus, Cancellation,
    ConsentAccess, ConsentCreated, ConsentId, ConsentRequest, ConsentStatus, FundsConfirmation,
    Iban, InvalidValue, PaymentFile, PaymentInitiation, PaymentKind, PaymentRef, PaymentRequest,
    PaymentStatus, ScaAnswer, ScaProgress, ScaStatus, ScaStep, ScaTarget, StandingOrderRequest,
    Transaction, TransactionFilter,
};
use classify::unusable;
pub use config::{ApiBankConfig, ApiConfigError, ClientIdentity};
use wire::Malformed;

/// The bulk product path for pain.001 payment files.
const PAIN001_PRODUCT: &str = "pain.001-sepa-credit-transfers";

/// The TLS alert with which a bank refused the TPP's client certificate, if that is what ended `error`.
fn refused_client_certificate(error: &reqwest::Error) -> Option<rustls::AlertDescription> {
    use rustls::AlertDescription as A;
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = cause {
        let tls = current.downcast_ref::<rustls::Error>().or_else(|| {
            current
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        if let Some(rustls::Error::AlertReceived(alert)) = tls
            && matches!(
                alert,
                A::BadCertificate
                    | A::UnknownCA
                    | A::CertificateRequired
                    | A::CertificateExpired
                    | A::CertificateRevoked
                    | A::CertificateUnknown
                    | A::UnsupportedCertificate
                    | A::AccessDenied
            )
        {
            return Some(*alert);
        }
        cause = current.source();
    }
    None
}

/// Whether a call can change money or a payment's state. Decides what a failure without an answer means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    /// Reads, and writes that are harmless to repeat (a consent, the start of an authorisation).
    Safe,
    /// Initiating, signing or cancelling a payment, a file or a standing order.
    MovesMoney,
}

/// The Berlin Group API channel.
#[derive(Debug, Clone)]
pub struct ApiBank {
    http: reqwest::Client,
    /// `scheme://host[:port][/prefix]` without a trailing slash.
    base: String,
    /// `scheme://host[:port]`, to resolve absolute-path links.
    origin: String,
    tpp_redirect_uri: Option<String>,
    request_timeout: Duration,
    /// `Bearer …`, marked sensitive so it is never printed.
    authorization: Option<HeaderValue>,
    /// Signs each request with the QSeal, when the bank asks for signed requests.
    signer: Option<RequestSigner>,
    /// The `client_id` of OAuth2 authorization and token requests.
    oauth_client_id: String,
    /// Whether plain `http://` to another machine was allowed (for the authorisation server too).
    allow_plain_http: bool,
    /// The OAuth2 authorisations waiting for their code and the tokens of those that ended, shared by
    /// this client's clones.
    oauth: std::sync::Arc<oauth::OAuthBook>,
}

impl ApiBank {
    /// A client for one bank's API.
    pub fn new(config: ApiBankConfig) -> Result<Self, ApiConfigError> {
        let base = config.base_url.trim_end_matches('/').to_owned();
        let rest = base
            .strip_prefix("https://")
            .or_else(|| base.strip_prefix("http://"))
            .filter(|rest| !rest.is_empty())
            .ok_or_else(|| ApiConfigError::BaseUrl(config.base_url.clone()))?;
        let host_len = rest.find('/').unwrap_or(rest.len());
        let origin = base[..base.len() - rest.len() + host_len].to_owned();
        if base.starts_with("http://")
            && !config.allow_plain_http
            && !is_loopback(&rest[..host_len])
        {
            return Err(ApiConfigError::PlainHttp(config.base_url.clone()));
        }
        let mut builder = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .retry(reqwest::retry::never())
            // A redirect is never followed: it would carry the consent, a password or a payment to
            // wherever the answer points. It reaches the caller as the bank's unusable answer.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("psd2-fallback/", env!("CARGO_PKG_VERSION")));
        if let Some(identity) = &config.identity {
            let identity =
                reqwest::Identity::from_pem(identity.0.expose_secret()).map_err(|_| {
                    ApiConfigError::Identity(
                        "not a PEM certificate chain with its private key".to_owned(),
                    )
                })?;
            builder = builder.identity(identity);
        }
        if let Some(pem) = &config.server_roots_pem {
            let roots = reqwest::Certificate::from_pem_bundle(pem).map_err(|_| {
                ApiConfigError::Identity("server_roots_pem: not PEM certificates".to_owned())
            })?;
            builder = builder.tls_certs_only(roots);
        }
        let authorization = config
            .bearer_token
            .as_ref()
            .map(|token| {
                let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose_secret()))
                    .map_err(|_| {
                        ApiConfigError::Client("the bearer token is not a header value".to_owned())
                    })?;
                value.set_sensitive(true);
                Ok::<_, ApiConfigError>(value)
            })
            .transpose()?;
        let http = builder
            .build()
            .map_err(|e| ApiConfigError::Client(e.without_url().to_string()))?;
        Ok(Self {
            http,
            base,
            origin,
            tpp_redirect_uri: config.tpp_redirect_uri,
            request_timeout: config.request_timeout,
            authorization,
            signer: config.signer,
            oauth_client_id: config
                .oauth_client_id
                .unwrap_or_else(|| oauth::DEFAULT_CLIENT_ID.to_owned()),
            allow_plain_http: config.allow_plain_http,
            oauth: std::sync::Arc::default(),
        })
    }

    /// Probes the API for health: one cheap request (the account list without a consent) that a working
    /// API answers at once with a definite answer, usually a `4xx` naming the missing consent. Any
    /// well-formed answer below 500 is healthy; no answer, a 5xx or a garbled body is not. This is the
    /// one definition of a healthy API: [`ApiBank::health_probe`] hands it to the prober.
    pub async fn probe(&self) -> Result<(), String> {
        self.classified_probe().await.map_err(|(_, e)| e)
    }

    /// [`ApiBank::probe`], saying what kind of failure it met: no answer (a 5xx without an error body
    /// included), the bank answering that its service is unavailable (a 503 with its error body), or
    /// an unusable answer.
    async fn classified_probe(&self) -> Result<(), (ProbeFailure, String)> {
        let not_answered =
            |e: reqwest::Error| (ProbeFailure::NotAnswered, e.without_url().to_string());
        let request = self
            .http
            .get(format!("{}/v1/accounts", self.base))
            .header("X-Request-ID", uuid::Uuid::new_v4().to_string());
        let request = self
            .signed(request)
            .map_err(|e| (ProbeFailure::NotAnswered, e.without_url().to_string()))?;
        let response = self.http.execute(request).await.map_err(not_answered)?;
        let status = response.status();
        let body = response.bytes().await.map_err(not_answered)?;
        if status.is_server_error() {
            let said = serde_json::from_slice::<wire::ErrorBody>(&body)
                .ok()
                .and_then(|b| b.tpp_messages.into_iter().next());
            return Err(match said {
                Some(m) if status == StatusCode::SERVICE_UNAVAILABLE => (
                    ProbeFailure::ServiceUnavailable,
                    format!("HTTP 503 {}", m.code),
                ),
                _ => (
                    ProbeFailure::NotAnswered,
                    format!("HTTP {}", status.as_u16()),
                ),
            });
        }
        serde_json::from_slice::<serde_json::Value>(&body)
            .map_err(|e| (ProbeFailure::Unusable, format!("malformed answer: {e}")))?;
        Ok(())
    }

    /// [`ApiBank::probe`] as the [`Probe`] that `health::spawn_prober` runs, on this client (its
    /// connections, timeouts and identity).
    pub fn health_probe(&self) -> Probe {
        let api = self.clone();
        Probe::classified(move || {
            let api = api.clone();
            async move { api.classified_probe().await }
        })
    }

    fn request(&self, method: Method, path: &str, psu: &PsuContext) -> RequestBuilder {
        self.request_to(
            method,
            format!("{}{path}", self.base),
            psu,
            uuid::Uuid::new_v4(),
        )
    }

    fn request_to(
        &self,
        method: Method,
        url: String,
        psu: &PsuContext,
        request_id: uuid::Uuid,
    ) -> RequestBuilder {
        let mut headers = HeaderMap::new();
        headers.insert(
            "X-Request-ID",
            HeaderValue::from_str(&request_id.to_string()).expect("a UUID is a header value"),
        );
        if let Ok(mut value) = HeaderValue::from_str(psu.psu_id.as_str()) {
            value.set_sensitive(true);
            headers.insert("PSU-ID", value);
        }
        if let Some(ip) = psu.ip_address {
            headers.insert(
                "PSU-IP-Address",
                HeaderValue::from_str(&ip.to_string()).expect("an IP address is a header value"),
            );
        }
        if let Some(consent) = &psu.consent_id
            && let Ok(mut value) = HeaderValue::from_str(consent.as_str())
        {
            value.set_sensitive(true);
            headers.insert("Consent-ID", value);
        }
        if let Some(uri) = &self.tpp_redirect_uri
            && let Ok(value) = HeaderValue::from_str(uri)
        {
            headers.insert("TPP-Redirect-URI", value);
        }
        if let Some(value) = &self.authorization {
            headers.insert(reqwest::header::AUTHORIZATION, value.clone());
        }
        self.http.request(method, url).headers(headers)
    }

    fn consent_needed(psu: &PsuContext) -> BankResult<()> {
        if psu.consent_id.is_none() {
            return Err(InvalidValue::new("consentId", "reading accounts needs a consent").into());
        }
        Ok(())
    }

    /// The account's balances; with `reference_date`, asked for that day's closing balance the way
    /// many banks (and this engine's sandbox and service) offer it. A bank that ignores the parameter
    /// answers with today's balances, which the caller can tell.
    async fn current_balances(
        &self,
        psu: &PsuContext,
        account: &AccountId,
        reference_date: Option<Date>,
    ) -> BankResult<Vec<Balance>> {
        Self::consent_needed(psu)?;
        let mut path = format!("/v1/accounts/{}/balances", segment(account)?);
        if let Some(day) = reference_date {
            path.push_str(&format!("?referenceDate={}", format_iso_date(day)));
        }
        let list: wire::BalanceList = self
            .call(self.request(Method::GET, &path, psu), Effect::Safe, psu)
            .await?;
        let mut out = Vec::new();
        for (i, b) in list.balances.iter().enumerate() {
            if let Some(balance) = b.to_balance(i).map_err(|e| unusable(Effect::Safe, e))? {
                out.push(balance);
            }
        }
        Ok(out)
    }

    /// Reads every page of transactions the query selects, following `_links.next`.
    async fn transaction_pages(
        &self,
        psu: &PsuContext,
        account: &AccountId,
        query: String,
    ) -> BankResult<Vec<Transaction>> {
        Self::consent_needed(psu)?;
        let mut url = format!(
            "{}/v1/accounts/{}/transactions?{query}",
            self.base,
            segment(account)?
        );
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        loop {
            if !seen.insert(url.clone()) {
                return Err(unusable(
                    Effect::Safe,
                    Malformed {
                        field: "_links.next".to_owned(),
                        reason: "links back to a page already read".to_owned(),
                    },
                ));
            }
            let page: wire::TransactionsResponse = self
                .call(
                    self.request_to(Method::GET, url.clone(), psu, uuid::Uuid::new_v4()),
                    Effect::Safe,
                    psu,
                )
                .await?;
            let report = page.transactions;
            for (status, list, name) in [
                (BookingStatus::Pending, &report.pending, "pending"),
                (BookingStatus::Booked, &report.booked, "booked"),
            ] {
                for (i, t) in list.iter().enumerate() {
                    out.push(
                        t.to_transaction(status, &format!("transactions.{name}[{i}]"))
                            .map_err(|e| unusable(Effect::Safe, e))?,
                    );
                }
            }
            match report.links.get("next") {
                Some(next) => url = self.resolve(&next.href)?,
                None => return Ok(out),
            }
        }
    }

    /// Resolves a link from the bank. Links to another host are refused: the consent must not leak.
    fn resolve(&self, href: &str) -> BankResult<String> {
        if href.starts_with('/') {
            Ok(format!("{}{href}", self.origin))
        } else if href.starts_with(&format!("{}/", self.origin)) {
            Ok(href.to_owned())
        } else {
            Err(unusable(
                Effect::Safe,
                Malformed {
                    field: "_links.next.href".to_owned(),
                    reason: "points to another host".to_owned(),
                },
            ))
        }
    }

    fn payment_path(payment: &PaymentRef) -> BankResult<String> {
        let id = segment(&payment.id)?;
        Ok(match payment.kind {
            PaymentKind::Single(product) => format!("/v1/payments/{}/{id}", product.code()),
            PaymentKind::Periodic(product) => {
                format!("/v1/periodic-payments/{}/{id}", product.code())
            }
            PaymentKind::File => format!("/v1/bulk-payments/{PAIN001_PRODUCT}/{id}"),
        })
    }

    fn target_path(target: &ScaTarget) -> BankResult<String> {
        match target {
            ScaTarget::Consent(id) => Ok(format!("/v1/consents/{}", segment(id)?)),
            ScaTarget::Payment(payment) | ScaTarget::Cancellation(payment) => {
                Self::payment_path(payment)
            }
        }
    }

    /// A write's `X-Request-ID`, derived from what identifies the intent — its debtor, its end-to-end id
    /// and the fingerprint of its content ([`crate::fingerprint`]) — so a bank that de-duplicates by
    /// request id recognises a re-sent initiation as the same one, and never takes a different order
    /// with the same end-to-end id for it.
    fn write_request_id(debtor: &Iban, end_to_end_id: &str, fingerprint: &str) -> uuid::Uuid {
        uuid::Uuid::new_v5(
            &uuid::Uuid::NAMESPACE_OID,
            format!("psd2-fallback:{debtor}:{end_to_end_id}:{fingerprint}").as_bytes(),
        )
    }

    async fn initiate(
        &self,
        psu: &PsuContext,
        path: String,
        body: &wire::PaymentInitiationBody,
        request_id: uuid::Uuid,
        kind: PaymentKind,
    ) -> BankResult<PaymentInitiation> {
        let request = self
            .request_to(
                Method::POST,
                format!("{}{path}", self.base),
                psu,
                request_id,
            )
            .json(body);
        self.initiated(request, kind, psu).await
    }

    /// Sends an initiation (payment, standing order or file) and reads the bank's answer: the new
    /// resource, its status and the SCA approach the bank announced (`ASPSP-SCA-Approach`).
    async fn initiated(
        &self,
        request: reqwest::RequestBuilder,
        kind: PaymentKind,
        psu: &PsuContext,
    ) -> BankResult<PaymentInitiation> {
        let (_, headers, body) = self
            .exchange_answer(request, Effect::MovesMoney, psu)
            .await?;
        let created: wire::PaymentInitiationResponse = serde_json::from_slice(&body)
            .map_err(|e| unusable(Effect::MovesMoney, wire::Malformed::body(e)))?;
        let (id, status) = created
            .to_parts()
            .map_err(|e| unusable(Effect::MovesMoney, e))?;
        Ok(PaymentInitiation {
            payment: PaymentRef { kind, id },
            status,
            approach: sca::approach_of(&headers),
        })
    }

    async fn cancel(&self, psu: &PsuContext, payment: &PaymentRef) -> BankResult<Cancellation> {
        let path = Self::payment_path(payment)?;
        let (status, body) = self
            .exchange(
                self.request(Method::DELETE, &path, psu),
                Effect::MovesMoney,
                psu,
            )
            .await?;
        if status == StatusCode::NO_CONTENT {
            return Ok(Cancellation::done());
        }
        // 202: the bank may want the cancellation authorised (`_links.startAuthorisation`); a bank
        // that answers without a body is asked for the status it has now.
        if body.iter().all(u8::is_ascii_whitespace) {
            let status = self.payment_status(psu, payment).await?;
            return Ok(Cancellation {
                status,
                authorisation_needed: false,
            });
        }
        let answer: wire::CancelResponse = serde_json::from_slice(&body)
            .map_err(|e| unusable(Effect::MovesMoney, Malformed::body(e)))?;
        answer
            .to_cancellation()
            .map_err(|e| unusable(Effect::MovesMoney, e))
    }
}

#[async_trait]
impl Bank for ApiBank {
    async fn accounts(&self, psu: &PsuContext) -> BankResult<Vec<Account>> {
        Self::consent_needed(psu)?;
        let list: wire::AccountList = self
            .call(
                self.request(Method::GET, "/v1/accounts", psu),
                Effect::Safe,
                psu,
            )
            .await?;
        list.accounts
            .iter()
            .enumerate()
            .map(|(i, a)| a.to_account(i).map_err(|e| unusable(Effect::Safe, e)))
            .collect()
    }

    async fn balances(
        &self,
        psu: &PsuContext,
        account: &AccountId,
        at: Option<Date>,
    ) -> BankResult<Vec<Balance>> {
        let current = self.current_balances(psu, account, at).await?;
        let Some(day) = at else { return Ok(current) };
        // A bank that knows `referenceDate` answered with that day's closing balance: one request, one
        // consistent snapshot.
        if let Some(closing) = current
            .iter()
            .find(|b| b.kind == BalanceType::ClosingBooked && b.reference_date == Some(day))
        {
            return Ok(vec![closing.clone()]);
        }
        // Otherwise, from the standard resources alone: the booked balance now, less what was booked
        // since that day.
        let anchor = current
            .iter()
            .find(|b| b.kind == BalanceType::InterimBooked)
            .or_else(|| {
                current
                    .iter()
                    .find(|b| b.kind == BalanceType::ClosingBooked && b.reference_date.is_some())
            })
            .ok_or(BankError::NotSupported {
                channel: Channel::Api,
                operation: "balances at an earlier date (the bank gives no booked balance)"
                    .to_owned(),
            })?;
        if anchor.reference_date.is_some_and(|d| day >= d) {
            return Err(InvalidValue::new("date", "must be a day before today").into());
        }
        let since = day.next_day().expect("a day before today has a next day");
        let mut query = format!("bookingStatus=booked&dateFrom={}", format_iso_date(since));
        if let Some(to) = anchor.reference_date {
            query.push_str(&format!("&dateTo={}", format_iso_date(to)));
        }
        // Only booked items count, and only those booked inside the range: the query asks for exactly
        // that, and the answer is held to it, since a bank may ignore `bookingStatus` or the dates and
        // answer with its pending items too.
        let booked = TransactionFilter {
            date_from: Some(since),
            date_to: anchor.reference_date,
            status: Some(BookingStatus::Booked),
            ..TransactionFilter::default()
        };
        let mut value = anchor.amount.value();
        for t in self.transaction_pages(psu, account, query).await? {
            if booked.matches(&t) {
                value -= t.amount.value();
            }
        }
        let amount = Amount::new(value, anchor.amount.currency())?;
        Ok(vec![Balance {
            kind: BalanceType::ClosingBooked,
            amount,
            reference_date: Some(day),
        }])
    }

    async fn transactions(
        &self,
        psu: &PsuContext,
        account: &AccountId,
        filter: &TransactionFilter,
    ) -> BankResult<Vec<Transaction>> {
        let status = match filter.status {
            None => "both",
            Some(BookingStatus::Booked) => "booked",
            Some(BookingStatus::Pending) => "pending",
        };
        let from = filter
            .date_from
            .map(format_iso_date)
            .unwrap_or_else(|| "1970-01-01".to_owned());
        let mut query = format!("bookingStatus={status}&dateFrom={from}");
        if let Some(to) = filter.date_to {
            query.push_str(&format!("&dateTo={}", format_iso_date(to)));
        }
        let mut all = self.transaction_pages(psu, account, query).await?;
        // The API filters by date and status; direction, code and recurrence are applied here, with the
        // same predicate every channel uses.
        all.retain(|t| filter.matches(t));
        Ok(all)
    }

    async fn initiate_payment(
        &self,
        psu: &PsuContext,
        request: &PaymentRequest,
    ) -> BankResult<PaymentInitiation> {
        request.validate()?;
        let path = format!("/v1/payments/{}", request.product.code());
        let request_id = Self::write_request_id(
            &request.debtor,
            request.end_to_end_id.as_str(),
            &crate::fingerprint::payment(request),
        );
        self.initiate(
            psu,
            path,
            &wire::PaymentInitiationBody::single(request),
            request_id,
            PaymentKind::Single(request.product),
        )
        .await
    }

    async fn payment_status(
        &self,
        psu: &PsuContext,
        payment: &PaymentRef,
    ) -> BankResult<PaymentStatus> {
        let path = format!("{}/status", Self::payment_path(payment)?);
        let answer: wire::PaymentStatusResponse = self
            .call(self.request(Method::GET, &path, psu), Effect::Safe, psu)
            .await?;
        answer.status().map_err(|e| unusable(Effect::Safe, e))
    }

    async fn cancel_payment(
        &self,
        psu: &PsuContext,
        payment: &PaymentRef,
    ) -> BankResult<Cancellation> {
        self.cancel(psu, payment).await
    }

    async fn upload_payment_file(
        &self,
        psu: &PsuContext,
        file: &PaymentFile,
    ) -> BankResult<PaymentInitiation> {
        let url = format!("{}/v1/bulk-payments/{PAIN001_PRODUCT}", self.base);
        let debtor = file
            .payments
            .first()
            .map(|p| p.debtor.clone())
            .ok_or_else(|| InvalidValue::new("file", "holds no payment"))?;
        let request_id =
            Self::write_request_id(&debtor, &file.message_id, &crate::fingerprint::file(file));
        let request = self
            .request_to(Method::POST, url, psu, request_id)
            .header(reqwest::header::CONTENT_TYPE, "application/xml")
            .body(file.xml().to_owned());
        self.initiated(request, PaymentKind::File, psu).await
    }

    async fn create_standing_order(
        &self,
        psu: &PsuContext,
        request: &StandingOrderRequest,
    ) -> BankResult<PaymentInitiation> {
        request.validate()?;
        let product = request.payment.product;
        let path = format!("/v1/periodic-payments/{}", product.code());
        let request_id = Self::write_request_id(
            &request.payment.debtor,
            request.payment.end_to_end_id.as_str(),
            &crate::fingerprint::standing_order(request),
        );
        self.initiate(
            psu,
            path,
            &wire::PaymentInitiationBody::periodic(request),
            request_id,
            PaymentKind::Periodic(product),
        )
        .await
    }

    async fn cancel_standing_order(
        &self,
        psu: &PsuContext,
        order: &PaymentRef,
    ) -> BankResult<Cancellation> {
        if !matches!(order.kind, PaymentKind::Periodic(_)) {
            return Err(InvalidValue::new("order", "is not a standing order").into());
        }
        self.cancel(psu, order).await
    }

    async fn confirm_funds(
        &self,
        psu: &PsuContext,
        account: &Iban,
        amount: &Amount,
    ) -> BankResult<FundsConfirmation> {
        let body = wire::FundsConfirmationBody {
            account: wire::AccountReference::of(account),
            instructed_amount: wire::WireAmount::of(amount),
        };
        let answer: wire::FundsConfirmationResponse = self
            .call(
                self.request(Method::POST, "/v1/funds-confirmations", psu)
                    .json(&body),
                Effect::Safe,
                psu,
            )
            .await?;
        Ok(FundsConfirmation {
            funds_available: answer.available().map_err(|e| unusable(Effect::Safe, e))?,
        })
    }

    async fn create_consent(
        &self,
        psu: &PsuContext,
        request: &ConsentRequest,
    ) -> BankResult<ConsentId> {
        Ok(self.create_consent_announced(psu, request).await?.id)
    }

    async fn create_consent_announced(
        &self,
        psu: &PsuContext,
        request: &ConsentRequest,
    ) -> BankResult<ConsentCreated> {
        let (_, headers, body) = self
            .exchange_answer(
                self.request(Method::POST, "/v1/consents", psu)
                    .json(&wire::ConsentBody::of(request)),
                Effect::Safe,
                psu,
            )
            .await?;
        let answer: wire::ConsentCreated = serde_json::from_slice(&body)
            .map_err(|e| unusable(Effect::Safe, wire::Malformed::body(e)))?;
        Ok(ConsentCreated {
            id: ConsentId::new(answer.consent_id),
            approach: sca::approach_of(&headers),
        })
    }

    async fn consent_status(
        &self,
        psu: &PsuContext,
        consent: &ConsentId,
    ) -> BankResult<ConsentStatus> {
        let answer: wire::ConsentStatusResponse = self
            .call(
                self.request(
                    Method::GET,
                    &format!("/v1/consents/{}/status", segment(consent)?),
                    psu,
                ),
                Effect::Safe,
                psu,
            )
            .await?;
        answer.status().map_err(|e| unusable(Effect::Safe, e))
    }

    async fn consent_access(
        &self,
        psu: &PsuContext,
        consent: &ConsentId,
    ) -> BankResult<ConsentAccess> {
        let answer: wire::ConsentAnswer = self
            .call(
                self.request(
                    Method::GET,
                    &format!("/v1/consents/{}", segment(consent)?),
                    psu,
                ),
                Effect::Safe,
                psu,
            )
            .await?;
        answer.access().map_err(|e| unusable(Effect::Safe, e))
    }

    async fn start_authorisation(
        &self,
        psu: &PsuContext,
        target: &ScaTarget,
    ) -> BankResult<ScaStep> {
        self.sca_start(psu, target).await
    }

    async fn select_sca_method(
        &self,
        psu: &PsuContext,
        target: &ScaTarget,
        authorisation: &AuthorisationId,
        method: &str,
    ) -> BankResult<ScaStep> {
        self.sca_select(psu, target, authorisation, method).await
    }

    async fn authorisation_status(
        &self,
        psu: &PsuContext,
        target: &ScaTarget,
        authorisation: &AuthorisationId,
    ) -> BankResult<ScaProgress> {
        self.sca_progress(psu, target, authorisation).await
    }

    async fn authorisation_ids(
        &self,
        psu: &PsuContext,
        target: &ScaTarget,
    ) -> BankResult<Vec<AuthorisationId>> {
        self.sca_ids(psu, target).await
    }

    async fn authorise(
        &self,
        psu: &PsuContext,
        target: &ScaTarget,
        authorisation: &AuthorisationId,
        answer: &ScaAnswer,
    ) -> BankResult<ScaStatus> {
        self.sca_answer(psu, target, authorisation, answer).await
    }

    async fn exchange_authorisation_code(
        &self,
        psu: &PsuContext,
        target: &ScaTarget,
        authorisation: &AuthorisationId,
        code: &crate::model::AuthorisationCode,
        state: &str,
    ) -> BankResult<ScaStatus> {
        self.sca_exchange_code(psu, target, authorisation, code, state)
            .await
    }
}

/// Whether `host` (`name[:port]`, `[v6]:port`) is this machine: `localhost`, `127.0.0.0/8`, `::1`.
fn is_loopback(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// An identifier as one path segment: checked ([`crate::model::check_id`]: a caller's crafted id is
/// refused as invalid input, before anything is sent, so it never reads as the bank failing) and
/// percent-encoded, so `/`, `?`, `#` or `%` inside it cannot change which resource is asked for.
fn segment(id: &impl IdText) -> BankResult<String> {
    crate::model::check_id(id.field(), id.text())?;
    let mut out = String::with_capacity(id.text().len());
    for byte in id.text().bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    Ok(out)
}

/// The identifiers that go into request paths.
trait IdText {
    fn field(&self) -> &'static str;
    fn text(&self) -> &str;
}

macro_rules! id_text {
    ($($id:ty),*) => {$(
        impl IdText for $id {
            fn field(&self) -> &'static str {
                <$id>::FIELD
            }
            fn text(&self) -> &str {
                self.as_str()
            }
        }
    )*};
}
id_text!(
    AccountId,
    crate::model::PaymentId,
    ConsentId,
    AuthorisationId
);

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-shot HTTP server on a loopback port: it reads one request and answers with `status` and
    /// `body` (as JSON), then closes the connection.
    fn answer_once(status: &str, body: &str) -> String {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let response = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut buffer = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buffer) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => request.extend_from_slice(&buffer[..n]),
                }
            }
            let _ = stream.write_all(response.as_bytes());
        });
        url
    }

    /// Regression test for the service's own probe, which took any answer below 500 as healthy: the
    /// one probe judges the body too, so an HTTP 200 with malformed JSON is not a working API.
    #[tokio::test]
    async fn a_garbled_answer_is_unhealthy_for_the_probe() {
        let cases = [
            (
                "400 Bad Request",
                r#"{"tppMessages":[{"code":"CONSENT_UNKNOWN"}]}"#,
                true,
            ),
            ("200 OK", r#"{"accounts":[]}"#, true),
            ("200 OK", r#"{"accounts":"#, false),
            ("400 Bad Request", "<h1>Bad request</h1>", false),
            ("503 Service Unavailable", "", false),
        ];
        for (status, body, healthy) in cases {
            let api = ApiBank::new(ApiBankConfig::new(answer_once(status, body))).unwrap();
            let result = api.health_probe().check().await;
            assert_eq!(result.is_ok(), healthy, "{status} {body:?}: {result:?}");
            if status == "200 OK" && !healthy {
                let evidence = result.unwrap_err();
                assert!(evidence.starts_with("malformed answer"), "{evidence}");
            }
        }
    }
}
