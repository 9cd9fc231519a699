//! Answers every call, plays a tone prompt on a loop, logs keys, and
//! prints the server's counters every 5 s: a peer for SIPp load runs.
//!
//! ```sh
//! cargo run --release -p switchyard-sip --example answer -- 127.0.0.1:5060
//! sipp -sn uac -r 100 -l 1000 -d 60000 -m 5000 127.0.0.1:5060
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use switchyard_media::leg::{LegCommand, LegEvent};
use switchyard_sip::{SipConfig, SipServer};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let bind: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:5060".into())
        .parse()?;
    let config = SipConfig {
        udp_bind: Some(bind),
        tcp_bind: Some(bind),
        rtp_ports: 20_000..=39_999,
        ..SipConfig::default()
    };
    let (server, mut calls) = SipServer::start(config).await?;
    println!("listening on {bind}");

    let stats = server.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            let s = stats.stats();
            println!(
                "calls live {} total {} | rtp in {} out {} malformed {} late/lost {} | dropped audio {} | jitter p50 {:?} p99 {:?} ms",
                s.calls_live,
                s.calls_total,
                s.rtp_packets_in,
                s.rtp_packets_out,
                s.rtp_malformed,
                s.rtp_late_or_lost,
                s.audio_events_dropped,
                s.jitter_percentile_ms(0.5),
                s.jitter_percentile_ms(0.99),
            );
        }
    });

    let prompt: Arc<[i16]> = (0..8_000)
        .map(|n| ((n as f32 * 2.0 * std::f32::consts::PI * 440.0 / 8_000.0).sin() * 6_000.0) as i16)
        .collect();
    while let Some(call) = calls.recv().await {
        let prompt = prompt.clone();
        tokio::spawn(async move {
            let Ok(mut leg) = call.accept().await else {
                return;
            };
            let mut next_id = 0;
            let _ = leg
                .commands
                .send(LegCommand::Play {
                    id: next_id,
                    audio: prompt.clone(),
                })
                .await;
            while let Some(event) = leg.events.recv().await {
                match event {
                    LegEvent::PlayoutDone { .. } => {
                        next_id += 1;
                        let _ = leg
                            .commands
                            .send(LegCommand::Play {
                                id: next_id,
                                audio: prompt.clone(),
                            })
                            .await;
                    }
                    LegEvent::Dtmf { digit, .. } => {
                        println!("{}: key {digit}", leg.info.channel_id)
                    }
                    _ => {}
                }
            }
        });
    }
    Ok(())
}
