//! What the HTTP adapters share: endpoint joining, error mapping that keeps
//! the provider's own message but never the key, and bounded body reads.

use std::time::Duration;

use futures_util::StreamExt;

use crate::SpeechError;
use crate::secret::ApiKey;

/// At most this much of an error body is read: enough for any provider's
/// JSON error, and a misbehaving server cannot make us buffer megabytes.
const MAX_ERROR_BODY: usize = 16 * 1024;

/// At most this many characters of a provider's message are kept.
const MAX_MESSAGE_CHARS: usize = 500;

/// `base_url` and `path` joined with exactly one slash between them.
pub(crate) fn endpoint(base_url: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base_url.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

/// A client shared by one adapter. Timeouts are set per request (streams
/// need a different limit from one-shot calls).
pub(crate) fn client(provider: &'static str) -> Result<reqwest::Client, SpeechError> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| SpeechError::Provider {
            provider,
            message: format!("cannot build an HTTP client: {e}"),
        })
}

/// Maps a failed send or body read; a timeout becomes
/// [`SpeechError::Timeout`] naming the limit.
pub(crate) fn transport_error(
    provider: &'static str,
    error: &reqwest::Error,
    timeout: Duration,
) -> SpeechError {
    if error.is_timeout() {
        return SpeechError::Timeout {
            provider,
            after: timeout,
        };
    }
    // The source chain says why (connection refused, DNS, TLS); the URL is
    // the configured base URL and carries no key (keys go in headers).
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    SpeechError::Provider { provider, message }
}

/// Turns a non-success response into [`SpeechError::Http`] with the
/// provider's message: OpenAI's `{"error": {"message": ...}}`, a plain
/// `{"error": "..."}` or `{"message": ...}`, else the start of the body.
pub(crate) async fn status_error(
    provider: &'static str,
    response: reqwest::Response,
    key: Option<&ApiKey>,
) -> SpeechError {
    let status = response.status().as_u16();
    let body = read_limited(response, MAX_ERROR_BODY).await;
    let text = String::from_utf8_lossy(&body);
    let message = provider_message(&text).unwrap_or_else(|| text.trim().to_owned());
    let message = match key {
        Some(key) => key.redact(&message),
        None => message,
    };
    let message = if message.is_empty() {
        "(no message)".to_owned()
    } else {
        truncate_chars(&message, MAX_MESSAGE_CHARS)
    };
    SpeechError::Http {
        provider,
        status,
        message,
    }
}

/// The message inside a JSON error body, in the shapes OpenAI-compatible
/// servers use.
pub(crate) fn provider_message(body: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    let error = value.get("error").unwrap_or(&value);
    if let Some(text) = error.as_str() {
        return Some(text.to_owned());
    }
    for field in ["message", "detail", "err_msg"] {
        if let Some(text) = error.get(field).and_then(|m| m.as_str()) {
            return Some(text.to_owned());
        }
    }
    None
}

fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// Up to `limit` bytes of the body; a read error ends it early (this is
/// only used for error bodies, where a partial message beats none).
async fn read_limited(response: reqwest::Response, limit: usize) -> Vec<u8> {
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(Ok(chunk)) = stream.next().await {
        let room = limit - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= limit {
            break;
        }
    }
    body
}

/// The language subtag of a BCP 47 locale, lowercase (`en-US` → `en`), as
/// ISO 639-1 APIs want it.
pub(crate) fn language_of(locale: &str) -> String {
    locale
        .split(['-', '_'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_joins_with_one_slash() {
        assert_eq!(
            endpoint("https://api.openai.com/v1/", "/audio/speech"),
            "https://api.openai.com/v1/audio/speech"
        );
        assert_eq!(
            endpoint("http://h:8080", "inference"),
            "http://h:8080/inference"
        );
    }

    #[test]
    fn provider_message_reads_the_common_error_shapes() {
        let openai = r#"{"error":{"message":"Rate limit reached","type":"requests","code":null}}"#;
        assert_eq!(
            provider_message(openai).as_deref(),
            Some("Rate limit reached")
        );
        assert_eq!(
            provider_message(r#"{"error":"model not found"}"#).as_deref(),
            Some("model not found")
        );
        assert_eq!(
            provider_message(r#"{"detail":"Not Found"}"#).as_deref(),
            Some("Not Found")
        );
        assert_eq!(provider_message("<html>bad gateway</html>"), None);
    }

    #[test]
    fn language_of_takes_the_primary_subtag() {
        assert_eq!(language_of("en-US"), "en");
        assert_eq!(language_of("es_419"), "es");
        assert_eq!(language_of("DE"), "de");
    }

    #[test]
    fn truncate_keeps_whole_characters() {
        assert_eq!(truncate_chars("héllo", 2), "hé…");
        assert_eq!(truncate_chars("hi", 5), "hi");
    }
}
