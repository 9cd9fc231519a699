//! A real softphone (baresip) calling in.

use std::time::Duration;

use switchyard_media::frame::SAMPLES_PER_FRAME;
use switchyard_media::leg::{LegCommand, LegEvent};
use tokio::sync::oneshot;

use crate::support::{Baresip, Sipp, TestServer, tone, tone_share, until_hangup};

/// baresip rings us, hears the greeting (its recording holds our 1 kHz
/// prompt) and we hear it (its 500 Hz tone arrives as audio frames).
#[tokio::test]
async fn baresip_call_hears_the_greeting_both_ways() {
    let mut t = TestServer::start(|_| {}).await;
    let phone = Baresip::dial(
        &format!("sip:100@{}", t.udp()),
        &tone(500.0, 4_000, 6_000.0),
        4,
    );
    let call = t.next_call().await;
    assert_eq!(call.info.from, "tester");
    assert_eq!(call.info.to, "100");
    let mut leg = call.accept().await.unwrap();
    leg.commands
        .send(LegCommand::Play {
            id: 1,
            audio: tone(1_000.0, 1_500, 8_000.0),
        })
        .await
        .unwrap();
    let mut caller_tone = 0;
    let mut played = false;
    let reason = loop {
        match tokio::time::timeout(Duration::from_secs(8), leg.events.recv()).await {
            Ok(Some(LegEvent::Audio(frame))) => {
                if tone_share(frame.samples(), 500.0) > 0.9 {
                    caller_tone += 1;
                }
            }
            Ok(Some(LegEvent::PlayoutDone { id: 1 })) => played = true,
            Ok(Some(LegEvent::Hangup { reason })) => break reason,
            Ok(Some(other)) => panic!("unexpected {other:?}"),
            Ok(None) | Err(_) => panic!("no hangup"),
        }
    };
    assert!(played);
    assert_eq!(reason, "remote hangup");
    assert!(caller_tone >= 100, "{caller_tone} frames of baresip's tone");
    let (_, dir) = phone.wait().await;
    let heard = Baresip::heard(dir.path());
    let toned = heard
        .chunks_exact(SAMPLES_PER_FRAME)
        .filter(|f| tone_share(f, 1_000.0) > 0.9)
        .count();
    // 75 frames sent; baresip's jitter buffer may trim one or two.
    assert!(
        (70..=77).contains(&toned),
        "baresip heard {toned} frames of the prompt"
    );
    t.assert_idle().await;
}

/// baresip takes REFER: we transfer it to a SIPp target, baresip calls
/// the target and reports success in its NOTIFY, and we leave the call.
#[tokio::test]
async fn baresip_is_transferred_by_refer_to_a_sipp_target() {
    let mut t = TestServer::start(|_| {}).await;
    let target = Sipp::new("uas_target.xml").arg("-rtp_echo");
    let target_uri = target.uri();
    let target = target.spawn();
    let phone = Baresip::dial(
        &format!("sip:100@{}", t.udp()),
        &tone(440.0, 8_000, 6_000.0),
        6,
    );
    let mut leg = t.next_call().await.accept().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
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
    t.assert_idle().await;
    let (log, _) = phone.wait().await;
    assert!(log.contains("transferring call"), "{log}");
    target.expect_success().await;
}
