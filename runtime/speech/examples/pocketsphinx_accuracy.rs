//! Measures how well the local recogniser hears menu words on telephone
//! audio, and how well it refuses everything else. The tables in
//! `Pocketsphinx`'s docs come from this.
//!
//! `accuracy`: what each step of `stt::Pocketsphinx`'s pipeline adds. Six
//! espeak-ng voices say twelve menu words, the media core's resampler
//! takes them to 8 kHz, and pocketsphinx picks among a 3-word and a
//! 12-word grammar.
//!
//! `rejection`: the adapter with and without its garbage model
//! (`reject_out_of_grammar`), on the same six voices at three speeds: the
//! menu words at a 3-word and a 12-word menu, then words and sentences
//! that are none of them, which should all come back as a no-match. The
//! out-of-grammar speech is in two sets: the one the garbage model was
//! tuned on, and a held-out one chosen before the tuning was done and
//! never used for it. Neither shares a word with the garbage vocabulary
//! except where a sentence naturally does ("can I speak to someone").
//! Latency is the wall time of one `transcribe`, both settings taking
//! turns on each clip so that the machine's load hits them alike.
//!
//! Needs `apt-get install espeak-ng pocketsphinx pocketsphinx-en-us`; run
//! with `cargo run --release -p switchyard-speech --example
//! pocketsphinx_accuracy [-- accuracy|rejection]` (both by default; the
//! rejection part runs about 4,600 recognitions, some four minutes).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use switchyard_media::resample::resample;
use switchyard_speech::Stt;
use switchyard_speech::stt::{Pocketsphinx, PocketsphinxSettings, upsample_for_wideband_model};

const WORDS: [&str; 12] = [
    "sales", "support", "billing", "operator", "agent", "yes", "no", "repeat", "cancel", "account",
    "balance", "payment",
];
const MENU: [&str; 3] = ["sales", "support", "billing"];
const VOICES: [&str; 6] = [
    "en-us", "en-us+f3", "en-gb", "en-us+m3", "en-us+f2", "en-029",
];
/// Words per minute for the rejection measurements (espeak-ng's default
/// is 175).
const SPEEDS: [&str; 3] = ["140", "175", "210"];
/// Out-of-grammar speech the garbage model was tuned on.
const UNRELATED_WORDS: [&str; 24] = [
    "banana",
    "pizza",
    "hello",
    "elephant",
    "weather",
    "computer",
    "tomorrow",
    "music",
    "garden",
    "window",
    "purple",
    "doctor",
    "chicken",
    "football",
    "coffee",
    "mountain",
    "yellow",
    "kitchen",
    "birthday",
    "umbrella",
    "dinosaur",
    "telephone",
    "water",
    "morning",
];
const UNRELATED_SENTENCES: [&str; 5] = [
    "I would like to talk to a human being please",
    "what time is it",
    "hello is anybody there",
    "can you hear me",
    "the weather is nice today",
];
/// Out-of-grammar speech never used for tuning.
const HELD_OUT_WORDS: [&str; 22] = [
    "apple", "river", "blanket", "guitar", "penguin", "sandwich", "tiger", "rocket", "candle",
    "basket", "jacket", "ladder", "lemon", "monkey", "orange", "pencil", "rabbit", "salad",
    "tennis", "violin", "wizard", "zebra",
];
const HELD_OUT_SENTENCES: [&str; 5] = [
    "I forgot my password",
    "is this the right number",
    "my internet is not working",
    "can I speak to someone",
    "good morning how are you",
];
const TUNED: [&str; 8] = [
    "-fsgusefiller",
    "no",
    "-remove_noise",
    "no",
    "-dither",
    "yes",
    "-seed",
    "1",
];

fn read_wav(path: &Path) -> (Vec<i16>, u32) {
    let reader = hound::WavReader::open(path).expect("espeak-ng wrote a WAV");
    let rate = reader.spec().sample_rate;
    let samples = reader
        .into_samples::<i16>()
        .map(|s| s.expect("a sample"))
        .collect();
    (samples, rate)
}

fn write_wav(path: &Path, pcm: &[i16], rate: u32) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec).expect("a WAV file");
    for &sample in pcm {
        writer.write_sample(sample).expect("writing");
    }
    writer.finalize().expect("finishing");
}

/// Runs the CLI directly on 16 kHz audio with `grammar` (the full model
/// dictionary, as a first-time user would).
fn cli(dir: &Path, audio16: &[i16], grammar: &[&str], flags: &[&str]) -> String {
    let wav = dir.join("probe.wav");
    let gram = dir.join("probe.gram");
    write_wav(&wav, audio16, 16_000);
    std::fs::write(
        &gram,
        format!(
            "#JSGF V1.0;\ngrammar probe;\npublic <u> = {};\n",
            grammar.join(" | ")
        ),
    )
    .expect("grammar");
    let output = Command::new("pocketsphinx_continuous")
        .arg("-infile")
        .arg(&wav)
        .arg("-jsgf")
        .arg(&gram)
        .args(["-logfn", "/dev/null"])
        .args(flags)
        .output()
        .expect("pocketsphinx_continuous runs");
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// 300 ms of low noise (about -55 dBFS) before and after, and under, the word.
fn with_noise(pcm: &[i16]) -> Vec<i16> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut padded = vec![0i16; 2_400];
    padded.extend_from_slice(pcm);
    padded.extend(vec![0i16; 2_400]);
    padded
        .iter()
        .map(|&s| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let noise = (state % 121) as i32 - 60;
            (i32::from(s) + noise).clamp(-32_768, 32_767) as i16
        })
        .collect()
}

/// espeak-ng saying `text` in `voice` at `speed` words a minute: its own
/// audio and rate.
fn say(dir: &Path, voice: &str, speed: &str, text: &str) -> (Vec<i16>, u32) {
    let path = dir.join("say.wav");
    let status = Command::new("espeak-ng")
        .args(["-v", voice, "-s", speed, "-w"])
        .arg(&path)
        .arg(text)
        .status()
        .expect("espeak-ng runs");
    assert!(status.success());
    read_wav(&path)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let part = std::env::args().nth(1);
    if part.as_deref().is_none_or(|p| p == "accuracy") {
        accuracy().await;
    }
    if part.as_deref().is_none_or(|p| p == "rejection") {
        rejection().await;
    }
}

async fn accuracy() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut clips = Vec::new();
    for voice in VOICES {
        for word in WORDS {
            let (pcm, rate) = say(dir.path(), voice, "175", word);
            clips.push((voice, word, pcm.clone(), rate, resample(&pcm, rate, 8_000)));
        }
    }
    type Probe<'a> = Box<dyn Fn(&[i16], &[i16], u32, &[&str]) -> String + 'a>;
    let d = dir.path();
    let rows: Vec<(&str, Probe)> = vec![
        (
            "clean (windowed-sinc) upsampling",
            Box::new(|p8, _, _, g| cli(d, &resample(p8, 8_000, 16_000), g, &[])),
        ),
        (
            "zero-insertion upsampling",
            Box::new(|p8, _, _, g| cli(d, &upsample_for_wideband_model(p8), g, &[])),
        ),
        (
            "+ dither, no fillers, no noise removal",
            Box::new(|p8, _, _, g| cli(d, &upsample_for_wideband_model(p8), g, &TUNED)),
        ),
        (
            "  the same, 300 ms of noise around the word",
            Box::new(|p8, _, _, g| {
                cli(d, &upsample_for_wideband_model(&with_noise(p8)), g, &TUNED)
            }),
        ),
        (
            "original 16 kHz audio (reference)",
            Box::new(|_, wide, rate, g| cli(d, &resample(wide, rate, 16_000), g, &[])),
        ),
    ];
    for (name, probe) in &rows {
        let (mut menu_right, mut all_right) = (0, 0);
        for (_, word, wide, rate, pcm8) in &clips {
            if MENU.contains(word) && probe(pcm8, wide, *rate, &MENU) == *word {
                menu_right += 1;
            }
            if probe(pcm8, wide, *rate, &WORDS) == *word {
                all_right += 1;
            }
        }
        println!("{name:<48} 3 words {menu_right:>2}/18   12 words {all_right:>2}/72");
    }

    // The adapter itself: all of the above plus silence trimming, without
    // and with its garbage model.
    let plain = Pocketsphinx::new(PocketsphinxSettings {
        reject_out_of_grammar: false,
        ..PocketsphinxSettings::default()
    });
    let rejecting = Pocketsphinx::default();
    let menu: Vec<String> = MENU.iter().map(|w| (*w).to_owned()).collect();
    let all: Vec<String> = WORDS.iter().map(|w| (*w).to_owned()).collect();
    for (name, adapter, noisy) in [
        (
            "Pocketsphinx adapter, plain grammar (+ trimming)",
            &plain,
            false,
        ),
        ("  the same, 300 ms of noise around the word", &plain, true),
        (
            "Pocketsphinx adapter, + garbage model (default)",
            &rejecting,
            false,
        ),
        (
            "  the same, 300 ms of noise around the word",
            &rejecting,
            true,
        ),
    ] {
        let (mut menu_right, mut all_right) = (0, 0);
        for (_, word, _, _, pcm8) in &clips {
            let pcm = if noisy {
                with_noise(pcm8)
            } else {
                pcm8.clone()
            };
            if MENU.contains(word)
                && adapter
                    .transcribe(&pcm, "en-US", &menu)
                    .await
                    .expect("recognised")
                    .text
                    == *word
            {
                menu_right += 1;
            }
            if adapter
                .transcribe(&pcm, "en-US", &all)
                .await
                .expect("recognised")
                .text
                == *word
            {
                all_right += 1;
            }
        }
        println!("{name:<48} 3 words {menu_right:>2}/18   12 words {all_right:>2}/72");
    }
}

/// What one setting of the adapter made of a set of clips.
#[derive(Default)]
struct Tally {
    right: usize,
    wrong: usize,
    no_match: usize,
    times: Vec<Duration>,
}

impl Tally {
    fn total(&self) -> usize {
        self.right + self.wrong + self.no_match
    }

    fn add(&mut self, heard: &str, said: &str, took: Duration) {
        if heard.is_empty() {
            self.no_match += 1;
        } else if heard == said {
            self.right += 1;
        } else {
            self.wrong += 1;
        }
        self.times.push(took);
    }

    /// The median and 90th percentile, in milliseconds.
    fn latency(&self) -> (u128, u128) {
        let mut times = self.times.clone();
        times.sort();
        let at = |q: f64| {
            times
                .get(((times.len() as f64 - 1.0) * q).round() as usize)
                .map_or(0, Duration::as_millis)
        };
        (at(0.5), at(0.9))
    }
}

async fn rejection() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let settings = [("plain grammar", false), ("with garbage model", true)];
    let adapters = settings.map(|(_, reject)| {
        Pocketsphinx::new(PocketsphinxSettings {
            reject_out_of_grammar: reject,
            ..PocketsphinxSettings::default()
        })
    });
    let menu: Vec<String> = MENU.iter().map(|w| (*w).to_owned()).collect();
    let all: Vec<String> = WORDS.iter().map(|w| (*w).to_owned()).collect();
    let sets: [(&str, &[&str]); 6] = [
        ("menu words, 3-word menu", &MENU),
        ("menu words, 12-word menu", &WORDS),
        ("unrelated words (tuning set)", &UNRELATED_WORDS),
        ("unrelated sentences (tuning set)", &UNRELATED_SENTENCES),
        ("unrelated words (held out)", &HELD_OUT_WORDS),
        ("unrelated sentences (held out)", &HELD_OUT_SENTENCES),
    ];
    // tallies[set][menu][setting]; the menu-word sets use one menu each.
    let mut tallies: Vec<[[Tally; 2]; 2]> = sets.iter().map(|_| Default::default()).collect();
    for voice in VOICES {
        for speed in SPEEDS {
            for (set, (_, texts)) in sets.iter().enumerate() {
                for text in *texts {
                    let (pcm, rate) = say(dir.path(), voice, speed, text);
                    let pcm8 = resample(&pcm, rate, 8_000);
                    let menus: &[(usize, &[String])] = match set {
                        0 => &[(0, &menu)],
                        1 => &[(1, &all)],
                        _ => &[(0, &menu), (1, &all)],
                    };
                    // Out-of-grammar speech is right only as a no-match.
                    let said = if set < 2 { *text } else { "" };
                    for &(m, expected) in menus {
                        for (s, adapter) in adapters.iter().enumerate() {
                            let start = Instant::now();
                            let heard = adapter
                                .transcribe(&pcm8, "en-US", expected)
                                .await
                                .expect("recognised");
                            let took = start.elapsed();
                            tallies[set][m][s].add(&heard.text, said, took);
                        }
                    }
                }
            }
        }
    }
    for (s, (setting, _)) in settings.iter().enumerate() {
        println!("\nPocketsphinx adapter, {setting}:");
        for (set, (name, _)) in sets.iter().enumerate() {
            for (m, menu_name) in ["3-word menu", "12-word menu"].iter().enumerate() {
                let tally = &tallies[set][m][s];
                if tally.total() == 0 {
                    continue;
                }
                let (median, p90) = tally.latency();
                let what = if set < 2 {
                    format!(
                        "heard right {:>3}/{:<3} wrong {:>3}  no-match {:>3}",
                        tally.right,
                        tally.total(),
                        tally.wrong,
                        tally.no_match
                    )
                } else {
                    format!(
                        "no-match    {:>3}/{:<3} ({:>3.0}%)",
                        tally.no_match,
                        tally.total(),
                        100.0 * tally.no_match as f64 / tally.total() as f64
                    )
                };
                let at = if set < 2 {
                    String::new()
                } else {
                    format!(" at a {menu_name}")
                };
                println!(
                    "  {:<52} {what:<44} {median:>4} ms median, {p90:>4} ms p90",
                    format!("{name}{at}")
                );
            }
        }
    }
}
