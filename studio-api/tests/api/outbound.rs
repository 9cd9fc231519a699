//! Outbound calls (`POST /v1/calls/outbound`) to real SIP peers: SIPp
//! (Debian's `sip-tester`) answers as the callee and plays audio the test
//! wrote into a pcap (espeak-ng's voice, a 1 kHz beep), so
//! answering-machine detection hears a person or a voicemail greeting.
//! The callee's RTP port belongs to the test, which records what the
//! server says and finds the flow's words in it by their energy envelope.
//! Also: a call the calling-hours guard refuses, and one nobody answers.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use switchyard_media::g711;
use switchyard_media::rtp::RtpPacket;

use crate::both;
use crate::support::{Backend, TestServer, error_code};

const FLOW: &str = "reminder-call";
const REMINDER: &str =
    "Hello, this is Bright Smile Dental with a reminder of your appointment on Tuesday at 3 PM.";
const MENU: &str = "Press 1 to confirm, or 2 to reschedule.";
const CONFIRMED: &str = "Thank you, your appointment is confirmed. Goodbye.";
const VOICEMAIL: &str = "Hello, this is Bright Smile Dental with a reminder of your appointment \
     on Tuesday at 3 PM. Please call us back if you need to reschedule. Goodbye.";
const MACHINE_GREETING: &str = "Hi, you have reached Alex Parker. I cannot take your call right \
     now. Please leave your name, your number and a short message after the tone.";

/// Publishes the example reminder flow for the server's admin tenant.
async fn publish_reminder(server: &TestServer) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../flows/examples")
        .join(format!("{FLOW}.json"));
    let flow: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let (status, body) = server.post("/v1/flows", &server.admin, flow).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = server
        .post(
            &format!("/v1/flows/{FLOW}/versions"),
            &server.admin,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

fn scenario(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/sip")
        .join(name)
}

fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// SIPp as the callee, listening on its own port, in `dir` (which holds
/// the scenario's `greeting.pcap` and a `pcap` link to SIPp's pcaps).
struct Callee {
    address: SocketAddr,
    run: tokio::task::JoinHandle<std::process::Output>,
}

impl Callee {
    fn start(dir: &Path, scenario_file: &str, args: &[&str]) -> Self {
        Self::start_on(free_port(), dir, scenario_file, args)
    }

    fn start_on(port: u16, dir: &Path, scenario_file: &str, args: &[&str]) -> Self {
        let mut command = tokio::process::Command::new("sipp");
        command
            .current_dir(dir)
            .arg("-sf")
            .arg(scenario(scenario_file))
            .args(["-m", "1", "-i", "127.0.0.1", "-nostdin"])
            .args(["-p", &port.to_string(), "-mp", &free_port().to_string()])
            .args(["-timeout", "60s", "-timeout_error"])
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let child = command
            .spawn()
            .expect("sipp runs (apt-get install sip-tester)");
        let run = tokio::spawn(async move {
            tokio::time::timeout(Duration::from_secs(90), child.wait_with_output())
                .await
                .expect("SIPp finishes")
                .unwrap()
        });
        Self {
            address: SocketAddr::from(([127, 0, 0, 1], port)),
            run,
        }
    }

    /// `sip:USER@host:port` of the callee.
    fn uri(&self, user: &str) -> String {
        format!("sip:{user}@{}", self.address)
    }

    /// Waits for SIPp to finish its one call; it must have passed.
    async fn passed(self) {
        let output = self.run.await.unwrap();
        assert!(
            output.status.success(),
            "SIPp: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// A working directory for SIPp with `greeting.pcap` holding `pcm` (8 kHz).
fn sipp_dir(pcm: &[i16]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("/usr/share/sip-tester", dir.path().join("pcap")).unwrap();
    std::fs::write(dir.path().join("greeting.pcap"), pcap_of(pcm)).unwrap();
    dir
}

/// A libpcap file (Ethernet, IPv4, UDP) of RTP packets carrying `pcm` as
/// 20 ms of PCMU each, timestamped 20 ms apart, as SIPp's
/// `play_pcap_audio` replays them (it rewrites addresses and ports).
fn pcap_of(pcm: &[i16]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65_535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes()); // LINKTYPE_ETHERNET
    for (n, chunk) in pcm.chunks(160).enumerate() {
        let mut payload = [g711::ulaw_encode(0); 160];
        for (byte, sample) in payload.iter_mut().zip(chunk) {
            *byte = g711::ulaw_encode(*sample);
        }
        let mut rtp = vec![0x80, if n == 0 { 0x80 } else { 0x00 }];
        rtp.extend_from_slice(&(1000u16.wrapping_add(n as u16)).to_be_bytes());
        rtp.extend_from_slice(&(160 * n as u32).to_be_bytes());
        rtp.extend_from_slice(&0x5157_4954u32.to_be_bytes());
        rtp.extend_from_slice(&payload);
        let udp_len = 8 + rtp.len();
        let ip_len = 20 + udp_len;
        let mut frame = Vec::with_capacity(14 + ip_len);
        frame.extend_from_slice(&[0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1, 0x08, 0x00]);
        let mut ip = vec![0x45, 0];
        ip.extend_from_slice(&(ip_len as u16).to_be_bytes());
        ip.extend_from_slice(&[0, 0, 0, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1]);
        let mut sum: u32 = ip
            .chunks(2)
            .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
            .sum();
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        let checksum = !(sum as u16);
        ip[10..12].copy_from_slice(&checksum.to_be_bytes());
        frame.extend_from_slice(&ip);
        frame.extend_from_slice(&6000u16.to_be_bytes());
        frame.extend_from_slice(&6000u16.to_be_bytes());
        frame.extend_from_slice(&(udp_len as u16).to_be_bytes());
        frame.extend_from_slice(&[0, 0]);
        frame.extend_from_slice(&rtp);
        let micros = n as u64 * 20_000;
        out.extend_from_slice(&((micros / 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&((micros % 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&frame);
    }
    out
}

/// espeak-ng's rendering of `text`, 8 kHz.
async fn rendering(text: &str) -> Vec<i16> {
    use switchyard_speech::Tts;
    switchyard_speech::tts::Espeak::default()
        .synthesize(text, "en-US")
        .await
        .unwrap()
        .to_vec()
}

fn silence(ms: usize) -> Vec<i16> {
    vec![0; ms * 8]
}

/// A recorder's beep: 1 kHz at about −12 dBFS.
fn beep(ms: usize) -> Vec<i16> {
    (0..ms * 8)
        .map(|n| (8_000.0 * (std::f64::consts::TAU * 1_000.0 * n as f64 / 8_000.0).sin()) as i16)
        .collect()
}

/// Everything the server sent to `socket` as PCM in sequence order (one
/// packet every 20 ms from the answer on, silence included, so a sample's
/// index is its time), until `quiet` passes with nothing arriving.
async fn record(socket: tokio::net::UdpSocket, quiet: Duration) -> Vec<i16> {
    let mut packets: Vec<(u16, Vec<u8>)> = Vec::new();
    let mut buffer = [0u8; 2048];
    let mut limit = Duration::from_secs(30);
    while let Ok(Ok(n)) = tokio::time::timeout(limit, socket.recv(&mut buffer)).await {
        limit = quiet;
        if let Ok(packet) = RtpPacket::parse(&buffer[..n])
            && packet.payload_type == 0
        {
            packets.push((packet.sequence, packet.payload.to_vec()));
        }
    }
    let first = packets.first().map(|p| p.0).unwrap_or(0);
    packets.sort_by_key(|p| p.0.wrapping_sub(first));
    packets
        .iter()
        .flat_map(|(_, payload)| payload.iter().map(|&b| g711::ulaw_decode(b)))
        .collect()
}

/// Energy per 20 ms window, normalised to its peak.
fn envelope(pcm: &[i16]) -> Vec<f64> {
    let energy: Vec<f64> = pcm
        .chunks(160)
        .map(|c| c.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() / c.len() as f64)
        .collect();
    let peak = energy.iter().cloned().fold(1.0, f64::max);
    energy.iter().map(|e| e / peak).collect()
}

/// Pearson correlation of two envelopes over their common length.
fn correlation(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mean = |x: &[f64]| x.iter().sum::<f64>() / n as f64;
    let (ma, mb) = (mean(a), mean(b));
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va.sqrt() * vb.sqrt())
}

/// The best correlation of `words`' envelope anywhere in `heard`, and
/// where it starts, in milliseconds.
fn find(heard: &[i16], words: &[i16]) -> (f64, usize) {
    let (heard, words) = (envelope(heard), envelope(words));
    let (r, at) = (0..heard.len().saturating_sub(words.len()).max(1))
        .map(|at| (correlation(&heard[at..], &words), at))
        .fold(
            (f64::MIN, 0),
            |best, next| if next.0 > best.0 { next } else { best },
        );
    (r, at * 20)
}

/// Milliseconds into `heard` of the first 20 ms that is not silence.
fn first_sound_ms(heard: &[i16]) -> Option<usize> {
    heard
        .chunks(160)
        .position(|c| {
            c.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() / c.len() as f64 > 200.0 * 200.0
        })
        .map(|window| window * 20)
}

/// Polls the call until it has ended; returns its metadata.
async fn ended(server: &TestServer, id: &str) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (status, call) = server.get(&format!("/v1/calls/{id}"), &server.admin).await;
        assert_eq!(status, StatusCode::OK, "{call}");
        if call["status"] == "ended" {
            return call;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the call ends: {call}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn transcript(server: &TestServer, id: &str) -> Vec<String> {
    let (status, body) = server
        .get(&format!("/v1/calls/{id}/transcript"), &server.admin)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    serde_json::from_value(body["lines"].clone()).unwrap()
}

/// The call variables the event log started the session with.
async fn started_vars(server: &TestServer, id: &str) -> Value {
    let (status, events) = server
        .get(&format!("/v1/calls/{id}/events"), &server.admin)
        .await;
    assert_eq!(status, StatusCode::OK, "{events}");
    assert_eq!(events[0]["type"], "started", "{events}");
    events[0]["call"]["vars"].clone()
}

/// A webhook for the call events; nothing receives them, but the
/// delivery log keeps each payload.
async fn subscribe(server: &TestServer) -> String {
    let (status, hook) = server
        .post(
            "/v1/webhooks",
            &server.admin,
            json!({"url": "https://hooks.example.invalid/calls",
                   "events": ["call.started", "call.ended"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    hook["id"].as_str().unwrap().to_owned()
}

/// The payload of each queued `event` of the webhook, oldest first.
async fn payloads(server: &TestServer, webhook: &str, event: &str) -> Vec<Value> {
    let (status, log) = server
        .get(&format!("/v1/webhooks/{webhook}/deliveries"), &server.admin)
        .await;
    assert_eq!(status, StatusCode::OK, "{log}");
    let mut found: Vec<Value> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["event"] == event)
        .map(|d| d["payload"]["data"].clone())
        .collect();
    found.reverse();
    found
}

async fn place(server: &TestServer, to: &str, extra: Value) -> (StatusCode, Value) {
    let mut body = json!({"to": to, "from": "+18005550100", "flow": FLOW});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    server.post("/v1/calls/outbound", &server.admin, body).await
}

both!(an_answering_machine_gets_the_message_after_its_beep);
async fn an_answering_machine_gets_the_message_after_its_beep(backend: Backend) {
    let server = TestServer::start(backend).await;
    publish_reminder(&server).await;
    let webhook = subscribe(&server).await;
    // The voicemail: a long greeting, a pause, the beep, then it records.
    let greeting = rendering(MACHINE_GREETING).await;
    let mut audio = greeting.clone();
    audio.extend(silence(400));
    audio.extend(beep(500));
    let beep_ends_ms = audio.len() / 8;
    audio.extend(silence(2_000));
    let dir = sipp_dir(&audio);

    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let rtp_port = socket.local_addr().unwrap().port().to_string();
    let recording = tokio::spawn(record(socket, Duration::from_millis(1500)));
    let callee = Callee::start(
        dir.path(),
        "uas_answer_greeting.xml",
        &["-key", "rtp_port", &rtp_port],
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, placed) = place(&server, &callee.uri("voicemail"), json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{placed}");
    assert_eq!(placed["status"], "dialling", "{placed}");
    assert_eq!(placed["flow"], FLOW, "{placed}");
    let id = placed["id"].as_str().unwrap().to_owned();
    // The row is there from the start, live while it rings and listens.
    let (status, call) = server.get(&format!("/v1/calls/{id}"), &server.admin).await;
    assert_eq!(status, StatusCode::OK, "{call}");
    assert_eq!(call["channel"], "sip", "{call}");

    callee.passed().await;
    let heard = recording.await.unwrap();
    let call = ended(&server, &id).await;
    assert_eq!(call["outcome"], "completed", "{call}");

    // The flow took the machine branch: the voicemail message, no menu.
    assert_eq!(started_vars(&server, &id).await["answered_by"], "machine");
    let lines = transcript(&server, &id).await;
    assert!(
        lines[0].starts_with("[answering-machine detection: machine")
            && lines[0].contains("; beep of "),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("Please call us back")),
        "{lines:?}"
    );
    assert!(!lines.iter().any(|l| l.contains("Press 1")), "{lines:?}");

    // Nothing was said before the beep ended; then the message, whole.
    let first = first_sound_ms(&heard).expect("the message was heard");
    assert!(
        first >= beep_ends_ms,
        "our first sound at {first} ms, the beep ended at {beep_ends_ms} ms"
    );
    let (r, at) = find(&heard, &rendering(VOICEMAIL).await);
    assert!(r > 0.9, "the voicemail message was played (r = {r:.3})");
    assert!(
        at >= beep_ends_ms,
        "the message starts at {at} ms, after the beep ({beep_ends_ms} ms)"
    );
    assert!(
        at < beep_ends_ms + 2_000,
        "and soon after it ({at} ms, beep {beep_ends_ms} ms)"
    );
    // The webhooks say which way the call went.
    let started = payloads(&server, &webhook, "call.started").await;
    assert_eq!(started.len(), 1, "{started:?}");
    assert_eq!(started[0]["call_id"], id.as_str());
    assert_eq!(started[0]["direction"], "outbound", "{started:?}");
    assert_eq!(started[0]["channel"], "sip", "{started:?}");
    let ended = payloads(&server, &webhook, "call.ended").await;
    assert_eq!(ended[0]["outcome"], "completed", "{ended:?}");

    assert_eq!(server.state().calls.count(), 0);
    assert_eq!(server.state().placing.count(), 0);
    server.stop().await;
}

both!(a_person_hears_the_reminder_and_confirms_with_a_key);
async fn a_person_hears_the_reminder_and_confirms_with_a_key(backend: Backend) {
    let server = TestServer::start(backend).await;
    publish_reminder(&server).await;
    // A person: "Hello?", then waits for us to speak.
    let hello = rendering("Hello?").await;
    let mut audio = hello.clone();
    audio.extend(silence(3_000));
    let dir = sipp_dir(&audio);
    // The key comes in the menu's wait: after the hello, the detector's
    // 800 ms of silence, the reminder and the menu prompt, with room to
    // spare either side (the menu waits 6 s).
    let reminder = rendering(REMINDER).await;
    let menu = rendering(MENU).await;
    let key_at_ms = (hello.len() + reminder.len() + menu.len()) / 8 + 2_500;

    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let rtp_port = socket.local_addr().unwrap().port().to_string();
    let recording = tokio::spawn(record(socket, Duration::from_millis(1500)));
    let callee = Callee::start(
        dir.path(),
        "uas_answer_key.xml",
        &["-key", "rtp_port", &rtp_port, "-d", &key_at_ms.to_string()],
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, placed) = place(
        &server,
        &callee.uri("alex"),
        json!({"environment": "production"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{placed}");
    let id = placed["id"].as_str().unwrap().to_owned();

    callee.passed().await;
    let heard = recording.await.unwrap();
    let call = ended(&server, &id).await;
    assert_eq!(call["outcome"], "completed", "{call}");

    assert_eq!(started_vars(&server, &id).await["answered_by"], "human");
    let lines = transcript(&server, &id).await;
    assert!(
        lines[0].starts_with("[answering-machine detection: human"),
        "{lines:?}"
    );
    let position = |text: &str| {
        lines
            .iter()
            .position(|l| l.contains(text))
            .unwrap_or_else(|| panic!("`{text}` in {lines:?}"))
    };
    assert!(position("with a reminder") < position("Press 1 to confirm"));
    assert!(position("Press 1 to confirm") < position("caller: 1"));
    assert!(position("caller: 1") < position("is confirmed"));
    assert!(
        !lines.iter().any(|l| l.contains("call us back")),
        "{lines:?}"
    );

    // The reminder started right after the hello and the detector's
    // silence (no beep was waited for), and the confirmation came after
    // the key.
    let (r, at) = find(&heard, &reminder);
    assert!(r > 0.9, "the reminder was played (r = {r:.3})");
    assert!(
        at < hello.len() / 8 + 2_000,
        "the reminder starts at {at} ms, soon after the hello ({} ms): {}",
        hello.len() / 8,
        lines[0]
    );
    let (r, at) = find(&heard, &rendering(CONFIRMED).await);
    assert!(r > 0.9, "the confirmation was played (r = {r:.3})");
    // Within one 20 ms frame: the correlation places a prompt to a few
    // milliseconds, and the key's time is taken at the sender.
    assert!(
        at + 20 >= key_at_ms,
        "after the key ({at} ms, key at {key_at_ms} ms)"
    );
    assert_eq!(server.state().calls.count(), 0);
    server.stop().await;
}

/// A US number whose local time is outside TCPA's 08:00–21:00 now and for
/// the next few minutes (New York, Honolulu or India under TRAI's rule:
/// one of them always is), with its rule.
fn number_outside_calling_hours() -> (&'static str, String) {
    use switchyard_runtime::policy::outbound::{
        DoNotCallList, OutboundRequest, Refusal, check_outbound,
    };
    // In the order the test enables them: when two templates both refuse
    // (an Indian number late at night, from a US caller ID), the first
    // one's rule is cited.
    let templates = vec!["in-dpdp-trai".to_owned(), "us-federal".to_owned()];
    let list = DoNotCallList::new("US").unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    for number in ["+12125550123", "+18085550123", "+919876543210"] {
        let outside = |at_ms| {
            let request = OutboundRequest {
                from: "+18005550100",
                to: number,
                at_ms,
                templates: &templates,
            };
            match check_outbound(&request, &list) {
                Err(Refusal::OutsideHours { rule, .. }) => Some(rule),
                _ => None,
            }
        };
        if let (Some(rule), Some(_)) = (outside(now), outside(now + 5 * 60_000)) {
            return (number, rule);
        }
    }
    panic!("one of New York, Honolulu and India is outside its calling hours at any time");
}

both!(the_calling_hours_guard_refuses_a_call_and_names_the_rule);
async fn the_calling_hours_guard_refuses_a_call_and_names_the_rule(backend: Backend) {
    // Nothing listens at the proxy: a refused call is never dialled.
    let server = TestServer::start_with(backend, |o| {
        o.sip_outbound_proxy = Some("127.0.0.1:9".into())
    })
    .await;
    publish_reminder(&server).await;
    // Templates bind publishes made after them: the flow is published first.
    let (status, body) = server
        .put(
            "/v1/tenant/templates",
            &server.admin,
            json!({"templates": ["in-dpdp-trai", "us-federal"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (number, rule) = number_outside_calling_hours();
    let (status, body) = place(&server, number, json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(error_code(&body), "outbound-refused");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(&rule), "the rule is named: {message}");
    assert!(message.contains("outside the calling hours"), "{message}");
    assert_eq!(body["error"]["details"]["rule"], rule.as_str(), "{body}");
    assert_eq!(
        body["error"]["details"]["refusal"]["kind"], "outside-hours",
        "{body}"
    );

    // A SIP URI gives no local time, and a calling-hours rule may bind
    // the callee: refused too, with the same rule.
    let (status, body) = place(&server, "sip:someone@127.0.0.1:9", json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(
        body["error"]["details"]["refusal"]["kind"], "unknown-local-time",
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("47 CFR §64.1200(c)(1)"),
        "{body}"
    );

    // Nothing was placed; the refusals are in the audit log.
    let (_, calls) = server.get("/v1/calls", &server.admin).await;
    assert_eq!(calls, json!([]), "{calls}");
    let (_, audit) = server.get("/v1/audit", &server.admin).await;
    let refusals: Vec<&Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "call.outbound_refused")
        .collect();
    assert_eq!(refusals.len(), 2, "{audit}");
    assert!(
        refusals
            .iter()
            .all(|e| e["target"] == format!("flow:{FLOW}"))
    );

    // Before the guard: the flow must be the tenant's, `to` an address.
    let (status, body) = server
        .post(
            "/v1/calls/outbound",
            &server.admin,
            json!({"to": number, "from": "+18005550100", "flow": "no-such-flow"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["pointer"], "/flow", "{body}");
    let (status, body) = place(&server, "not a number", json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["pointer"], "/to", "{body}");
    let (status, body) = place(&server, number, json!({"ring_timeout_s": 0})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let key = server.key(&["calls:read"]).await;
    let (status, body) = server
        .post(
            "/v1/calls/outbound",
            &key,
            json!({"to": number, "from": "+18005550100", "flow": FLOW}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(error_code(&body), "forbidden");
    server.stop().await;
}

both!(a_call_nobody_answers_is_written_as_no_answer);
async fn a_call_nobody_answers_is_written_as_no_answer(backend: Backend) {
    // The callee is a number, dialled through the trunk (SIPp).
    let trunk_port = free_port();
    let server = TestServer::start_with(backend, |o| {
        o.sip_outbound_proxy = Some(format!("127.0.0.1:{trunk_port}"))
    })
    .await;
    publish_reminder(&server).await;
    let webhook = subscribe(&server).await;
    let dir = tempfile::tempdir().unwrap();
    // Rings and never answers: our CANCEL after the ring timeout, its 487.
    let callee = Callee::start_on(trunk_port, dir.path(), "uas_no_answer.xml", &[]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, placed) = place(&server, "+1 415 555 0123", json!({"ring_timeout_s": 2})).await;
    assert_eq!(status, StatusCode::CREATED, "{placed}");
    let id = placed["id"].as_str().unwrap().to_owned();
    callee.passed().await;
    let call = ended(&server, &id).await;
    assert_eq!(call["outcome"], "no-answer", "{call}");
    assert_eq!(call["flow"], FLOW, "{call}");
    assert_eq!(
        transcript(&server, &id).await,
        ["[outbound call no-answer: nobody answered]"]
    );
    let (status, events) = server
        .get(&format!("/v1/calls/{id}/events"), &server.admin)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(events, json!([]), "the flow never ran");
    let (status, evidence) = server
        .get(&format!("/v1/calls/{id}/evidence"), &server.admin)
        .await;
    assert_eq!(status, StatusCode::OK, "{evidence}");
    assert!(
        evidence
            .to_string()
            .contains("outbound call not connected (no-answer)"),
        "{evidence}"
    );
    let ended = payloads(&server, &webhook, "call.ended").await;
    assert_eq!(ended.len(), 1, "{ended:?}");
    assert_eq!(ended[0]["call_id"], id.as_str());
    assert_eq!(ended[0]["outcome"], "no-answer", "{ended:?}");
    assert!(payloads(&server, &webhook, "call.started").await.is_empty());
    let (_, call) = server.get(&format!("/v1/calls/{id}"), &server.admin).await;
    assert_eq!(call["to"], "+14155550123", "kept without spacing: {call}");
    assert_eq!(server.state().placing.count(), 0);
    server.stop().await;
}
