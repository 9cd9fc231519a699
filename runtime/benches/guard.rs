//! The compliance guard's cost per action, per caller turn and per model
//! reply, on a call where all-party consent and AI-voice rules apply (a
//! Californian caller). Target: at most 5 µs per action.
//!
//! Run: `cargo bench -p switchyard-runtime --bench guard`

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use switchyard_runtime::policy::guard::{CallPolicy, Guard, NodeClaims};
use switchyard_sdk::protocol::{Action, ChatMessage, DisclosureKind, LlmRequest, RecordOp, Vars};

fn policy() -> Arc<CallPolicy> {
    Arc::new(CallPolicy::new(
        &["us-all-party-consent", "us-ai-voice", "pci-dss-phone"],
        "+14155550100",
        "+18005550199",
        "en-US",
    ))
}

/// A guard whose caller has consented and heard the AI disclosure.
fn consented(policy: &Arc<CallPolicy>) -> Guard {
    let mut guard = Guard::new(policy.clone(), "bench");
    let vars = Vars::new();
    let claims = NodeClaims::trusted(&["recording-consent"]);
    guard.check(
        0,
        "consent",
        &claims,
        Action::Disclose {
            kind: DisclosureKind::Recording,
        },
        &vars,
    );
    guard.check(
        0,
        "ai",
        &claims,
        Action::Disclose {
            kind: DisclosureKind::Ai,
        },
        &vars,
    );
    guard.outcome(0, "consent", &claims, "granted", "digits");
    guard
}

fn llm_request() -> LlmRequest {
    let turn = |role: &str, content: &str| ChatMessage {
        role: role.into(),
        content: content.into(),
        tool_calls: vec![],
        tool_call_id: None,
    };
    LlmRequest {
        messages: vec![
            turn("system", "You book plumbing jobs for Acme Plumbing."),
            turn("assistant", "Hi, how can I help?"),
            turn(
                "user",
                "my kitchen sink is leaking and I need someone tomorrow morning",
            ),
            turn("assistant", "Sure. What is the address?"),
            turn(
                "user",
                "it's 42 Harbor Street, apartment 5, and you can call me back on the same number",
            ),
        ],
        tools: vec![],
    }
}

fn guard(c: &mut Criterion) {
    let policy = policy();
    let vars = Vars::new();
    let claims = NodeClaims::untrusted();
    let mut group = c.benchmark_group("guard");
    group.bench_function("say (passes through)", |b| {
        let mut guard = consented(&policy);
        b.iter(|| {
            black_box(guard.check(
                0,
                "welcome",
                &claims,
                black_box(Action::Say {
                    text: "Thanks for calling Acme Plumbing.".into(),
                    barge_in: true,
                }),
                &vars,
            ))
        })
    });
    // Actions that write evidence get a fresh consented guard per
    // iteration (set-up not timed), so the evidence does not grow without
    // bound inside the measurement.
    group.bench_function("record start (consent checked, evidence written)", |b| {
        b.iter_batched_ref(
            || consented(&policy),
            |guard| {
                black_box(guard.check(
                    0,
                    "rec",
                    &claims,
                    Action::Record {
                        op: RecordOp::Start,
                    },
                    &vars,
                ))
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("disclose (template wording, hashed into evidence)", |b| {
        b.iter_batched_ref(
            || consented(&policy),
            |guard| {
                black_box(guard.check(
                    0,
                    "consent",
                    &claims,
                    Action::Disclose {
                        kind: DisclosureKind::Recording,
                    },
                    &vars,
                ))
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("llm (5 messages redacted)", |b| {
        let request = llm_request();
        b.iter_batched_ref(
            || (consented(&policy), request.clone()),
            |(guard, request)| {
                black_box(guard.check(
                    0,
                    "agent",
                    &claims,
                    Action::Llm(std::mem::take(request)),
                    &vars,
                ))
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("caller turn (opt-out and robot question)", |b| {
        let mut guard = consented(&policy);
        b.iter(|| {
            black_box(guard.caller_speech(
                0,
                black_box("yes I would like somebody to come tomorrow morning before ten if that is possible"),
            ))
        })
    });
    group.bench_function("model reply (claims-human check)", |b| {
        let mut guard = consented(&policy);
        b.iter(|| {
            black_box(guard.llm_reply(
                0,
                black_box("Sure, a plumber can come tomorrow between eight and ten. Shall I book that for you?".to_owned()),
            ))
        })
    });
    group.finish();
    c.bench_function("call policy (resolve templates for a call)", |b| {
        b.iter(|| {
            black_box(CallPolicy::new(
                &["us-all-party-consent", "us-ai-voice", "pci-dss-phone"],
                black_box("+14155550100"),
                "+18005550199",
                "en-US",
            ))
        })
    });
}

criterion_group!(benches, guard);
criterion_main!(benches);
