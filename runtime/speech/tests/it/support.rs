//! Servers and helpers the tests share.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, Uri};

/// One request a fake server received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("an ASCII header"))
            .unwrap_or("")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// Requests received so far, shared with the handlers.
pub type Log = Arc<Mutex<Vec<Received>>>;

/// Records a request and returns its log entry.
pub async fn record(log: &Log, request: axum::extract::Request) -> Received {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 16 * 1024 * 1024)
        .await
        .expect("a readable body");
    let received = Received {
        method: parts.method,
        uri: parts.uri,
        headers: parts.headers,
        body,
    };
    log.lock().unwrap().push(received.clone());
    received
}

/// Serves `app` on a free local port; returns `http://127.0.0.1:PORT`.
pub async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    format!("http://{address}")
}

/// A port nothing listens on.
pub async fn closed_port_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{address}")
}

/// A sine tone as 16-bit PCM.
pub fn sine(freq_hz: f64, rate_hz: u32, seconds: f64, amplitude: f64) -> Vec<i16> {
    let n = (f64::from(rate_hz) * seconds) as usize;
    (0..n)
        .map(|i| {
            let t = i as f64 / f64::from(rate_hz);
            (amplitude * (2.0 * std::f64::consts::PI * freq_hz * t).sin()) as i16
        })
        .collect()
}

/// Root-mean-square level of `pcm`.
pub fn rms(pcm: &[i16]) -> f64 {
    if pcm.is_empty() {
        return 0.0;
    }
    (pcm.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / pcm.len() as f64).sqrt()
}

/// A 16-bit mono WAV of `pcm`.
pub fn wav(pcm: &[i16], rate_hz: u32) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate_hz,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut out = std::io::Cursor::new(Vec::new());
    let mut writer = hound::WavWriter::new(&mut out, spec).unwrap();
    for &s in pcm {
        writer.write_sample(s).unwrap();
    }
    writer.finalize().unwrap();
    out.into_inner()
}

/// One part of a `multipart/form-data` body.
#[derive(Debug)]
pub struct Part {
    pub name: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub data: Vec<u8>,
}

/// Parses a `multipart/form-data` body by hand (RFC 7578), so the test
/// checks the bytes on the wire rather than trusting a library on both
/// ends.
pub fn multipart(content_type: &str, body: &[u8]) -> Vec<Part> {
    let boundary = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
        .expect("a boundary")
        .trim_matches('"');
    let delimiter = format!("--{boundary}").into_bytes();
    let mut parts = Vec::new();
    let mut sections = split(body, &delimiter).into_iter();
    sections.next(); // the preamble before the first delimiter
    for section in sections {
        if section.starts_with(b"--") {
            break; // the closing delimiter
        }
        let section = section
            .strip_prefix(b"\r\n")
            .expect("CRLF after the delimiter");
        let section = section
            .strip_suffix(b"\r\n")
            .expect("CRLF before the next delimiter");
        let header_end = find(section, b"\r\n\r\n").expect("headers end");
        let headers = String::from_utf8_lossy(&section[..header_end]).to_string();
        let data = section[header_end + 4..].to_vec();
        let mut name = String::new();
        let mut filename = None;
        let mut part_type = None;
        for line in headers.lines() {
            let lower = line.to_ascii_lowercase();
            if lower.starts_with("content-disposition:") {
                for param in line.split(';').skip(1) {
                    let (key, value) = param.trim().split_once('=').unwrap();
                    let value = value.trim_matches('"').to_owned();
                    match key {
                        "name" => name = value,
                        "filename" => filename = Some(value),
                        _ => {}
                    }
                }
            } else if lower.starts_with("content-type:") {
                part_type = Some(line["content-type:".len()..].trim().to_owned());
            }
        }
        parts.push(Part {
            name,
            filename,
            content_type: part_type,
            data,
        });
    }
    parts
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn split<'a>(mut body: &'a [u8], delimiter: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    while let Some(at) = find(body, delimiter) {
        out.push(&body[..at]);
        body = &body[at + delimiter.len()..];
    }
    out.push(body);
    out
}
