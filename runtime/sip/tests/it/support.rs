//! Shared pieces of the SIP tests: servers on free ports, SIPp as a
//! subprocess, and audio checks.

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use switchyard_media::frame::SAMPLE_RATE;
use switchyard_media::g711::Codec;
use switchyard_media::leg::{LegEvent, MediaLeg};
use switchyard_media::rtp::RtpPacket;
use switchyard_sip::{IncomingCall, SipConfig, SipServer};
use tokio::sync::mpsc;

/// The committed SIPp scenarios.
pub fn scenario(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/sip")
        .join(name)
}

static NEXT_PORT: AtomicU16 = AtomicU16::new(0);

/// A block of `n` consecutive ports, the first even, that are free for UDP
/// (and the first for TCP too) right now and never handed out twice in
/// this process.
pub fn free_ports(n: u16) -> u16 {
    let _ = NEXT_PORT.compare_exchange(
        0,
        21_000 + (std::process::id() % 40) as u16 * 1_000,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    loop {
        let size = n.next_multiple_of(2).max(2);
        let base = NEXT_PORT.fetch_add(size, Ordering::SeqCst);
        assert!(base < 64_000, "ran out of test ports");
        let free = (base..base + n).all(|p| UdpSocket::bind(("127.0.0.1", p)).is_ok())
            && std::net::TcpListener::bind(("127.0.0.1", base)).is_ok();
        if free {
            return base;
        }
    }
}

pub struct TestServer {
    pub server: SipServer,
    pub calls: mpsc::Receiver<IncomingCall>,
}

/// Logs to the test's output when `RUST_LOG` is set.
pub fn init_logging() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

impl TestServer {
    pub async fn start(configure: impl FnOnce(&mut SipConfig)) -> Self {
        init_logging();
        let rtp = free_ports(40);
        let mut config = SipConfig {
            rtp_ports: rtp..=rtp + 39,
            ..SipConfig::loopback_ephemeral()
        };
        configure(&mut config);
        let (server, calls) = SipServer::start(config).await.expect("server starts");
        Self { server, calls }
    }

    pub fn udp(&self) -> SocketAddr {
        self.server.udp_addr().expect("UDP")
    }

    pub fn tcp(&self) -> SocketAddr {
        self.server.tcp_addr().expect("TCP")
    }

    pub async fn next_call(&mut self) -> IncomingCall {
        tokio::time::timeout(Duration::from_secs(10), self.calls.recv())
            .await
            .expect("a call within 10 s")
            .expect("the server is running")
    }

    /// Waits until every call, dialog and RTP session is gone.
    pub async fn assert_idle(&self) {
        for _ in 0..300 {
            let stats = self.server.stats();
            if self.server.live_calls() == 0
                && self.server.live_dialogs() == 0
                && stats.rtp_sessions_live == 0
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "still busy: {} calls, {} dialogs, {:?}",
            self.server.live_calls(),
            self.server.live_dialogs(),
            self.server.stats()
        );
    }
}

/// A SIPp run being set up.
pub struct Sipp {
    scenario: String,
    args: Vec<String>,
    target: Option<SocketAddr>,
    pub port: u16,
    pub media_port: u16,
}

pub struct RunningSipp {
    child: tokio::process::Child,
    dir: tempfile::TempDir,
    scenario: String,
}

#[derive(Debug)]
pub struct SippOutcome {
    pub success: bool,
    pub log: String,
}

impl Sipp {
    pub fn new(scenario_file: &str) -> Self {
        assert!(
            std::process::Command::new("sipp")
                .arg("-v")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok(),
            "SIPp is not installed: apt-get install sip-tester"
        );
        let block = free_ports(6);
        Self {
            scenario: scenario_file.to_string(),
            args: Vec::new(),
            target: None,
            port: block,
            media_port: block + 2,
        }
    }

    /// Calls `target` (omit for a UAS scenario).
    pub fn to(mut self, target: SocketAddr) -> Self {
        self.target = Some(target);
        self
    }

    /// The number called (`[service]`).
    pub fn service(self, service: &str) -> Self {
        self.arg("-s").arg(service)
    }

    pub fn tcp(self) -> Self {
        self.arg("-t").arg("t1")
    }

    /// What `<pause/>` waits.
    pub fn pause_ms(self, ms: u64) -> Self {
        self.arg("-d").arg(&ms.to_string())
    }

    pub fn key(self, key: &str, value: &str) -> Self {
        self.arg("-key").arg(key).arg(value)
    }

    pub fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.to_string());
        self
    }

    pub fn uri(&self) -> String {
        format!("sip:human@127.0.0.1:{}", self.port)
    }

    pub fn spawn(self) -> RunningSipp {
        let dir = tempfile::tempdir().expect("temp dir");
        std::os::unix::fs::symlink("/usr/share/sip-tester", dir.path().join("pcap"))
            .expect("pcap link");
        let mut command = tokio::process::Command::new("sipp");
        command
            .current_dir(dir.path())
            .arg("-sf")
            .arg(scenario(&self.scenario))
            .args(["-i", "127.0.0.1", "-m", "1", "-nostdin"])
            .args(["-p", &self.port.to_string()])
            .args(["-mp", &self.media_port.to_string()])
            .args(["-timeout", "40s", "-timeout_error"])
            .args(["-trace_msg", "-trace_err"])
            .args(["-message_file", "messages.log", "-error_file", "errors.log"])
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(target) = self.target {
            command.arg(target.to_string());
        }
        let child = command.spawn().expect("sipp starts");
        RunningSipp {
            child,
            dir,
            scenario: self.scenario,
        }
    }
}

impl RunningSipp {
    pub async fn wait(self) -> SippOutcome {
        let RunningSipp {
            child,
            dir,
            scenario,
        } = self;
        let output = tokio::time::timeout(Duration::from_secs(45), child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("SIPp ({scenario}) did not finish"))
            .expect("SIPp output");
        let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap_or_default();
        let log = format!(
            "--- {scenario}: exit {:?}\n--- stderr\n{}\n--- errors\n{}\n--- messages\n{}",
            output.status.code(),
            String::from_utf8_lossy(&output.stderr),
            read("errors.log"),
            read("messages.log"),
        );
        SippOutcome {
            success: output.status.success(),
            log,
        }
    }

    /// Waits and fails the test with SIPp's log unless every call passed.
    pub async fn expect_success(self) {
        let outcome = self.wait().await;
        assert!(outcome.success, "{}", outcome.log);
    }
}

/// `ms` milliseconds of a sine tone at `hz`.
pub fn tone(hz: f32, ms: u32, amplitude: f32) -> Arc<[i16]> {
    let n = (SAMPLE_RATE * ms / 1000) as usize;
    (0..n)
        .map(|i| {
            let t = i as f32 / SAMPLE_RATE as f32;
            (amplitude * (2.0 * std::f32::consts::PI * hz * t).sin()) as i16
        })
        .collect()
}

/// The share of a block's energy at `hz` (Goertzel against the total).
pub fn tone_share(samples: &[i16], hz: f32) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let n = samples.len() as f64;
    let k = (0.5 + n * f64::from(hz) / f64::from(SAMPLE_RATE)).floor();
    let w = 2.0 * std::f64::consts::PI * k / n;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    let mut total = 0.0;
    for &x in samples {
        let x = f64::from(x);
        total += x * x;
        let s = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    if total == 0.0 {
        return 0.0;
    }
    // A pure tone of N samples has Goertzel power N/2 times its energy.
    (power / (total * n / 2.0)).min(1.0)
}

/// RTP packets a test socket received: header fields and decoded audio.
#[derive(Debug, Clone)]
pub struct Received {
    pub sequence: u16,
    pub timestamp: u32,
    pub marker: bool,
    pub payload_type: u8,
    pub samples: Vec<i16>,
    pub at: tokio::time::Instant,
}

/// Collects the RTP that reaches `socket` within `duration`.
pub async fn collect_rtp(socket: &tokio::net::UdpSocket, duration: Duration) -> Vec<Received> {
    let mut out = Vec::new();
    let mut buf = [0u8; 2048];
    let deadline = tokio::time::Instant::now() + duration;
    while let Ok(Ok((len, _))) = tokio::time::timeout_at(deadline, socket.recv_from(&mut buf)).await
    {
        let Ok(packet) = RtpPacket::parse(&buf[..len]) else {
            continue;
        };
        let samples = Codec::from_payload_type(packet.payload_type)
            .map(|codec| codec.decode(packet.payload))
            .unwrap_or_default();
        out.push(Received {
            sequence: packet.sequence,
            timestamp: packet.timestamp,
            marker: packet.marker,
            payload_type: packet.payload_type,
            samples,
            at: tokio::time::Instant::now(),
        });
    }
    out
}

/// The next event that is not audio, within `within`.
pub async fn next_event(leg: &mut MediaLeg, within: Duration) -> Option<LegEvent> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, leg.events.recv()).await {
            Ok(Some(LegEvent::Audio(_))) => continue,
            Ok(event) => return event,
            Err(_) => return None,
        }
    }
}

/// Drains the leg until it hangs up; returns the reason and every other
/// non-audio event seen on the way.
pub async fn until_hangup(leg: &mut MediaLeg, within: Duration) -> (String, Vec<LegEvent>) {
    let mut seen = Vec::new();
    loop {
        match next_event(leg, within).await {
            Some(LegEvent::Hangup { reason }) => {
                // Exactly once: nothing may follow.
                let after =
                    tokio::time::timeout(Duration::from_millis(200), leg.events.recv()).await;
                assert!(matches!(after, Ok(None)), "events after Hangup: {after:?}");
                return (reason, seen);
            }
            Some(event) => seen.push(event),
            None => panic!("no Hangup within {within:?}; saw {seen:?}"),
        }
    }
}

/// Writes 16-bit mono PCM as a WAV file.
pub fn write_wav(path: &std::path::Path, rate: u32, samples: &[i16]) {
    let data_len = (samples.len() * 2) as u32;
    let mut bytes = Vec::with_capacity(44 + samples.len() * 2);
    bytes.extend_from_slice(b"RIFF");
    bytes.extend_from_slice(&(36 + data_len).to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    bytes.extend_from_slice(&16u32.to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes()); // PCM
    bytes.extend_from_slice(&1u16.to_le_bytes()); // mono
    bytes.extend_from_slice(&rate.to_le_bytes());
    bytes.extend_from_slice(&(rate * 2).to_le_bytes());
    bytes.extend_from_slice(&2u16.to_le_bytes());
    bytes.extend_from_slice(&16u16.to_le_bytes());
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        bytes.extend_from_slice(&s.to_le_bytes());
    }
    std::fs::write(path, bytes).expect("write WAV");
}

/// The samples of a 16-bit mono WAV file (its `data` chunk).
pub fn read_wav(path: &std::path::Path) -> Vec<i16> {
    let bytes = std::fs::read(path).expect("read WAV");
    let mut at = 12;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        let body = at + 8;
        if id == b"data" {
            let end = (body + len).min(bytes.len());
            return bytes[body..end]
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]]))
                .collect();
        }
        at = body + len + (len % 2);
    }
    panic!("no data chunk in {}", path.display());
}

/// A baresip softphone (Debian `baresip-core`) that dials `target`,
/// speaks `source` (8 kHz WAV samples) and records what it hears.
pub struct Baresip {
    pub dir: tempfile::TempDir,
    child: tokio::process::Child,
}

impl Baresip {
    pub fn dial(target: &str, source: &[i16], seconds: u32) -> Self {
        assert!(
            std::path::Path::new("/usr/bin/baresip").exists(),
            "baresip is not installed: apt-get install baresip-core"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_ports(2);
        let wav = dir.path().join("speak.wav");
        write_wav(&wav, 8_000, source);
        let config = format!(
            "sip_listen 127.0.0.1:{port}\n\
             audio_player aubridge,null\n\
             audio_alert aubridge,null\n\
             audio_source aufile,{wav}\n\
             module_path /usr/lib/baresip/modules\n\
             module g711.so\n\
             module aufile.so\n\
             module aubridge.so\n\
             module sndfile.so\n\
             module_app account.so\n\
             module_app menu.so\n\
             snd_path {dir}\n",
            wav = wav.display(),
            dir = dir.path().display(),
        );
        std::fs::write(dir.path().join("config"), config).unwrap();
        std::fs::write(
            dir.path().join("accounts"),
            "<sip:tester@127.0.0.1>;regint=0\n",
        )
        .unwrap();
        let child = tokio::process::Command::new("baresip")
            .arg("-f")
            .arg(dir.path())
            .arg("-e")
            .arg(format!("/dial {target}"))
            .arg("-t")
            .arg(seconds.to_string())
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("baresip starts");
        Self { dir, child }
    }

    /// Waits for baresip to quit; returns its output.
    pub async fn wait(self) -> (String, tempfile::TempDir) {
        let output = tokio::time::timeout(Duration::from_secs(30), self.child.wait_with_output())
            .await
            .expect("baresip quits")
            .expect("baresip output");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (text, self.dir)
    }

    /// What baresip heard (its decoder's dump).
    pub fn heard(dir: &std::path::Path) -> Vec<i16> {
        let dump = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
            .expect("baresip wrote a decoder dump");
        read_wav(&dump)
    }
}
