//! Calls in progress on this server, on the API's text channel: caller
//! inputs arrive as requests (`POST /v1/calls/{id}/input`), the agent's
//! words and actions go back in the responses, and the real clock runs the
//! call's timers between requests (a menu that times out does so whether
//! or not anyone asks).
//!
//! A call is routed and its flow's live version loaded (and pinned) at its
//! start; its row is written then, with status `live`, and completed when
//! the call ends, with the event log, the redacted transcript and the
//! signed evidence sealed under the tenant's data key. At shutdown,
//! [`LiveCalls::drain`] lets calls finish for the grace period and ends the
//! rest with outcome `shutdown`, each written whole.
//!
//! Provider answers the text channel can give itself are given: an `http`
//! action is performed by [`crate::outbound_http::perform`], a transfer
//! succeeds (there is nobody to hand a text call to), a secure-capture
//! window collects keys with the runtime's sealed collector and tokenizes
//! them with the in-memory vault. The model's replies come from the client
//! (`{"llm": ...}`), as in `switchyard call`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::{Value, json};
use switchyard_runtime::convo::{describe, fold, parse_llm};
use switchyard_runtime::exec::{CallSession, CallSetup, Entry, FlowSet, Input};
use switchyard_runtime::flow::{FlowSource, load_flow_set};
use switchyard_runtime::host::{PluginPackage, PluginRegistry};
use switchyard_runtime::policy::evidence::EvidenceItem;
use switchyard_runtime::policy::redact::{self, RedactionConfig, Redactor};
use switchyard_runtime::policy::secure_capture::{
    CaptureField, CollectStep, LocalVault, SecureCollector, finish,
};
use switchyard_sdk::protocol::{Action, Gather, HttpRequest};
use tokio::sync::Notify;

use crate::api::error::ApiError;
use crate::db::calls::{EndedCall, NewCall, Sealed};
use crate::db::{TenantId, new_id, now_ms};
use crate::flow_store::{self, FlowRef, LoadedFlow};
use crate::state::AppState;

/// A call nobody has sent input to, and whose flow set no timer, for this
/// long is ended with outcome `abandoned`: an API client that walks away
/// must not keep a call (and its memory) forever.
pub const IDLE_LIMIT: Duration = Duration::from_secs(600);

/// Provider round trips (http, transfer) one input may cause before the
/// call is left to wait: the session's budgets end runaway flows, this
/// only bounds one request's work.
const MAX_ROUND_TRIPS: usize = 64;

/// The live calls of this process.
#[derive(Debug, Default)]
pub struct LiveCalls {
    calls: Mutex<HashMap<String, Arc<LiveCall>>>,
    /// Set by [`LiveCalls::drain`]: no call starts after it.
    closing: AtomicBool,
}

/// One live call.
#[derive(Debug)]
pub(crate) struct LiveCall {
    pub(crate) tenant: TenantId,
    pub(crate) id: String,
    /// `text`, `sip` or `media-stream`: only text calls take API input.
    pub(crate) channel: &'static str,
    pub(crate) state: tokio::sync::Mutex<CallState>,
    /// Wakes the call's timer task (or its voice driver) when something
    /// outside it moved the call on, a shutdown among them.
    pub(crate) wake: Notify,
}

/// The call's clock: wall time since the start, shifted by `at` and by the
/// silences the caller declared (`silence_ms` moves the call ahead). A
/// virtual clock moves only with those silences, as in conversation tests.
#[derive(Debug)]
pub(crate) struct Clock {
    start_ms: i64,
    started: Instant,
    skew_ms: i64,
    virtual_time: bool,
}

impl Clock {
    pub(crate) fn now(&self) -> i64 {
        let elapsed = if self.virtual_time {
            0
        } else {
            self.started.elapsed().as_millis() as i64
        };
        self.start_ms + elapsed + self.skew_ms
    }
}

pub(crate) struct CallState {
    pub(crate) session: CallSession,
    flows: Arc<FlowSet>,
    pub(crate) clock: Clock,
    flow: String,
    version: Option<i64>,
    environment: String,
    /// What was said and done, for humans; redacted before it is stored.
    pub(crate) transcript: Vec<String>,
    /// What timers made the agent do since the client last asked.
    pending: Vec<Action>,
    /// The open secure-capture window: card keys go here, never to the
    /// session, the transcript or the log.
    pub(crate) capture: Option<SecureCollector>,
    /// What the last `gather` or `listen` asked for: a voice channel
    /// listens for speech (and builds its grammar) from it.
    pub(crate) listening: Option<Gather>,
    vault: LocalVault,
    /// The `http` action waiting to be performed.
    http: Option<HttpRequest>,
    evidence_seen: usize,
    log_seen: usize,
    transferred: bool,
    voicemail: bool,
    last_input: Instant,
    /// Where the pending transfer goes.
    transfer_to: Option<String>,
    /// Wall-clock start, epoch ms.
    started_at: i64,
    /// Webhook events to send once the call's work for this turn is done.
    events: Vec<(&'static str, Value)>,
    pub(crate) done: bool,
    pub(crate) outcome: Option<String>,
    /// The stored recording's size, for the `voicemail.left` event.
    pub(crate) recording_bytes: Option<u64>,
}

impl std::fmt::Debug for CallState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallState")
            .field("session", &self.session)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

/// A caller's move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallInput {
    /// Keys pressed (`0-9`, `*`, `#`).
    Digits(String),
    /// An utterance (already transcribed).
    Says(String),
    /// The caller stays quiet this long; the call's clock moves ahead.
    SilenceMs(u64),
    /// The model's reply, in `switchyard call`'s syntax: text, `tool NAME
    /// {json} text`, or `error MESSAGE`.
    Llm(String),
    Hangup,
}

/// What a start or an input produced.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Turn {
    pub id: String,
    /// `live` or `ended`.
    pub status: String,
    /// How the call ended, once it has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// What the agent said, in order (including what timers made it say
    /// since the last request).
    pub agent: Vec<String>,
    /// Every other action the channel carried out, in the protocol's JSON
    /// (`{"type": "record", "op": "start"}`, `{"type": "llm", ...}`).
    #[schema(value_type = Vec<Object>)]
    pub actions: Vec<Value>,
    /// What the call waits for besides the caller: `llm` (send `{"llm":
    /// ...}`) or `secure_capture` (send the card's keys as digits).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub awaiting: Option<String>,
}

/// How a call is placed.
#[derive(Debug, Clone)]
pub struct StartCall {
    pub to: String,
    pub from: String,
    /// Pretend the call starts at this time (epoch ms); the clock then runs.
    pub at_ms: Option<i64>,
    /// Time moves only with the caller's `silence_ms` (for scripted,
    /// deterministic calls), not with the wall clock.
    pub virtual_clock: bool,
    /// Call variables the channel sets before the flow starts (an outbound
    /// call's `answered_by`), over the flow's own and its bindings'.
    pub vars: serde_json::Map<String, Value>,
    /// Set for an outbound call: its flow was named, and its row written,
    /// when it was placed; `to` is the callee, not an address to route.
    pub placed: Option<PlacedCall>,
}

/// An outbound call as it was placed (see [`crate::voice::outbound`]).
#[derive(Debug, Clone)]
pub struct PlacedCall {
    /// The call's id, already in its row.
    pub id: String,
    /// The flow, loaded (and its version pinned) when the call was placed.
    pub flow: LoadedFlow,
}

impl LiveCalls {
    /// How many calls are live.
    pub fn count(&self) -> usize {
        self.calls.lock().expect("live calls lock").len()
    }

    fn get(&self, tenant: &TenantId, id: &str) -> Option<Arc<LiveCall>> {
        self.calls
            .lock()
            .expect("live calls lock")
            .get(id)
            .filter(|c| c.tenant == *tenant)
            .cloned()
    }

    /// Whether [`LiveCalls::drain`] has begun: no call starts any more.
    pub(crate) fn is_closing(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
    }

    fn remove(&self, id: &str) {
        self.calls.lock().expect("live calls lock").remove(id);
    }

    /// Places a call to `to` for `tenant`: routes the address (it must be
    /// the tenant's, else 404), loads the flow's live version, writes the
    /// call's row and runs the flow to its first wait.
    ///
    /// # Errors
    /// 404 without a route of the tenant or a live version; 503 while the
    /// server shuts down.
    pub async fn start(
        &self,
        state: &AppState,
        tenant: &TenantId,
        request: StartCall,
    ) -> Result<Turn, ApiError> {
        let call = self.open(state, tenant, &request, "text").await?;
        let turn = {
            let mut st = call.state.lock().await;
            let mut out = Vec::new();
            let actions = run_sync(|| st.session.start());
            absorb(&mut st, actions, &mut out);
            settle(state, &call, &mut st, &mut out).await;
            conclude(state, &call, &mut st, out, None).await
        };
        if turn.status == "live" {
            tokio::spawn(timers(state.clone(), call));
        }
        Ok(turn)
    }

    /// Routes `request.to` (it must be `tenant`'s), loads and pins the
    /// flow's live version, writes the call's row and puts the call on the
    /// table, not yet started: the channel runs it.
    ///
    /// # Errors
    /// 404 without a route of the tenant or a live version; 503 while the
    /// server shuts down.
    pub(crate) async fn open(
        &self,
        state: &AppState,
        tenant: &TenantId,
        request: &StartCall,
        channel: &'static str,
    ) -> Result<Arc<LiveCall>, ApiError> {
        if self.closing.load(Ordering::SeqCst) {
            return Err(shutting_down());
        }
        let (id, loaded) = match &request.placed {
            Some(placed) => (placed.id.clone(), placed.flow.clone()),
            None => {
                let routed = flow_store::route(state, &request.to).await?;
                let Some((_, flow, environment)) = routed.filter(|(owner, _, _)| owner == tenant)
                else {
                    return Err(
                        ApiError::not_found(format!("a route for {}", request.to)).at("/to")
                    );
                };
                let loaded =
                    flow_store::load(state, tenant, &flow, FlowRef::Live, &environment).await?;
                (new_id("call"), loaded)
            }
        };
        let environment = loaded.environment.clone();
        let flows = Arc::new(compile(state, tenant, &loaded).await?);
        let templates = state.db.tenant(tenant).await?.templates;
        let start_ms = request.at_ms.unwrap_or_else(now_ms);
        let mut vars = loaded.vars.clone();
        vars.extend(request.vars.clone());
        let setup = CallSetup {
            from: request.from.clone(),
            to: request.to.clone(),
            templates,
            vars,
            ..CallSetup::test(&id, start_ms)
        };
        let source = format!(
            "flow:{}@{}",
            loaded.name,
            loaded.version.map(|v| v.to_string()).unwrap_or_default()
        );
        let session = CallSession::new(flows.clone(), setup).with_flow_source(source);
        let (key_id, _) = state.keyring.current(&state.db, tenant).await?;
        let started_at = now_ms();
        // An outbound call's row was written when it was placed.
        if request.placed.is_none() {
            state
                .db
                .insert_call(
                    tenant,
                    &NewCall {
                        id: &id,
                        flow: &loaded.name,
                        flow_version: loaded.version,
                        channel,
                        environment: &environment,
                        from: &request.from,
                        to: &request.to,
                        started_at,
                        data_key_id: &key_id,
                    },
                )
                .await?;
        }
        let direction = if request.placed.is_some() {
            "outbound"
        } else {
            "inbound"
        };
        let call = Arc::new(LiveCall {
            tenant: tenant.clone(),
            id: id.clone(),
            channel,
            state: tokio::sync::Mutex::new(CallState {
                session,
                flows,
                clock: Clock {
                    start_ms,
                    started: Instant::now(),
                    skew_ms: 0,
                    virtual_time: request.virtual_clock,
                },
                flow: loaded.name.clone(),
                version: loaded.version,
                environment: environment.clone(),
                transcript: Vec::new(),
                pending: Vec::new(),
                capture: None,
                listening: None,
                vault: LocalVault::new(),
                http: None,
                evidence_seen: 0,
                log_seen: 0,
                transferred: false,
                voicemail: false,
                last_input: Instant::now(),
                // Webhook payloads leave the platform: ids and outcomes,
                // never numbers, transcript text or digits.
                events: vec![(
                    "call.started",
                    json!({"call_id": id, "flow": loaded.name, "flow_version": loaded.version,
                           "environment": environment, "channel": channel,
                           "direction": direction, "started_at": started_at}),
                )],
                transfer_to: None,
                started_at,
                done: false,
                outcome: None,
                recording_bytes: None,
            }),
            wake: Notify::new(),
        });
        // In the table before it runs, so a shutdown that comes now still
        // finds it and ends it whole.
        self.calls
            .lock()
            .expect("live calls lock")
            .insert(id.clone(), call.clone());
        Ok(call)
    }

    /// Delivers one caller move to a live call of `tenant`.
    ///
    /// # Errors
    /// 404 when the tenant has no such live call; 409 when the call has
    /// ended or waits for something else; 422 for malformed input.
    pub async fn input(
        &self,
        state: &AppState,
        tenant: &TenantId,
        id: &str,
        input: CallInput,
    ) -> Result<Turn, ApiError> {
        if let Some(call) = self.get(tenant, id).filter(|c| c.channel != "text") {
            return Err(ApiError::conflict(
                "voice-call",
                format!(
                    "call {id} is on the {} channel: its caller speaks and keys for themselves",
                    call.channel
                ),
            ));
        }
        let Some(call) = self.get(tenant, id) else {
            return match state.db.call(tenant, id).await? {
                // Hanging up on a call that has just ended is no error: the
                // flow and the caller may end it at the same moment.
                Some(info) if input == CallInput::Hangup && info.status == "ended" => Ok(Turn {
                    id: info.id,
                    status: info.status,
                    outcome: info.outcome,
                    agent: Vec::new(),
                    actions: Vec::new(),
                    awaiting: None,
                }),
                Some(_) => Err(ended()),
                None => Err(ApiError::not_found(format!("call {id}"))),
            };
        };
        // The model's reply is parsed before anything moves.
        let reply = match &input {
            CallInput::Llm(text) => {
                Some(parse_llm(text.trim()).map_err(|message| ApiError::invalid("/llm", message))?)
            }
            _ => None,
        };
        let mut st = call.state.lock().await;
        if st.done {
            // Ended while this request waited for the call; answered as above.
            drop(st);
            return Box::pin(self.input(state, tenant, id, input)).await;
        }
        let mut out = std::mem::take(&mut st.pending);
        st.last_input = Instant::now();
        let awaiting = st.session.awaiting();
        match (&input, awaiting) {
            (CallInput::Llm(_), Some("llm")) | (CallInput::Hangup, _) => {}
            (CallInput::Llm(_), _) => {
                st.pending = out;
                return Err(ApiError::conflict(
                    "not-waiting",
                    "the call is not waiting for a model reply",
                ));
            }
            (_, Some("llm")) => {
                st.pending = out;
                return Err(ApiError::conflict(
                    "awaiting-llm",
                    "the call waits for the model's reply; send {\"llm\": \"...\"} (or hang up)",
                ));
            }
            _ => {}
        }
        // Timers due by now fire before the caller's move, as on a line.
        let now = st.clock.now();
        let actions = run_sync(|| st.session.deliver(Input::Clock { now_ms: now }));
        absorb(&mut st, actions, &mut out);
        if st.session.ended().is_none() {
            match input {
                CallInput::Digits(digits) => {
                    if let Some(mut collector) = st.capture.take() {
                        st.transcript.push("caller: (card keys, sealed)".into());
                        let step = collector.keys(&digits);
                        capture_step(&mut st, collector, step, &mut out);
                    } else {
                        st.transcript.push(format!("caller: {digits}"));
                        let actions = run_sync(|| st.session.deliver(Input::Digits { digits }));
                        absorb(&mut st, actions, &mut out);
                    }
                }
                CallInput::Says(text) => {
                    if st.capture.is_some() {
                        // It could be the card read aloud: kept nowhere.
                        st.transcript
                            .push("caller says: (during secure capture, not kept)".into());
                    } else {
                        st.transcript.push(format!("caller says: {text}"));
                    }
                    let actions = run_sync(|| st.session.deliver(Input::Speech { text }));
                    absorb(&mut st, actions, &mut out);
                }
                CallInput::SilenceMs(ms) => {
                    st.transcript
                        .push(format!("caller: silence {}s", ms as f64 / 1000.0));
                    st.clock.skew_ms += ms as i64;
                    if let Some(mut collector) = st.capture.take() {
                        let step = collector.timeout();
                        capture_step(&mut st, collector, step, &mut out);
                    }
                    let now = st.clock.now();
                    let actions = run_sync(|| st.session.deliver(Input::Clock { now_ms: now }));
                    absorb(&mut st, actions, &mut out);
                }
                CallInput::Llm(_) => {
                    if let Some(reply) = reply {
                        let actions = run_sync(|| st.session.deliver(reply));
                        absorb(&mut st, actions, &mut out);
                    }
                }
                CallInput::Hangup => {
                    st.transcript.push("caller: hangup".into());
                    st.capture = None;
                    let actions = run_sync(|| st.session.deliver(Input::Hangup));
                    absorb(&mut st, actions, &mut out);
                }
            }
        }
        settle(state, &call, &mut st, &mut out).await;
        let turn = conclude(state, &call, &mut st, out, None).await;
        call.wake.notify_one();
        Ok(turn)
    }

    /// The event log so far of a live call of `tenant`, as JSON lines.
    pub async fn events(&self, tenant: &TenantId, id: &str) -> Option<String> {
        let call = self.get(tenant, id)?;
        let st = call.state.lock().await;
        (!st.done).then(|| st.session.log().to_jsonl())
    }

    /// The transcript so far of a live call of `tenant`, redacted.
    pub async fn transcript(&self, tenant: &TenantId, id: &str) -> Option<Vec<String>> {
        let call = self.get(tenant, id)?;
        let st = call.state.lock().await;
        (!st.done).then(|| redacted(&st.transcript))
    }

    /// Waits up to `grace` for live calls to end, then ends the rest with
    /// outcome `shutdown`; returns how many were ended that way. Each is
    /// written whole: row, event log, transcript and evidence together.
    pub async fn drain(&self, state: &AppState, grace: Duration) -> usize {
        self.closing.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + grace;
        while self.count() > 0 && Instant::now() < deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            tokio::time::sleep(left.min(Duration::from_millis(50))).await;
        }
        let rest: Vec<Arc<LiveCall>> = self
            .calls
            .lock()
            .expect("live calls lock")
            .values()
            .cloned()
            .collect();
        let mut ended = 0;
        for call in rest {
            let mut st = call.state.lock().await;
            if !st.done {
                conclude(state, &call, &mut st, Vec::new(), Some("shutdown")).await;
                ended += 1;
            }
            call.wake.notify_one();
        }
        ended
    }
}

fn shutting_down() -> ApiError {
    let mut error = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "shutting-down",
        "the server is shutting down and takes no new calls",
    );
    error.retry_after = Some(5);
    error
}

fn ended() -> ApiError {
    ApiError::conflict("call-ended", "the call has ended; it takes no more input")
}

/// Runs the session's synchronous work (plugin steps, bounded by the
/// host's CPU limits) without stalling the other tasks of this worker.
pub(crate) fn run_sync<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}

/// Compiles the loaded flow and its sub-flows against the tenant's plugins,
/// with the plugin digests the version pinned at publish: a newer upload of
/// the same major does not change a published version's behaviour.
pub(crate) async fn compile(
    state: &AppState,
    tenant: &TenantId,
    loaded: &LoadedFlow,
) -> Result<FlowSet, ApiError> {
    let registry = registry_for(state, tenant, loaded).await?;
    let source = Documents(&loaded.documents);
    let document = loaded.document.clone();
    let compiled = run_sync(|| {
        let set = load_flow_set(&document, &source, &registry)?;
        // Before the call's clock starts (see `FlowSet::prepare_plugins`).
        set.prepare_plugins();
        Ok(set)
    });
    compiled.map_err(|failures: Vec<_>| {
        let problems: Vec<String> = failures
            .iter()
            .flat_map(|f| f.problems.iter().map(move |p| format!("{}: {p}", f.flow)))
            .collect();
        ApiError::conflict(
            "flow-unavailable",
            format!(
                "flow {} no longer compiles against this tenant's plugins: {}",
                loaded.name,
                problems.join("; ")
            ),
        )
    })
}

/// The plugins `loaded` runs with: the tenant's registry, and for a
/// published version the plugin digests it pinned at publish.
pub(crate) async fn registry_for(
    state: &AppState,
    tenant: &TenantId,
    loaded: &LoadedFlow,
) -> anyhow::Result<PluginRegistry> {
    let registry = crate::tenant_plugins::registry(state, tenant).await?;
    match loaded.version {
        Some(version) => match state.db.version(tenant, &loaded.name, version).await? {
            Some((info, _)) => pinned(state, tenant, registry, &info.plugins).await,
            None => Ok(registry),
        },
        None => Ok(registry),
    }
}

/// `registry` with the pinned digest of each node's plugin where the
/// registry now holds another one and the pinned package is stored.
async fn pinned(
    state: &AppState,
    tenant: &TenantId,
    registry: PluginRegistry,
    pins: &BTreeMap<String, String>,
) -> anyhow::Result<PluginRegistry> {
    let mut registry = registry;
    for digest in pins.values() {
        if registry.iter().any(|p| p.digest() == digest) {
            continue;
        }
        let Some((stored, trusted)) = state.db.plugin_by_digest(tenant, digest).await? else {
            // A bundled plugin changed with the binary: the current one runs.
            tracing::warn!(%digest, "pinned plugin is not stored; running the current one");
            continue;
        };
        let Some(blob) = state.db.plugin_blob(digest).await? else {
            continue;
        };
        let loaded = PluginPackage::from_parts(stored.manifest.as_bytes(), blob)
            .map_err(|e| e.to_string())
            .and_then(|package| {
                run_sync(|| state.host.load(&package, trusted)).map_err(|e| e.to_string())
            });
        match loaded {
            Ok(plugin) => registry.insert(plugin),
            Err(error) => tracing::error!(%digest, %error, "pinned plugin does not load"),
        }
    }
    Ok(registry)
}

/// Sub-flow documents of a loaded flow, by name.
struct Documents<'a>(&'a BTreeMap<String, String>);

impl FlowSource for Documents<'_> {
    fn source(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
}

/// Whether an action is plumbing the client need not see.
fn is_internal(action: &Action) -> bool {
    matches!(
        action,
        Action::Gather(_) | Action::Listen { .. } | Action::Subflow { .. } | Action::SetVars { .. }
    )
}

/// Takes in what the session did: transcript, the client's output, a
/// secure-capture window to open, an `http` action to perform, webhook
/// events to send.
pub(crate) fn absorb(st: &mut CallState, actions: Vec<Action>, out: &mut Vec<Action>) {
    for action in actions {
        match &action {
            Action::Say { text, .. } => st.transcript.push(format!("agent: {}", fold(text))),
            Action::Gather(gather) => st.listening = Some(gather.clone()),
            Action::Listen { timeout_ms } => {
                st.listening = Some(Gather {
                    digits: false,
                    speech: true,
                    timeout_ms: *timeout_ms,
                    hints: Vec::new(),
                })
            }
            Action::SecureCapture { fields } => {
                let (collector, prompt) = SecureCollector::new(
                    &CaptureField::from_names(fields),
                    st.session.now_ms(),
                    st.session.locale(),
                );
                st.capture = Some(collector);
                st.transcript.push("[secure_capture]".into());
                out.push(action);
                say(st, prompt, out);
                continue;
            }
            Action::Http(request) => {
                st.http = Some(request.clone());
                st.transcript.push(format!("[{}]", describe(&action)));
            }
            Action::Transfer { to } => {
                st.transcript.push(format!("[{}]", describe(&action)));
                st.transfer_to = Some(to.clone());
            }
            other if !is_internal(other) && !matches!(other, Action::Llm(_)) => {
                st.transcript.push(format!("[{}]", describe(other)));
            }
            _ => {}
        }
        if !is_internal(&action) {
            out.push(action);
        }
    }
    notice(st);
}

/// The runtime's own words (secure-capture prompts).
fn say(st: &mut CallState, text: String, out: &mut Vec<Action>) {
    st.transcript.push(format!("agent: {}", fold(&text)));
    out.push(Action::Say {
        text,
        barge_in: false,
    });
}

/// A secure-capture step: a prompt to say, or the sealed result (a token,
/// never the digits) handed to the session.
pub(crate) fn capture_step(
    st: &mut CallState,
    collector: SecureCollector,
    step: CollectStep,
    out: &mut Vec<Action>,
) {
    match step {
        CollectStep::Wait => st.capture = Some(collector),
        CollectStep::Prompt(prompt) => {
            st.capture = Some(collector);
            say(st, prompt, out);
        }
        CollectStep::Done(result) => {
            let attempts = collector.attempts();
            // The vault's errors never carry the digits.
            let token = finish(result, &st.vault).ok();
            let actions = run_sync(|| st.session.deliver(Input::secure_result(attempts, token)));
            absorb(st, actions, out);
        }
    }
}

/// Looks at what the log and the evidence gained since the last look:
/// compliance events, a voicemail left, a transfer that went through.
fn notice(st: &mut CallState) {
    let id = st
        .session
        .log()
        .entries()
        .first()
        .and_then(|e| match &e.entry {
            Entry::Started { call, .. } => Some(call.id.clone()),
            _ => None,
        })
        .unwrap_or_default();
    let items: Vec<EvidenceItem> = st
        .session
        .evidence()
        .items()
        .skip(st.evidence_seen)
        .cloned()
        .collect();
    st.evidence_seen += items.len();
    for item in items {
        match item {
            EvidenceItem::OptOut {
                via,
                recording_was_open,
                ..
            } => st.events.push((
                "compliance.opt_out",
                json!({"call_id": id, "via": via, "recording_was_open": recording_was_open}),
            )),
            EvidenceItem::Refused {
                node,
                action,
                reason,
            } => st.events.push((
                "compliance.refused",
                json!({"call_id": id, "node": node, "refused": action, "reason": reason}),
            )),
            EvidenceItem::Consent {
                node,
                outcome,
                method,
            } if outcome == "declined" => st.events.push((
                "compliance.refused",
                json!({"call_id": id, "node": node, "refused": "recording-consent", "method": method}),
            )),
            _ => {}
        }
    }
    let entries = st.session.log().entries();
    let fresh: Vec<Entry> = entries[st.log_seen.min(entries.len())..]
        .iter()
        .map(|e| e.entry.clone())
        .collect();
    st.log_seen = entries.len();
    for entry in fresh {
        match entry {
            Entry::Step {
                flow,
                node,
                exit: Some(exit),
                ..
            } if exit == "done" => {
                let is_voicemail = st
                    .flows
                    .get(&flow)
                    .and_then(|f| f.plugin(&node))
                    .is_some_and(|p| p.manifest().name == "voicemail");
                if is_voicemail && !st.voicemail {
                    st.voicemail = true;
                    // Known only once an audio channel has stored it.
                    st.events.push((
                        "voicemail.left",
                        json!({"call_id": id, "flow": st.flow, "node": node,
                               "recording_bytes": st.recording_bytes}),
                    ));
                }
            }
            Entry::Input {
                input: Input::TransferResult { ok, reason },
            } => {
                st.transferred |= ok;
                st.events.push((
                    "call.transferred",
                    json!({"call_id": id, "to": st.transfer_to.take(), "ok": ok, "reason": reason}),
                ));
            }
            _ => {}
        }
    }
}

/// Answers what the text channel can answer itself (`http`, `transfer`)
/// until the call waits for the caller, the model or the card keys.
pub(crate) async fn settle(
    state: &AppState,
    call: &LiveCall,
    st: &mut CallState,
    out: &mut Vec<Action>,
) {
    for _ in 0..MAX_ROUND_TRIPS {
        let answer = match st.session.awaiting() {
            Some("http") => {
                let Some(request) = st.http.take() else { break };
                let outcome =
                    crate::outbound_http::perform(state, &call.tenant, &st.environment, &request)
                        .await;
                let error = (outcome.status == 0)
                    .then(|| format!("endpoint `{}` could not be reached", request.endpoint));
                Input::HttpResult {
                    status: outcome.status,
                    body: outcome.body,
                    error,
                }
            }
            // A voice channel hands the caller over for real; its driver
            // answers when the far end has.
            Some("transfer") if call.channel == "text" => Input::TransferResult {
                ok: true,
                reason: None,
            },
            _ => break,
        };
        let now = st.clock.now();
        let actions = run_sync(|| {
            let mut actions = st.session.deliver(Input::Clock { now_ms: now });
            actions.extend(st.session.deliver(answer));
            actions
        });
        absorb(st, actions, out);
    }
}

/// Finishes a turn: sends queued webhook events, and when the call has
/// ended (or `force` ends it), writes it whole and takes it off the table.
pub(crate) async fn conclude(
    state: &AppState,
    call: &LiveCall,
    st: &mut CallState,
    out: Vec<Action>,
    force: Option<&str>,
) -> Turn {
    if let Some(outcome) = force
        && st.session.ended().is_none()
    {
        // The session ends as if the caller hung up, so plugins, the guard
        // and the evidence close the call properly; the outcome says why.
        st.outcome = Some(outcome.to_owned());
        st.capture = None;
        let now = st.clock.now();
        let actions = run_sync(|| {
            let mut actions = st.session.deliver(Input::Clock { now_ms: now });
            actions.extend(st.session.deliver(Input::Hangup));
            actions
        });
        let mut ignored = Vec::new();
        absorb(st, actions, &mut ignored);
    }
    let mut ended_now = false;
    if st.session.ended().is_some() && !st.done {
        st.done = true;
        let outcome = st
            .outcome
            .clone()
            .unwrap_or_else(|| outcome_of(st.session.ended().unwrap_or_default(), st));
        st.outcome = Some(outcome.clone());
        if let Err(error) = persist(state, call, st, &outcome).await {
            tracing::error!(call = %call.id, error = format!("{error:#}"), "writing an ended call failed");
        }
        let ended_at = now_ms();
        st.events.push((
            "call.ended",
            json!({"call_id": call.id, "flow": st.flow, "flow_version": st.version,
                   "outcome": outcome, "ended_at": ended_at,
                   "duration_ms": ended_at - st.started_at}),
        ));
        ended_now = true;
    }
    for (event, payload) in std::mem::take(&mut st.events) {
        if let Err(error) = crate::webhooks::emit(state, &call.tenant, event, payload).await {
            tracing::error!(call = %call.id, event, error = format!("{error:#}"), "queueing a webhook event failed");
        }
    }
    if ended_now {
        // Last: a shutdown drain waits for the table to empty and then
        // closes the database, so the call leaves it only once its
        // `call.ended` event is queued.
        state.calls.remove(&call.id);
    }
    let mut agent = Vec::new();
    let mut actions = Vec::new();
    for action in out {
        match action {
            Action::Say { text, .. } => agent.push(fold(&text)),
            other => actions.push(serde_json::to_value(&other).unwrap_or(Value::Null)),
        }
    }
    let awaiting = if st.done {
        None
    } else if st.capture.is_some() {
        Some("secure_capture".to_owned())
    } else {
        st.session.awaiting().map(str::to_owned)
    };
    Turn {
        id: call.id.clone(),
        status: if st.done { "ended" } else { "live" }.to_owned(),
        outcome: st.outcome.clone(),
        agent,
        actions,
        awaiting,
    }
}

/// A short outcome code from the session's end reason and what happened.
fn outcome_of(reason: &str, st: &CallState) -> String {
    if reason.contains("budget exceeded") {
        "budget-exceeded"
    } else if reason.contains("failed and nothing catches its error") {
        "error"
    } else if st.transferred {
        "transferred"
    } else if st.voicemail {
        "voicemail"
    } else if reason == "caller hung up" {
        "caller-hangup"
    } else {
        "completed"
    }
    .to_owned()
}

/// The transcript with PII redacted (every class, as tokens: `[CARD]`),
/// the conversation read as a whole so numbers split over turns are found.
fn redacted(lines: &[String]) -> Vec<String> {
    let turns: Vec<&str> = lines.iter().map(String::as_str).collect();
    Redactor::new(RedactionConfig::all(redact::Action::Token))
        .redact_conversation(&turns)
        .into_iter()
        .map(|r| r.text)
        .collect()
}

/// Writes the ended call: sealed event log, redacted transcript and signed
/// evidence, and the metadata, in one update.
async fn persist(
    state: &AppState,
    call: &LiveCall,
    st: &CallState,
    outcome: &str,
) -> anyhow::Result<()> {
    let events = st.session.log().to_jsonl();
    let transcript = serde_json::to_vec(&redacted(&st.transcript))?;
    let evidence = st.session.evidence().seal(&state.signer).to_json_pretty();
    let (key_id, key) = state.keyring.current(&state.db, &call.tenant).await?;
    let seal = |which: Sealed, bytes: &[u8]| {
        key.seal(bytes, which.place(&call.tenant, &call.id).as_bytes())
    };
    let written = state
        .db
        .end_call(
            &call.tenant,
            &call.id,
            &EndedCall {
                outcome,
                ended_at: now_ms(),
                data_key_id: &key_id,
                events: seal(Sealed::Events, events.as_bytes()),
                transcript: seal(Sealed::Transcript, &transcript),
                evidence: seal(Sealed::Evidence, evidence.as_bytes()),
            },
        )
        .await?;
    if !written {
        anyhow::bail!("call {} was not live in the database", call.id);
    }
    Ok(())
}

/// Fires the call's timers on the real clock, and ends a call left idle.
async fn timers(state: AppState, call: Arc<LiveCall>) {
    loop {
        let wait = {
            let st = call.state.lock().await;
            if st.done {
                return;
            }
            let idle = IDLE_LIMIT.saturating_sub(st.last_input.elapsed());
            match st
                .session
                .next_deadline()
                .filter(|_| !st.clock.virtual_time)
            {
                Some(deadline) => {
                    let left = (deadline - st.clock.now()).max(0) as u64;
                    idle.min(Duration::from_millis(left))
                }
                None => idle,
            }
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = call.wake.notified() => continue,
        }
        let mut st = call.state.lock().await;
        if st.done {
            return;
        }
        let now = st.clock.now();
        if st.session.next_deadline().is_some_and(|d| d <= now) {
            let mut out = std::mem::take(&mut st.pending);
            let actions = run_sync(|| st.session.deliver(Input::Clock { now_ms: now }));
            absorb(&mut st, actions, &mut out);
            settle(&state, &call, &mut st, &mut out).await;
            let turn = conclude(&state, &call, &mut st, Vec::new(), None).await;
            // Kept for the client's next request; the transcript has them too.
            st.pending = out;
            if turn.status != "live" {
                return;
            }
        } else if st.last_input.elapsed() >= IDLE_LIMIT {
            conclude(&state, &call, &mut st, Vec::new(), Some("abandoned")).await;
            return;
        }
    }
}
