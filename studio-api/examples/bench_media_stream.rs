//! A Twilio media-stream client for benchmarks (docs/benchmarks-media.md).
//!
//! `load`: N simulated Twilio streams with the timeline and figures of the
//! Pipecat baseline's `loadclient.py` (../shared/bench/pipecat-baseline):
//! connections opened over a ramp, 20 ms `media` frames on an absolute
//! schedule looping a µ-law speech file from a random point, a `dtmf` every
//! `--dtmf-interval` s at a random phase during the window, then a drain
//! and `stop`. DTMF → first reply `media` is timed on the client, reply
//! messages are attributed to keys by count (`--prompt-frames` messages per
//! reply: 50 for Pipecat, 1 for Switchyard, which sends a prompt as one
//! message), and the server's CPU and RSS are read from /proc. It exists
//! because the Python client needs about a core per few hundred streams;
//! this one sends the same bytes at the same times with a fraction of it.
//! `--echo-marks` plays Twilio's part fully: marks come back when the audio
//! before them would have finished playing, at once after a `clear`.
//!
//! `latency KIND`: one stream at a time, sequential trials:
//! * `start`   — `start` sent → first `media` (a new stream per trial);
//! * `dtmf`    — key pressed while nothing plays → first `media` of the reply;
//! * `dtmf-during` — key pressed while the reply still plays → `clear`, and
//!   → first `media` of the new reply;
//! * `barge-key` — key during a long prompt → `clear`;
//! * `barge-speech` — onset of speech (`--talk FILE.ulaw`) during a long
//!   prompt → `clear`;
//! * `turn`    — the end of an utterance (`--talk`) → first `media` of the
//!   answer; the caller is silent after it.
//!
//! ```sh
//! cargo build --release -p switchyard-studio-api --example bench_media_stream
//! bench_media_stream load -n 1000 --url ws://127.0.0.1:8080/v1/media-stream?token=T \
//!     --speech speech.ulaw --server-pid PID --prompt-frames 1 --out n1000.json
//! bench_media_stream latency dtmf --trials 60 --url ... --echo-marks
//! ```

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// One resource sample: when, server CPU seconds, RSS (MiB), threads, the client's own CPU seconds.
type Sample = (Instant, f64, f64, u64, f64);
/// An utterance being sent: the frame it started at, its onset offset, who waits for its timings, when the onset went out.
type Talk = (
    usize,
    usize,
    Option<oneshot::Sender<(Instant, Instant)>>,
    Option<Instant>,
);

const FRAME: Duration = Duration::from_millis(20);
const SILENCE: u8 = 0xFF;

// ───────────────────────────── arguments ─────────────────────────────

#[derive(Debug, Clone)]
struct Args {
    mode: String,
    kind: String,
    url: String,
    token: Option<String>,
    n: usize,
    duration: f64,
    ramp: Option<f64>,
    warmup: f64,
    drain: f64,
    dtmf_interval: f64,
    prompt_frames: usize,
    speech: Option<Vec<u8>>,
    talk: Option<Vec<u8>>,
    server_pid: Option<u32>,
    out: Option<String>,
    seed: u64,
    threads: usize,
    echo_marks: bool,
    trials: usize,
    end_silence_ms: u64,
}

fn usage() -> ! {
    eprintln!(
        "usage: bench_media_stream load -n N --url URL --speech FILE [--token T] [--duration S] \
         [--ramp S] [--warmup S] [--drain S] [--dtmf-interval S] [--prompt-frames N] \
         [--server-pid PID] [--echo-marks] [--threads N] [--out FILE] [--seed N]\n       \
         bench_media_stream latency start|dtmf|dtmf-during|barge-key|barge-speech|turn --url URL \
         [--token T] [--trials N] [--talk FILE] [--echo-marks] [--end-silence-ms MS] [--out FILE]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut it = std::env::args().skip(1);
    let mode = it.next().unwrap_or_else(|| usage());
    let kind = if mode == "latency" {
        it.next().unwrap_or_else(|| usage())
    } else {
        String::new()
    };
    let mut a = Args {
        mode,
        kind,
        url: String::new(),
        token: None,
        n: 1,
        duration: 45.0,
        ramp: None,
        warmup: 5.0,
        drain: 4.0,
        dtmf_interval: 5.0,
        prompt_frames: 1,
        speech: None,
        talk: None,
        server_pid: None,
        out: None,
        seed: 1,
        threads: 1,
        echo_marks: false,
        trials: 60,
        end_silence_ms: 700,
    };
    while let Some(flag) = it.next() {
        let mut v = || it.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "-n" => a.n = v().parse().unwrap_or_else(|_| usage()),
            "--url" => a.url = v(),
            "--token" => a.token = Some(v()),
            "--duration" => a.duration = v().parse().unwrap_or_else(|_| usage()),
            "--ramp" => a.ramp = Some(v().parse().unwrap_or_else(|_| usage())),
            "--warmup" => a.warmup = v().parse().unwrap_or_else(|_| usage()),
            "--drain" => a.drain = v().parse().unwrap_or_else(|_| usage()),
            "--dtmf-interval" => a.dtmf_interval = v().parse().unwrap_or_else(|_| usage()),
            "--prompt-frames" => a.prompt_frames = v().parse().unwrap_or_else(|_| usage()),
            "--speech" => a.speech = Some(std::fs::read(v()).expect("--speech file")),
            "--talk" => a.talk = Some(std::fs::read(v()).expect("--talk file")),
            "--server-pid" => a.server_pid = Some(v().parse().unwrap_or_else(|_| usage())),
            "--out" => a.out = Some(v()),
            "--seed" => a.seed = v().parse().unwrap_or_else(|_| usage()),
            "--threads" => a.threads = v().parse().unwrap_or_else(|_| usage()),
            "--echo-marks" => a.echo_marks = true,
            "--trials" => a.trials = v().parse().unwrap_or_else(|_| usage()),
            "--end-silence-ms" => a.end_silence_ms = v().parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    if a.url.is_empty() {
        usage();
    }
    a
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn pct(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let k = ((p / 100.0) * (v.len() - 1) as f64).round() as usize;
    Some(v[k.min(v.len() - 1)])
}

fn summary(values: &[f64]) -> Value {
    json!({
        "n": values.len(),
        "p50": pct(values, 50.0),
        "p90": pct(values, 90.0),
        "p99": pct(values, 99.0),
        "max": values.iter().cloned().fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x)))),
        "min": values.iter().cloned().fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.min(x)))),
    })
}

// ───────────────────────────── /proc ─────────────────────────────

fn clk_tck() -> f64 {
    100.0
}

/// utime + stime of a process, seconds, and its thread count.
fn proc_cpu(pid: &str) -> Option<(f64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = text.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ut: f64 = f.get(11)?.parse().ok()?;
    let st: f64 = f.get(12)?.parse().ok()?;
    let threads: u64 = f.get(17)?.parse().ok()?;
    Some(((ut + st) / clk_tck(), threads))
}

fn proc_rss_mib(pid: &str) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse::<f64>()
        .ok()
        .map(|kib| kib / 1024.0)
}

/// (busy, total, irq+softirq) jiffies of the whole host.
fn host_cpu() -> (f64, f64, f64) {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let line = text.lines().next().unwrap_or_default();
    let v: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|x| x.parse().ok())
        .collect();
    if v.len() < 8 {
        return (0.0, 1.0, 0.0);
    }
    let total: f64 = v.iter().sum();
    let idle = v[3] + v[4];
    (total - idle, total, v[5] + v[6])
}

fn ncpus() -> f64 {
    std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64)
}

// ───────────────────────────── the Twilio side ─────────────────────────────

fn start_message(sid: &str, token: Option<&str>) -> String {
    let params = match token {
        Some(t) => json!({"token": t}),
        None => json!({}),
    };
    json!({
        "event": "start",
        "sequenceNumber": "1",
        "start": {
            "accountSid": format!("AC{}", "0".repeat(32)),
            "streamSid": sid,
            "callSid": format!("CA{}", &sid[2..]),
            "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            "customParameters": params,
        },
        "streamSid": sid,
    })
    .to_string()
}

/// What the server sent.
#[derive(Debug)]
enum Heard {
    Media(Vec<u8>),
    Mark(String),
    Clear,
    Closed,
}

/// What the writer task is asked to do besides the 20 ms frames.
enum Cmd {
    /// Send a key now; reply with the instant it was written.
    Dtmf(char, Option<oneshot::Sender<Instant>>),
    Mark(String),
    /// Queue caller audio; reply with the instant the frame at `onset`
    /// (index of 20 ms frame) was written, and the instant the last was.
    Talk(Vec<u8>, usize, Option<oneshot::Sender<(Instant, Instant)>>),
    Stop,
}

/// Twilio's playback, as far as marks go: audio plays in order in real
/// time; a mark comes back when the audio before it has played, or at once
/// when a `clear` drops that audio.
struct Player {
    play_end: Instant,
    marks: VecDeque<(Instant, String)>,
}

impl Player {
    fn new() -> Self {
        Self {
            play_end: Instant::now(),
            marks: VecDeque::new(),
        }
    }
    fn media(&mut self, at: Instant, bytes: usize) {
        self.play_end = self.play_end.max(at) + Duration::from_micros(bytes as u64 * 125);
    }
    fn mark(&mut self, at: Instant, name: String) {
        self.marks.push_back((self.play_end.max(at), name));
    }
    fn clear(&mut self, at: Instant) -> Vec<String> {
        self.play_end = at;
        self.marks.drain(..).map(|(_, n)| n).collect()
    }
    fn due(&mut self, now: Instant) -> Vec<String> {
        let mut out = Vec::new();
        while self.marks.front().is_some_and(|(t, _)| *t <= now) {
            out.push(self.marks.pop_front().unwrap().1);
        }
        out
    }
    fn next_due(&self) -> Option<Instant> {
        self.marks.front().map(|(t, _)| *t)
    }
}

fn parse_heard(text: &str) -> Option<Heard> {
    // Cheap checks first: media is by far the most common.
    let v: Value = serde_json::from_str(text).ok()?;
    match v["event"].as_str()? {
        "media" => Some(Heard::Media(
            B64.decode(v["media"]["payload"].as_str().unwrap_or_default())
                .unwrap_or_default(),
        )),
        "mark" => Some(Heard::Mark(
            v["mark"]["name"].as_str().unwrap_or_default().to_owned(),
        )),
        "clear" => Some(Heard::Clear),
        _ => None,
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: &str) -> Result<Ws, String> {
    let (ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .map_err(|e| e.to_string())?;
    Ok(ws)
}

// ───────────────────────────── load ─────────────────────────────

struct Timeline {
    t_connect: Instant,
    t_win_start: Instant,
    t_win_end: Instant,
    t_end: Instant,
}

#[derive(Default)]
struct StreamResult {
    connected: bool,
    error: Option<String>,
    dtmf_sent: Vec<Instant>,
    reply_first: Vec<Instant>,
    reply_last: Vec<Instant>,
    reply_frames: usize,
    reply_bytes: usize,
    clears: usize,
    lateness: Vec<f64>,
    media_sent: u64,
}

async fn run_stream(
    idx: usize,
    args: Arc<Args>,
    payloads: Arc<Vec<String>>,
    tl: Timeline,
    seed: u64,
) -> StreamResult {
    let mut res = StreamResult::default();
    tokio::time::sleep_until(tl.t_connect).await;
    let ws = match connect(&args.url).await {
        Ok(ws) => ws,
        Err(e) => {
            res.error = Some(e);
            return res;
        }
    };
    res.connected = true;
    let sid = format!("MZ{idx:032x}");
    let (mut sink, mut stream) = ws.split();
    let hello = json!({"event": "connected", "protocol": "Call", "version": "1.0.0"}).to_string();
    if sink.send(Message::text(hello)).await.is_err()
        || sink
            .send(Message::text(start_message(&sid, args.token.as_deref())))
            .await
            .is_err()
    {
        res.error = Some("send failed".into());
        return res;
    }
    let (cmd_tx, mut cmd_rx) = mpsc::unbounded_channel::<Cmd>();
    let shared = Arc::new(Mutex::new(StreamResult::default()));
    // Reader: replies, attributed by count; marks echoed if asked.
    let reader = {
        let shared = shared.clone();
        let args = args.clone();
        let cmd_tx = cmd_tx.clone();
        tokio::spawn(async move {
            let pf = args.prompt_frames.max(1);
            let mut player = Player::new();
            loop {
                let wait = player
                    .next_due()
                    .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
                tokio::select! {
                    msg = stream.next() => {
                        let t = Instant::now();
                        let Some(Ok(msg)) = msg else { break };
                        let Message::Text(text) = msg else { continue };
                        match parse_heard(&text) {
                            Some(Heard::Media(bytes)) => {
                                let mut r = shared.lock().await;
                                let n = r.reply_frames;
                                if n % pf == 0 {
                                    r.reply_first.push(t);
                                }
                                if n % pf == pf - 1 {
                                    r.reply_last.push(t);
                                }
                                r.reply_frames += 1;
                                r.reply_bytes += bytes.len();
                                player.media(t, bytes.len());
                            }
                            Some(Heard::Mark(name)) => player.mark(t, name),
                            Some(Heard::Clear) => {
                                shared.lock().await.clears += 1;
                                for name in player.clear(t) {
                                    if args.echo_marks { let _ = cmd_tx.send(Cmd::Mark(name)); }
                                }
                            }
                            _ => {}
                        }
                    }
                    () = tokio::time::sleep_until(wait) => {
                        for name in player.due(Instant::now()) {
                            if args.echo_marks { let _ = cmd_tx.send(Cmd::Mark(name)); }
                        }
                    }
                }
            }
        })
    };
    // Writer: media on an absolute schedule, keys in the window.
    let mut rng = Rng(seed | 1);
    let npay = payloads.len();
    let offset = (rng.next() % npay as u64) as usize;
    let t0 = Instant::now();
    let mut next_dtmf = tl.t_win_start + Duration::from_secs_f64(rng.unit() * args.dtmf_interval);
    let mut k: u64 = 0;
    let mut seq: u64 = 2;
    let mut dtmf_count = 0usize;
    let mut ok = true;
    loop {
        let sched = t0 + FRAME * k as u32;
        if sched >= tl.t_end {
            break;
        }
        // Marks to echo while waiting for the next frame.
        loop {
            tokio::select! {
                biased;
                () = tokio::time::sleep_until(sched) => break,
                cmd = cmd_rx.recv() => {
                    if let Some(Cmd::Mark(name)) = cmd {
                        let m = json!({"event": "mark", "streamSid": sid, "sequenceNumber": seq.to_string(), "mark": {"name": name}}).to_string();
                        seq += 1;
                        if sink.send(Message::text(m)).await.is_err() { ok = false; break; }
                    }
                }
            }
        }
        if !ok {
            break;
        }
        let now = Instant::now();
        if sched >= tl.t_win_start && sched < tl.t_win_end {
            res.lateness.push((now - sched).as_secs_f64() * 1000.0);
        }
        let payload = &payloads[(offset + k as usize) % npay];
        let m = format!(
            "{{\"event\":\"media\",\"sequenceNumber\":\"{seq}\",\"media\":{{\"track\":\"inbound\",\"chunk\":\"{}\",\"timestamp\":\"{}\",\"payload\":\"{payload}\"}},\"streamSid\":\"{sid}\"}}",
            k + 1,
            k * 20
        );
        if sink.send(Message::text(m)).await.is_err() {
            break;
        }
        res.media_sent += 1;
        seq += 1;
        k += 1;
        if sched >= next_dtmf && next_dtmf < tl.t_win_end {
            let digit = "1234567890".chars().nth(dtmf_count % 10).unwrap();
            dtmf_count += 1;
            let m = format!(
                "{{\"event\":\"dtmf\",\"streamSid\":\"{sid}\",\"sequenceNumber\":\"{seq}\",\"dtmf\":{{\"track\":\"inbound_track\",\"digit\":\"{digit}\"}}}}"
            );
            res.dtmf_sent.push(Instant::now());
            if sink.send(Message::text(m)).await.is_err() {
                break;
            }
            seq += 1;
            next_dtmf += Duration::from_secs_f64(args.dtmf_interval);
        }
    }
    let stop = json!({"event": "stop", "sequenceNumber": seq.to_string(), "streamSid": sid,
                      "stop": {"accountSid": format!("AC{}", "0".repeat(32)), "callSid": format!("CA{}", &sid[2..])}})
    .to_string();
    let _ = sink.send(Message::text(stop)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _ = sink.close().await;
    reader.abort();
    let _ = reader.await;
    let r = std::mem::take(&mut *shared.lock().await);
    res.reply_first = r.reply_first;
    res.reply_last = r.reply_last;
    res.reply_frames = r.reply_frames;
    res.reply_bytes = r.reply_bytes;
    res.clears = r.clears;
    res
}

#[allow(clippy::too_many_lines)]
async fn load(args: Args) -> Value {
    let args = Arc::new(args);
    let audio = args.speech.clone().expect("--speech FILE");
    let payloads: Arc<Vec<String>> =
        Arc::new(audio.chunks_exact(160).map(|c| B64.encode(c)).collect());
    let n = args.n;
    let ramp = args
        .ramp
        .unwrap_or_else(|| (n as f64 * 0.05).clamp(1.0, 10.0));
    let t_start = Instant::now() + Duration::from_millis(500);
    let t_win_start = t_start + Duration::from_secs_f64(ramp + args.warmup);
    let t_win_end = t_win_start + Duration::from_secs_f64(args.duration);
    let t_end = t_win_end + Duration::from_secs_f64(args.drain);
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let tl = Timeline {
            t_connect: t_start + Duration::from_secs_f64(ramp * i as f64 / n as f64),
            t_win_start,
            t_win_end,
            t_end,
        };
        tasks.push(tokio::spawn(run_stream(
            i,
            args.clone(),
            payloads.clone(),
            tl,
            args.seed
                .wrapping_mul(7919)
                .wrapping_add(i as u64 * 104_729 + 1),
        )));
    }
    // Resource samples once a second; window marks.
    let pid = args.server_pid.map(|p| p.to_string());
    let samples: Arc<std::sync::Mutex<Vec<Sample>>> = Arc::default();
    let sampler = {
        let pid = pid.clone();
        let samples = samples.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                if let Some(pid) = &pid
                    && let (Some((cpu, th)), Some(rss)) = (proc_cpu(pid), proc_rss_mib(pid))
                {
                    let self_cpu = proc_cpu("self").map_or(0.0, |c| c.0);
                    samples
                        .lock()
                        .unwrap()
                        .push((Instant::now(), cpu, rss, th, self_cpu));
                }
            }
        })
    };
    let rss_idle = pid.as_deref().and_then(proc_rss_mib);
    tokio::time::sleep_until(t_win_start).await;
    let w0 = (
        Instant::now(),
        host_cpu(),
        proc_cpu("self").map_or(0.0, |c| c.0),
        pid.as_deref().and_then(proc_cpu).map_or(0.0, |c| c.0),
    );
    tokio::time::sleep_until(t_win_end).await;
    let w1 = (
        Instant::now(),
        host_cpu(),
        proc_cpu("self").map_or(0.0, |c| c.0),
        pid.as_deref().and_then(proc_cpu).map_or(0.0, |c| c.0),
    );
    let rss_end = pid.as_deref().and_then(proc_rss_mib);
    let mut results = Vec::with_capacity(n);
    for t in tasks {
        results.push(t.await.unwrap_or_default());
    }
    sampler.abort();

    let third = args.duration / 3.0;
    let mut lat = Vec::new();
    let mut thirds = [Vec::new(), Vec::new(), Vec::new()];
    let mut unanswered = 0usize;
    let mut dtmf_total = 0usize;
    let mut burst = Vec::new();
    let mut lateness = Vec::new();
    let mut reply_frames = 0usize;
    let mut reply_bytes = 0usize;
    let mut clears = 0usize;
    let mut partial = 0usize;
    let mut errors = Vec::new();
    let mut connected = 0usize;
    let mut media_sent = 0u64;
    for s in &results {
        connected += usize::from(s.connected);
        if let Some(e) = &s.error {
            errors.push(e.clone());
        }
        dtmf_total += s.dtmf_sent.len();
        reply_frames += s.reply_frames;
        reply_bytes += s.reply_bytes;
        clears += s.clears;
        media_sent += s.media_sent;
        lateness.extend_from_slice(&s.lateness);
        if s.reply_frames % args.prompt_frames.max(1) != 0 {
            partial += 1;
        }
        for (j, sent) in s.dtmf_sent.iter().enumerate() {
            if let Some(first) = s.reply_first.get(j) {
                let l = (*first - *sent).as_secs_f64() * 1000.0;
                lat.push(l);
                let b = (((*sent - t_win_start).as_secs_f64() / third) as usize).min(2);
                thirds[b].push(l);
            } else {
                unanswered += 1;
            }
        }
        for (f, l) in s.reply_first.iter().zip(&s.reply_last) {
            if l >= f {
                burst.push((*l - *f).as_secs_f64() * 1000.0);
            }
        }
    }
    let wall = (w1.0 - w0.0).as_secs_f64();
    let (hb0, ht0, hi0) = w0.1;
    let (hb1, ht1, hi1) = w1.1;
    let host_busy_s = (hb1 - hb0) / clk_tck();
    let host_irq_s = (hi1 - hi0) / clk_tck();
    let client_cpu_s = w1.2 - w0.2;
    let server_cpu_s = w1.3 - w0.3;
    let samples = samples.lock().unwrap().clone();
    let mut per_sec = Vec::new();
    for w in samples.windows(2) {
        if w[0].0 >= t_win_start && w[1].0 <= t_win_end {
            let dt = (w[1].0 - w[0].0).as_secs_f64();
            per_sec.push(100.0 * (w[1].1 - w[0].1) / dt);
        }
    }
    let rss_max = samples.iter().map(|s| s.2).fold(0.0, f64::max);
    let threads_max = samples.iter().map(|s| s.3).max().unwrap_or(0);
    let mut res = json!({
        "client": "bench_media_stream (Rust port of loadclient.py)",
        "n": n,
        "duration_s": args.duration,
        "ramp_s": ramp,
        "echo_marks": args.echo_marks,
        "connected": connected,
        "errors": errors.len(),
        "error_samples": errors.iter().take(5).collect::<Vec<_>>(),
        "dtmf_sent": dtmf_total,
        "dtmf_answered": lat.len(),
        "dtmf_unanswered": unanswered,
        "reply_frames": reply_frames,
        "reply_frames_expected": lat.len() * args.prompt_frames.max(1),
        "reply_bytes_per_reply": if lat.is_empty() { 0.0 } else { reply_bytes as f64 / reply_frames.max(1) as f64 * args.prompt_frames.max(1) as f64 },
        "clears_received": clears,
        "streams_with_partial_prompt": partial,
        "lat_ms_p50": pct(&lat, 50.0),
        "lat_ms_p90": pct(&lat, 90.0),
        "lat_ms_p99": pct(&lat, 99.0),
        "lat_ms_max": lat.iter().cloned().fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x)))),
        "lat_ms_p50_by_third": thirds.iter().map(|t| pct(t, 50.0)).collect::<Vec<_>>(),
        "lat_ms_p99_by_third": thirds.iter().map(|t| pct(t, 99.0)).collect::<Vec<_>>(),
        "prompt_burst_ms_p50": pct(&burst, 50.0),
        "send_lateness_ms_p50": pct(&lateness, 50.0),
        "send_lateness_ms_p99": pct(&lateness, 99.0),
        "send_lateness_ms_max": lateness.iter().cloned().fold(0.0, f64::max),
        "media_sent": media_sent,
        "client_cpu_pct": 100.0 * client_cpu_s / wall,
        "host_cpu_busy_pct": 100.0 * (hb1 - hb0) / (ht1 - ht0) * ncpus(),
        "host_irq_softirq_pct": 100.0 * host_irq_s / wall,
    });
    if pid.is_some() {
        let o = res.as_object_mut().unwrap();
        o.insert("server_cpu_s".into(), json!(server_cpu_s));
        o.insert("server_cpu_pct".into(), json!(100.0 * server_cpu_s / wall));
        o.insert(
            "server_cpu_pct_per_stream".into(),
            json!(100.0 * server_cpu_s / wall / n as f64),
        );
        o.insert(
            "server_cpu_pct_max_1s".into(),
            json!(per_sec.iter().cloned().fold(0.0, f64::max)),
        );
        o.insert("server_rss_mib_idle".into(), json!(rss_idle));
        o.insert("server_rss_mib_end".into(), json!(rss_end));
        o.insert("server_rss_mib_max".into(), json!(rss_max));
        o.insert(
            "server_rss_kib_per_stream".into(),
            json!(rss_idle.map(|idle| (rss_max - idle) * 1024.0 / n as f64)),
        );
        o.insert("server_threads_max".into(), json!(threads_max));
        o.insert(
            "other_cpu_pct".into(),
            json!(100.0 * (host_busy_s - host_irq_s - server_cpu_s - client_cpu_s) / wall),
        );
    }
    res
}

// ───────────────────────────── latency ─────────────────────────────

/// One stream driven step by step.
struct Caller {
    cmd: mpsc::UnboundedSender<Cmd>,
    heard: mpsc::UnboundedReceiver<(Instant, Heard)>,
    player: Player,
    start_sent: Instant,
}

impl Caller {
    async fn open(args: &Args, idx: usize) -> Result<Self, String> {
        let ws = connect(&args.url).await?;
        let (mut sink, mut stream) = ws.split();
        let sid = format!("MZ{idx:032x}");
        sink.send(Message::text(
            json!({"event": "connected", "protocol": "Call", "version": "1.0.0"}).to_string(),
        ))
        .await
        .map_err(|e| e.to_string())?;
        let start_sent = Instant::now();
        sink.send(Message::text(start_message(&sid, args.token.as_deref())))
            .await
            .map_err(|e| e.to_string())?;
        let (heard_tx, heard) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(msg) = stream.next().await {
                let t = Instant::now();
                match msg {
                    Ok(Message::Text(text)) => {
                        if let Some(h) = parse_heard(&text)
                            && heard_tx.send((t, h)).is_err()
                        {
                            return;
                        }
                    }
                    Ok(Message::Close(_)) | Err(_) => {
                        let _ = heard_tx.send((t, Heard::Closed));
                        return;
                    }
                    Ok(_) => {}
                }
            }
            let _ = heard_tx.send((Instant::now(), Heard::Closed));
        });
        let (cmd, mut cmd_rx) = mpsc::unbounded_channel::<Cmd>();
        let sid2 = sid.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(FRAME);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut queued: VecDeque<u8> = VecDeque::new();
            let mut frame_no: usize = 0;
            let mut talk: Option<Talk> = None;
            let mut chunk: u64 = 0;
            let mut seq: u64 = 2;
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        let mut payload = [SILENCE; 160];
                        let had_audio = !queued.is_empty();
                        for b in payload.iter_mut() {
                            if let Some(x) = queued.pop_front() { *b = x; }
                        }
                        chunk += 1;
                        let m = format!(
                            "{{\"event\":\"media\",\"sequenceNumber\":\"{seq}\",\"media\":{{\"track\":\"inbound\",\"chunk\":\"{chunk}\",\"timestamp\":\"{}\",\"payload\":\"{}\"}},\"streamSid\":\"{sid2}\"}}",
                            chunk * 20, B64.encode(payload));
                        seq += 1;
                        if sink.send(Message::text(m)).await.is_err() { return; }
                        let now = Instant::now();
                        if had_audio && let Some((start_frame, onset, _, onset_at)) = talk.as_mut() {
                            if frame_no == *start_frame + *onset && onset_at.is_none() {
                                *onset_at = Some(now);
                            }
                            if queued.is_empty() {
                                let (_, _, reply, onset_at) = talk.take().unwrap();
                                if let Some(reply) = reply { let _ = reply.send((onset_at.unwrap_or(now), now)); }
                            }
                        }
                        frame_no += 1;
                    }
                    cmd = cmd_rx.recv() => {
                        let m = match cmd {
                            None | Some(Cmd::Stop) => {
                                let _ = sink.send(Message::text(json!({"event": "stop", "streamSid": sid2,
                                    "stop": {"accountSid": "AC0", "callSid": "CA0"}}).to_string())).await;
                                let _ = sink.close().await;
                                return;
                            }
                            Some(Cmd::Dtmf(d, reply)) => {
                                let m = json!({"event": "dtmf", "streamSid": sid2, "sequenceNumber": seq.to_string(),
                                    "dtmf": {"track": "inbound_track", "digit": d.to_string()}}).to_string();
                                seq += 1;
                                let t = Instant::now();
                                if sink.send(Message::text(m)).await.is_err() { return; }
                                if let Some(reply) = reply { let _ = reply.send(t); }
                                continue;
                            }
                            Some(Cmd::Mark(name)) => {
                                let m = json!({"event": "mark", "streamSid": sid2, "sequenceNumber": seq.to_string(), "mark": {"name": name}}).to_string();
                                seq += 1;
                                m
                            }
                            Some(Cmd::Talk(bytes, onset, reply)) => {
                                queued.extend(bytes);
                                talk = Some((frame_no, onset, reply, None));
                                continue;
                            }
                        };
                        if sink.send(Message::text(m)).await.is_err() { return; }
                    }
                }
            }
        });
        Ok(Self {
            cmd,
            heard,
            player: Player::new(),
            start_sent,
        })
    }

    /// The next thing heard (marks echoed Twilio's way meanwhile), or
    /// `None` after `limit`.
    async fn next(&mut self, limit: Duration, echo: bool) -> Option<(Instant, Heard)> {
        let deadline = Instant::now() + limit;
        loop {
            let wake = self.player.next_due().unwrap_or(deadline).min(deadline);
            tokio::select! {
                got = self.heard.recv() => {
                    let (t, h) = got?;
                    match &h {
                        Heard::Media(b) => self.player.media(t, b.len()),
                        Heard::Mark(name) => self.player.mark(t, name.clone()),
                        Heard::Clear => {
                            for name in self.player.clear(t) {
                                if echo { let _ = self.cmd.send(Cmd::Mark(name)); }
                            }
                        }
                        Heard::Closed => {}
                    }
                    return Some((t, h));
                }
                () = tokio::time::sleep_until(wake) => {
                    for name in self.player.due(Instant::now()) {
                        if echo { let _ = self.cmd.send(Cmd::Mark(name)); }
                    }
                    if Instant::now() >= deadline { return None; }
                }
            }
        }
    }

    async fn key(&self, digit: char) -> Instant {
        let (tx, rx) = oneshot::channel();
        let _ = self.cmd.send(Cmd::Dtmf(digit, Some(tx)));
        rx.await.unwrap_or_else(|_| Instant::now())
    }

    /// Waits (listening) for `d`.
    async fn idle(&mut self, d: Duration, echo: bool) {
        let until = Instant::now() + d;
        while Instant::now() < until {
            let left = until - Instant::now();
            if self.next(left, echo).await.is_none() {
                break;
            }
        }
    }

    /// Waits for a `media` message with sound in it; returns when it came
    /// and its audio.
    async fn prompt(&mut self, limit: Duration, echo: bool) -> Option<(Instant, Vec<u8>)> {
        let until = Instant::now() + limit;
        loop {
            let left = until.checked_duration_since(Instant::now())?;
            match self.next(left, echo).await? {
                (t, Heard::Media(b)) if b.iter().any(|&x| x != SILENCE && x != 0x7F) => {
                    return Some((t, b));
                }
                (_, Heard::Closed) => return None,
                _ => {}
            }
        }
    }

    fn stop(&self) {
        let _ = self.cmd.send(Cmd::Stop);
    }
}

/// The most consecutive all-silent 20 ms frames between the first and the
/// last frame with sound (what a listener on RTP could mistake for the
/// prompt having stopped).
fn longest_quiet_run(audio: &[u8]) -> usize {
    let quiet: Vec<bool> = audio
        .chunks(160)
        .map(|c| c.iter().all(|&b| b == SILENCE || b == 0x7F))
        .collect();
    let Some(first) = quiet.iter().position(|q| !q) else {
        return 0;
    };
    let last = quiet.iter().rposition(|q| !q).unwrap_or(first);
    let (mut best, mut run) = (0, 0);
    for &q in &quiet[first..=last] {
        run = if q { run + 1 } else { 0 };
        best = best.max(run);
    }
    best
}

fn onset_frame(talk: &[u8]) -> usize {
    talk.chunks(160)
        .position(|c| {
            c.iter()
                .any(|&b| switchyard_media::g711::ulaw_decode(b).unsigned_abs() > 330)
        })
        .unwrap_or(0)
}

/// The last frame with speech in it (same threshold).
fn last_voiced_frame(talk: &[u8]) -> usize {
    let frames: Vec<&[u8]> = talk.chunks(160).collect();
    frames
        .iter()
        .rposition(|c| {
            c.iter()
                .any(|&b| switchyard_media::g711::ulaw_decode(b).unsigned_abs() > 330)
        })
        .unwrap_or(frames.len().saturating_sub(1))
}

#[allow(clippy::too_many_lines)]
async fn latency(args: Args) -> Value {
    let echo = args.echo_marks;
    let mut rng = Rng(args.seed | 1);
    let mut a = Vec::new(); // the figure
    let mut b = Vec::new(); // a second figure where the kind has one
    let mut notes = Vec::new();
    let stamp = AtomicU64::new(0);
    match args.kind.as_str() {
        "start" => {
            for i in 0..args.trials {
                let mut c = match Caller::open(&args, 1000 + i).await {
                    Ok(c) => c,
                    Err(e) => {
                        notes.push(format!("connect failed: {e}"));
                        continue;
                    }
                };
                if let Some((t, bytes)) = c.prompt(Duration::from_secs(10), echo).await {
                    a.push((t - c.start_sent).as_secs_f64() * 1000.0);
                    stamp.store(bytes.len() as u64, Ordering::Relaxed);
                }
                c.stop();
                tokio::time::sleep(Duration::from_millis(300 + (rng.unit() * 200.0) as u64)).await;
            }
            notes.push(format!(
                "first prompt bytes: {}",
                stamp.load(Ordering::Relaxed)
            ));
        }
        "dtmf" | "dtmf-during" => {
            let mut c = Caller::open(&args, 1).await.expect("connect");
            c.idle(Duration::from_millis(500), echo).await;
            // Warm the prompt cache.
            c.key('1').await;
            let _ = c.prompt(Duration::from_secs(10), echo).await;
            c.idle(Duration::from_millis(1500), echo).await;
            for i in 0..args.trials {
                let digit = "1234567890".chars().nth(i % 10).unwrap();
                if args.kind == "dtmf" {
                    // Nothing playing: wait for the reply to end, then a
                    // random 0.2–0.7 s more (a random phase against the
                    // server's timers).
                    let left = c.player.play_end.saturating_duration_since(Instant::now());
                    c.idle(
                        left + Duration::from_millis(200 + (rng.unit() * 500.0) as u64),
                        echo,
                    )
                    .await;
                    let sent = c.key(digit).await;
                    let mut cleared = false;
                    loop {
                        match c.next(Duration::from_secs(10), echo).await {
                            Some((t, Heard::Media(_))) => {
                                a.push((t - sent).as_secs_f64() * 1000.0);
                                break;
                            }
                            Some((_, Heard::Clear)) => cleared = true,
                            Some((_, Heard::Closed)) | None => {
                                notes.push("no reply".into());
                                break;
                            }
                            _ => {}
                        }
                    }
                    if cleared {
                        notes.push(format!("trial {i}: a clear came first"));
                    }
                } else {
                    // The reply is playing (0.1–0.6 s into it).
                    let (_, _) = match c.prompt(Duration::from_secs(10), echo).await {
                        Some(p) => p,
                        None => {
                            // First trial: make one play.
                            (Instant::now(), Vec::new())
                        }
                    };
                    tokio::time::sleep(Duration::from_millis(100 + (rng.unit() * 500.0) as u64))
                        .await;
                    let sent = c.key(digit).await;
                    let mut got_clear = None;
                    loop {
                        match c.next(Duration::from_secs(10), echo).await {
                            Some((t, Heard::Clear)) => got_clear = Some(t),
                            Some((t, Heard::Media(_))) => {
                                if let Some(cl) = got_clear {
                                    b.push((cl - sent).as_secs_f64() * 1000.0);
                                }
                                a.push((t - sent).as_secs_f64() * 1000.0);
                                break;
                            }
                            Some((_, Heard::Closed)) | None => break,
                            _ => {}
                        }
                    }
                    // Let the reply play a little before the next key
                    // (the loop waits for the next prompt: send a key to
                    // have one).
                    let digit = "1234567890".chars().nth((i + 5) % 10).unwrap();
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    c.key(digit).await;
                }
            }
            c.stop();
            if args.kind == "dtmf-during" {
                notes.push("a: key → first media of the new reply; b: key → clear".into());
            }
        }
        "barge-key" | "barge-speech" => {
            let talk = args.talk.clone();
            if args.kind == "barge-speech" && talk.is_none() {
                usage();
            }
            let onset = talk.as_deref().map_or(0, onset_frame);
            let mut c = Caller::open(&args, 1).await.expect("connect");
            for i in 0..args.trials {
                // The long prompt starts; barge in 0.8–3 s into it.
                let Some((_, bytes)) = c.prompt(Duration::from_secs(30), echo).await else {
                    notes.push(format!("trial {i}: no prompt"));
                    break;
                };
                if i == 0 {
                    notes.push(format!(
                        "prompt: {:.2} s; longest run of silent 20 ms frames inside it: {}",
                        bytes.len() as f64 / 8000.0,
                        longest_quiet_run(&bytes)
                    ));
                }
                c.idle(
                    Duration::from_millis(800 + (rng.unit() * 2200.0) as u64),
                    echo,
                )
                .await;
                let sent = if args.kind == "barge-key" {
                    c.key('5').await
                } else {
                    let (tx, rx) = oneshot::channel();
                    let _ = c
                        .cmd
                        .send(Cmd::Talk(talk.clone().unwrap(), onset, Some(tx)));
                    // The onset instant is known when the onset frame went.
                    let mut onset_at = None;
                    let mut rx = rx;
                    let mut cleared_at = None;
                    loop {
                        tokio::select! {
                            r = &mut rx, if onset_at.is_none() => {
                                if let Ok((o, _)) = r { onset_at = Some(o); }
                                if cleared_at.is_some() { break; }
                            }
                            got = c.next(Duration::from_secs(10), echo) => {
                                match got {
                                    Some((t, Heard::Clear)) => { cleared_at = Some(t); if onset_at.is_some() { break; } }
                                    Some((_, Heard::Closed)) | None => break,
                                    _ => {}
                                }
                            }
                        }
                    }
                    if let (Some(o), Some(cl)) = (onset_at, cleared_at) {
                        a.push((cl - o).as_secs_f64() * 1000.0);
                    } else {
                        notes.push(format!("trial {i}: no clear"));
                    }
                    continue;
                };
                loop {
                    match c.next(Duration::from_secs(10), echo).await {
                        Some((t, Heard::Clear)) => {
                            a.push((t - sent).as_secs_f64() * 1000.0);
                            break;
                        }
                        Some((_, Heard::Closed)) | None => {
                            notes.push(format!("trial {i}: no clear"));
                            break;
                        }
                        _ => {}
                    }
                }
            }
            c.stop();
        }
        "turn" => {
            let talk = args.talk.clone().unwrap_or_else(|| usage());
            let last = last_voiced_frame(&talk);
            // Only up to the last voiced frame: the caller is silent after.
            let talk: Vec<u8> = talk[..((last + 1) * 160).min(talk.len())].to_vec();
            let mut c = Caller::open(&args, 1).await.expect("connect");
            // A greeting may play first: let it.
            c.idle(Duration::from_millis(2500), echo).await;
            for i in 0..args.trials {
                let left = c.player.play_end.saturating_duration_since(Instant::now());
                c.idle(
                    left + Duration::from_millis(300 + (rng.unit() * 300.0) as u64),
                    echo,
                )
                .await;
                let (tx, rx) = oneshot::channel();
                let _ = c.cmd.send(Cmd::Talk(talk.clone(), 0, Some(tx)));
                let Ok((_, last_sent)) = rx.await else { break };
                // End of the utterance as the VAD sees it: the last voiced
                // frame plus the configured end silence.
                let eou = last_sent + Duration::from_millis(args.end_silence_ms);
                match c.prompt(Duration::from_secs(20), echo).await {
                    Some((t, _)) => {
                        a.push((t - last_sent).as_secs_f64() * 1000.0);
                        let _ = eou;
                        b.push((t - last_sent).as_secs_f64() * 1000.0 - args.end_silence_ms as f64);
                    }
                    None => notes.push(format!("trial {i}: no answer")),
                }
            }
            c.stop();
            notes.push(format!(
                "a: last voiced frame sent → first answer media; b: a − {} ms end silence",
                args.end_silence_ms
            ));
        }
        _ => usage(),
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    json!({
        "kind": args.kind,
        "echo_marks": echo,
        "trials": args.trials,
        "ms": summary(&a),
        "ms_b": summary(&b),
        "samples_ms": a,
        "samples_b_ms": b,
        "notes": notes,
    })
}

fn main() {
    let args = parse_args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()
        .expect("runtime");
    let result = rt.block_on(async move {
        match args.mode.as_str() {
            "load" => load(args).await,
            "latency" => latency(args).await,
            _ => usage(),
        }
    });
    let text = serde_json::to_string_pretty(&result).unwrap();
    if let Some(path) = std::env::args()
        .collect::<Vec<_>>()
        .windows(2)
        .find(|w| w[0] == "--out")
        .map(|w| w[1].clone())
    {
        std::fs::write(&path, format!("{text}\n")).expect("--out");
    }
    println!("{text}");
}
