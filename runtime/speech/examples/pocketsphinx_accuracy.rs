//! Measures how well the local recogniser hears menu words on telephone
//! audio, and what each step of `stt::Pocketsphinx`'s pipeline adds: six
//! espeak-ng voices say twelve menu words, the media core's resampler takes
//! them to 8 kHz, and pocketsphinx picks among a 3-word and a 12-word
//! grammar. The table in `Pocketsphinx`'s docs comes from this.
//!
//! Needs `apt-get install espeak-ng pocketsphinx pocketsphinx-en-us`; run
//! with `cargo run -p switchyard-speech --example pocketsphinx_accuracy`.

use std::path::Path;
use std::process::Command;

use switchyard_media::resample::resample;
use switchyard_speech::Stt;
use switchyard_speech::stt::{Pocketsphinx, upsample_for_wideband_model};

const WORDS: [&str; 12] = [
    "sales", "support", "billing", "operator", "agent", "yes", "no", "repeat", "cancel", "account",
    "balance", "payment",
];
const MENU: [&str; 3] = ["sales", "support", "billing"];
const VOICES: [&str; 6] = [
    "en-us", "en-us+f3", "en-gb", "en-us+m3", "en-us+f2", "en-029",
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

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut clips = Vec::new();
    for voice in VOICES {
        for word in WORDS {
            let path = dir.path().join(format!("{voice}-{word}.wav"));
            let status = Command::new("espeak-ng")
                .args(["-v", voice, "-w"])
                .arg(&path)
                .arg(word)
                .status()
                .expect("espeak-ng runs");
            assert!(status.success());
            let (pcm, rate) = read_wav(&path);
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

    // The adapter itself: all of the above plus silence trimming.
    let adapter = Pocketsphinx::default();
    let menu: Vec<String> = MENU.iter().map(|w| (*w).to_owned()).collect();
    let all: Vec<String> = WORDS.iter().map(|w| (*w).to_owned()).collect();
    for (name, noisy) in [
        ("Pocketsphinx adapter (+ silence trimmed)", false),
        ("  the same, 300 ms of noise around the word", true),
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
