//! Garbage on the SIP and RTP ports must not panic anything, and a good
//! call still works afterwards.

use std::time::Duration;

use switchyard_media::leg::{LegCommand, LegEvent};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UdpSocket};

use crate::support::{Sipp, TestServer, free_ports, next_event, tone, until_hangup};

/// A deterministic pseudo-random byte source (xorshift), so a failure can
/// be replayed.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// SIP-shaped garbage: truncated, oversized, wrong numbers, bad UTF-8.
fn sip_garbage(noise: &mut Noise) -> Vec<Vec<u8>> {
    let invite = "INVITE sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:100@127.0.0.1>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContact: <sip:a@127.0.0.1:9>\r\nContent-Length: 10\r\n\r\nv=0\r\n";
    let mut out: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"\r\n\r\n".to_vec(),
        b"INVITE".to_vec(),
        b"SIP/2.0 200 OK\r\n\r\n".to_vec(),
        b"INVITE sip:100@127.0.0.1 SIP/2.0\r\n\r\n".to_vec(),
        invite
            .replace("CSeq: 1", "CSeq: 99999999999999999999")
            .into_bytes(),
        invite
            .replace("Content-Length: 10", "Content-Length: -5")
            .into_bytes(),
        invite
            .replace("Content-Length: 10", "Content-Length: 99999")
            .into_bytes(),
        invite
            .replace(
                "Via: SIP/2.0/UDP 127.0.0.1:9",
                "Via: SIP/2.0/UDP [::::]:99999",
            )
            .into_bytes(),
        invite.replace("sip:100@127.0.0.1", "sip:").into_bytes(),
        invite
            .replace("To: <sip:100@127.0.0.1>", "To: <sip:100@127.0.0.1>;tag=")
            .into_bytes(),
        invite.replace("Call-ID: x\r\n", "").into_bytes(),
        format!("{invite}{}", "a=x\r\n".repeat(3000)).into_bytes(),
        format!(
            "OPTIONS sip:x SIP/2.0\r\nVia: {}\r\n\r\n",
            "A".repeat(60_000)
        )
        .into_bytes(),
        vec![0xff, 0xfe, 0x00, 0x80, 0x0d, 0x0a, 0x0d, 0x0a],
    ];
    // The valid INVITE with one byte changed, and random bytes of every size.
    for i in 0..200 {
        let mut bytes = invite.as_bytes().to_vec();
        let at = (noise.next() as usize) % bytes.len();
        bytes[at] = noise.next() as u8;
        if i % 3 == 0 {
            bytes.truncate(at);
        }
        out.push(bytes);
        let len = (noise.next() % 1_400) as usize;
        out.push(noise.bytes(len));
    }
    out
}

/// RTP-shaped garbage for the media ports.
fn rtp_garbage(noise: &mut Noise) -> Vec<Vec<u8>> {
    let mut out = vec![
        vec![],
        vec![0x80],
        vec![0x80; 11],
        // Version 2, 15 CSRCs claimed, none present.
        vec![0x8f, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1],
        // Extension bit with a length running past the end.
        vec![
            0x90, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xbe, 0xde, 0xff, 0xff,
        ],
        // Padding longer than the packet.
        vec![0xa0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xff],
        // telephone-event with a 3-byte payload.
        vec![0x80, 101, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3],
        // RTCP-shaped with silly lengths.
        vec![0x81, 200, 0xff, 0xff, 0, 0, 0, 1],
    ];
    for _ in 0..300 {
        let len = (noise.next() % 300) as usize;
        let mut bytes = noise.bytes(len);
        if let Some(first) = bytes.first_mut() {
            *first = 0x80 | (*first & 0x3f);
        }
        out.push(bytes);
    }
    out
}

#[tokio::test]
async fn garbage_on_sip_and_rtp_ports_is_survived() {
    let mut t = TestServer::start(|_| {}).await;
    let mut noise = Noise(0x5eed_cafe_f00d_d00d);
    let garbage = sip_garbage(&mut noise);

    let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for datagram in &garbage {
        let _ = udp.send_to(datagram, t.udp()).await;
    }
    for chunk in garbage.chunks(40) {
        if let Ok(mut stream) = TcpStream::connect(t.tcp()).await {
            for bytes in chunk {
                let _ = stream.write_all(bytes).await;
            }
            let _ = stream.shutdown().await;
        }
    }

    // A good call, with garbage thrown at its RTP and RTCP ports while a
    // prompt plays.
    let rtp_port = free_ports(2);
    let media = UdpSocket::bind(("127.0.0.1", rtp_port)).await.unwrap();
    let sipp = Sipp::new("uac_call.xml")
        .service("100")
        .key("rtp_port", &rtp_port.to_string())
        .pause_ms(2_500)
        .to(t.udp())
        .spawn();
    // Some of the garbage is a well-formed INVITE without a body (an
    // offerless INVITE is legal): refuse those, take SIPp's.
    let call = loop {
        let call = t.next_call().await;
        if call.info.from == "+15550001111" {
            break call;
        }
        call.reject(404);
    };
    let mut leg = call.accept().await.unwrap();
    let mut buf = [0u8; 2048];
    let (_, ours) = tokio::time::timeout(Duration::from_secs(2), media.recv_from(&mut buf))
        .await
        .expect("our RTP arrives")
        .unwrap();
    leg.commands
        .send(LegCommand::Play {
            id: 9,
            audio: tone(800.0, 600, 5_000.0),
        })
        .await
        .unwrap();
    let rtcp = std::net::SocketAddr::new(ours.ip(), ours.port() + 1);
    for datagram in rtp_garbage(&mut noise) {
        let _ = media.send_to(&datagram, ours).await;
        let _ = media.send_to(&datagram, rtcp).await;
    }
    match next_event(&mut leg, Duration::from_secs(3)).await {
        Some(LegEvent::PlayoutDone { id: 9 }) => {}
        other => panic!("the prompt did not finish: {other:?}"),
    }
    let (reason, _) = until_hangup(&mut leg, Duration::from_secs(5)).await;
    assert_eq!(reason, "remote hangup");
    sipp.expect_success().await;
    assert!(t.server.stats().rtp_malformed > 0);

    // And another call after all that.
    let sipp = Sipp::new("uac_wait_bye.xml")
        .service("100")
        .to(t.udp())
        .spawn();
    let call = loop {
        let call = t.next_call().await;
        if call.info.from == "+15550001111" {
            break call;
        }
        call.reject(404);
    };
    let mut leg = call.accept().await.unwrap();
    leg.commands.send(LegCommand::Hangup).await.unwrap();
    let _ = until_hangup(&mut leg, Duration::from_secs(5)).await;
    sipp.expect_success().await;
    t.assert_idle().await;
}
