//! LegCommand::Transfer: REFER when the peer takes it, a bridge otherwise.

use std::time::Duration;

use switchyard_media::leg::LegCommand;
use tokio::sync::oneshot;

use crate::support::{Sipp, TestServer, until_hangup};

/// The caller lists REFER in Allow: we send REFER to the target, the
/// caller's NOTIFY reports 200, the transfer succeeds and we hang up.
#[tokio::test]
async fn transfer_by_refer_when_the_peer_allows_it() {
    let mut t = TestServer::start(|_| {}).await;
    let sipp = Sipp::new("uac_refer.xml")
        .service("100")
        .to(t.udp())
        .spawn();
    let mut leg = t.next_call().await.accept().await.unwrap();
    let (reply, outcome) = oneshot::channel();
    leg.commands
        .send(LegCommand::Transfer {
            to: "sip:human@127.0.0.1:5999".into(),
            reply,
        })
        .await
        .unwrap();
    let result = tokio::time::timeout(Duration::from_secs(10), outcome)
        .await
        .expect("an answer")
        .unwrap();
    assert_eq!(result, Ok(()));
    let (reason, _) = until_hangup(&mut leg, Duration::from_secs(5)).await;
    assert_eq!(reason, "transferred");
    sipp.expect_success().await;
    t.assert_idle().await;
}

/// The caller does not take REFER: we dial the target (a second SIPp) and
/// relay the audio between the two; the caller's BYE ends the target's
/// call too.
#[tokio::test]
async fn transfer_by_bridge_when_refer_is_not_allowed() {
    let mut t = TestServer::start(|_| {}).await;
    let target = Sipp::new("uas_target.xml").arg("-rtp_echo");
    let target_uri = target.uri();
    let target = target.spawn();
    let caller = Sipp::new("uac_bridge.xml")
        .service("100")
        .pause_ms(5_000)
        .to(t.udp())
        .spawn();
    let mut leg = t.next_call().await.accept().await.unwrap();
    let (reply, outcome) = oneshot::channel();
    leg.commands
        .send(LegCommand::Transfer {
            to: target_uri,
            reply,
        })
        .await
        .unwrap();
    let result = tokio::time::timeout(Duration::from_secs(10), outcome)
        .await
        .expect("an answer")
        .unwrap();
    assert_eq!(result, Ok(()));
    let (reason, _) = until_hangup(&mut leg, Duration::from_secs(5)).await;
    assert_eq!(reason, "transferred");
    // Both calls are alive and bridged until the caller hangs up.
    assert_eq!(t.server.live_calls(), 2);
    let before = t.server.stats();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let during = t.server.stats();
    // The caller's recording (30 ms packets) goes to the target, which
    // echoes it; each side sends its 50 packets a second.
    assert!(
        during.rtp_packets_in - before.rtp_packets_in > 80,
        "{before:?} -> {during:?}"
    );
    assert!(during.rtp_packets_out - before.rtp_packets_out > 150);
    caller.expect_success().await;
    target.expect_success().await;
    t.assert_idle().await;
}

/// A transfer target that cannot be reached leaves the caller with us.
#[tokio::test]
async fn failed_bridge_keeps_the_call() {
    let mut t = TestServer::start(|_| {}).await;
    let caller = Sipp::new("uac_wait_bye.xml")
        .service("100")
        .to(t.udp())
        .spawn();
    let mut leg = t.next_call().await.accept().await.unwrap();
    // A server that refuses everything.
    let mut refuser = TestServer::start(|_| {}).await;
    let target = format!("sip:human@{}", refuser.udp());
    let refusing = tokio::spawn(async move {
        refuser.next_call().await.reject(486);
        refuser
    });
    let (reply, outcome) = oneshot::channel();
    leg.commands
        .send(LegCommand::Transfer { to: target, reply })
        .await
        .unwrap();
    let result = tokio::time::timeout(Duration::from_secs(10), outcome)
        .await
        .unwrap()
        .unwrap();
    assert!(result.unwrap_err().contains("486"));
    let _refuser = refusing.await.unwrap();
    assert_eq!(t.server.live_calls(), 1);
    leg.commands.send(LegCommand::Hangup).await.unwrap();
    let (reason, _) = until_hangup(&mut leg, Duration::from_secs(5)).await;
    assert_eq!(reason, "hung up by us");
    caller.expect_success().await;
    t.assert_idle().await;
}

/// The bridge carries audio both ways: the caller's 600 Hz tone reaches
/// the target (another server, answering like a person's phone) and the
/// target's 1 kHz tone reaches the caller; a key the caller presses
/// (RFC 4733) reaches the target as an RFC 4733 key; the caller's BYE
/// ends both.
#[tokio::test]
async fn bridge_relays_audio_both_ways() {
    use switchyard_media::dtmf::event_packets;
    use switchyard_media::frame::SAMPLES_PER_FRAME;
    use switchyard_media::g711::Codec;
    use switchyard_media::leg::{DtmfSource, LegEvent};
    use switchyard_media::rtp::Packetizer;

    use crate::support::{collect_rtp, tone, tone_share};

    let mut t = TestServer::start(|_| {}).await;
    let mut human = TestServer::start(|_| {}).await;
    let human_uri = format!("sip:human@{}", human.udp());
    let person = tokio::spawn(async move {
        let mut leg = human.next_call().await.accept().await.unwrap();
        leg.commands
            .send(LegCommand::Play {
                id: 1,
                audio: tone(1_000.0, 1_500, 6_000.0),
            })
            .await
            .unwrap();
        let mut heard = 0;
        let mut keys = Vec::new();
        let reason = loop {
            match tokio::time::timeout(Duration::from_secs(10), leg.events.recv()).await {
                Ok(Some(LegEvent::Audio(frame))) => {
                    if tone_share(frame.samples(), 600.0) > 0.9 {
                        heard += 1;
                    }
                }
                Ok(Some(LegEvent::Dtmf { digit, source })) => keys.push((digit, source)),
                Ok(Some(LegEvent::Hangup { reason })) => break reason,
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => panic!("the target's call did not end"),
            }
        };
        (heard, keys, reason, human)
    });
    let (caller, caller_media, ours) = caller_bridged_to(&mut t, human_uri).await;

    // The caller talks for 1.5 s while listening.
    let sender = {
        let media = caller_media.clone();
        tokio::spawn(async move {
            let samples = tone(600.0, 1_500, 6_000.0);
            let mut packetizer = Packetizer::new(0x77, 0, 1, 0);
            let mut ticker = tokio::time::interval(Duration::from_millis(20));
            for chunk in samples.chunks(SAMPLES_PER_FRAME) {
                ticker.tick().await;
                let mut payload = [0u8; SAMPLES_PER_FRAME];
                Codec::Pcmu.encode_into(chunk, &mut payload);
                let mut out = Vec::new();
                packetizer.packetize(&payload, SAMPLES_PER_FRAME as u32, &mut out);
                media.send_to(&out, ours).await.unwrap();
            }
            // Then presses 5: RFC 4733 packets on payload type 101.
            let start = packetizer.next_timestamp();
            for packet in event_packets('5', 120, 10, start).unwrap() {
                let mut out = Vec::new();
                packetizer.packetize_at(
                    101,
                    packet.timestamp,
                    packet.marker,
                    &packet.payload,
                    &mut out,
                );
                media.send_to(&out, ours).await.unwrap();
                ticker.tick().await;
            }
        })
    };
    let received = collect_rtp(&caller_media, Duration::from_millis(2_000)).await;
    sender.await.unwrap();
    let caller_heard = received
        .iter()
        .filter(|p| tone_share(&p.samples, 1_000.0) > 0.9)
        .count();
    assert!(
        caller_heard >= 40,
        "the caller heard {caller_heard} frames of the target"
    );

    caller.expect_success().await;
    let (heard, keys, reason, human) = person.await.unwrap();
    assert!(heard >= 40, "the target heard {heard} frames of the caller");
    assert_eq!(
        keys,
        [('5', DtmfSource::Rfc4733)],
        "the caller's key reached the target once, as RFC 4733"
    );
    assert_eq!(reason, "remote hangup");
    t.assert_idle().await;
    human.assert_idle().await;
}

/// A key pressed (RFC 4733) by a caller bridged to a target that offered
/// no telephone-event reaches the target as its two tones: SIPp echoes the
/// target's audio back, and the tones come out at the caller's end.
#[tokio::test]
async fn a_key_reaches_a_target_without_telephone_event_as_tones() {
    use switchyard_media::dtmf::{InbandConfig, InbandDetector, event_packets};
    use switchyard_media::frame::Frame;
    use switchyard_media::rtp::Packetizer;

    use crate::support::collect_rtp;

    let mut t = TestServer::start(|_| {}).await;
    let target = Sipp::new("uas_target.xml").arg("-rtp_echo");
    let target_uri = target.uri();
    let target = target.spawn();
    let (caller, caller_media, ours) = caller_bridged_to(&mut t, target_uri).await;

    let presser = {
        let media = caller_media.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let mut packetizer = Packetizer::new(0x78, 0, 1, 0);
            let mut ticker = tokio::time::interval(Duration::from_millis(20));
            for packet in event_packets('7', 120, 10, 0).unwrap() {
                let mut out = Vec::new();
                packetizer.packetize_at(
                    101,
                    packet.timestamp,
                    packet.marker,
                    &packet.payload,
                    &mut out,
                );
                media.send_to(&out, ours).await.unwrap();
                ticker.tick().await;
            }
        })
    };
    let received = collect_rtp(&caller_media, Duration::from_millis(2_000)).await;
    presser.await.unwrap();
    let mut detector = InbandDetector::new(InbandConfig::default());
    let heard: Vec<char> = received
        .iter()
        .filter_map(|p| detector.process(&Frame::from_samples(&p.samples)))
        .collect();
    assert_eq!(heard, ['7'], "the tones came back through the echo once");

    caller.expect_success().await;
    target.expect_success().await;
    t.assert_idle().await;
}

/// A SIPp caller (`uac_call.xml`, its media on a socket of the test's)
/// answered by `t` and put through to `target` by a bridge. Returns the
/// caller's SIPp, its media socket, and the address our RTP for it comes
/// from (where its packets go).
async fn caller_bridged_to(
    t: &mut TestServer,
    target: String,
) -> (
    crate::support::RunningSipp,
    std::sync::Arc<tokio::net::UdpSocket>,
    std::net::SocketAddr,
) {
    let rtp_port = crate::support::free_ports(2);
    let media = std::sync::Arc::new(
        tokio::net::UdpSocket::bind(("127.0.0.1", rtp_port))
            .await
            .unwrap(),
    );
    let caller = Sipp::new("uac_call.xml")
        .service("100")
        .key("rtp_port", &rtp_port.to_string())
        .pause_ms(4_000)
        .to(t.udp())
        .spawn();
    let mut leg = t.next_call().await.accept().await.unwrap();
    let mut buf = [0u8; 2048];
    let (_, ours) = tokio::time::timeout(Duration::from_secs(2), media.recv_from(&mut buf))
        .await
        .expect("our RTP arrives")
        .unwrap();
    let (reply, outcome) = oneshot::channel();
    leg.commands
        .send(LegCommand::Transfer { to: target, reply })
        .await
        .unwrap();
    assert_eq!(outcome.await.unwrap(), Ok(()));
    let (reason, _) = until_hangup(&mut leg, Duration::from_secs(5)).await;
    assert_eq!(reason, "transferred");
    (caller, media, ours)
}
