//! A gate in front of a bank's API: forwards every request over real HTTP while open, answers 503 while
//! shut. It lets a test or benchmark take one channel's API down while another channel still reaches
//! the same bank. It can also rewrite what the client asked for, to play a bank that ignores a
//! parameter (`referenceDate`, `bookingStatus`) while answering honestly from the real ledger.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

/// A running gate.
#[derive(Debug)]
pub struct Gate {
    /// Where it listens: use it as the API base URL.
    pub url: String,
    down: Arc<AtomicBool>,
    rewrites: Rewrites,
    task: tokio::task::JoinHandle<()>,
}

/// Text replacements applied to each request's path and query before it is forwarded.
type Rewrites = Arc<Mutex<Vec<(String, String)>>>;

#[derive(Clone)]
struct GateState {
    upstream: String,
    http: reqwest::Client,
    down: Arc<AtomicBool>,
    rewrites: Rewrites,
}

impl Gate {
    /// A gate forwarding to `upstream` (a base URL without a trailing slash).
    pub async fn start(upstream: String) -> Gate {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let down = Arc::new(AtomicBool::new(false));
        let rewrites = Rewrites::default();
        let state = GateState {
            upstream,
            http: reqwest::Client::new(),
            down: down.clone(),
            rewrites: rewrites.clone(),
        };
        let app = Router::new().fallback(forward).with_state(state);
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Gate {
            url,
            down,
            rewrites,
            task,
        }
    }

    /// From now on, replaces `from` with `to` in every forwarded path and query.
    pub fn rewrite(&self, from: &str, to: &str) {
        self.rewrites
            .lock()
            .unwrap()
            .push((from.to_owned(), to.to_owned()));
    }

    /// Shuts the gate (503 for everything) or opens it.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward(State(state): State<GateState>, request: Request) -> Response {
    if state.down.load(Ordering::SeqCst) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [("content-type", "application/json")],
            r#"{"tppMessages":[{"category":"ERROR","code":"SERVICE_UNAVAILABLE","text":"down"}]}"#,
        )
            .into_response();
    }
    let (parts, body) = request.into_parts();
    let body: Bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let mut path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/")
        .to_owned();
    for (from, to) in state.rewrites.lock().unwrap().iter() {
        path = path.replace(from.as_str(), to);
    }
    let mut headers = HeaderMap::new();
    for (name, value) in &parts.headers {
        if name != "host" && name != "content-length" {
            headers.insert(name.clone(), value.clone());
        }
    }
    let answer = state
        .http
        .request(parts.method, format!("{}{path}", state.upstream))
        .headers(headers)
        .body(body)
        .send()
        .await;
    match answer {
        Ok(answer) => {
            let status = answer.status();
            let headers = answer.headers().clone();
            let bytes = answer.bytes().await.unwrap_or_default();
            let mut response = Response::new(Body::from(bytes));
            *response.status_mut() = status;
            for (name, value) in &headers {
                if name != "content-length" && name != "transfer-encoding" {
                    response.headers_mut().insert(name.clone(), value.clone());
                }
            }
            response
        }
        Err(_) => StatusCode::BAD_GATEWAY.into_response(),
    }
}
