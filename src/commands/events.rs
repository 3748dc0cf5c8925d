//! `psd2-fallback events`: tails a service's switch events (Server-Sent Events), one line per switch.

use anyhow::Context;

/// The stream to follow.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The service's `/events` URL.
    #[arg(long, default_value = "http://127.0.0.1:8443/events")]
    url: String,
    /// The operator (or admin) token that opens `/events`; better given in the environment.
    #[arg(long, env = "PSD2_FALLBACK_OPERATOR_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

/// Prints each `switch` event of the stream as one line, until the stream ends.
pub(crate) async fn run(args: &Args) -> anyhow::Result<()> {
    let url = &args.url;
    let mut request = reqwest::Client::new().get(url);
    if let Some(token) = &args.token {
        request = request.bearer_auth(token);
    }
    let mut response = request
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?
        .error_for_status()?;
    let mut events = SseReader::default();
    while let Some(chunk) = response.chunk().await? {
        for data in events.push(&chunk) {
            println!("{}", line(&data));
        }
    }
    Ok(())
}

/// Splits a Server-Sent Events byte stream into the `data` of each event, however the bytes arrive.
#[derive(Debug, Default)]
struct SseReader {
    /// What has arrived of the event not yet ended by a blank line.
    buffer: String,
}

impl SseReader {
    /// Takes the next chunk; returns the data of every event it completed (events without data are
    /// comments or keep-alives, and are skipped).
    fn push(&mut self, chunk: &[u8]) -> Vec<String> {
        self.buffer.push_str(&String::from_utf8_lossy(chunk));
        let mut complete = Vec::new();
        while let Some(end) = self.buffer.find("\n\n") {
            let block: String = self.buffer.drain(..end + 2).collect();
            let data: String = block
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(str::trim)
                .collect();
            if !data.is_empty() {
                complete.push(data);
            }
        }
        complete
    }
}

/// One switch event as a line: when, which bank, from, to, why, and the evidence.
fn line(data: &str) -> String {
    let event: serde_json::Value = serde_json::from_str(data).unwrap_or_default();
    let text = |key: &str| event[key].as_str().unwrap_or("").to_owned();
    format!(
        "{}  {:<12} {:>8} -> {:<8} {}  ({})",
        text("at"),
        text("bank"),
        text("from"),
        text("to"),
        text("reason"),
        text("evidence")
    )
}

#[cfg(test)]
mod tests {
    use super::{SseReader, line};

    #[test]
    fn events_split_across_chunks_are_read_whole_and_keep_alives_skipped() {
        let mut reader = SseReader::default();
        assert!(
            reader
                .push(b": keep-alive\n\nevent: switch\ndata: {\"bank\":")
                .is_empty()
        );
        let done = reader.push(b"\"sandbox\",\"from\":\"api\",\"to\":\"fallback\"}\n\n");
        assert_eq!(done.len(), 1);
        let shown = line(&done[0]);
        assert!(shown.contains("sandbox"), "{shown}");
        assert!(shown.contains("api -> fallback"), "{shown}");
    }
}
