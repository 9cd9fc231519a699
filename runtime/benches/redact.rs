//! PII redaction throughput on the labelled corpus
//! (`flows/redaction/corpus.jsonl`), in bytes of transcript per second on
//! one core: each utterance redacted on its own, as a call would.
//!
//! Run: `cargo bench -p switchyard-runtime --bench redact`

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use switchyard_runtime::policy::redact::{RedactionConfig, Redactor};

fn corpus() -> Vec<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../flows/redaction/corpus.jsonl");
    let text = std::fs::read_to_string(path).expect("corpus");
    text.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|v| v["text"].as_str().map(str::to_owned))
        .collect()
}

fn redaction(c: &mut Criterion) {
    let utterances = corpus();
    let bytes: usize = utterances.iter().map(String::len).sum();
    let redactor = Redactor::new(RedactionConfig::default());
    // Plain conversation without identifiers: the common case.
    let plain: Vec<String> = utterances
        .iter()
        .map(|_| {
            "yes I would like to change my delivery address please, thank you so much".to_owned()
        })
        .collect();
    let plain_bytes: usize = plain.iter().map(String::len).sum();

    let mut group = c.benchmark_group("redact");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("corpus", |b| {
        b.iter(|| {
            for u in &utterances {
                black_box(redactor.redact(black_box(u)));
            }
        })
    });
    group.throughput(Throughput::Bytes(plain_bytes as u64));
    group.bench_function("no-pii", |b| {
        b.iter(|| {
            for u in &plain {
                black_box(redactor.redact(black_box(u)));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, redaction);
criterion_main!(benches);
