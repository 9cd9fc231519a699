//! Call set-up and teardown paths: CANCEL, BYE either way, hold,
//! refusals, authentication, outbound calls.

use std::time::Duration;

use switchyard_media::leg::{LegCommand, LegEvent};
use switchyard_sip::{AcceptError, DialError, DialOptions, DigestCredentials};

use crate::support::{Sipp, TestServer, tone, until_hangup};

/// The caller gives up before we answer: 487 to the INVITE, the call
/// disappears, and a late accept says so.
#[tokio::test]
async fn cancel_before_answer_gets_487_and_cleans_up() {
    let mut t = TestServer::start(|_| {}).await;
    let sipp = Sipp::new("uac_cancel.xml")
        .service("100")
        .to(t.udp())
        .spawn();
    let call = t.next_call().await;
    assert_eq!(t.server.live_calls(), 1);
    sipp.expect_success().await;
    t.assert_idle().await;
    assert_eq!(call.accept().await.unwrap_err(), AcceptError::Gone);
}

/// The caller hangs up in the middle of a long prompt: one Hangup, no
/// PlayoutDone for the prompt cut short, nothing left behind.
#[tokio::test]
async fn caller_hanging_up_mid_prompt_cleans_up() {
    let mut t = TestServer::start(|_| {}).await;
    let sipp = Sipp::new("uac_call.xml")
        .service("100")
        .key("rtp_port", &crate::support::free_ports(2).to_string())
        .pause_ms(600)
        .to(t.udp())
        .spawn();
    let mut leg = t.next_call().await.accept().await.unwrap();
    leg.commands
        .send(LegCommand::Play {
            id: 1,
            audio: tone(440.0, 5_000, 6_000.0),
        })
        .await
        .unwrap();
    let (reason, events) = until_hangup(&mut leg, Duration::from_secs(5)).await;
    assert_eq!(reason, "remote hangup");
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, LegEvent::PlayoutDone { .. })),
        "{events:?}"
    );
    sipp.expect_success().await;
    t.assert_idle().await;
}

/// We hang up: SIPp receives our BYE and answers it.
#[tokio::test]
async fn hangup_command_sends_bye() {
    let mut t = TestServer::start(|_| {}).await;
    let sipp = Sipp::new("uac_wait_bye.xml")
        .service("100")
        .to(t.udp())
        .spawn();
    let mut leg = t.next_call().await.accept().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    leg.commands.send(LegCommand::Hangup).await.unwrap();
    let (reason, _) = until_hangup(&mut leg, Duration::from_secs(5)).await;
    assert_eq!(reason, "hung up by us");
    sipp.expect_success().await;
    t.assert_idle().await;
}

/// A driver that drops its leg ends the call with BYE.
#[tokio::test]
async fn dropping_the_leg_sends_bye() {
    let mut t = TestServer::start(|_| {}).await;
    let sipp = Sipp::new("uac_wait_bye.xml")
        .service("100")
        .to(t.udp())
        .spawn();
    let leg = t.next_call().await.accept().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(leg);
    sipp.expect_success().await;
    t.assert_idle().await;
}

/// re-INVITE with a=sendonly puts us on hold (answered recvonly, checked
/// by the scenario), the next one resumes.
#[tokio::test]
async fn reinvite_holds_and_resumes() {
    let mut t = TestServer::start(|_| {}).await;
    let sipp = Sipp::new("uac_hold.xml").service("100").to(t.udp()).spawn();
    let mut leg = t.next_call().await.accept().await.unwrap();
    let (_, events) = until_hangup(&mut leg, Duration::from_secs(10)).await;
    let holds: Vec<bool> = events
        .iter()
        .filter_map(|e| match e {
            LegEvent::Hold(on) => Some(*on),
            _ => None,
        })
        .collect();
    assert_eq!(holds, vec![true, false]);
    sipp.expect_success().await;
    t.assert_idle().await;
}

/// The application refuses a number it has no flow for.
#[tokio::test]
async fn rejected_call_gets_the_status() {
    let mut t = TestServer::start(|_| {}).await;
    let sipp = Sipp::new("uac_not_found.xml")
        .service("999")
        .to(t.udp())
        .spawn();
    let call = t.next_call().await;
    assert_eq!(call.info.to, "999");
    call.reject(404);
    sipp.expect_success().await;
    t.assert_idle().await;
}

/// An offer with neither PCMU nor PCMA is refused with 488 before the
/// application hears of it.
#[tokio::test]
async fn offer_without_g711_gets_488() {
    let mut t = TestServer::start(|_| {}).await;
    Sipp::new("uac_no_codec.xml")
        .service("100")
        .to(t.udp())
        .spawn()
        .expect_success()
        .await;
    assert!(t.calls.try_recv().is_err());
    t.assert_idle().await;
}

/// A source outside the trunk allow-list gets 403.
#[tokio::test]
async fn source_outside_the_allow_list_gets_403() {
    let mut t = TestServer::start(|c| {
        c.trunk_allow_list = vec!["10.0.0.0/8".parse().unwrap()];
    })
    .await;
    Sipp::new("uac_forbidden.xml")
        .service("100")
        .to(t.udp())
        .spawn()
        .expect_success()
        .await;
    assert!(t.calls.try_recv().is_err());
    assert_eq!(t.server.stats().calls_rejected, 1);
}

fn trunk_credentials() -> DigestCredentials {
    DigestCredentials {
        realm: "switchyard.test".into(),
        user: "trunk".into(),
        password: "s3cret".into(),
    }
}

/// Digest authentication: 401 with a challenge, then SIPp's answer is
/// verified and the call goes through.
#[tokio::test]
async fn digest_challenge_then_success() {
    let mut t = TestServer::start(|c| c.digest = Some(trunk_credentials())).await;
    let sipp = Sipp::new("uac_auth.xml")
        .service("100")
        .arg("-au")
        .arg("trunk")
        .arg("-ap")
        .arg("s3cret")
        .to(t.udp())
        .spawn();
    let mut leg = t.next_call().await.accept().await.unwrap();
    let (reason, _) = until_hangup(&mut leg, Duration::from_secs(5)).await;
    assert_eq!(reason, "remote hangup");
    sipp.expect_success().await;
    t.assert_idle().await;
}

/// A wrong password is challenged again and never reaches the application.
#[tokio::test]
async fn digest_with_a_wrong_password_is_refused() {
    let mut t = TestServer::start(|c| c.digest = Some(trunk_credentials())).await;
    Sipp::new("uac_auth_wrong.xml")
        .service("100")
        .arg("-au")
        .arg("trunk")
        .arg("-ap")
        .arg("wrong")
        .to(t.udp())
        .spawn()
        .expect_success()
        .await;
    assert!(t.calls.try_recv().is_err());
    t.assert_idle().await;
}

/// An outbound call to SIPp: answered, the prompt played, hung up by us.
#[tokio::test]
async fn dial_plays_and_hangs_up() {
    let t = TestServer::start(|_| {}).await;
    let target = Sipp::new("uas_target.xml").arg("-rtp_echo");
    let uri = target.uri();
    let target = target.spawn();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut leg = t
        .server
        .dial(&uri, "+15550002222", DialOptions::default())
        .await
        .expect("answered");
    assert_eq!(leg.info.to, "human");
    leg.commands
        .send(LegCommand::Play {
            id: 3,
            audio: tone(1_000.0, 400, 6_000.0),
        })
        .await
        .unwrap();
    // SIPp echoes our RTP, so the prompt comes back as the callee's audio.
    let mut echoed = 0;
    let mut done = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while tokio::time::Instant::now() < deadline && !(done && echoed >= 15) {
        match tokio::time::timeout_at(deadline, leg.events.recv()).await {
            Ok(Some(LegEvent::Audio(frame))) => {
                if crate::support::tone_share(frame.samples(), 1_000.0) > 0.9 {
                    echoed += 1;
                }
            }
            Ok(Some(LegEvent::PlayoutDone { id: 3 })) => done = true,
            Ok(Some(other)) => panic!("unexpected {other:?}"),
            Ok(None) | Err(_) => break,
        }
    }
    assert!(done, "the prompt was played");
    assert!(echoed >= 15, "{echoed} echoed frames");
    leg.commands.send(LegCommand::Hangup).await.unwrap();
    let (reason, _) = until_hangup(&mut leg, Duration::from_secs(5)).await;
    assert_eq!(reason, "hung up by us");
    target.expect_success().await;
    t.assert_idle().await;
    assert_eq!(t.server.stats().calls_outbound, 1);
}

/// Nobody answers: the INVITE is cancelled when the ring timeout passes.
#[tokio::test]
async fn dial_cancels_when_nobody_answers() {
    let t = TestServer::start(|_| {}).await;
    let target = Sipp::new("uas_no_answer.xml");
    let uri = target.uri();
    let target = target.spawn();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let options = DialOptions {
        ring_timeout: Duration::from_millis(1_500),
        ..DialOptions::default()
    };
    let err = t.server.dial(&uri, "", options).await.unwrap_err();
    assert_eq!(err, DialError::NoAnswer);
    target.expect_success().await;
    t.assert_idle().await;
}

/// A refused outbound call reports the status.
#[tokio::test]
async fn dial_reports_a_refusal() {
    let t = TestServer::start(|_| {}).await;
    // A second server that refuses everything stands in for the callee.
    let mut callee = TestServer::start(|_| {}).await;
    let uri = format!("sip:nobody@{}", callee.udp());
    let refuse = tokio::spawn(async move {
        callee.next_call().await.reject(486);
        callee
    });
    let err = t
        .server
        .dial(&uri, "", DialOptions::default())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        DialError::Rejected {
            status: 486,
            reason: "Busy Here".into()
        }
    );
    let callee = refuse.await.unwrap();
    t.assert_idle().await;
    callee.assert_idle().await;
}

/// Two servers call each other over TCP: the far end hears our prompt and
/// its BYE ends our leg.
#[tokio::test]
async fn dial_over_tcp_to_another_server() {
    let t = TestServer::start(|_| {}).await;
    let mut callee = TestServer::start(|_| {}).await;
    let uri = format!("sip:500@{};transport=tcp", callee.tcp());
    let answer = tokio::spawn(async move {
        let call = callee.next_call().await;
        assert_eq!(call.transport, switchyard_sip::SipTransport::Tcp);
        let mut leg = call.accept().await.unwrap();
        let mut heard = 0;
        while heard < 10 {
            match tokio::time::timeout(Duration::from_secs(3), leg.events.recv()).await {
                Ok(Some(LegEvent::Audio(frame))) => {
                    if crate::support::tone_share(frame.samples(), 1_000.0) > 0.9 {
                        heard += 1;
                    }
                }
                Ok(Some(_)) => {}
                _ => break,
            }
        }
        leg.commands.send(LegCommand::Hangup).await.unwrap();
        let (reason, _) = until_hangup(&mut leg, Duration::from_secs(5)).await;
        assert_eq!(reason, "hung up by us");
        (heard, callee)
    });
    let mut leg = t
        .server
        .dial(&uri, "alice", DialOptions::default())
        .await
        .unwrap();
    leg.commands
        .send(LegCommand::Play {
            id: 1,
            audio: tone(1_000.0, 2_000, 6_000.0),
        })
        .await
        .unwrap();
    let (reason, _) = until_hangup(&mut leg, Duration::from_secs(10)).await;
    assert_eq!(reason, "remote hangup");
    let (heard, callee) = answer.await.unwrap();
    assert!(heard >= 10, "the callee heard {heard} frames of the tone");
    t.assert_idle().await;
    callee.assert_idle().await;
}

/// Shutting down hangs up the calls in progress before the transports close.
#[tokio::test]
async fn shutdown_hangs_up_calls() {
    let mut t = TestServer::start(|_| {}).await;
    let sipp = Sipp::new("uac_wait_bye.xml")
        .service("100")
        .to(t.udp())
        .spawn();
    let mut leg = t.next_call().await.accept().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    t.server.shutdown(Duration::from_secs(2)).await;
    let (reason, _) = until_hangup(&mut leg, Duration::from_secs(5)).await;
    assert_eq!(reason, "server shutdown");
    sipp.expect_success().await;
    assert_eq!(t.server.live_calls(), 0);
    let err = t
        .server
        .dial("sip:x@127.0.0.1:9", "", DialOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err, DialError::ShuttingDown);
}
