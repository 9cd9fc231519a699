//! The HTTPS payment tokenizer against a real local processor: TLS with a
//! private CA made at test time, a server that checks the signature and the
//! timestamp like a processor would and records every request it receives,
//! and `switchyard call --tokenizer-url` end to end.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{stdout, switchyard_with_stdin};
use hmac::{Hmac, Mac};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use serde_json::{Value, json};
use sha2::Sha256;
use switchyard_runtime::policy::secure_capture::{
    CaptureField, CollectStep, PaymentTokenizer, SealedCard, SecureCollector,
};
use switchyard_studio_api::tokenizer::{HttpsTokenizer, TokenizerOptions};

const SECRET: &str = "whsec_test_4f2a9c";
/// The card the processor declines (Luhn-valid Visa).
const DECLINED: &str = "4000000000000002";

/// One request as the processor saw it.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    content_type: String,
    timestamp: String,
    signature: String,
    body: String,
    /// The signature matched the body and the timestamp was fresh.
    verified: bool,
}

/// A payment processor on 127.0.0.1 with an ephemeral port.
struct Processor {
    port: u16,
    ca_pem: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Processor {
    fn url(&self) -> String {
        format!("https://127.0.0.1:{}/tokenize", self.port)
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Starts a processor that shares `secret` with Switchyard. Its
    /// certificate is issued by a CA made here (`ca_pem`), for 127.0.0.1 and
    /// localhost. The thread serves until the test process ends.
    fn start(secret: &'static str) -> Processor {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Test Processor Root CA");
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let leaf_key = KeyPair::generate().unwrap();
        let mut leaf_params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, "processor.test");
        let leaf = leaf_params.signed_by(&leaf_key, &ca).unwrap();
        let config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(
                    vec![leaf.der().clone(), ca.der().clone()],
                    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
                )
                .unwrap();
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&received);
        std::thread::spawn(move || {
            for tcp in listener.incoming() {
                let Ok(tcp) = tcp else { continue };
                serve(tcp, &config, secret.as_bytes(), &log);
            }
        });
        Processor {
            port,
            ca_pem: ca.pem(),
            received,
        }
    }
}

/// Serves one connection: one request, one answer, close.
fn serve(tcp: TcpStream, config: &Arc<ServerConfig>, secret: &[u8], log: &Mutex<Vec<Received>>) {
    tcp.set_read_timeout(Some(Duration::from_secs(5))).ok();
    tcp.set_write_timeout(Some(Duration::from_secs(5))).ok();
    let Ok(conn) = ServerConnection::new(Arc::clone(config)) else {
        return;
    };
    let mut tls = StreamOwned::new(conn, tcp);
    // The head, up to the blank line.
    let mut data = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        match tls.read(&mut chunk) {
            Ok(0) | Err(_) => return, // e.g. the client refused our certificate
            Ok(n) => data.extend_from_slice(&chunk[..n]),
        }
        if data.len() > 64 * 1024 {
            return;
        }
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_owned();
    let header = |name: &str| -> String {
        head.split("\r\n")
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .find(|(n, _)| n.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default()
    };
    let Ok(length) = header("content-length").parse::<usize>() else {
        answer(&mut tls, 411, &json!({"error": "length required"}));
        return;
    };
    let mut body = data[head_end..].to_vec();
    while body.len() < length {
        match tls.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    body.truncate(length);

    // Check the request as a processor would: a fresh timestamp, then the
    // HMAC of "<timestamp>.<raw body>", compared in constant time.
    let timestamp = header("switchyard-timestamp");
    let signature = header("switchyard-signature");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let fresh = timestamp
        .parse::<u64>()
        .is_ok_and(|t| t.abs_diff(now) <= 300);
    let signed = signature
        .strip_prefix("v1=")
        .and_then(|hex| hex::decode(hex).ok())
        .is_some_and(|sig| {
            let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
            mac.update(timestamp.as_bytes());
            mac.update(b".");
            mac.update(&body);
            mac.verify_slice(&sig).is_ok()
        });
    let path = request_line
        .split(' ')
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    let received = Received {
        path: path.clone(),
        content_type: header("content-type"),
        timestamp,
        signature,
        body: String::from_utf8_lossy(&body).into_owned(),
        verified: fresh && signed,
    };
    let count = {
        let mut log = log.lock().unwrap();
        log.push(received);
        log.len()
    };

    if !request_line.starts_with("POST ") || path != "/tokenize" {
        return answer(&mut tls, 404, &json!({"error": "no such endpoint"}));
    }
    if !fresh {
        return answer(&mut tls, 401, &json!({"error": "stale timestamp"}));
    }
    if !signed {
        return answer(&mut tls, 401, &json!({"error": "bad signature"}));
    }
    let Ok(card) = serde_json::from_slice::<Value>(&body) else {
        return answer(&mut tls, 400, &json!({"error": "not JSON"}));
    };
    let number = card["number"].as_str().unwrap_or_default();
    let cvv = card["cvv"].as_str().unwrap_or_default();
    if number == DECLINED {
        // A careless processor that echoes the card in its reason.
        return answer(
            &mut tls,
            402,
            &json!({"error": format!("card {number} declined (cvv {cvv} checked)")}),
        );
    }
    let token = format!("tok_proc_{count:04}");
    if number.starts_with('5') {
        // Only the token: last4 and brand come from the sealed card.
        return answer(&mut tls, 201, &json!({"token": token}));
    }
    answer(
        &mut tls,
        200,
        &json!({"token": token, "last4": &number[number.len() - 4..], "brand": "Visa"}),
    );
}

fn answer(tls: &mut StreamOwned<ServerConnection, TcpStream>, status: u16, body: &Value) {
    let body = body.to_string();
    let reason = match status {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        404 => "Not Found",
        _ => "Length Required",
    };
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tls.write_all(response.as_bytes()).ok();
    tls.conn.send_close_notify();
    tls.flush().ok();
}

/// A card sealed by the runtime's collector, as in a call.
fn sealed(fields: &[CaptureField], keys: &[&str]) -> SealedCard {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let (mut collector, _) = SecureCollector::new(fields, now_ms, "en-US");
    for (k, entry) in keys.iter().enumerate() {
        match collector.keys(&format!("{entry}#")) {
            CollectStep::Done(Ok(card)) if k + 1 == keys.len() => return card,
            CollectStep::Prompt(_) if k + 1 < keys.len() => {}
            other => panic!("entry {k}: {other:?}"),
        }
    }
    panic!("the collector wanted more")
}

fn tokenizer(processor: &Processor, secret: &str) -> HttpsTokenizer {
    HttpsTokenizer::new(TokenizerOptions {
        ca_pem: Some(processor.ca_pem.clone().into_bytes()),
        ..TokenizerOptions::new(processor.url(), secret.as_bytes().to_vec())
    })
    .unwrap()
}

/// What the processor received is what we computed independently.
fn assert_signed(request: &Received) {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{}.{}", request.timestamp, request.body).as_bytes());
    let expected = format!("v1={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(request.signature, expected);
    assert!(request.verified, "{request:?}");
    assert_eq!(request.content_type, "application/json");
    assert_eq!(request.path, "/tokenize");
}

#[test]
fn a_sealed_card_is_tokenized_by_the_processor_over_signed_https() {
    let processor = Processor::start(SECRET);
    let tokenizer = tokenizer(&processor, SECRET);
    let card = sealed(&CaptureField::ALL, &["4111111111111111", "1230", "737"]);
    let token = tokenizer.tokenize(&card).unwrap();
    assert_eq!(token.token, "tok_proc_0001");
    assert_eq!(token.last4, "1111");
    assert_eq!(token.brand, "Visa", "the processor's brand wins");

    let received = processor.received();
    assert_eq!(received.len(), 1);
    assert_signed(&received[0]);
    assert_eq!(
        received[0].body,
        r#"{"number":"4111111111111111","expiry":"1230","cvv":"737"}"#
    );

    // A processor that answers only the token: last4 and brand are the card's.
    let card = sealed(&CaptureField::ALL, &["5555555555554444", "0131", "123"]);
    let token = tokenizer.tokenize(&card).unwrap();
    assert_eq!(
        (
            token.token.as_str(),
            token.last4.as_str(),
            token.brand.as_str()
        ),
        ("tok_proc_0002", "4444", "mastercard")
    );
}

#[test]
fn a_capture_without_cvv_sends_no_cvv() {
    let processor = Processor::start(SECRET);
    let card = sealed(
        &[CaptureField::Number, CaptureField::Expiry],
        &["4111111111111111", "1230"],
    );
    tokenizer(&processor, SECRET).tokenize(&card).unwrap();
    let received = processor.received();
    assert_signed(&received[0]);
    assert_eq!(
        received[0].body,
        r#"{"number":"4111111111111111","expiry":"1230"}"#
    );
}

#[test]
fn a_wrong_secret_is_refused_by_the_processor_and_the_error_holds_no_digits() {
    let processor = Processor::start(SECRET);
    let card = sealed(&CaptureField::ALL, &["4111111111111111", "1230", "737"]);
    let error = tokenizer(&processor, "not-the-secret")
        .tokenize(&card)
        .unwrap_err();
    assert_eq!(error, "processor answered 401: bad signature");
    assert!(
        !error
            .replace("401", "")
            .contains(|c: char| c.is_ascii_digit()),
        "{error}"
    );
    let received = processor.received();
    assert_eq!(received.len(), 1);
    assert!(!received[0].verified, "the processor checked the signature");
}

#[test]
fn a_declined_card_is_an_error_without_the_processors_echo_of_the_card() {
    let processor = Processor::start(SECRET);
    let card = sealed(&CaptureField::ALL, &[DECLINED, "1230", "737"]);
    let error = tokenizer(&processor, SECRET).tokenize(&card).unwrap_err();
    assert_eq!(
        error,
        "processor answered 402: card [redacted] declined (cvv [redacted] checked)"
    );
    assert!(
        !error
            .replace("402", "")
            .contains(|c: char| c.is_ascii_digit()),
        "{error}"
    );
    // The processor did get the card, correctly signed.
    let received = processor.received();
    assert_signed(&received[0]);
    assert!(received[0].body.contains(DECLINED));
}

#[test]
fn plain_http_is_refused_and_an_untrusted_certificate_gets_no_card() {
    for url in [
        "http://processor.example/tokenize",
        "http://127.0.0.1:8443/tokenize",
    ] {
        let error = HttpsTokenizer::new(TokenizerOptions::new(url, SECRET)).unwrap_err();
        assert!(error.contains("https://"), "{error}");
    }
    let loopback = TokenizerOptions {
        allow_plain_loopback: true,
        ..TokenizerOptions::new("http://127.0.0.1:8443/tokenize", SECRET)
    };
    assert!(HttpsTokenizer::new(loopback).is_ok(), "development only");
    let elsewhere = TokenizerOptions {
        allow_plain_loopback: true,
        ..TokenizerOptions::new("http://processor.example/tokenize", SECRET)
    };
    assert!(HttpsTokenizer::new(elsewhere).is_err());

    // Without the private CA the public roots do not trust the processor:
    // the handshake fails before a byte of the card is sent.
    let processor = Processor::start(SECRET);
    let public_roots = HttpsTokenizer::new(TokenizerOptions::new(processor.url(), SECRET)).unwrap();
    let card = sealed(&CaptureField::ALL, &["4111111111111111", "1230", "737"]);
    let error = public_roots.tokenize(&card).unwrap_err();
    assert!(error.starts_with("processor unreachable: "), "{error}");
    assert!(!error.contains("4111111111111111"), "{error}");
    assert!(processor.received().is_empty());
}

#[test]
fn switchyard_call_pays_through_the_processor_and_no_sink_holds_the_card() {
    let processor = Processor::start(SECRET);
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    std::fs::write(path("secret"), format!("{SECRET}\n")).unwrap();
    std::fs::write(path("ca.pem"), &processor.ca_pem).unwrap();
    // Consent by keypress, choose "pay", then the card, expiry and CVV.
    let keys = "1\n1\n4111111111111111#\n1230#\n737#\n";
    let url = processor.url();
    let out = switchyard_with_stdin(
        &[
            "call",
            "flows/compliance/payment.json",
            "--from",
            "+14155550100",
            "--to",
            "+18005550199",
            "--tokenizer-url",
            &url,
            "--tokenizer-secret-file",
            &path("secret"),
            "--tokenizer-ca",
            &path("ca.pem"),
            "--log",
            &path("call.jsonl"),
            "--evidence",
            &path("call.evidence.json"),
            "--evidence-key",
            &path("keys/evidence.key"),
        ],
        keys,
    );
    let said = stdout(&out);
    let errors = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{said}\n{errors}");
    assert!(
        said.contains("Thank you, your card ending in 1111 was accepted."),
        "{said}\n{errors}"
    );
    let log = std::fs::read_to_string(path("call.jsonl")).unwrap();
    assert!(
        log.contains("tok_proc_0001"),
        "the processor's token: {log}"
    );
    let evidence = std::fs::read_to_string(path("call.evidence.json")).unwrap();
    for (sink, text) in [
        ("stdout", &said),
        ("stderr", &errors),
        ("event log", &log),
        ("evidence", &evidence),
    ] {
        assert!(!text.contains("4111111111111111"), "card number in {sink}");
        assert!(!text.contains("\"737\""), "CVV in {sink}");
        assert!(!text.contains("737#"), "CVV keys in {sink}");
        assert!(!text.contains("1230#"), "expiry keys in {sink}");
        assert!(!text.contains(SECRET), "secret in {sink}");
    }

    let received = processor.received();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_signed(&received[0]);
    assert_eq!(
        received[0].body,
        r#"{"number":"4111111111111111","expiry":"1230","cvv":"737"}"#
    );
}

#[test]
fn switchyard_call_needs_a_readable_secret_before_the_call_starts() {
    let url = "https://127.0.0.1:9/tokenize";
    let out = switchyard_with_stdin(
        &[
            "call",
            "flows/compliance/payment.json",
            "--tokenizer-url",
            url,
        ],
        "1\n",
    );
    let errors = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success());
    assert!(errors.contains("--tokenizer-secret-file"), "{errors}");
    assert!(!stdout(&out).contains("agent:"), "the call did not start");

    let missing = tempfile::tempdir().unwrap().path().join("no-such-secret");
    let out = switchyard_with_stdin(
        &[
            "call",
            "flows/compliance/payment.json",
            "--tokenizer-url",
            url,
            "--tokenizer-secret-file",
            missing.to_str().unwrap(),
        ],
        "1\n",
    );
    let errors = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{errors}");
    assert!(errors.contains("tokenizer secret"), "{errors}");
    assert!(errors.contains("no-such-secret"), "{errors}");
    assert!(!stdout(&out).contains("agent:"), "the call did not start");

    let out = switchyard_with_stdin(
        &[
            "call",
            "flows/compliance/payment.json",
            "--tokenizer-url",
            "http://processor.example/tokenize",
            "--tokenizer-secret-file",
            "Cargo.toml",
        ],
        "1\n",
    );
    let errors = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{errors}");
    assert!(errors.contains("https://"), "{errors}");
}
