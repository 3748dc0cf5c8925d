//! The proxy's connections: plain requests in absolute form, `CONNECT` tunnels ended with this run's
//! certificate, and each request forwarded to the bank by the egress's own client.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rcgen::{CertificateParams, DnType, KeyPair};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;

use super::{EgressRecord, Shared};

/// The largest request body forwarded (a payment file fits).
const BODY_LIMIT: usize = 16 << 20;

/// Headers that belong to one hop and are never forwarded.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "proxy-connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "proxy-authorization",
];

/// Accepts browser connections until the egress is dropped.
pub(super) async fn accept(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(outer(shared, request).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await;
        });
    }
}

fn answer(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(text.to_owned())));
    *response.status_mut() = status;
    response
}

/// A request on the browser's connection: a tunnel to open, or a plain request in absolute form.
async fn outer(shared: Arc<Shared>, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let Some(authority) = request.uri().authority().cloned() else {
        return answer(StatusCode::BAD_REQUEST, "a proxy request names its host");
    };
    let host = authority.host().to_owned();
    let https = request.method() == Method::CONNECT;
    let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
    if !shared.allowed(&host, port) {
        tracing::warn!(%host, port, "egress: host outside the bank's list refused");
        shared.record(EgressRecord {
            method: request.method().to_string(),
            host: format!("{host}:{port}"),
            path: if https {
                String::new()
            } else {
                request.uri().path().to_owned()
            },
            status: 403,
            bytes: 0,
            switch_event: None,
        });
        return answer(StatusCode::FORBIDDEN, "host outside the bank's list");
    }
    if !https {
        let base = format!("http://{host}:{port}");
        return forward(&shared, &base, &format!("{host}:{port}"), request).await;
    }
    let tls = match leaf_config(&shared, &host) {
        Ok(tls) => tls,
        Err(error) => {
            tracing::error!(%error, "egress: no certificate for the browser");
            return answer(StatusCode::BAD_GATEWAY, "egress certificate");
        }
    };
    tokio::spawn(async move {
        let Ok(upgraded) = hyper::upgrade::on(request).await else {
            return;
        };
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        let Ok(stream) = acceptor.accept(TokioIo::new(upgraded)).await else {
            return;
        };
        let base = format!("https://{host}:{port}");
        let label = format!("{host}:{port}");
        let service = hyper::service::service_fn(move |request| {
            let shared = shared.clone();
            let base = base.clone();
            let label = label.clone();
            async move { Ok::<_, Infallible>(forward(&shared, &base, &label, request).await) }
        });
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(stream), service)
            .await;
    });
    Response::new(Full::new(Bytes::new()))
}

/// The TLS configuration the browser sees for `host`: a certificate of this run's CA, made once.
fn leaf_config(shared: &Shared, host: &str) -> Result<Arc<rustls::ServerConfig>, String> {
    let mut leaves = shared.leaves.lock().map_err(|_| "poisoned".to_owned())?;
    if let Some(config) = leaves.get(host) {
        return Ok(config.clone());
    }
    let mut params = CertificateParams::new(vec![host.to_owned()]).map_err(|e| e.to_string())?;
    params.distinguished_name.push(DnType::CommonName, host);
    let key = KeyPair::try_from(shared.leaf_key.as_slice()).map_err(|e| e.to_string())?;
    let leaf = params
        .signed_by(&key, &shared.ca)
        .map_err(|e| e.to_string())?;
    let chain = vec![
        leaf.der().clone(),
        CertificateDer::from(shared.ca.der().to_vec()),
    ];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(shared.leaf_key.clone()));
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| e.to_string())?;
    let config = Arc::new(config);
    leaves.insert(host.to_owned(), config.clone());
    Ok(config)
}

/// Sends one request to the bank with the egress's client and hands the answer back to the browser.
async fn forward(
    shared: &Shared,
    base: &str,
    label: &str,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let mut record = EgressRecord {
        method: parts.method.to_string(),
        host: label.to_owned(),
        path,
        status: 502,
        bytes: 0,
        switch_event: None,
    };
    let Ok(body) = Limited::new(body, BODY_LIMIT).collect().await else {
        record.status = 413;
        shared.record(record);
        return answer(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
    };
    let body = body.to_bytes();
    let url = format!("{base}{path_and_query}");
    // A bank may end the identification session before its announced lifetime: its `401` to a request
    // that carried a session makes the egress forget that session and identify itself again, once,
    // retrying the request when it is safe to repeat (`GET`, `HEAD`). Any other request's `401` goes
    // back to the browser as it came: a page's own `401` (a refused login) must not be posted twice.
    let repeatable = matches!(parts.method, Method::GET | Method::HEAD);
    let mut identified_again = false;
    let response = loop {
        let mut outgoing = shared
            .http
            .request(parts.method.clone(), &url)
            .body(body.clone());
        for (name, value) in &parts.headers {
            if !HOP_BY_HOP.contains(&name.as_str()) {
                outgoing = outgoing.header(name, value);
            }
        }
        for (name, value) in &shared.config.identification_headers {
            outgoing = outgoing.header(name.as_str(), value.as_str());
        }
        let session = match shared.session().await {
            Ok(session) => session,
            Err(reason) => {
                tracing::warn!(%reason, "egress: the TPP could not identify itself");
                shared.record(record);
                return answer(StatusCode::BAD_GATEWAY, "the TPP could not identify itself");
            }
        };
        let carried = session.as_ref().map(|(_, id)| id.clone());
        if let Some((header, id)) = session {
            outgoing = outgoing.header(header, id);
        }
        let response = match outgoing.send().await {
            Ok(response) => response,
            Err(error) => {
                tracing::warn!(error = %error.without_url(), "egress: the bank did not answer");
                shared.record(record);
                return answer(StatusCode::BAD_GATEWAY, "the bank did not answer");
            }
        };
        let Some(carried) = carried else {
            break response;
        };
        if response.status() != StatusCode::UNAUTHORIZED || identified_again {
            break response;
        }
        if !repeatable {
            shared.forget_session(&carried).await;
            break response;
        }
        // The refused request was made: it is logged like any other.
        let bytes = response.bytes().await.map_or(0, |b| b.len() as u64);
        shared.record(EgressRecord {
            status: StatusCode::UNAUTHORIZED.as_u16(),
            bytes,
            ..record.clone()
        });
        tracing::info!("egress: the bank ended the TPP session early; identifying again");
        shared.forget_session(&carried).await;
        identified_again = true;
    };
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = match response.bytes().await {
        Ok(bytes) => bytes,
        Err(_) => {
            shared.record(record);
            return answer(StatusCode::BAD_GATEWAY, "the bank's answer broke off");
        }
    };
    record.status = status.as_u16();
    record.bytes = bytes.len() as u64;
    shared.record(record);
    let mut back = Response::new(Full::new(bytes));
    *back.status_mut() = status;
    for (name, value) in &headers {
        if !HOP_BY_HOP.contains(&name.as_str()) && name != "content-length" {
            back.headers_mut().append(name, value.clone());
        }
    }
    back
}
