//! Answered calls: audio out, audio and keys in, over UDP and TCP.

use std::time::Duration;

use switchyard_media::dtmf::dtmf_tone;
use switchyard_media::frame::SAMPLES_PER_FRAME;
use switchyard_media::g711::Codec;
use switchyard_media::leg::{DtmfSource, LegCommand, LegEvent};
use switchyard_media::rtp::Packetizer;
use switchyard_sip::SipTransport;
use tokio::net::UdpSocket;

use crate::support::{
    Sipp, TestServer, collect_rtp, free_ports, next_event, tone, tone_share, until_hangup,
};

/// An inbound call gets 200 and hears the prompt: the RTP SIPp's SDP
/// points at is a socket of ours, and it carries the 1 kHz tone we play,
/// 20 ms a packet, with consecutive sequence numbers and timestamps.
async fn call_hears_prompt(tcp: bool) {
    let mut t = TestServer::start(|_| {}).await;
    let rtp_port = free_ports(2);
    let listener = UdpSocket::bind(("127.0.0.1", rtp_port)).await.unwrap();
    let mut sipp = Sipp::new("uac_call.xml")
        .service("100")
        .key("rtp_port", &rtp_port.to_string())
        .pause_ms(2_500);
    sipp = if tcp {
        sipp.tcp().to(t.tcp())
    } else {
        sipp.to(t.udp())
    };
    let sipp = sipp.spawn();

    let call = t.next_call().await;
    assert_eq!(call.info.to, "100");
    assert_eq!(call.info.from, "+15550001111");
    assert!(!call.info.channel_id.is_empty());
    let expected = if tcp {
        SipTransport::Tcp
    } else {
        SipTransport::Udp
    };
    assert_eq!(call.transport, expected);
    assert_eq!(call.source.ip().to_string(), "127.0.0.1");
    let mut leg = call.accept().await.expect("answered");
    let prompt = tone(1_000.0, 1_000, 8_000.0);
    leg.commands
        .send(LegCommand::Play {
            id: 7,
            audio: prompt,
        })
        .await
        .unwrap();

    let received = collect_rtp(&listener, Duration::from_millis(1_600)).await;
    assert!(received.len() >= 70, "only {} packets", received.len());
    assert!(
        received.iter().all(|p| p.payload_type == 0),
        "PCMU throughout"
    );
    for pair in received.windows(2) {
        assert_eq!(pair[1].sequence, pair[0].sequence.wrapping_add(1));
        assert_eq!(pair[1].timestamp, pair[0].timestamp.wrapping_add(160));
    }
    assert!(received[0].marker, "the first packet starts a talkspurt");
    assert!(received[1..].iter().all(|p| !p.marker));
    // The tone: 50 frames (1 s) whose energy is nearly all at 1 kHz, in
    // one run, with silence around it.
    let toned: Vec<bool> = received
        .iter()
        .map(|p| p.samples.len() == SAMPLES_PER_FRAME && tone_share(&p.samples, 1_000.0) > 0.9)
        .collect();
    let count = toned.iter().filter(|t| **t).count();
    assert!((49..=51).contains(&count), "{count} frames carry the tone");
    let first = toned.iter().position(|t| *t).unwrap();
    assert!(
        toned[first..first + count].iter().all(|t| *t),
        "one unbroken run"
    );
    let silent = |p: &crate::support::Received| p.samples.iter().all(|s| s.abs() < 64);
    assert!(
        received[first + count..].iter().all(silent),
        "silence after the prompt"
    );
    // Paced in real time: 50 packets take about a second.
    let span = received[first + count - 1].at - received[first].at;
    assert!(
        span > Duration::from_millis(850) && span < Duration::from_millis(1_150),
        "the prompt took {span:?}"
    );

    match next_event(&mut leg, Duration::from_secs(2)).await {
        Some(LegEvent::PlayoutDone { id: 7 }) => {}
        other => panic!("expected PlayoutDone, got {other:?}"),
    }
    let (reason, _) = until_hangup(&mut leg, Duration::from_secs(5)).await;
    assert_eq!(reason, "remote hangup");
    sipp.expect_success().await;
    t.assert_idle().await;
    let stats = t.server.stats();
    assert!(stats.rtp_packets_out >= 70);
    assert_eq!(stats.calls_inbound, 1);
}

#[tokio::test]
async fn inbound_call_over_udp_hears_the_prompt() {
    call_hears_prompt(false).await;
}

#[tokio::test]
async fn inbound_call_over_tcp_hears_the_prompt() {
    call_hears_prompt(true).await;
}

/// SIPp sends RFC 4733 events for 1, 5 and # (its own pcaps); the leg
/// reports each key once, in order.
#[tokio::test]
async fn rfc_4733_keys_reach_the_leg_once_each() {
    let mut t = TestServer::start(|_| {}).await;
    let sipp = Sipp::new("uac_dtmf.xml").service("200").to(t.udp()).spawn();
    let mut leg = t.next_call().await.accept().await.unwrap();
    let (reason, events) = until_hangup(&mut leg, Duration::from_secs(10)).await;
    let keys = keys_in(&events);
    assert_eq!(
        keys,
        vec![
            ('1', DtmfSource::Rfc4733),
            ('5', DtmfSource::Rfc4733),
            ('#', DtmfSource::Rfc4733)
        ]
    );
    assert_eq!(reason, "remote hangup");
    sipp.expect_success().await;
    t.assert_idle().await;
    assert_eq!(t.server.stats().dtmf_received, 3);
}

/// Keys sent in SIP INFO, as trunks without RFC 4733 do, reach the leg in
/// both body formats; a DTMF body naming no key gets a 400 (SIPp expects
/// it) and another INFO package a 200, neither of them a key.
#[tokio::test]
async fn sip_info_keys_reach_the_leg() {
    let mut t = TestServer::start(|_| {}).await;
    let sipp = Sipp::new("uac_info_dtmf.xml")
        .service("200")
        .to(t.udp())
        .spawn();
    let mut leg = t.next_call().await.accept().await.unwrap();
    let (reason, events) = until_hangup(&mut leg, Duration::from_secs(10)).await;
    let keys = keys_in(&events);
    assert_eq!(
        keys,
        vec![('7', DtmfSource::SipInfo), ('9', DtmfSource::SipInfo)]
    );
    assert_eq!(reason, "remote hangup");
    sipp.expect_success().await;
    t.assert_idle().await;
    assert_eq!(t.server.stats().dtmf_received, 2);
}

/// A peer that did not offer telephone-event gets its keys heard in the
/// audio: the test plays DTMF tones as PCMU from the caller's RTP port.
#[tokio::test]
async fn in_band_keys_are_detected_without_telephone_event() {
    let mut t = TestServer::start(|_| {}).await;
    let rtp_port = free_ports(2);
    let media = UdpSocket::bind(("127.0.0.1", rtp_port)).await.unwrap();
    let sipp = Sipp::new("uac_call_no_te.xml")
        .service("300")
        .key("rtp_port", &rtp_port.to_string())
        .pause_ms(3_000)
        .to(t.udp())
        .spawn();
    let mut leg = t.next_call().await.accept().await.unwrap();

    // Our RTP tells us where to send theirs.
    let mut buf = [0u8; 2048];
    let (_, ours) = tokio::time::timeout(Duration::from_secs(2), media.recv_from(&mut buf))
        .await
        .expect("our RTP arrives")
        .unwrap();
    let mut audio = Vec::new();
    for key in ['4', '2'] {
        audio.extend(dtmf_tone(key, 120, 6_000).unwrap());
        audio.extend(std::iter::repeat_n(0i16, 960));
    }
    let mut packetizer = Packetizer::new(0x1234, 0, 100, 8_000);
    let mut ticker = tokio::time::interval(Duration::from_millis(20));
    for chunk in audio.chunks(SAMPLES_PER_FRAME) {
        ticker.tick().await;
        let mut frame = [0i16; SAMPLES_PER_FRAME];
        frame[..chunk.len()].copy_from_slice(chunk);
        let mut payload = [0u8; SAMPLES_PER_FRAME];
        Codec::Pcmu.encode_into(&frame, &mut payload);
        let mut out = Vec::new();
        packetizer.packetize(&payload, SAMPLES_PER_FRAME as u32, &mut out);
        media.send_to(&out, ours).await.unwrap();
    }

    let (_, events) = until_hangup(&mut leg, Duration::from_secs(10)).await;
    let keys = keys_in(&events);
    assert_eq!(
        keys,
        vec![('4', DtmfSource::InBand), ('2', DtmfSource::InBand)]
    );
    sipp.expect_success().await;
    t.assert_idle().await;
}

/// The caller's audio reaches the leg as 20 ms frames at real-time pace.
#[tokio::test]
async fn caller_audio_arrives_as_paced_frames() {
    let mut t = TestServer::start(|_| {}).await;
    let rtp_port = free_ports(2);
    let media = UdpSocket::bind(("127.0.0.1", rtp_port)).await.unwrap();
    let sipp = Sipp::new("uac_call.xml")
        .service("400")
        .key("rtp_port", &rtp_port.to_string())
        .pause_ms(2_000)
        .to(t.udp())
        .spawn();
    let mut leg = t.next_call().await.accept().await.unwrap();
    let mut buf = [0u8; 2048];
    let (_, ours) = tokio::time::timeout(Duration::from_secs(2), media.recv_from(&mut buf))
        .await
        .expect("our RTP arrives")
        .unwrap();
    let sender = tokio::spawn(async move {
        let samples = tone(600.0, 1_000, 6_000.0);
        let mut packetizer = Packetizer::new(0x55, 0, 1, 0);
        let mut ticker = tokio::time::interval(Duration::from_millis(20));
        for chunk in samples.chunks(SAMPLES_PER_FRAME) {
            ticker.tick().await;
            let mut payload = [0u8; SAMPLES_PER_FRAME];
            Codec::Pcmu.encode_into(chunk, &mut payload);
            let mut out = Vec::new();
            packetizer.packetize(&payload, SAMPLES_PER_FRAME as u32, &mut out);
            media.send_to(&out, ours).await.unwrap();
        }
    });
    let mut toned = 0;
    let mut frames = 0;
    let start = tokio::time::Instant::now();
    while start.elapsed() < Duration::from_millis(1_500) {
        match tokio::time::timeout(Duration::from_millis(200), leg.events.recv()).await {
            Ok(Some(LegEvent::Audio(frame))) => {
                frames += 1;
                if tone_share(frame.samples(), 600.0) > 0.9 {
                    toned += 1;
                }
            }
            Ok(Some(_)) | Err(_) => {}
            Ok(None) => break,
        }
    }
    sender.await.unwrap();
    // 50 frames of tone, and up to two fading repeats the jitter buffer
    // conceals the end of the stream with.
    assert!(
        (48..=52).contains(&toned),
        "{toned} frames of the caller's tone"
    );
    // One frame per 20 ms once playout started: about 75 in 1.5 s.
    assert!((60..=80).contains(&frames), "{frames} frames in 1.5 s");
    let (_, _) = until_hangup(&mut leg, Duration::from_secs(5)).await;
    sipp.expect_success().await;
    t.assert_idle().await;
}

/// RTCP sender reports reach the port above the peer's RTP port and
/// describe what we sent.
#[tokio::test]
async fn rtcp_sender_reports_go_to_the_port_above_rtp() {
    use switchyard_media::rtcp::{self, RtcpPacket};
    let mut t = TestServer::start(|c| c.rtcp_interval = Duration::from_millis(400)).await;
    let rtp_port = free_ports(2);
    let _media = UdpSocket::bind(("127.0.0.1", rtp_port)).await.unwrap();
    let rtcp_socket = UdpSocket::bind(("127.0.0.1", rtp_port + 1)).await.unwrap();
    let sipp = Sipp::new("uac_call.xml")
        .service("100")
        .key("rtp_port", &rtp_port.to_string())
        .pause_ms(1_500)
        .to(t.udp())
        .spawn();
    let mut leg = t.next_call().await.accept().await.unwrap();
    let mut buf = [0u8; 1500];
    let (len, _) = tokio::time::timeout(Duration::from_secs(2), rtcp_socket.recv_from(&mut buf))
        .await
        .expect("a report within 2 s")
        .unwrap();
    let packets: Vec<_> = rtcp::packets(&buf[..len])
        .collect::<Result<_, _>>()
        .unwrap();
    match packets.first() {
        Some(RtcpPacket::SenderReport(report)) => {
            // 400 ms of 20 ms packets, give or take the first tick.
            assert!((15..=25).contains(&report.info.packet_count), "{report:?}");
            assert_eq!(report.info.octet_count, report.info.packet_count * 160);
        }
        other => panic!("expected a sender report, got {other:?}"),
    }
    assert!(
        matches!(
            packets.get(1),
            Some(RtcpPacket::Other {
                packet_type: rtcp::PT_SDES,
                ..
            })
        ),
        "SDES CNAME follows"
    );
    let _ = until_hangup(&mut leg, Duration::from_secs(5)).await;
    sipp.expect_success().await;
    t.assert_idle().await;
    assert!(t.server.stats().rtcp_reports_sent >= 1);
}

/// Clear stops the prompt at once (barge-in): the next packets are
/// silence, the cleared prompt is never reported done, and a prompt
/// queued after the Clear plays and is.
#[tokio::test]
async fn clear_stops_playback_at_once() {
    let mut t = TestServer::start(|_| {}).await;
    let rtp_port = free_ports(2);
    let listener = UdpSocket::bind(("127.0.0.1", rtp_port)).await.unwrap();
    let sipp = Sipp::new("uac_call.xml")
        .service("100")
        .key("rtp_port", &rtp_port.to_string())
        .pause_ms(2_500)
        .to(t.udp())
        .spawn();
    let mut leg = t.next_call().await.accept().await.unwrap();
    leg.commands
        .send(LegCommand::Play {
            id: 1,
            audio: tone(1_000.0, 3_000, 6_000.0),
        })
        .await
        .unwrap();
    let before = collect_rtp(&listener, Duration::from_millis(400)).await;
    assert!(before.iter().any(|p| tone_share(&p.samples, 1_000.0) > 0.9));
    leg.commands.send(LegCommand::Clear).await.unwrap();
    leg.commands
        .send(LegCommand::Play {
            id: 2,
            audio: tone(600.0, 200, 6_000.0),
        })
        .await
        .unwrap();
    let after = collect_rtp(&listener, Duration::from_millis(600)).await;
    // At most one packet of the old prompt was already on its way.
    let old = after
        .iter()
        .filter(|p| tone_share(&p.samples, 1_000.0) > 0.9)
        .count();
    assert!(old <= 1, "{old} packets of the cleared prompt after Clear");
    let new = after
        .iter()
        .filter(|p| tone_share(&p.samples, 600.0) > 0.9)
        .count();
    assert!((9..=11).contains(&new), "{new} packets of the next prompt");
    let (_, events) = until_hangup(&mut leg, Duration::from_secs(5)).await;
    let done: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            LegEvent::PlayoutDone { id } => Some(*id),
            _ => None,
        })
        .collect();
    assert_eq!(done, vec![2]);
    sipp.expect_success().await;
    t.assert_idle().await;
}

/// The keys among a leg's events, with how each arrived.
fn keys_in(events: &[LegEvent]) -> Vec<(char, DtmfSource)> {
    events
        .iter()
        .filter_map(|e| match e {
            LegEvent::Dtmf { digit, source } => Some((*digit, *source)),
            _ => None,
        })
        .collect()
}
