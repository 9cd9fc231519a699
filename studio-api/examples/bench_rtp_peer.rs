//! The far end of the media of SIP benchmark calls (docs/benchmarks-media.md).
//!
//! SIPp does the signalling (`tests/sip/uac_call.xml` with `-key rtp_port
//! PORT`), so every call's SDP names this one UDP port; the calls are told
//! apart by the server's per-call RTP socket they come from. For each call
//! this peer
//!
//! * timestamps every RTP packet our server sends (a thread that does
//!   nothing else; for single-call latencies run it under `chrt -f 50` so
//!   its own scheduling does not count as the server's jitter, but not
//!   under load on 2 cores, where a real-time peer preempts the server on
//!   every packet) and works out, per call, the RFC 3550
//!   interarrival jitter `J` and the packet delay variation (PDV: each
//!   packet's transit time minus the smallest transit time of its call,
//!   transit = arrival − RTP timestamp / 8 kHz), lost and reordered
//!   packets;
//! * sends the caller's side back to the server from the same port, 20 ms
//!   PCMU frames on each call's own schedule: a µ-law file looped from a
//!   random point (`--audio`), silence, or silence with a short utterance
//!   at given times (`--talk`), plus RFC 4733 keys (`--dtmf-every`);
//! * classifies what it hears as prompt (any sample not ±0) or silence and
//!   pairs its keys and utterances with what follows: a key while silent
//!   is answered when a prompt starts (key → first prompt packet); a key or
//!   speech onset while a prompt plays is a barge-in, done when the
//!   silence starts that lasts `--quiet-packets` packets.
//!
//! Prints one JSON object (also to `--out`).
//!
//! ```sh
//! cargo build --release -p switchyard-studio-api --example bench_rtp_peer
//! chrt -f 50 bench_rtp_peer --bind 127.0.0.1:40000 --audio speech.ulaw --duration 90
//! ```

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use switchyard_media::dtmf::event_packets;

/// Bytes asked for the receive buffer (capped by `net.core.rmem_max`).
const RECV_BUFFER: usize = 8 << 20;
use switchyard_media::rtp::{Packetizer, RtpPacket};

const FRAME_US: u64 = 20_000;
const SILENCE: u8 = 0xFF;

#[derive(Debug, Clone)]
struct Args {
    bind: SocketAddr,
    audio: Option<Vec<u8>>,
    talk: Option<Vec<u8>>,
    talk_every_ms: u64,
    talk_first_ms: u64,
    dtmf_every_ms: u64,
    dtmf_first_ms: u64,
    dtmf_jitter_ms: u64,
    duration: Duration,
    idle_exit: Duration,
    quiet_packets: usize,
    out: Option<String>,
    seed: u64,
    per_call: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: bench_rtp_peer --bind ADDR [--audio FILE.ulaw] [--talk FILE.ulaw --talk-every MS \
         [--talk-first MS]] [--dtmf-every MS [--dtmf-first MS] [--dtmf-jitter MS]] \
         [--duration S] [--idle-exit S] [--quiet-packets N] [--per-call] [--out FILE] [--seed N]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut args = Args {
        bind: "127.0.0.1:40000".parse().unwrap(),
        audio: None,
        talk: None,
        talk_every_ms: 0,
        talk_first_ms: 3_000,
        dtmf_every_ms: 0,
        dtmf_first_ms: 0,
        dtmf_jitter_ms: 0,
        duration: Duration::from_secs(3_600),
        idle_exit: Duration::from_secs(3),
        quiet_packets: 10,
        out: None,
        seed: 1,
        per_call: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--bind" => args.bind = value().parse().unwrap_or_else(|_| usage()),
            "--audio" => args.audio = Some(std::fs::read(value()).expect("--audio file")),
            "--talk" => args.talk = Some(std::fs::read(value()).expect("--talk file")),
            "--talk-every" => args.talk_every_ms = value().parse().unwrap_or_else(|_| usage()),
            "--talk-first" => args.talk_first_ms = value().parse().unwrap_or_else(|_| usage()),
            "--dtmf-every" => args.dtmf_every_ms = value().parse().unwrap_or_else(|_| usage()),
            "--dtmf-first" => args.dtmf_first_ms = value().parse().unwrap_or_else(|_| usage()),
            "--dtmf-jitter" => args.dtmf_jitter_ms = value().parse().unwrap_or_else(|_| usage()),
            "--duration" => {
                args.duration = Duration::from_secs_f64(value().parse().unwrap_or_else(|_| usage()))
            }
            "--idle-exit" => {
                args.idle_exit =
                    Duration::from_secs_f64(value().parse().unwrap_or_else(|_| usage()))
            }
            "--quiet-packets" => args.quiet_packets = value().parse().unwrap_or_else(|_| usage()),
            "--out" => args.out = Some(value()),
            "--seed" => args.seed = value().parse().unwrap_or_else(|_| usage()),
            "--per-call" => args.per_call = true,
            _ => usage(),
        }
    }
    args
}

/// xorshift64*: enough randomness for phases and offsets.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

fn unix_us(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// A stretch of what one call heard: prompt or silence, from the arrival
/// of its first packet.
#[derive(Debug, Clone, Copy)]
struct Run {
    at_us: u64,
    sound: bool,
}

/// What the receiver knows of one call.
struct Heard {
    first_us: u64,
    first_unix_us: u64,
    first_sound_unix_us: Option<u64>,
    packets: u64,
    bytes: u64,
    ssrc: u32,
    highest_seq: u32,
    seq_cycles: u32,
    first_seq: u16,
    reordered: u64,
    /// Transit (arrival − timestamp) of each packet, µs, relative to the
    /// first packet's (wrapping timestamps are unwrapped).
    transit: Vec<i32>,
    last_ts: u32,
    ts_unwrapped: i64,
    last_transit: Option<i64>,
    jitter_j: f64,
    jitter_j_max: f64,
    base_transit: i64,
    runs: Vec<Run>,
    /// Consecutive silent packets while in a sound run, and when the first
    /// of them arrived.
    quiet_streak: usize,
    quiet_since: u64,
    last_us: u64,
}

impl Heard {
    fn new(now_us: u64, packet: &RtpPacket<'_>) -> Self {
        Self {
            first_us: now_us,
            first_unix_us: unix_us(SystemTime::now()),
            first_sound_unix_us: None,
            packets: 0,
            bytes: 0,
            ssrc: packet.ssrc,
            highest_seq: u32::from(packet.sequence),
            seq_cycles: 0,
            first_seq: packet.sequence,
            reordered: 0,
            transit: Vec::with_capacity(4096),
            last_ts: packet.timestamp,
            ts_unwrapped: 0,
            last_transit: None,
            jitter_j: 0.0,
            jitter_j_max: 0.0,
            base_transit: now_us as i64,
            runs: vec![Run {
                at_us: now_us,
                sound: false,
            }],
            quiet_streak: 0,
            quiet_since: 0,
            last_us: now_us,
        }
    }

    fn on_packet(&mut self, now_us: u64, packet: &RtpPacket<'_>, quiet_packets: usize) {
        self.packets += 1;
        self.bytes += packet.payload.len() as u64;
        self.last_us = now_us;
        // Sequence: extended highest, reordering (RFC 3550 A.1, simplified).
        let seq = u32::from(packet.sequence);
        let highest = self.highest_seq & 0xFFFF;
        let delta = (seq.wrapping_sub(highest)) & 0xFFFF;
        if delta != 0 && delta < 0x8000 {
            if seq < highest {
                self.seq_cycles += 1;
            }
            self.highest_seq = (self.seq_cycles << 16) | seq;
        } else if delta != 0 {
            self.reordered += 1;
        }
        // Timestamp unwrapped, in samples since the first packet.
        let dts = packet.timestamp.wrapping_sub(self.last_ts) as i32;
        self.ts_unwrapped += i64::from(dts);
        self.last_ts = packet.timestamp;
        let transit = now_us as i64 - self.ts_unwrapped * 125;
        if let Some(last) = self.last_transit {
            let d = (transit - last).abs() as f64 / 1000.0;
            self.jitter_j += (d - self.jitter_j) / 16.0;
            self.jitter_j_max = self.jitter_j_max.max(self.jitter_j);
        }
        self.last_transit = Some(transit);
        self.transit.push((transit - self.base_transit) as i32);
        // Prompt or silence.
        if packet.payload_type > 34 {
            return;
        }
        let sound = packet.payload.iter().any(|&b| b != SILENCE && b != 0x7F);
        let in_sound = self.runs.last().is_some_and(|r| r.sound);
        if sound {
            if self.first_sound_unix_us.is_none() {
                self.first_sound_unix_us = Some(unix_us(SystemTime::now()));
            }
            self.quiet_streak = 0;
            if !in_sound {
                self.runs.push(Run {
                    at_us: now_us,
                    sound: true,
                });
            }
        } else if in_sound {
            if self.quiet_streak == 0 {
                self.quiet_since = now_us;
            }
            self.quiet_streak += 1;
            if self.quiet_streak >= quiet_packets {
                self.runs.push(Run {
                    at_us: self.quiet_since,
                    sound: false,
                });
                self.quiet_streak = 0;
            }
        }
    }

    fn expected(&self) -> u64 {
        u64::from(self.highest_seq.wrapping_sub(u32::from(self.first_seq))) + 1
    }
}

/// What the sender did on one call.
#[derive(Default, Clone)]
struct Said {
    keys_us: Vec<u64>,
    talk_onsets_us: Vec<u64>,
    packets: u64,
    /// Lateness of each send against its schedule, µs.
    late_us: Vec<u32>,
}

struct Shared {
    heard: Mutex<HashMap<SocketAddr, Heard>>,
    new_calls: Mutex<Vec<(SocketAddr, u64)>>,
    stop: AtomicBool,
}

fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let k = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    Some(sorted[k.min(sorted.len() - 1)])
}

fn summary(mut values: Vec<f64>) -> serde_json::Value {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    serde_json::json!({
        "n": values.len(),
        "p50": percentile(&values, 50.0),
        "p90": percentile(&values, 90.0),
        "p99": percentile(&values, 99.0),
        "p999": percentile(&values, 99.9),
        "max": values.last(),
        "mean": if values.is_empty() { None } else { Some(values.iter().sum::<f64>() / values.len() as f64) },
    })
}

fn udp_rcvbuf_errors() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/net/snmp").ok()?;
    let mut lines = text.lines().filter(|l| l.starts_with("Udp:"));
    let names: Vec<&str> = lines.next()?.split_whitespace().collect();
    let values: Vec<&str> = lines.next()?.split_whitespace().collect();
    let i = names.iter().position(|n| *n == "RcvbufErrors")?;
    values.get(i)?.parse().ok()
}

fn receiver(socket: UdpSocket, shared: Arc<Shared>, start: Instant, quiet_packets: usize) {
    let mut buf = [0u8; 2048];
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("read timeout");
    while !shared.stop.load(Ordering::Relaxed) {
        let Ok((len, from)) = socket.recv_from(&mut buf) else {
            continue;
        };
        let now_us = start.elapsed().as_micros() as u64;
        let Ok(packet) = RtpPacket::parse(&buf[..len]) else {
            continue;
        };
        let mut heard = shared.heard.lock().unwrap();
        let entry = heard.entry(from).or_insert_with(|| {
            shared.new_calls.lock().unwrap().push((from, now_us));
            Heard::new(now_us, &packet)
        });
        entry.on_packet(now_us, &packet, quiet_packets);
    }
}

/// One call as the sender sees it.
struct Caller {
    to: SocketAddr,
    packetizer: Packetizer,
    next_us: u64,
    started_us: u64,
    audio_pos: usize,
    next_key_us: u64,
    key_index: usize,
    /// Event packets still to send: (when, payload, marker, timestamp).
    event: Vec<(u64, [u8; 4], bool, u32)>,
    event_until_us: u64,
    next_talk_us: u64,
    talk_pos: Option<usize>,
    said: Said,
    done: bool,
}

#[allow(clippy::too_many_lines)]
fn sender(
    socket: UdpSocket,
    shared: Arc<Shared>,
    start: Instant,
    args: Args,
) -> HashMap<SocketAddr, Said> {
    let mut rng = Rng(args.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut callers: Vec<Caller> = Vec::new();
    let mut out = Vec::with_capacity(256);
    let silence = [SILENCE; 160];
    let mut finished: HashMap<SocketAddr, Said> = HashMap::new();
    let talk_onset = args.talk.as_ref().map(|t| {
        // The first 20 ms frame with any sample louder than about −40 dBFS.
        t.chunks(160)
            .position(|c| {
                c.iter()
                    .any(|&b| switchyard_media::g711::ulaw_decode(b).unsigned_abs() > 330)
            })
            .unwrap_or(0)
    });
    loop {
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
        for (to, at_us) in shared.new_calls.lock().unwrap().drain(..) {
            let first_key = if args.dtmf_every_ms > 0 {
                at_us + args.dtmf_first_ms * 1000 + rng.below(args.dtmf_every_ms * 1000)
            } else {
                u64::MAX
            };
            let next_talk = if args.talk.is_some() && args.talk_every_ms > 0 {
                at_us + args.talk_first_ms * 1000
            } else {
                u64::MAX
            };
            let audio_len = args.audio.as_ref().map_or(1, |a| (a.len() / 160).max(1));
            callers.push(Caller {
                to,
                packetizer: Packetizer::new(
                    rng.next() as u32,
                    0,
                    rng.next() as u16,
                    rng.next() as u32,
                ),
                // Each call sends on its own phase: 5 ms after its first
                // packet arrived, then every 20 ms.
                next_us: at_us + 5_000,
                started_us: at_us,
                audio_pos: rng.below(audio_len as u64) as usize,
                next_key_us: first_key,
                key_index: 0,
                event: Vec::new(),
                event_until_us: 0,
                next_talk_us: next_talk,
                talk_pos: None,
                said: Said::default(),
                done: false,
            });
        }
        let now_us = start.elapsed().as_micros() as u64;
        let mut soonest = now_us + 2_000;
        // Calls that stopped sending to us for a second have ended.
        {
            let heard = shared.heard.lock().unwrap();
            for caller in callers.iter_mut() {
                if let Some(h) = heard.get(&caller.to)
                    && now_us.saturating_sub(h.last_us) > 1_000_000
                {
                    caller.done = true;
                }
            }
        }
        for caller in callers.iter_mut().filter(|c| c.done) {
            finished.insert(caller.to, std::mem::take(&mut caller.said));
        }
        callers.retain(|c| !c.done);
        for caller in callers.iter_mut() {
            // RFC 4733 packets due.
            while let Some(&(at, payload, marker, ts)) = caller.event.first() {
                if at > now_us {
                    soonest = soonest.min(at);
                    break;
                }
                out.clear();
                caller
                    .packetizer
                    .packetize_at(101, ts, marker, &payload, &mut out);
                let _ = socket.send_to(&out, caller.to);
                caller.event.remove(0);
            }
            if now_us >= caller.next_key_us && caller.event.is_empty() {
                let digit = "1234567890"[caller.key_index % 10..]
                    .chars()
                    .next()
                    .unwrap();
                caller.key_index += 1;
                let ts = caller.packetizer.next_timestamp();
                let packets = event_packets(digit, 100, 10, ts).expect("a key");
                let t0 = start.elapsed().as_micros() as u64;
                caller.said.keys_us.push(t0);
                for p in packets {
                    caller.event.push((
                        t0 + u64::from(p.send_at_ms) * 1000,
                        p.payload,
                        p.marker,
                        p.timestamp,
                    ));
                }
                caller.event_until_us = t0 + 100_000;
                // Send the first at once.
                let (_, payload, marker, ts) = caller.event.remove(0);
                out.clear();
                caller
                    .packetizer
                    .packetize_at(101, ts, marker, &payload, &mut out);
                let _ = socket.send_to(&out, caller.to);
                let jitter = rng.below(args.dtmf_jitter_ms * 1000);
                caller.next_key_us = t0 + args.dtmf_every_ms * 1000 + jitter;
            }
            if now_us >= caller.next_talk_us && caller.talk_pos.is_none() {
                caller.talk_pos = Some(0);
                caller.next_talk_us += args.talk_every_ms * 1000;
            }
            // Audio frames due (several if we fell behind: one per 20 ms).
            while caller.next_us <= now_us {
                let lateness = now_us - caller.next_us;
                caller
                    .said
                    .late_us
                    .push(lateness.min(u64::from(u32::MAX)) as u32);
                caller.next_us += FRAME_US;
                if caller.next_us - FRAME_US < caller.event_until_us {
                    // The key replaces the audio while it lasts.
                    caller.packetizer.skip(160);
                    continue;
                }
                let mut payload: &[u8] = &silence;
                if let (Some(talk), Some(pos)) = (&args.talk, caller.talk_pos) {
                    let frame = pos / 160;
                    if Some(frame) == talk_onset {
                        caller
                            .said
                            .talk_onsets_us
                            .push(start.elapsed().as_micros() as u64);
                    }
                    if pos + 160 <= talk.len() {
                        payload = &talk[pos..pos + 160];
                        caller.talk_pos = Some(pos + 160);
                    } else {
                        caller.talk_pos = None;
                    }
                } else if let Some(audio) = &args.audio {
                    let frames = (audio.len() / 160).max(1);
                    let f = caller.audio_pos % frames;
                    payload = &audio[f * 160..f * 160 + 160];
                    caller.audio_pos += 1;
                }
                out.clear();
                caller.packetizer.packetize(payload, 160, &mut out);
                let _ = socket.send_to(&out, caller.to);
                caller.said.packets += 1;
            }
            soonest = soonest.min(caller.next_us);
            let _ = caller.started_us;
        }
        let now_us = start.elapsed().as_micros() as u64;
        if soonest > now_us {
            std::thread::sleep(Duration::from_micros((soonest - now_us).min(2_000)));
        }
    }
    for caller in callers {
        finished.insert(caller.to, caller.said);
    }
    finished
}

/// The run (prompt or silence) going on at `t`, and the index of the next.
fn run_at(runs: &[Run], t: u64) -> (Option<Run>, usize) {
    let next = runs.partition_point(|r| r.at_us <= t);
    (next.checked_sub(1).map(|i| runs[i]), next)
}

fn main() {
    let args = parse_args();
    let socket = UdpSocket::bind(args.bind).expect("bind");
    // One socket takes every call's packets (50 a second each): the default
    // 208 KiB buffer overflows when this process is descheduled for a few
    // milliseconds, and the loss would be counted against the server.
    let _ = socket2::SockRef::from(&socket).set_recv_buffer_size(RECV_BUFFER);
    let start = Instant::now();
    let shared = Arc::new(Shared {
        heard: Mutex::new(HashMap::new()),
        new_calls: Mutex::new(Vec::new()),
        stop: AtomicBool::new(false),
    });
    let rcvbuf_errors_before = udp_rcvbuf_errors();
    let rx = {
        let socket = socket.try_clone().expect("clone");
        let shared = shared.clone();
        let quiet = args.quiet_packets;
        std::thread::spawn(move || receiver(socket, shared, start, quiet))
    };
    let tx = {
        let socket = socket.try_clone().expect("clone");
        let shared = shared.clone();
        let args = args.clone();
        std::thread::spawn(move || sender(socket, shared, start, args))
    };
    eprintln!(
        "bench_rtp_peer: listening on {}",
        socket.local_addr().unwrap()
    );
    // Run for --duration, or until every call has been silent for
    // --idle-exit after at least one came.
    let mut max_live = 0usize;
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let now_us = start.elapsed().as_micros() as u64;
        let (calls, live) = {
            let heard = shared.heard.lock().unwrap();
            let live = heard
                .values()
                .filter(|h| now_us.saturating_sub(h.last_us) < 1_000_000)
                .count();
            (heard.len(), live)
        };
        max_live = max_live.max(live);
        if start.elapsed() >= args.duration {
            break;
        }
        if calls > 0 && live == 0 {
            let last = shared
                .heard
                .lock()
                .unwrap()
                .values()
                .map(|h| h.last_us)
                .max()
                .unwrap_or(0);
            if now_us.saturating_sub(last) > args.idle_exit.as_micros() as u64 {
                break;
            }
        }
    }
    shared.stop.store(true, Ordering::Relaxed);
    let said = tx.join().expect("sender");
    rx.join().expect("receiver");
    let rcvbuf_errors_after = udp_rcvbuf_errors();

    let heard = std::mem::take(&mut *shared.heard.lock().unwrap());
    let mut pdv_ms = Vec::new();
    let mut ipdv_ms = Vec::new();
    let mut j_final = Vec::new();
    let mut j_max = Vec::new();
    let mut lost = 0i64;
    let mut expected = 0u64;
    let mut packets = 0u64;
    let mut reordered = 0u64;
    let mut key_to_prompt = Vec::new();
    let mut key_barge = Vec::new();
    let mut talk_barge = Vec::new();
    let mut unanswered_keys = 0u64;
    let mut late_us = Vec::new();
    let mut keys_sent = 0usize;
    let mut per_call = Vec::new();
    let mut pdv_p99_per_call = Vec::new();
    for (addr, h) in &heard {
        packets += h.packets;
        expected += h.expected();
        lost += h.expected() as i64 - h.packets as i64;
        reordered += h.reordered;
        if let Some(min) = h.transit.iter().min() {
            let mut mine: Vec<f64> = h
                .transit
                .iter()
                .map(|t| f64::from(t - min) / 1000.0)
                .collect();
            for w in h.transit.windows(2) {
                ipdv_ms.push(f64::from((w[1] - w[0]).abs()) / 1000.0);
            }
            pdv_ms.extend_from_slice(&mine);
            mine.sort_by(|a, b| a.partial_cmp(b).unwrap());
            pdv_p99_per_call.push(percentile(&mine, 99.0).unwrap_or(0.0));
        }
        j_final.push(h.jitter_j);
        j_max.push(h.jitter_j_max);
        let said = said.get(addr).cloned().unwrap_or_default();
        keys_sent += said.keys_us.len();
        late_us.extend(said.late_us.iter().map(|&u| f64::from(u) / 1000.0));
        for &t in &said.keys_us {
            let (now, next) = run_at(&h.runs, t);
            let playing = now.is_some_and(|r| r.sound);
            // The first change after the key: a prompt starting if it was
            // silent, silence starting if a prompt was playing.
            let answer = h.runs[next..].iter().find(|r| r.sound != playing);
            match (playing, answer) {
                (false, Some(r)) => key_to_prompt.push((r.at_us - t) as f64 / 1000.0),
                (true, Some(r)) => key_barge.push((r.at_us - t) as f64 / 1000.0),
                (_, None) => unanswered_keys += 1,
            }
        }
        for &t in &said.talk_onsets_us {
            let (now, next) = run_at(&h.runs, t);
            if now.is_some_and(|r| r.sound)
                && let Some(r) = h.runs[next..].iter().find(|r| !r.sound)
            {
                talk_barge.push((r.at_us - t) as f64 / 1000.0);
            }
        }
        if args.per_call {
            per_call.push(serde_json::json!({
                "from": addr.to_string(),
                "rtp_port": addr.port(),
                "ssrc": h.ssrc,
                "first_packet_unix_us": h.first_unix_us,
                "first_sound_unix_us": h.first_sound_unix_us,
                "first_packet_s": h.first_us as f64 / 1e6,
                "packets": h.packets,
                "lost": h.expected() as i64 - h.packets as i64,
                "jitter_j_ms": h.jitter_j,
                "keys": said.keys_us.len(),
            }));
        }
    }
    let result = serde_json::json!({
        "calls": heard.len(),
        "max_live_calls": max_live,
        "packets_received": packets,
        "packets_expected": expected,
        "packets_lost": lost,
        "loss_pct": if expected > 0 { 100.0 * lost as f64 / expected as f64 } else { 0.0 },
        "reordered": reordered,
        "udp_rcvbuf_errors": match (rcvbuf_errors_before, rcvbuf_errors_after) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a)),
            _ => None,
        },
        "pdv_ms_all_packets": summary(pdv_ms),
        "pdv_ms_p99_per_call": summary(pdv_p99_per_call),
        "ipdv_ms_all_packets": summary(ipdv_ms),
        "rfc3550_jitter_ms_final_per_call": summary(j_final),
        "rfc3550_jitter_ms_max_per_call": summary(j_max),
        "keys_sent": keys_sent,
        "keys_unanswered": unanswered_keys,
        "key_to_prompt_ms": summary(key_to_prompt),
        "key_barge_in_ms": summary(key_barge),
        "speech_barge_in_ms": summary(talk_barge),
        "send_lateness_ms": summary(late_us),
        "per_call": per_call,
    });
    let text = serde_json::to_string_pretty(&result).unwrap();
    if let Some(path) = &args.out {
        std::fs::write(path, format!("{text}\n")).expect("write --out");
    }
    println!("{text}");
}
