//! Calls and simulations: `/v1/calls` (place a text-channel call, list),
//! `/v1/calls/{id}` with its input, event log, transcript, recording and
//! evidence, and `/v1/simulate`.
//!
//! Another tenant's call id is a 404 on every route: every lookup is by
//! (tenant, id), the tenant taken from the key.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchyard_runtime::convo;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Auth;
use super::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, ErrorBody};
use crate::db::TenantId;
use crate::db::calls::{CallFilter, CallInfo, Sealed};
use crate::flow_store::{self, FlowRef};
use crate::live_calls::{CallInput, StartCall, Turn};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_calls, start_call))
        .routes(routes!(get_call))
        .routes(routes!(call_input))
        .routes(routes!(call_events))
        .routes(routes!(call_transcript))
        .routes(routes!(call_recording))
        .routes(routes!(call_evidence))
        .routes(routes!(simulate))
}

// ------------------------------------------------------------ live calls

/// A call to place on the text channel.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCall {
    /// The called number or SIP URI: routed like an inbound call, and it
    /// must be routed to one of this tenant's flows.
    pub to: String,
    /// The caller's number.
    pub from: String,
    /// Pretend the call starts at this RFC 3339 time (business hours,
    /// calling hours); the clock then runs from there.
    #[serde(default)]
    pub at: Option<String>,
    /// `real` (the default): the call's timers run on the wall clock, as on
    /// a phone line. `virtual`: time moves only when the caller sends
    /// `silence_ms`, as in conversation tests, so a scripted call behaves
    /// the same however slowly its requests arrive.
    #[serde(default)]
    pub clock: Option<String>,
}

fn check_address(pointer: &str, value: &str) -> Result<(), ApiError> {
    let value = value.trim();
    if value.is_empty() || value.len() > 200 || value.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            pointer,
            "a number or address is 1 to 200 printable characters",
        ));
    }
    Ok(())
}

/// Places a call on the text channel: `to` is routed like an inbound call
/// (to one of this tenant's flows, else 404), the flow's live version is
/// pinned for the whole call, and the flow runs until it waits for the
/// caller. Continue it with `POST /v1/calls/{id}/input`. The call is
/// recorded like any other (event log, redacted transcript, evidence).
#[utoipa::path(post, path = "/v1/calls", tag = "calls", request_body = NewCall,
    responses((status = 201, body = Turn), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody, description = "No route of this tenant for `to`, or no live version"),
              (status = 409, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
              (status = 503, body = ErrorBody, description = "The server is shutting down")))]
async fn start_call(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(new): ApiJson<NewCall>,
) -> ApiResult<(StatusCode, ApiJson<Turn>)> {
    auth.require("flows:write")?;
    check_address("/to", &new.to)?;
    check_address("/from", &new.from)?;
    let at_ms = match &new.at {
        Some(at) => Some(
            chrono::DateTime::parse_from_rfc3339(at.trim())
                .map_err(|e| {
                    ApiError::invalid(
                        "/at",
                        format!(
                            "`{at}` is not an RFC 3339 time like 2026-11-21T22:30:00-08:00: {e}"
                        ),
                    )
                })?
                .timestamp_millis(),
        ),
        None => None,
    };
    let virtual_clock = match new.clock.as_deref() {
        None | Some("real") => false,
        Some("virtual") => true,
        Some(other) => {
            return Err(ApiError::invalid(
                "/clock",
                format!("`clock` is \"real\" or \"virtual\", not \"{other}\""),
            ));
        }
    };
    let turn = state
        .calls
        .start(
            &state,
            &auth.tenant,
            StartCall {
                to: new.to.trim().to_owned(),
                from: new.from.trim().to_owned(),
                at_ms,
                virtual_clock,
                vars: serde_json::Map::new(),
                placed: None,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, ApiJson(turn)))
}

/// One caller move: exactly one of the fields.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallInputBody {
    /// Keys pressed: `0`-`9`, `*`, `#`, `A`-`D`. In a secure-capture window they go
    /// to the sealed card collector and are kept nowhere.
    #[serde(default)]
    pub digits: Option<String>,
    /// Something the caller says (already transcribed).
    #[serde(default)]
    pub says: Option<String>,
    /// The caller stays quiet this many milliseconds: the call's clock
    /// moves ahead and timers due fire.
    #[serde(default)]
    pub silence_ms: Option<u64>,
    /// The model's reply when the call waits for one: text, `tool NAME
    /// {json} text`, or `error MESSAGE`.
    #[serde(default)]
    pub llm: Option<String>,
    /// `true`: the caller hangs up.
    #[serde(default)]
    pub hangup: Option<bool>,
}

impl CallInputBody {
    fn into_input(self) -> Result<CallInput, ApiError> {
        let given = [
            self.digits.is_some(),
            self.says.is_some(),
            self.silence_ms.is_some(),
            self.llm.is_some(),
            self.hangup.is_some(),
        ]
        .iter()
        .filter(|g| **g)
        .count();
        if given != 1 {
            return Err(ApiError::invalid(
                "",
                "send exactly one of `digits`, `says`, `silence_ms`, `llm`, `hangup`",
            ));
        }
        if let Some(digits) = self.digits {
            let digits = digits.trim().to_owned();
            if digits.is_empty()
                || digits.len() > 64
                || !digits
                    .bytes()
                    .all(|b| b.is_ascii_digit() || matches!(b, b'*' | b'#' | b'A'..=b'D'))
            {
                return Err(ApiError::invalid(
                    "/digits",
                    "digits are 1 to 64 keys of 0-9, *, # and A-D",
                ));
            }
            return Ok(CallInput::Digits(digits));
        }
        if let Some(says) = self.says {
            if says.trim().is_empty() || says.len() > 4000 {
                return Err(ApiError::invalid(
                    "/says",
                    "an utterance is 1 to 4000 characters",
                ));
            }
            return Ok(CallInput::Says(says));
        }
        if let Some(ms) = self.silence_ms {
            if ms == 0 || ms > 3_600_000 {
                return Err(ApiError::invalid(
                    "/silence_ms",
                    "silence is 1 to 3600000 milliseconds",
                ));
            }
            return Ok(CallInput::SilenceMs(ms));
        }
        if let Some(llm) = self.llm {
            return Ok(CallInput::Llm(llm));
        }
        match self.hangup {
            Some(true) => Ok(CallInput::Hangup),
            _ => Err(ApiError::invalid(
                "/hangup",
                "`hangup` is `true` (leave it out otherwise)",
            )),
        }
    }
}

/// Advances a live call by one caller move; answers with what the agent
/// said and did (including what timers made it do since the last
/// request). 409 `call-ended` once the call has ended; 409 `awaiting-llm`
/// while it waits for the model's reply.
#[utoipa::path(post, path = "/v1/calls/{id}/input", tag = "calls", request_body = CallInputBody,
    params(("id" = String, Path)),
    responses((status = 200, body = Turn), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn call_input(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<CallInputBody>,
) -> ApiResult<ApiJson<Turn>> {
    auth.require("flows:write")?;
    let input = body.into_input()?;
    Ok(ApiJson(
        state.calls.input(&state, &auth.tenant, &id, input).await?,
    ))
}

// ------------------------------------------------------------- call data

/// Filters of the call list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CallQuery {
    /// Calls that started at or after this time (epoch ms).
    pub since: Option<i64>,
    /// Calls that started before this time (epoch ms).
    pub until: Option<i64>,
    /// The caller's or the called number.
    pub number: Option<String>,
    /// The flow's name.
    pub flow: Option<String>,
    /// How the call ended (`completed`, `caller-hangup`, `transferred`,
    /// `voicemail`, `error`, `budget-exceeded`, `abandoned`, `shutdown`).
    pub outcome: Option<String>,
    /// `live` or `ended`.
    pub status: Option<String>,
    /// Only calls older than this call id (the next page).
    pub before: Option<String>,
    /// At most this many calls (1 to 500, default 50).
    pub limit: Option<i64>,
}

/// The tenant's calls, newest first. Page with `before` = the last id.
#[utoipa::path(get, path = "/v1/calls", tag = "calls", params(CallQuery),
    responses((status = 200, body = Vec<CallInfo>), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_calls(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(query): ApiQuery<CallQuery>,
) -> ApiResult<ApiJson<Vec<CallInfo>>> {
    auth.require("calls:read")?;
    if let (Some(since), Some(until)) = (query.since, query.until)
        && since > until
    {
        return Err(ApiError::bad_request(
            "bad-query",
            "`since` is after `until`",
        ));
    }
    let filter = CallFilter {
        since: query.since,
        until: query.until,
        number: query.number.map(|n| n.trim().to_owned()),
        flow: query.flow,
        outcome: query.outcome,
        status: query.status,
        before: query.before,
        limit: query.limit.unwrap_or(50).clamp(1, 500),
    };
    Ok(ApiJson(state.db.list_calls(&auth.tenant, &filter).await?))
}

/// One call's metadata: numbers, flow and version, times, outcome.
#[utoipa::path(get, path = "/v1/calls/{id}", tag = "calls", params(("id" = String, Path)),
    responses((status = 200, body = CallInfo), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_call(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ApiJson<CallInfo>> {
    auth.require("calls:read")?;
    state
        .db
        .call(&auth.tenant, &id)
        .await?
        .map(ApiJson)
        .ok_or_else(|| ApiError::not_found(format!("call {id}")))
}

/// A call's sealed column, opened; 404 when the tenant has no such call or
/// the column is empty.
async fn open_sealed(
    state: &AppState,
    tenant: &TenantId,
    id: &str,
    which: Sealed,
    what: &str,
) -> Result<Vec<u8>, ApiError> {
    let Some((key_id, sealed)) = state.db.call_sealed(tenant, id, which).await? else {
        return Err(ApiError::not_found(format!("call {id}")));
    };
    let Some(sealed) = sealed else {
        return Err(ApiError::not_found(format!("{what} of call {id}")));
    };
    let key = state.keyring.by_id(&state.db, tenant, &key_id).await?;
    key.open(&sealed, which.place(tenant, id).as_bytes())
        .map_err(|e| ApiError::internal(anyhow::anyhow!("call {id}: {what}: {e}")))
}

/// A call's event log: every input, step and action, in order (the
/// replayable record; `switchyard replay` reads it as JSON lines). For a
/// live call, the log so far.
#[utoipa::path(get, path = "/v1/calls/{id}/events", tag = "calls", params(("id" = String, Path)),
    responses((status = 200, body = Vec<Object>), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn call_events(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ApiJson<Vec<Value>>> {
    auth.require("calls:read")?;
    let text = match state.calls.events(&auth.tenant, &id).await {
        Some(text) => text,
        None => String::from_utf8(
            open_sealed(&state, &auth.tenant, &id, Sealed::Events, "the event log").await?,
        )
        .map_err(|e| ApiError::internal(e.into()))?,
    };
    let entries = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<Result<Vec<Value>, _>>()
        .map_err(|e| ApiError::internal(e.into()))?;
    Ok(ApiJson(entries))
}

/// A call's transcript.
#[derive(Debug, Serialize, ToSchema)]
pub struct Transcript {
    pub call_id: String,
    /// One line a turn: `agent: ...`, `caller: 1`, `caller says: ...`,
    /// `[record start]`. Personal data (cards, SSNs, e-mail, phone numbers,
    /// ...) is redacted before the transcript is stored.
    pub lines: Vec<String>,
}

/// A call's transcript, redacted (for a live call, so far). 404 once
/// erased.
#[utoipa::path(get, path = "/v1/calls/{id}/transcript", tag = "calls", params(("id" = String, Path)),
    responses((status = 200, body = Transcript), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn call_transcript(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ApiJson<Transcript>> {
    auth.require("calls:read")?;
    let lines = match state.calls.transcript(&auth.tenant, &id).await {
        Some(lines) => lines,
        None => {
            let bytes = open_sealed(
                &state,
                &auth.tenant,
                &id,
                Sealed::Transcript,
                "the transcript",
            )
            .await?;
            serde_json::from_slice(&bytes).map_err(|e| ApiError::internal(e.into()))?
        }
    };
    Ok(ApiJson(Transcript { call_id: id, lines }))
}

/// WAV audio, streamed.
#[derive(Debug, ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct WavAudio(pub Vec<u8>);

/// A call's recording, decrypted as it streams. 404 when the call has
/// none (not recorded, or erased).
#[utoipa::path(get, path = "/v1/calls/{id}/recording", tag = "calls", params(("id" = String, Path)),
    responses((status = 200, content_type = "audio/wav", body = WavAudio), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn call_recording(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    auth.require("calls:read")?;
    if state.db.call(&auth.tenant, &id).await?.is_none() {
        return Err(ApiError::not_found(format!("call {id}")));
    }
    let Some(recording) = crate::recordings::open(&state, &auth.tenant, &id).await? else {
        return Err(ApiError::not_found(format!("the recording of call {id}")));
    };
    let len = recording.len;
    let mut response = Body::from_stream(recording.into_stream()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("audio/wav"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// A call's compliance evidence: the templates that applied, disclosures
/// played, consent, recording windows, opt-outs and secure-capture windows,
/// hash-chained and signed (verify with `switchyard evidence verify`). 404
/// while the call is live (evidence is sealed at its end).
#[utoipa::path(get, path = "/v1/calls/{id}/evidence", tag = "calls", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn call_evidence(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ApiJson<Value>> {
    auth.require("calls:read")?;
    let bytes = open_sealed(&state, &auth.tenant, &id, Sealed::Evidence, "evidence").await?;
    Ok(ApiJson(
        serde_json::from_slice(&bytes).map_err(|e| ApiError::internal(e.into()))?,
    ))
}

// ------------------------------------------------------------- simulate

/// A conversation test to run against a flow.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Simulation {
    /// The flow's name.
    pub flow: String,
    /// A version number, `"draft"` (the default) or `"live"`.
    #[serde(default)]
    #[schema(value_type = Option<Object>, example = json!("draft"))]
    pub version: Option<Value>,
    /// Whose bindings to use: `staging` (the default) or `production`.
    #[serde(default)]
    pub environment: Option<String>,
    /// A `*.convo` script: `call:`, `agent:`, `caller:`, `caller says:`,
    /// `llm:`, `http:`, `transfer:`, `expect:` lines. A `flow:` line may be
    /// left out (the flow is the one named here).
    pub script: String,
}

/// Where and why a simulation failed.
#[derive(Debug, Serialize, ToSchema)]
pub struct SimulationFailure {
    /// The script's line (1-based).
    pub line: usize,
    /// The line as written.
    pub text: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual: Option<String>,
}

/// The outcome of a simulation.
#[derive(Debug, Serialize, ToSchema)]
pub struct SimulationResult {
    pub passed: bool,
    pub flow: String,
    /// The version simulated; absent for the draft.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<SimulationFailure>,
    /// What was said and done, in order.
    pub transcript: Vec<String>,
}

fn flow_ref(version: Option<&Value>) -> Result<FlowRef, ApiError> {
    let bad = || {
        ApiError::invalid(
            "/version",
            "`version` is a version number, \"draft\" or \"live\"",
        )
    };
    match version {
        None | Some(Value::Null) => Ok(FlowRef::Draft),
        Some(Value::String(s)) if s == "draft" => Ok(FlowRef::Draft),
        Some(Value::String(s)) if s == "live" => Ok(FlowRef::Live),
        Some(Value::String(s)) => s
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 1)
            .map(FlowRef::Version)
            .ok_or_else(bad),
        Some(Value::Number(n)) => n
            .as_i64()
            .filter(|n| *n >= 1)
            .map(FlowRef::Version)
            .ok_or_else(bad),
        Some(_) => Err(bad()),
    }
}

/// The keys the script's `call:` lines set.
fn call_keys(script: &str) -> BTreeSet<String> {
    script
        .lines()
        .filter_map(|l| l.trim().strip_prefix("call:"))
        .flat_map(|rest| {
            rest.split_whitespace()
                .filter_map(|kv| kv.split_once('=').map(|(k, _)| k.to_owned()))
        })
        .collect()
}

/// Runs a conversation test (`*.convo`) against a flow's draft or a
/// version, on a virtual clock (a 30-second timeout takes microseconds),
/// with this tenant's plugins, its enabled compliance templates, and the
/// environment's number bindings as call variables; sub-flows are the
/// tenant's. Nothing is stored: no call row, no event log, no webhook.
/// A malformed script is a 422 `invalid-script` naming the line; a draft
/// that does not compile is a 422 `invalid-flow`. A script that runs and
/// fails is a 200 with `passed: false` and the failing line.
#[utoipa::path(post, path = "/v1/simulate", tag = "calls", request_body = Simulation,
    responses((status = 200, body = SimulationResult), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn simulate(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<Simulation>,
) -> ApiResult<ApiJson<SimulationResult>> {
    auth.require("flows:read")?;
    let which = flow_ref(body.version.as_ref())?;
    let environment = body.environment.as_deref().unwrap_or("staging");
    if body.script.len() > 256 << 10 {
        return Err(ApiError::invalid("/script", "a script is at most 256 KiB"));
    }
    let loaded = flow_store::load(&state, &auth.tenant, &body.flow, which, environment)
        .await
        .map_err(|e| {
            if e.pointer.is_none() && e.status == StatusCode::NOT_FOUND {
                e.at("/flow")
            } else {
                e
            }
        })?;
    let registry = crate::live_calls::registry_for(&state, &auth.tenant, &loaded).await?;
    let templates = state.db.tenant(&auth.tenant).await?.templates;

    // What a real call of the tenant would have, added after the script's
    // own lines (so its line numbers hold) where the script does not say.
    let script_lines = body.script.lines().count();
    let mut script = body.script.clone();
    if !script.ends_with('\n') {
        script.push('\n');
    }
    if !body.script.lines().any(|l| l.trim().starts_with("flow:")) {
        script.push_str(&format!("flow: {}.json\n", loaded.name));
    }
    let keys = call_keys(&body.script);
    if !templates.is_empty() && !keys.contains("templates") {
        script.push_str(&format!("call: templates={}\n", templates.join(",")));
    }
    let vars: Vec<String> = loaded
        .vars
        .iter()
        .filter(|(k, _)| !keys.contains(*k))
        .filter_map(|(k, v)| v.as_str().map(|v| format!("{k}={v}")))
        .filter(|kv| !kv.contains(char::is_whitespace))
        .collect();
    if !vars.is_empty() {
        script.push_str(&format!("call: {}\n", vars.join(" ")));
    }

    let name = loaded.name.clone();
    let version = loaded.version;
    let report = tokio::task::spawn_blocking(move || {
        // The first file the runner reads is the flow under test; later
        // ones are sub-flows, `NAME.json`.
        let first = std::cell::Cell::new(true);
        let load = |path: &str| -> Result<String, String> {
            if first.replace(false) {
                return Ok(loaded.document.clone());
            }
            let stem = std::path::Path::new(path)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            loaded
                .documents
                .get(&stem)
                .cloned()
                .or_else(|| (stem == loaded.name).then(|| loaded.document.clone()))
                .ok_or_else(|| format!("no flow named {stem}"))
        };
        convo::run_source(&registry, &script, "simulate.convo", &load)
    })
    .await
    .map_err(|e| ApiError::internal(e.into()))?;

    let failure = report.failure.map(|f| {
        let past_end = f.line > script_lines;
        SimulationFailure {
            line: if past_end { script_lines + 1 } else { f.line },
            text: if past_end {
                "(end of script)".to_owned()
            } else {
                f.text
            },
            message: f.message,
            expected: f.expected,
            actual: f.actual,
        }
    });
    // A failure before the call started is the script's or the flow's
    // fault, not the flow's behaviour.
    if report.log.entries().is_empty()
        && let Some(failure) = failure
    {
        if failure.message.starts_with("flow is invalid") {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-flow",
                format!("flow {name} does not compile: {}", failure.message),
            )
            .at("/flow"));
        }
        let message = format!("line {}: {}", failure.line, failure.message);
        return Err(
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-script", message)
                .at("/script")
                .with_details(serde_json::json!({
                    "line": failure.line,
                    "text": failure.text,
                    "message": failure.message,
                })),
        );
    }
    Ok(ApiJson(SimulationResult {
        passed: failure.is_none(),
        flow: name,
        version,
        failure,
        transcript: report.transcript,
    }))
}
