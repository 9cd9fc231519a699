//! SIP calls into `switchyard serve`, from SIPp (Debian's `sip-tester`):
//! the caller's RTP port belongs to the test, which records what the
//! server sends and compares it with espeak-ng's rendering of the flow's
//! words; SIPp presses keys with RFC 4733 and the flow takes the branch.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::StatusCode;
use switchyard_media::g711;
use switchyard_media::rtp::RtpPacket;

use crate::media_stream::{GREETING, NUMBER, envelope, find, rendering, set_up};
use crate::support::{Backend, TestServer};

fn scenario(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/sip")
        .join(name)
}

/// A free UDP port pair base for SIPp's own signalling and media.
fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs SIPp once against `target`, in a directory with SIPp's pcaps.
async fn sipp(target: SocketAddr, scenario_file: &str, args: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("/usr/share/sip-tester", dir.path().join("pcap")).unwrap();
    let mut command = tokio::process::Command::new("sipp");
    command
        .current_dir(dir.path())
        .arg("-sf")
        .arg(scenario(scenario_file))
        .args(["-s", NUMBER, "-m", "1", "-i", "127.0.0.1", "-nostdin"])
        .args([
            "-p",
            &free_port().to_string(),
            "-mp",
            &free_port().to_string(),
        ])
        .args(["-timeout", "60s", "-timeout_error"])
        .args(args)
        .arg(target.to_string());
    tokio::time::timeout(Duration::from_secs(90), command.output())
        .await
        .expect("SIPp finishes")
        .expect("sipp runs (apt-get install sip-tester)")
}

/// Everything the server sent to `socket`, as PCM in sequence order,
/// until `for_how_long` passes with nothing arriving.
async fn record(socket: tokio::net::UdpSocket, quiet: Duration) -> Vec<i16> {
    let mut packets: Vec<(u16, Vec<u8>)> = Vec::new();
    let mut buffer = [0u8; 2048];
    // Wait for the first packet as long as the call takes to set up.
    let mut limit = Duration::from_secs(30);
    while let Ok(Ok(n)) = tokio::time::timeout(limit, socket.recv(&mut buffer)).await {
        limit = quiet;
        if let Ok(packet) = RtpPacket::parse(&buffer[..n])
            && packet.payload_type == 0
        {
            packets.push((packet.sequence, packet.payload.to_vec()));
        }
    }
    // Sequence numbers start anywhere and may wrap: order by distance
    // from the first.
    let first = packets.first().map(|p| p.0).unwrap_or(0);
    packets.sort_by_key(|p| p.0.wrapping_sub(first));
    packets
        .iter()
        .flat_map(|(_, payload)| payload.iter().map(|&b| g711::ulaw_decode(b)))
        .collect()
}

#[tokio::test]
async fn an_inbound_call_hears_the_greeting_and_a_key_takes_the_branch() {
    let server = TestServer::start(Backend::Sqlite).await;
    set_up(&server).await;
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let rtp_port = socket.local_addr().unwrap().port().to_string();
    let recording = tokio::spawn(record(socket, Duration::from_millis(1500)));
    // The key comes 4 s after the answer: during the menu prompt, which
    // allows barge-in.
    let output = sipp(
        server.sip_addr(),
        "uac_menu.xml",
        &["-key", "rtp_port", &rtp_port, "-d", "4000"],
    )
    .await;
    assert!(
        output.status.success(),
        "SIPp: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let heard = recording.await.unwrap();
    assert!(heard.len() > 8_000 * 4, "at least 4 s of RTP arrived");

    // The greeting is at the start of what we heard, and it is espeak's
    // rendering of the flow's words (by the shape of its energy).
    let greeting = envelope(&rendering(GREETING).await);
    let (r, at) = find(&envelope(&heard[..8_000 * 3]), &greeting);
    assert!(
        r > 0.9,
        "the greeting is in the first 3 s of RTP (r = {r:.3})"
    );
    // (How soon is a benchmark's business; a cold espeak-ng on a loaded
    // test machine takes most of a second.)
    assert!(
        at < 100,
        "and it starts within 2 s of the answer (window {at})"
    );

    // The key chose sales: its goodbye came after the key (4 s).
    let goodbye = envelope(&rendering("Sales it is. Goodbye.").await);
    let (r, at) = find(&envelope(&heard), &goodbye);
    assert!(r > 0.9, "the sales goodbye was played (r = {r:.3})");
    assert!(at * 20 >= 4_000, "after the key ({} ms)", at * 20);

    // The call is stored as a SIP call with the key in its transcript.
    let (status, calls) = server.get("/v1/calls", &server.admin).await;
    assert_eq!(status, StatusCode::OK);
    let call = &calls[0];
    assert_eq!(call["channel"], "sip", "{call}");
    let id = call["id"].as_str().unwrap();
    let (_, transcript) = server
        .get(&format!("/v1/calls/{id}/transcript"), &server.admin)
        .await;
    let lines: Vec<String> = serde_json::from_value(transcript["lines"].clone()).unwrap();
    assert!(lines.contains(&"caller: 1".to_owned()), "{lines:?}");
    assert!(lines.iter().any(|l| l.contains("Sales it is")), "{lines:?}");
    assert_eq!(server.state().calls.count(), 0, "no call is left live");
}

#[tokio::test]
async fn a_caller_who_hangs_up_mid_prompt_leaves_nothing_behind() {
    let server = TestServer::start(Backend::Sqlite).await;
    set_up(&server).await;
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let rtp_port = socket.local_addr().unwrap().port().to_string();
    let recording = tokio::spawn(record(socket, Duration::from_millis(1000)));
    // SIPp hangs up 2.5 s after the answer, in the middle of the menu.
    let output = sipp(
        server.sip_addr(),
        "uac_call.xml",
        &["-key", "rtp_port", &rtp_port, "-d", "2500"],
    )
    .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let heard = recording.await.unwrap();
    assert!(
        heard.len() < 8_000 * 4,
        "RTP stopped when the caller hung up"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, calls) = server.get("/v1/calls", &server.admin).await;
        if calls[0]["status"] == "ended" {
            assert_eq!(calls[0]["outcome"], "caller-hangup", "{calls}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the call is written: {calls}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(server.state().calls.count(), 0);
}

#[tokio::test]
async fn a_number_nobody_routes_gets_404() {
    let server = TestServer::start_with(Backend::Sqlite, |_| {}).await;
    // The bootstrap tenant's catch-all route is removed: nothing routes.
    let (status, routes) = server.get("/v1/routes", &server.admin).await;
    assert_eq!(status, StatusCode::OK);
    for route in routes.as_array().unwrap() {
        let address = route["address"].as_str().unwrap();
        let (status, body) = server
            .delete(&format!("/v1/routes/{}", urlencode(address)), &server.admin)
            .await;
        assert!(status.is_success(), "{body}");
    }
    let output = sipp(server.sip_addr(), "uac_not_found.xml", &[]).await;
    assert!(
        output.status.success(),
        "SIPp expected 404: {}",
        String::from_utf8_lossy(&output.stdout)
    );
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn a_key_puts_the_caller_through_to_a_human() {
    let server = TestServer::start(Backend::Sqlite).await;
    // The "human": a second SIPp that answers and waits for the end.
    let human_port = free_port();
    let human = tokio::spawn(async move {
        let dir = tempfile::tempdir().unwrap();
        tokio::process::Command::new("sipp")
            .current_dir(dir.path())
            .arg("-sf")
            .arg(scenario("uas_target.xml"))
            .args(["-m", "1", "-i", "127.0.0.1", "-nostdin", "-timeout", "60s"])
            .args([
                "-p",
                &human_port.to_string(),
                "-mp",
                &free_port().to_string(),
            ])
            .output()
            .await
            .expect("sipp runs")
    });
    let key = &server.admin;
    let flow = serde_json::json!({
        "flow": "switchyard/v1",
        "name": "front-desk",
        "locale": "en-US",
        "entry": "menu",
        "nodes": {
            "menu": {
                "use": "menu@1",
                "with": {"prompt": "For a person, press 1.", "options": {"1": ["person"]}, "timeout_ms": 8000},
                "on": {"1": "person", "timeout": "bye", "invalid": "bye"}
            },
            "person": {
                "use": "transfer@1",
                "with": {"to": format!("sip:human@127.0.0.1:{human_port}")},
                "on": {"transferred": "done", "failed": "bye"}
            },
            "done": {"use": "hangup@1"},
            "bye": {"use": "hangup@1", "with": {"text": "Goodbye."}}
        }
    });
    let (status, body) = server.post("/v1/flows", key, flow).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = server
        .post("/v1/flows/front-desk/versions", key, serde_json::json!({}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = server
        .post(
            "/v1/routes",
            key,
            serde_json::json!({"address": NUMBER, "flow": "front-desk", "environment": "production"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The caller presses 1 (RFC 4733), 5 and # (relayed to the human once
    // bridged), then hangs up; SIPp's scenario has no REFER in `Allow`, so
    // the call is bridged to the human rather than referred.
    let output = sipp(server.sip_addr(), "uac_dtmf.xml", &[]).await;
    assert!(
        output.status.success(),
        "caller: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    let human = tokio::time::timeout(Duration::from_secs(60), human)
        .await
        .expect("the human's SIPp ends")
        .unwrap();
    assert!(
        human.status.success(),
        "the human was called, answered, and got the caller's hang-up: {}",
        String::from_utf8_lossy(&human.stdout)
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let id = loop {
        let (_, calls) = server.get("/v1/calls", key).await;
        if calls[0]["status"] == "ended" {
            assert_eq!(calls[0]["outcome"], "transferred", "{calls}");
            break calls[0]["id"].as_str().unwrap().to_owned();
        }
        assert!(std::time::Instant::now() < deadline, "{calls}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let (_, transcript) = server.get(&format!("/v1/calls/{id}/transcript"), key).await;
    assert!(
        transcript
            .to_string()
            .contains("transfer sip:human@127.0.0.1"),
        "{transcript}"
    );
}
