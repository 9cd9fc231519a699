//! The voice driver: one task per voice call, between a [`MediaLeg`] and
//! the call's session.
//!
//! Out: each `say` is synthesized (in order, by a per-call worker, so a
//! slow provider never stalls the caller's audio) and queued on the leg;
//! `hangup` and `transfer` wait until what was said has been heard.
//! In: keys go to the session (or, in a secure-capture window, to the
//! sealed collector and nowhere else); the VAD, which runs on the
//! channel's task (see [`switchyard_media::leg::CallerAudio`]), reports
//! speech onsets, which interrupt a prompt that allows barge-in, and
//! utterances, which go to the STT when the flow listens for speech. Raw
//! caller frames come only while the call is recorded.
//!
//! Every input still passes the session's guard: this module only turns
//! audio into the same inputs the text channel sends.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchyard_media::dtmf::{DtmfMasker, InbandConfig};
use switchyard_media::frame::{Frame, frames_of};
use switchyard_media::leg::{AudioDemand, LegCommand, LegEvent, MediaLeg};
use switchyard_media::vad::UtteranceEvent;
use switchyard_media::wav::DualChannelRecorder;
use switchyard_runtime::exec::Input;
use switchyard_sdk::protocol::{Action, LlmRequest, RecordOp};
use switchyard_speech::LlmDelta;
use switchyard_speech::sentences::SentenceSplitter;
use tokio::sync::{mpsc, oneshot};

use super::VoiceServices;
use crate::live_calls::{CallState, LiveCall, absorb, capture_step, conclude, run_sync, settle};
use crate::state::AppState;

/// Keys not pressed for this long in a secure-capture window count as
/// silence: the collector asks again (and gives up after its tries).
const CAPTURE_KEY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long after the last prompt was sent a hang-up waits, so the end
/// of a goodbye is not clipped by the far end's jitter buffer.
const HANGUP_TAIL: Duration = Duration::from_millis(250);

/// A model reply that has sent nothing for this long after a sentence's
/// terminator is pausing between sentences (tokens stream 10–50 ms apart).
const SENTENCE_STALL: Duration = Duration::from_millis(200);

/// Completions of the call's background work, back on the driver's task.
enum Internal {
    Synthesized {
        id: u64,
        audio: Arc<[i16]>,
    },
    Heard(String),
    /// A finished sentence of a model reply still streaming in.
    Sentence(String),
    Replied(Input),
    Transferred(Result<(), String>),
}

/// A prompt waiting for the synthesis worker.
struct SynthJob {
    id: u64,
    text: String,
    locale: String,
}

/// Actions that wait until everything said so far has been heard.
enum AfterQuiet {
    Transfer(String),
    Hangup,
}

struct Driver {
    state: AppState,
    call: Arc<LiveCall>,
    services: VoiceServices,
    commands: mpsc::Sender<LegCommand>,
    internal: mpsc::UnboundedSender<Internal>,
    synth: mpsc::UnboundedSender<SynthJob>,
    next_prompt: u64,
    /// Prompt ids up to this one were cleared by a barge-in: their audio
    /// is dropped if it is still being synthesized.
    cleared_upto: u64,
    /// Whether each prompt not yet heard to its end allows barge-in.
    barge_in: BTreeMap<u64, bool>,
    /// Prompts handed to the leg and not yet reported played.
    playing: BTreeMap<u64, ()>,
    after_quiet: Vec<AfterQuiet>,
    /// Whether the session has been told, since the last prompt was
    /// queued, that everything was heard.
    quiet_told: bool,
    /// What the channel sends of the caller's audio: the VAD's events
    /// unless a secure capture is on, raw frames while recording. The VAD
    /// itself runs on the channel's task.
    demand: Arc<AudioDemand>,
    recorder: Option<DualChannelRecorder>,
    /// Silences key tones in the caller's recorded audio: keys pressed
    /// anywhere (a card number typed outside a capture window, say) never
    /// reach a recording as tones.
    masker: DtmfMasker,
    /// Agent audio handed to the leg, one frame per caller frame into the
    /// recording, so both channels line up in time.
    agent_audio: std::collections::VecDeque<Frame>,
    recording: bool,
    capture_deadline: Option<Instant>,
    /// When the caller's speech began, for the barge-in latency figure.
    onset: Option<Instant>,
    transferring: bool,
    hung_up: bool,
    /// What of the current model reply was spoken while it streamed in,
    /// so the session's `say` of the whole reply is not spoken twice.
    streamed: String,
    /// A streamed sentence failed the guard's check: nothing more of this
    /// reply is spoken early; the guard's answer comes with the whole.
    stream_stopped: bool,
}

/// Runs `call` on `leg` until the call ends and the leg is hung up.
pub(crate) async fn run(state: AppState, call: Arc<LiveCall>, leg: MediaLeg) {
    let MediaLeg {
        info,
        mut events,
        commands,
        demand,
    } = leg;
    demand.set(false, true);
    let services = state.voice.clone();
    let (internal_tx, mut internal_rx) = mpsc::unbounded_channel();
    let (synth_tx, synth_rx) = mpsc::unbounded_channel();
    tokio::spawn(synthesis_worker(
        services.clone(),
        synth_rx,
        internal_tx.clone(),
    ));
    let mut driver = Driver {
        state: state.clone(),
        call: call.clone(),
        services,
        commands,
        internal: internal_tx,
        synth: synth_tx,
        next_prompt: 0,
        cleared_upto: 0,
        barge_in: BTreeMap::new(),
        playing: BTreeMap::new(),
        after_quiet: Vec::new(),
        quiet_told: true,
        demand,
        recorder: None,
        masker: DtmfMasker::new(InbandConfig::default()),
        agent_audio: std::collections::VecDeque::new(),
        recording: false,
        capture_deadline: None,
        onset: None,
        transferring: false,
        hung_up: false,
        streamed: String::new(),
        stream_stopped: false,
    };
    tracing::info!(call = %call.id, channel = info.channel.as_str(), "voice call answered");
    {
        let mut st = call.state.lock().await;
        let actions = run_sync(|| st.session.start());
        driver.turn(&mut st, actions).await;
    }
    loop {
        let wait = driver.next_wait().await;
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event else {
                    driver.caller_gone("the channel closed").await;
                    break;
                };
                if let LegEvent::Hangup { reason } = event {
                    // A transfer that went through ends our leg: let its
                    // result reach the session first, so the call ends as
                    // transferred rather than as a hang-up.
                    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
                    while driver.transferring {
                        match tokio::time::timeout_at(deadline, internal_rx.recv()).await {
                            Ok(Some(done)) => driver.internal(done).await,
                            _ => break,
                        }
                    }
                    driver.caller_gone(&reason).await;
                    break;
                }
                driver.leg_event(event).await;
            }
            Some(done) = internal_rx.recv() => driver.internal(done).await,
            () = tokio::time::sleep(wait) => driver.tick().await,
            () = call.wake.notified() => {}
        }
        if driver.finished().await {
            break;
        }
    }
    tracing::info!(call = %call.id, "voice call over");
}

/// Synthesizes prompts one after another, in the order they were said.
async fn synthesis_worker(
    services: VoiceServices,
    mut jobs: mpsc::UnboundedReceiver<SynthJob>,
    done: mpsc::UnboundedSender<Internal>,
) {
    while let Some(job) = jobs.recv().await {
        let audio = match services.tts.synthesize(&job.text, &job.locale).await {
            Ok(audio) => audio,
            Err(error) => {
                // The caller hears nothing for this prompt; the flow goes on.
                tracing::error!(%error, "text to speech failed");
                Arc::from(Vec::new())
            }
        };
        if done
            .send(Internal::Synthesized { id: job.id, audio })
            .is_err()
        {
            return;
        }
    }
}

impl Driver {
    /// Takes in what the session did, carries it out, and writes the call
    /// when it has ended.
    async fn turn(&mut self, st: &mut CallState, actions: Vec<Action>) {
        let mut out = Vec::new();
        absorb(st, actions, &mut out);
        settle(&self.state, &self.call, st, &mut out).await;
        self.carry_out(st, out);
        self.end_if_over(st).await;
    }

    async fn end_if_over(&mut self, st: &mut CallState) {
        if st.session.ended().is_some() && !st.done {
            self.store_recording(st).await;
        }
        conclude(&self.state, &self.call, st, Vec::new(), None).await;
    }

    fn carry_out(&mut self, st: &mut CallState, out: Vec<Action>) {
        for action in out {
            match action {
                Action::Say { text, barge_in } => {
                    let streamed = std::mem::take(&mut self.streamed);
                    if !streamed.is_empty() && same_words(&streamed, &text) {
                        // Already spoken sentence by sentence as it streamed.
                        continue;
                    }
                    self.speak(text, barge_in, st.session.locale().to_owned())
                }
                Action::Play { url, barge_in } => self.play(&url, barge_in),
                Action::Record { op } => self.record(op),
                Action::Hangup { .. } => self.after_quiet.push(AfterQuiet::Hangup),
                Action::Transfer { to } => self.after_quiet.push(AfterQuiet::Transfer(to)),
                Action::Llm(request) => self.ask_model(request),
                Action::SecureCapture { .. } => {
                    self.capture_deadline = Some(Instant::now() + CAPTURE_KEY_TIMEOUT)
                }
                // Disclosures arrive as the guard's `say`; `http` was
                // answered by `settle`; the rest is the session's business.
                _ => {}
            }
        }
        self.on_quiet_maybe();
    }

    fn speak(&mut self, text: String, barge_in: bool, locale: String) {
        if text.trim().is_empty() {
            return;
        }
        self.next_prompt += 1;
        let id = self.next_prompt;
        self.barge_in.insert(id, barge_in);
        self.quiet_told = false;
        let _ = self.synth.send(SynthJob { id, text, locale });
    }

    /// Plays a named resource. `tone:beep` (1 kHz, 500 ms) and `silence:MS`
    /// are built in; fetching audio from URLs is not done yet, so anything
    /// else is logged and skipped rather than failing the call.
    fn play(&mut self, url: &str, barge_in: bool) {
        let audio: Vec<i16> = if url == "tone:beep" {
            (0..4_000)
                .map(|n| {
                    let t = n as f32 / 8_000.0;
                    (8_000.0 * (2.0 * std::f32::consts::PI * 1_000.0 * t).sin()) as i16
                })
                .collect()
        } else if let Some(ms) = url
            .strip_prefix("silence:")
            .and_then(|ms| ms.parse::<u32>().ok())
        {
            vec![0; (ms.min(60_000) * 8) as usize]
        } else {
            tracing::warn!(call = %self.call.id, "play: unsupported audio resource, skipped");
            return;
        };
        self.next_prompt += 1;
        let id = self.next_prompt;
        self.barge_in.insert(id, barge_in);
        self.quiet_told = false;
        let _ = self.internal.send(Internal::Synthesized {
            id,
            audio: Arc::from(audio),
        });
    }

    fn record(&mut self, op: RecordOp) {
        match op {
            RecordOp::Start => {
                self.recording = true;
                self.recorder.get_or_insert_with(DualChannelRecorder::new);
            }
            RecordOp::Stop => self.recording = false,
        }
    }

    fn ask_model(&mut self, request: LlmRequest) {
        let llm = self.services.llm.clone();
        let done = self.internal.clone();
        self.streamed.clear();
        self.stream_stopped = false;
        tokio::spawn(async move {
            let reply = match llm {
                None => Input::LlmReply {
                    text: String::new(),
                    tool_calls: Vec::new(),
                    error: Some("no language model is configured on this server".into()),
                },
                Some(llm) => complete(llm.as_ref(), &request, &done).await,
            };
            let _ = done.send(Internal::Replied(reply));
        });
    }

    /// Speaks a sentence of a reply still streaming in, if it passes the
    /// guard's check for claims to be human (the same check the whole
    /// reply passes in the session); after one fails, nothing more is
    /// spoken early and the guard's truthful answer comes with the whole.
    fn streamed_sentence(&mut self, sentence: String, locale: String) {
        if self.stream_stopped {
            return;
        }
        if switchyard_runtime::policy::phrases::claims_human(&sentence) {
            self.stream_stopped = true;
            return;
        }
        if !self.streamed.is_empty() {
            self.streamed.push(' ');
        }
        self.streamed.push_str(sentence.trim());
        self.speak(sentence, true, locale);
    }

    /// Stops playback for caller input, if what is playing allows it.
    fn barge_in(&mut self) {
        let interruptible = self.barge_in.values().any(|allowed| *allowed);
        if !interruptible {
            return;
        }
        self.cleared_upto = self.next_prompt;
        self.barge_in.clear();
        self.playing.clear();
        self.agent_audio.clear();
        let _ = self.commands.try_send(LegCommand::Clear);
        if let Some(onset) = self.onset.take() {
            tracing::debug!(call = %self.call.id, ms = onset.elapsed().as_secs_f64() * 1e3, "barge-in");
        }
        self.on_quiet_maybe();
    }

    /// Nothing queued, being synthesized or playing.
    fn quiet(&self) -> bool {
        self.barge_in.is_empty() && self.playing.is_empty()
    }

    /// Once everything said has been heard: starts the no-input time of a
    /// waiting `gather`, and carries out a pending transfer or hang-up.
    fn on_quiet_maybe(&mut self) {
        if !self.quiet() {
            return;
        }
        if !self.quiet_told {
            self.quiet_told = true;
            // Delivered through the loop: the session's lock may be held here.
            let _ = self.internal.send(Internal::Replied(Input::PromptsPlayed));
        }
        for after in std::mem::take(&mut self.after_quiet) {
            match after {
                AfterQuiet::Hangup => {
                    self.hung_up = true;
                    let commands = self.commands.clone();
                    tokio::spawn(async move {
                        // "Played" on RTP means the last packet left; the
                        // far end's jitter buffer still holds its tail.
                        tokio::time::sleep(HANGUP_TAIL).await;
                        let _ = commands.send(LegCommand::Hangup).await;
                    });
                }
                AfterQuiet::Transfer(to) => {
                    self.transferring = true;
                    let (reply, answer) = oneshot::channel();
                    let commands = self.commands.clone();
                    let done = self.internal.clone();
                    tokio::spawn(async move {
                        let result = if commands
                            .send(LegCommand::Transfer { to, reply })
                            .await
                            .is_err()
                        {
                            Err("the call's media leg is gone".to_owned())
                        } else {
                            answer
                                .await
                                .unwrap_or_else(|_| Err("the channel did not answer".to_owned()))
                        };
                        let _ = done.send(Internal::Transferred(result));
                    });
                }
            }
        }
    }

    async fn leg_event(&mut self, event: LegEvent) {
        match event {
            LegEvent::Audio(frame) => self.audio(frame).await,
            LegEvent::Speech(event) => self.speech(event).await,
            LegEvent::Dtmf { digit, .. } => self.key(digit).await,
            LegEvent::PlayoutDone { id } => {
                self.playing.remove(&id);
                self.barge_in.remove(&id);
                self.on_quiet_maybe();
            }
            LegEvent::Hold(on) => {
                tracing::info!(call = %self.call.id, hold = on, "hold");
            }
            LegEvent::Hangup { .. } => {}
        }
    }

    /// A caller frame, sent by the channel while the call is recorded.
    async fn audio(&mut self, frame: Frame) {
        let in_capture = self.call.state.lock().await.capture.is_some();
        if self.recording && !in_capture {
            let agent = self.agent_audio.pop_front().unwrap_or_else(Frame::silence);
            let mut caller = frame;
            self.masker.process(&mut caller);
            if let Some(recorder) = self.recorder.as_mut() {
                recorder.push(&caller, &agent);
            }
        } else {
            self.agent_audio.pop_front();
        }
    }

    /// The channel's VAD heard speech start or an utterance end.
    async fn speech(&mut self, event: UtteranceEvent) {
        let (listening_speech, in_capture, hints, locale) = {
            let st = self.call.state.lock().await;
            let listening = st.listening.as_ref().filter(|g| g.speech);
            (
                listening.is_some()
                    && st.session.awaiting().is_none()
                    && st.session.ended().is_none(),
                st.capture.is_some(),
                listening.map(|g| g.hints.clone()).unwrap_or_default(),
                st.session.locale().to_owned(),
            )
        };
        if in_capture {
            // Card digits may be read aloud: this audio goes nowhere. (The
            // channel stops its VAD once it sees the capture; this is an
            // event from just before.)
            return;
        }
        match event {
            UtteranceEvent::SpeechStarted { .. } => {
                self.onset = Some(Instant::now());
                if listening_speech {
                    self.barge_in();
                }
            }
            UtteranceEvent::UtteranceEnded { pcm, .. } if listening_speech => {
                let stt = self.services.stt.clone();
                let done = self.internal.clone();
                tokio::spawn(async move {
                    let text = match stt.transcribe(&pcm, &locale, &hints).await {
                        Ok(transcript) => transcript.text,
                        Err(error) => {
                            tracing::error!(%error, "speech to text failed");
                            String::new()
                        }
                    };
                    let _ = done.send(Internal::Heard(text));
                });
            }
            UtteranceEvent::UtteranceEnded { .. } => {}
        }
    }

    async fn key(&mut self, digit: char) {
        let call = self.call.clone();
        let mut st = call.state.lock().await;
        if st.session.ended().is_some() {
            return;
        }
        if let Some(mut collector) = st.capture.take() {
            // Sealed: the key goes to the collector and nowhere else.
            st.transcript.push("caller: (card key, sealed)".into());
            self.capture_deadline = Some(Instant::now() + CAPTURE_KEY_TIMEOUT);
            let step = collector.keys(&digit.to_string());
            let mut out = Vec::new();
            capture_step(&mut st, collector, step, &mut out);
            self.after_capture(&mut st, out).await;
            return;
        }
        self.barge_in();
        st.transcript.push(format!("caller: {digit}"));
        let now = st.clock.now();
        let actions = run_sync(|| {
            let mut actions = st.session.deliver(Input::Clock { now_ms: now });
            actions.extend(st.session.deliver(Input::Digits {
                digits: digit.to_string(),
            }));
            actions
        });
        self.turn(&mut st, actions).await;
    }

    /// Carries out what a secure-capture step produced (already absorbed).
    async fn after_capture(&mut self, st: &mut CallState, out: Vec<Action>) {
        if st.capture.is_none() {
            self.capture_deadline = None;
        }
        let mut more = Vec::new();
        settle(&self.state, &self.call, st, &mut more).await;
        let mut all = out;
        all.extend(more);
        self.carry_out(st, all);
        self.end_if_over(st).await;
    }

    async fn internal(&mut self, done: Internal) {
        match done {
            Internal::Synthesized { id, audio } => {
                if id <= self.cleared_upto {
                    return;
                }
                if audio.is_empty() {
                    self.barge_in.remove(&id);
                    self.on_quiet_maybe();
                    return;
                }
                if self.recording {
                    self.agent_audio.extend(frames_of(&audio));
                }
                self.playing.insert(id, ());
                if self
                    .commands
                    .send(LegCommand::Play { id, audio })
                    .await
                    .is_err()
                {
                    self.playing.remove(&id);
                    self.barge_in.remove(&id);
                }
            }
            Internal::Sentence(sentence) => {
                let locale = self.call.state.lock().await.session.locale().to_owned();
                self.streamed_sentence(sentence, locale);
            }
            Internal::Heard(text) => {
                let call = self.call.clone();
                let mut st = call.state.lock().await;
                if st.session.ended().is_some() {
                    return;
                }
                st.transcript.push(format!("caller says: {text}"));
                let now = st.clock.now();
                let actions = run_sync(|| {
                    let mut actions = st.session.deliver(Input::Clock { now_ms: now });
                    actions.extend(st.session.deliver(Input::Speech { text }));
                    actions
                });
                self.turn(&mut st, actions).await;
            }
            Internal::Replied(input) => {
                let call = self.call.clone();
                let mut st = call.state.lock().await;
                if st.session.ended().is_some() {
                    return;
                }
                let now = st.clock.now();
                let actions = run_sync(|| {
                    let mut actions = st.session.deliver(Input::Clock { now_ms: now });
                    actions.extend(st.session.deliver(input));
                    actions
                });
                self.turn(&mut st, actions).await;
            }
            Internal::Transferred(result) => {
                self.transferring = false;
                let call = self.call.clone();
                let mut st = call.state.lock().await;
                if st.session.ended().is_some() {
                    return;
                }
                let (ok, reason) = match result {
                    Ok(()) => (true, None),
                    Err(reason) => (false, Some(reason)),
                };
                let now = st.clock.now();
                let actions = run_sync(|| {
                    let mut actions = st.session.deliver(Input::Clock { now_ms: now });
                    actions.extend(st.session.deliver(Input::TransferResult { ok, reason }));
                    actions
                });
                self.turn(&mut st, actions).await;
            }
        }
    }

    /// How long until the next timer (the session's, or the capture's);
    /// on the way, tells the channel what caller audio to send.
    async fn next_wait(&mut self) -> Duration {
        let st = self.call.state.lock().await;
        // Whatever just happened may have started or ended a secure
        // capture or a recording: tell the channel what audio to send.
        self.demand.set(self.recording, st.capture.is_none());
        let mut wait = Duration::from_secs(3600);
        if let Some(deadline) = st.session.next_deadline() {
            let left = (deadline - st.clock.now()).max(0) as u64;
            wait = wait.min(Duration::from_millis(left));
        }
        if let Some(deadline) = self.capture_deadline {
            wait = wait.min(deadline.saturating_duration_since(Instant::now()));
        }
        wait
    }

    async fn tick(&mut self) {
        let call = self.call.clone();
        let mut st = call.state.lock().await;
        if st.session.ended().is_some() {
            return;
        }
        if let Some(deadline) = self.capture_deadline
            && Instant::now() >= deadline
            && let Some(mut collector) = st.capture.take()
        {
            self.capture_deadline = Some(Instant::now() + CAPTURE_KEY_TIMEOUT);
            let step = collector.timeout();
            let mut out = Vec::new();
            capture_step(&mut st, collector, step, &mut out);
            self.after_capture(&mut st, out).await;
            return;
        }
        let now = st.clock.now();
        if st.session.next_deadline().is_some_and(|d| d <= now) {
            let actions = run_sync(|| st.session.deliver(Input::Clock { now_ms: now }));
            self.turn(&mut st, actions).await;
        }
    }

    async fn caller_gone(&mut self, reason: &str) {
        let call = self.call.clone();
        let mut st = call.state.lock().await;
        if st.session.ended().is_none() {
            st.transcript.push("caller: hangup".into());
            st.capture = None;
            let now = st.clock.now();
            let actions = run_sync(|| {
                let mut actions = st.session.deliver(Input::Clock { now_ms: now });
                actions.extend(st.session.deliver(Input::Hangup));
                actions
            });
            let mut ignored = Vec::new();
            absorb(&mut st, actions, &mut ignored);
        }
        tracing::info!(call = %call.id, reason, "caller hung up");
        self.hung_up = true;
        self.end_if_over(&mut st).await;
    }

    /// Whether the loop is done: the call was written and the leg is (or
    /// is being) hung up. A call ended from outside (shutdown) hangs up.
    async fn finished(&mut self) -> bool {
        let done = self.call.state.lock().await.done;
        if !done {
            return false;
        }
        if self.hung_up {
            return true;
        }
        if !self.after_quiet.is_empty() || !self.quiet() {
            // The goodbye is still playing; the hang-up waits for it.
            if !self
                .after_quiet
                .iter()
                .any(|a| matches!(a, AfterQuiet::Hangup))
            {
                self.after_quiet.push(AfterQuiet::Hangup);
            }
            return false;
        }
        self.hung_up = true;
        let _ = self.commands.try_send(LegCommand::Hangup);
        true
    }

    /// Seals the recording into the store and notes its size.
    async fn store_recording(&mut self, st: &mut CallState) {
        let Some(recorder) = self.recorder.take() else {
            return;
        };
        let wav = recorder.finish();
        match crate::recordings::put_bytes(&self.state, &self.call.tenant, &self.call.id, &wav)
            .await
        {
            Ok(bytes) => st.recording_bytes = Some(bytes),
            Err(error) => {
                tracing::error!(call = %self.call.id, error = format!("{error:#}"), "storing the recording failed")
            }
        }
    }
}

/// Whether two texts say the same words (spacing aside).
fn same_words(a: &str, b: &str) -> bool {
    a.split_whitespace().eq(b.split_whitespace())
}

/// One model turn, streamed: each finished sentence goes to the driver as
/// it arrives (to be spoken at once), and the whole reply becomes the
/// session's input.
async fn complete(
    llm: &dyn switchyard_speech::Llm,
    request: &LlmRequest,
    sentences: &mpsc::UnboundedSender<Internal>,
) -> Input {
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    let mut error = None;
    let mut splitter = SentenceSplitter::new();
    let mut stalled = false;
    match llm.stream(request).await {
        Err(e) => error = Some(e.to_string()),
        Ok(mut stream) => loop {
            // A model that stops right after a sentence's terminator is
            // pausing between sentences: speak that sentence now rather
            // than when the next one's first token brings the space.
            let next = if stalled {
                stream.recv().await
            } else {
                match tokio::time::timeout(SENTENCE_STALL, stream.recv()).await {
                    Ok(next) => next,
                    Err(_) => {
                        stalled = true;
                        if let Some(sentence) = splitter.flush_at_pause() {
                            let _ = sentences.send(Internal::Sentence(sentence));
                        }
                        continue;
                    }
                }
            };
            let Some(delta) = next else { break };
            stalled = false;
            match delta {
                Ok(LlmDelta::Text(more)) => {
                    text.push_str(&more);
                    for sentence in splitter.push(&more) {
                        let _ = sentences.send(Internal::Sentence(sentence));
                    }
                }
                Ok(LlmDelta::ToolCall(call)) => tool_calls.push(call),
                Err(e) => {
                    error = Some(e.to_string());
                    break;
                }
            }
        },
    }
    if error.is_none()
        && let Some(rest) = splitter.finish()
    {
        let _ = sentences.send(Internal::Sentence(rest));
    }
    Input::LlmReply {
        text,
        tool_calls,
        error,
    }
}
