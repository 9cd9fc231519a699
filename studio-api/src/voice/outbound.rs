//! Outbound voice calls, screened by answering-machine detection.
//!
//! [`place`] loads the flow the call will run (404 when the tenant has no
//! such flow or no live version), checks the call against the runtime's
//! outbound calling guard ([`check_outbound`]: the calling hours of the
//! tenant's enabled templates in the callee's local time, as `switchyard
//! outbound check` does), writes the call's row (status `live`) and returns
//! its id at once. A task then dials through the SIP server and, once the
//! callee answers, listens to them with the [`AnsweringMachineDetector`]
//! before the flow starts:
//!
//! - a person (a short "hello?", then silence), or a key pressed: the flow
//!   starts at once with the call variable `answered_by` = `human`;
//! - nothing decisive (dead air, or no rule decided by the detector's
//!   deadline): `unknown`, at once;
//! - a machine (a long greeting): the detector keeps listening for the
//!   recorder's beep, and the flow starts when the tone ends (or after
//!   [`AmdConfig::beep_wait_ms`] without one) with `answered_by` =
//!   `machine`, so what the flow says next lands on the recording.
//!
//! The call then runs like any voice call ([`super::driver::run`]): its
//! variables carry `answered_by` from the first entry of its event log (so
//! replay sees it too), its transcript starts with the detector's verdict
//! and reason, and its `call.started` webhook says `"direction":
//! "outbound"`. What the detector took from the leg besides audio (a key,
//! hold, the callee hanging up) is handed on to the driver in order; the
//! audio it consumed is not replayed.
//!
//! A call that never starts is written all the same, with an evidence
//! record that says why and a `call.ended` webhook: outcome `no-answer`
//! (it rang out, or 408/480/487), `busy` (486, 600), `declined` (603),
//! `failed` (any other refusal, an answer without usable media),
//! `shutdown`, or `error` (the flow could not start).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};
use switchyard_media::amd::{AmdConfig, AmdResult, AmdVerdict, AnsweringMachineDetector, Beep};
use switchyard_media::leg::{LegCommand, LegEvent, MediaLeg};
use switchyard_runtime::policy::evidence::{EvidenceHeader, EvidenceItem, EvidenceLog};
use switchyard_runtime::policy::outbound::{DoNotCallList, OutboundRequest, check_outbound};
use switchyard_sip::{DialError, DialOptions, SipServer};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::api::error::ApiError;
use crate::db::calls::{EndedCall, NewCall, Sealed};
use crate::db::{TenantId, new_id, now_ms};
use crate::flow_store::{self, FlowRef, LoadedFlow};
use crate::live_calls::{PlacedCall, StartCall};
use crate::state::AppState;

/// How long an outbound call rings unless the request says otherwise.
pub const DEFAULT_RING_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest ring a request may ask for.
pub const MAX_RING_TIMEOUT: Duration = Duration::from_secs(120);

/// Wall-clock slack on the detector's own deadlines (which count audio):
/// a callee that sends no RTP at all still gets a verdict.
const WALL_SLACK: Duration = Duration::from_millis(1500);

/// An outbound call to place.
#[derive(Debug, Clone)]
pub struct PlaceCall {
    /// The callee: a SIP URI, or a number (dialled through the server's
    /// `--sip-outbound-proxy`).
    pub to: String,
    /// The caller ID: a number or a SIP URI.
    pub from: String,
    /// The flow to run (its live version).
    pub flow: String,
    /// Whose bindings the call uses: `production` or `staging`.
    pub environment: String,
    /// How long to let it ring.
    pub ring_timeout: Duration,
    /// Who asked (an API key's id), for the audit log of refusals.
    pub actor: String,
}

/// A call placed: ringing, or about to.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Placed {
    /// The call's id (`GET /v1/calls/{id}`): its row is written, status
    /// `live` until the call ends.
    pub id: String,
    /// `dialling`: the callee's phone is being rung. Once they answer and
    /// answering-machine detection has decided, the flow runs; a call
    /// nobody answers ends with outcome `no-answer`, `busy`, `declined` or
    /// `failed`.
    pub status: String,
    pub flow: String,
    /// The published version the call will run.
    pub flow_version: Option<i64>,
}

/// Outbound calls being dialled or screened, which are not live calls yet:
/// shutdown waits for them to be written.
#[derive(Debug, Default)]
pub struct Placements {
    count: AtomicUsize,
}

impl Placements {
    /// How many calls are being dialled or screened.
    pub fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// Waits up to `limit` for every placement to finish (its call live or
    /// written); returns how many are left.
    pub async fn wait_idle(&self, limit: Duration) -> usize {
        let deadline = Instant::now() + limit;
        while self.count() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.count()
    }
}

/// One placement in progress; counted until dropped.
struct Busy(AppState);

impl Busy {
    fn enter(state: &AppState) -> Self {
        state.placing.count.fetch_add(1, Ordering::SeqCst);
        Busy(state.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.placing.count.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What the task that dials needs.
struct Placement {
    id: String,
    /// The SIP URI dialled.
    target: String,
    to: String,
    from: String,
    ring_timeout: Duration,
    flow: LoadedFlow,
    placed_at: i64,
}

/// Places an outbound call for `tenant` and returns at once: the flow is
/// loaded, the guard consulted and the row written before this returns;
/// the dialling, the detection and the call itself run in a task.
///
/// # Errors
/// 404 when the tenant has no such flow or no live version of it; 422 for
/// an address that is neither a number nor a SIP URI (or a number without
/// an outbound proxy); 403 `outbound-refused` when the outbound guard
/// refuses the call (the rule is named, and the refusal is written to the
/// audit log); 503 while shutting down or without a SIP server.
pub async fn place(
    state: &AppState,
    tenant: &TenantId,
    request: PlaceCall,
) -> Result<Placed, ApiError> {
    // The flow first: another tenant's flow name is a 404 before anything
    // else is looked at.
    let flow = flow_store::load(
        state,
        tenant,
        &request.flow,
        FlowRef::Live,
        &request.environment,
    )
    .await
    .map_err(|error| match error.pointer {
        None if error.status == StatusCode::NOT_FOUND => error.at("/flow"),
        _ => error,
    })?;
    let target = sip_target(&request.to, state.config.sip_outbound_proxy.as_deref())?;
    check_caller_id(&request.from)?;

    let templates = state.db.tenant(tenant).await?.templates;
    let no_list = DoNotCallList::new("US").expect("US is a region");
    let asked = OutboundRequest {
        from: request.from.trim(),
        to: request.to.trim(),
        at_ms: now_ms(),
        templates: &templates,
    };
    if let Err(refusal) = check_outbound(&asked, &no_list) {
        state
            .db
            .audit(
                tenant,
                &request.actor,
                "call.outbound_refused",
                &format!("flow:{}", flow.name),
                json!({"reason": refusal.reason(), "rule": refusal.rule()}),
            )
            .await?;
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "outbound-refused",
            format!("the outbound calling guard refuses this call: {refusal}"),
        )
        .with_details(json!({"rule": refusal.rule(), "reason": refusal.reason(),
                             "refusal": refusal})));
    }

    if state.calls.is_closing() {
        let mut error = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting-down",
            "the server is shutting down and takes no new calls",
        );
        error.retry_after = Some(5);
        return Err(error);
    }
    let Some(sip) = state.sip.get().cloned() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "sip-unavailable",
            "this server does not run SIP (it was started with --no-sip), so it places no calls",
        ));
    };

    let id = new_id("call");
    let placed_at = now_ms();
    let (key_id, _) = state.keyring.current(&state.db, tenant).await?;
    // Numbers are kept as dialled, without spacing: calls are found (and
    // erased) by number.
    let to = canonical(&request.to);
    let from = canonical(&request.from);
    state
        .db
        .insert_call(
            tenant,
            &NewCall {
                id: &id,
                flow: &flow.name,
                flow_version: flow.version,
                channel: "sip",
                environment: &flow.environment,
                from: &from,
                to: &to,
                started_at: placed_at,
                data_key_id: &key_id,
            },
        )
        .await?;
    let placed = Placed {
        id: id.clone(),
        status: "dialling".into(),
        flow: flow.name.clone(),
        flow_version: flow.version,
    };
    let busy = Busy::enter(state);
    let placement = Placement {
        id,
        target,
        to,
        from,
        ring_timeout: request.ring_timeout,
        flow,
        placed_at,
    };
    tokio::spawn(run(state.clone(), tenant.clone(), placement, sip, busy));
    Ok(placed)
}

/// The SIP URI to dial for `to`: a `sip:`/`sips:` URI as given, a number
/// at the outbound proxy.
fn sip_target(to: &str, proxy: Option<&str>) -> Result<String, ApiError> {
    let to = to.trim();
    if is_sip_uri(to) {
        return Ok(to.to_owned());
    }
    let Some(number) = number(to) else {
        return Err(ApiError::invalid(
            "/to",
            "`to` is a phone number (+12125550123) or a SIP URI (sip:alice@example.com)",
        ));
    };
    match proxy {
        Some(proxy) => Ok(format!("sip:{number}@{proxy}")),
        None => Err(ApiError::invalid(
            "/to",
            "this server has no outbound SIP proxy (serve --sip-outbound-proxy HOST:PORT), \
             so it calls SIP URIs only, not numbers",
        )),
    }
}

fn check_caller_id(from: &str) -> Result<(), ApiError> {
    let from = from.trim();
    if is_sip_uri(from) || number(from).is_some() {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "/from",
            "`from` is a phone number (+18005550100) or a SIP URI (sip:desk@example.com)",
        ))
    }
}

/// `sip:` or `sips:`, something after it, a host after any `@`, and
/// nothing a URI cannot hold unescaped.
fn is_sip_uri(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    let Some(rest) = lower
        .strip_prefix("sip:")
        .or_else(|| lower.strip_prefix("sips:"))
    else {
        return false;
    };
    let host = rest.rsplit('@').next().unwrap_or_default();
    text.len() <= 200
        && !host.is_empty()
        && !host.starts_with([':', ';'])
        && !rest
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"'))
}

/// A number without its spacing and punctuation; a SIP URI as given.
fn canonical(address: &str) -> String {
    let address = address.trim();
    match number(address) {
        Some(number) if !is_sip_uri(address) => number,
        _ => address.to_owned(),
    }
}

/// A phone number with its spacing and punctuation taken out: `+` (or
/// not) and 3 to 20 digits.
fn number(text: &str) -> Option<String> {
    let kept: String = text
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    let digits = kept.strip_prefix('+').unwrap_or(&kept);
    ((3..=20).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())).then_some(kept)
}

/// Dials, screens and runs one placed call, or writes why it never ran.
async fn run(state: AppState, tenant: TenantId, placement: Placement, sip: SipServer, busy: Busy) {
    // While it rings: a person who says "hello?" should not wait for the
    // first step's plugins to compile.
    tokio::spawn(warm(state.clone(), tenant.clone(), placement.flow.clone()));
    let options = DialOptions {
        ring_timeout: placement.ring_timeout,
        ..DialOptions::default()
    };
    let leg = match sip.dial(&placement.target, &placement.from, options).await {
        Ok(leg) => leg,
        Err(error) => {
            let (outcome, why) = not_connected(&error);
            tracing::info!(call = %placement.id, outcome, %why, "outbound call not connected");
            end_unstarted(&state, &tenant, &placement, outcome, &why).await;
            return;
        }
    };
    let MediaLeg {
        info,
        mut events,
        commands,
        demand,
    } = leg;
    // A new leg sends raw frames, which the detector reads.
    let mut detection = detect(&mut events, &AmdConfig::default()).await;
    tracing::info!(
        call = %placement.id,
        answered_by = detection.result.as_str(),
        reason = %detection.reason,
        beep = detection.beep.is_some(),
        "answering-machine detection"
    );
    let leg = rejoin(
        MediaLeg {
            info,
            events,
            commands,
            demand,
        },
        std::mem::take(&mut detection.held),
    );
    let mut vars = serde_json::Map::new();
    vars.insert(
        "answered_by".into(),
        Value::String(detection.result.as_str().to_owned()),
    );
    let request = StartCall {
        to: placement.to.clone(),
        from: placement.from.clone(),
        at_ms: None,
        virtual_clock: false,
        vars,
        placed: Some(PlacedCall {
            id: placement.id.clone(),
            flow: placement.flow.clone(),
        }),
    };
    match state.calls.open(&state, &tenant, &request, "sip").await {
        Ok(call) => {
            call.state
                .lock()
                .await
                .transcript
                .push(detection.describe());
            // A live call now: the shutdown drain sees it.
            drop(busy);
            super::driver::run(state, call, leg).await;
        }
        Err(error) => {
            let _ = leg.commands.send(LegCommand::Hangup).await;
            let outcome = if error.code == "shutting-down" {
                "shutdown"
            } else {
                "error"
            };
            tracing::warn!(call = %placement.id, code = error.code, "outbound call could not start");
            end_unstarted(
                &state,
                &tenant,
                &placement,
                outcome,
                &format!("answered, but the flow could not start: {}", error.message),
            )
            .await;
        }
    }
}

/// Compiles the flow set and every plugin it uses while the call rings
/// (`live_calls::compile`, which the call's own open repeats and then
/// finds done), so a person who says "hello?" does not wait for it.
async fn warm(state: AppState, tenant: TenantId, flow: LoadedFlow) {
    if let Err(error) = crate::live_calls::compile(&state, &tenant, &flow).await {
        // The call's open will say so; nothing to warm meanwhile.
        tracing::debug!(error = error.message, "no plugins to warm");
    }
}

/// The outcome of a call that never connected, and why in words (without
/// the URI: it may hold a number).
fn not_connected(error: &DialError) -> (&'static str, String) {
    match error {
        DialError::NoAnswer => ("no-answer", "nobody answered".to_owned()),
        DialError::Rejected { status, reason } => {
            let outcome = match status {
                486 | 600 => "busy",
                603 => "declined",
                408 | 480 | 487 => "no-answer",
                _ => "failed",
            };
            (outcome, format!("refused with {status} {reason}"))
        }
        DialError::ShuttingDown => ("shutdown", "the server shut down".to_owned()),
        DialError::InvalidUri(_) => ("failed", "the address is not a usable SIP URI".to_owned()),
        DialError::NoMedia(reason) => ("failed", format!("no usable media: {reason}")),
        DialError::NoRtpPort => ("failed", "no free RTP port".to_owned()),
        DialError::Signalling(_) => ("failed", "the SIP transaction failed".to_owned()),
    }
}

/// Ends the row of a placed call whose flow never ran: sealed empty event
/// log, a one-line transcript, an evidence record ending with why; then
/// the `call.ended` webhook.
async fn end_unstarted(
    state: &AppState,
    tenant: &TenantId,
    placement: &Placement,
    outcome: &str,
    why: &str,
) {
    if let Err(error) = write_unstarted(state, tenant, placement, outcome, why).await {
        tracing::error!(call = %placement.id, error = format!("{error:#}"), "writing an unstarted outbound call failed");
    }
}

async fn write_unstarted(
    state: &AppState,
    tenant: &TenantId,
    placement: &Placement,
    outcome: &str,
    why: &str,
) -> anyhow::Result<()> {
    let ended_at = now_ms();
    let mut evidence = EvidenceLog::new(EvidenceHeader::new(
        placement.id.clone(),
        placement.flow.name.clone(),
        placement.flow.digest.clone(),
        placement.placed_at,
    ));
    evidence.push(
        ended_at,
        EvidenceItem::Ended {
            reason: format!("outbound call not connected ({outcome}): {why}"),
        },
    );
    let evidence = evidence.seal(&state.signer).to_json_pretty();
    let transcript = serde_json::to_vec(&[format!("[outbound call {outcome}: {why}]")])?;
    let (key_id, key) = state.keyring.current(&state.db, tenant).await?;
    let seal = |which: Sealed, bytes: &[u8]| {
        key.seal(bytes, which.place(tenant, &placement.id).as_bytes())
    };
    let written = state
        .db
        .end_call(
            tenant,
            &placement.id,
            &EndedCall {
                outcome,
                ended_at,
                data_key_id: &key_id,
                events: seal(Sealed::Events, b""),
                transcript: seal(Sealed::Transcript, &transcript),
                evidence: seal(Sealed::Evidence, evidence.as_bytes()),
            },
        )
        .await?;
    anyhow::ensure!(
        written,
        "call {} was not live in the database",
        placement.id
    );
    crate::webhooks::emit(
        state,
        tenant,
        "call.ended",
        json!({"call_id": placement.id, "flow": placement.flow.name,
               "flow_version": placement.flow.version, "outcome": outcome,
               "ended_at": ended_at, "duration_ms": 0}),
    )
    .await
}

/// What answering-machine detection found.
#[derive(Debug)]
pub struct Detection {
    pub result: AmdResult,
    /// Which rule decided, or why nothing did.
    pub reason: String,
    /// Milliseconds of the callee's audio heard when the verdict came.
    pub decided_at_ms: u32,
    /// The recorder's beep, when a machine's was heard.
    pub beep: Option<Beep>,
    /// Milliseconds of audio heard in all.
    pub heard_ms: u32,
    /// Events other than audio taken from the leg, in order, for the driver.
    pub held: Vec<LegEvent>,
}

impl Detection {
    /// One transcript line: `[answering-machine detection: machine (...)]`.
    pub fn describe(&self) -> String {
        let beep = match (&self.result, &self.beep) {
            (_, Some(beep)) => format!(
                "; beep of {:.0} Hz ended at {} ms",
                beep.frequency_hz, beep.ended_at_ms
            ),
            (AmdResult::Machine, None) => {
                format!("; no beep heard by {} ms", self.heard_ms)
            }
            _ => String::new(),
        };
        format!(
            "[answering-machine detection: {} ({}, at {} ms){beep}]",
            self.result.as_str(),
            self.reason,
            self.decided_at_ms
        )
    }
}

/// Listens to a just-answered callee until the detector decides and, for a
/// machine, until its beep ends (or `config.beep_wait_ms` passes).
///
/// A key decides `human` (machines do not press keys); the callee hanging
/// up (or the leg closing) ends the listening with whatever was decided,
/// `unknown` if nothing was. Wall-clock deadlines back the detector's own,
/// which count audio, so a callee that sends no audio still gets a verdict.
/// Everything but audio is kept in [`Detection::held`].
pub async fn detect(events: &mut mpsc::Receiver<LegEvent>, config: &AmdConfig) -> Detection {
    let mut amd = AnsweringMachineDetector::new(config.clone());
    let started = Instant::now();
    let verdict_by =
        started + Duration::from_millis(config.decision_deadline_ms.into()) + WALL_SLACK;
    let mut verdict: Option<AmdVerdict> = None;
    let mut beep_by = verdict_by;
    let mut beep = None;
    let mut held = Vec::new();
    let mut reason_if_none = String::new();
    loop {
        let until = if verdict.is_none() {
            verdict_by
        } else {
            beep_by
        };
        let event = match tokio::time::timeout_at(until, events.recv()).await {
            Err(_) => {
                reason_if_none = format!(
                    "no verdict after {} ms of the callee's audio",
                    amd.elapsed_ms()
                );
                break;
            }
            Ok(None) => {
                reason_if_none = "the call's media ended".into();
                break;
            }
            Ok(Some(event)) => event,
        };
        match event {
            LegEvent::Audio(frame) => {
                let update = amd.push(&frame);
                if let Some(decided) = update.verdict {
                    let wait_for_beep = decided.result == AmdResult::Machine;
                    verdict = Some(decided);
                    if !wait_for_beep {
                        break;
                    }
                    beep_by = Instant::now()
                        + Duration::from_millis(config.beep_wait_ms.into())
                        + WALL_SLACK;
                }
                if update.beep.is_some() {
                    beep = update.beep;
                    break;
                }
                if verdict.is_some() && amd.is_finished() {
                    break;
                }
            }
            LegEvent::Dtmf { .. } => {
                if verdict.is_none() {
                    verdict = Some(AmdVerdict {
                        result: AmdResult::Human,
                        reason: "a key was pressed".into(),
                        decided_at_ms: amd.elapsed_ms(),
                    });
                }
                held.push(event);
                break;
            }
            LegEvent::Hangup { .. } => {
                reason_if_none = format!("the callee hung up after {} ms", amd.elapsed_ms());
                held.push(event);
                break;
            }
            other => held.push(other),
        }
    }
    let verdict = verdict.unwrap_or_else(|| AmdVerdict {
        result: AmdResult::Unknown,
        reason: reason_if_none,
        decided_at_ms: amd.elapsed_ms(),
    });
    Detection {
        result: verdict.result,
        reason: verdict.reason,
        decided_at_ms: verdict.decided_at_ms,
        beep,
        heard_ms: amd.elapsed_ms(),
        held,
    }
}

/// The leg with `held` events in front of the rest, for the driver.
fn rejoin(leg: MediaLeg, held: Vec<LegEvent>) -> MediaLeg {
    if held.is_empty() {
        return leg;
    }
    let MediaLeg {
        info,
        mut events,
        commands,
        demand,
    } = leg;
    let (tx, rx) = mpsc::channel(held.len() + events.max_capacity());
    for event in held {
        // Room for all of them was made above.
        let _ = tx.try_send(event);
    }
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            if tx.send(event).await.is_err() {
                break;
            }
        }
    });
    MediaLeg {
        info,
        events: rx,
        commands,
        demand,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_media::frame::{Frame, SAMPLES_PER_FRAME};

    fn tone(hz: f32, frames: usize, start: usize) -> Vec<Frame> {
        (0..frames)
            .map(|f| {
                let samples: Vec<i16> = (0..SAMPLES_PER_FRAME)
                    .map(|n| {
                        let t = ((start + f) * SAMPLES_PER_FRAME + n) as f32 / 8_000.0;
                        (8_000.0 * (2.0 * std::f32::consts::PI * hz * t).sin()) as i16
                    })
                    .collect();
                Frame::from_samples(&samples)
            })
            .collect()
    }

    #[test]
    fn addresses_are_numbers_or_sip_uris() {
        assert_eq!(
            sip_target("+1 (212) 555-0123", Some("trunk.example:5060")).unwrap(),
            "sip:+12125550123@trunk.example:5060"
        );
        assert_eq!(
            sip_target(" sip:alice@127.0.0.1:5070 ", None).unwrap(),
            "sip:alice@127.0.0.1:5070"
        );
        let error = sip_target("+12125550123", None).unwrap_err();
        assert_eq!(error.pointer.as_deref(), Some("/to"));
        assert!(
            error.message.contains("--sip-outbound-proxy"),
            "{}",
            error.message
        );
        for bad in [
            "alice",
            "sip:",
            "sip:alice@",
            "sip:a b@host",
            "12",
            "+1-800-FLOWERS",
        ] {
            assert!(sip_target(bad, Some("p:5060")).is_err(), "{bad}");
        }
        assert!(check_caller_id("sip:desk@example.com").is_ok());
        assert!(check_caller_id("+18005550100").is_ok());
        assert!(check_caller_id("desk").is_err());
        assert_eq!(canonical(" +1 (415) 555-0123 "), "+14155550123");
        assert_eq!(canonical("sip:alice@example.com"), "sip:alice@example.com");
    }

    #[tokio::test]
    async fn a_key_means_a_person_and_is_handed_on() {
        let (tx, mut rx) = mpsc::channel(16);
        tx.send(LegEvent::Audio(Frame::silence())).await.unwrap();
        tx.send(LegEvent::Hold(true)).await.unwrap();
        tx.send(LegEvent::Dtmf {
            digit: '5',
            source: switchyard_media::leg::DtmfSource::Rfc4733,
        })
        .await
        .unwrap();
        let detection = detect(&mut rx, &AmdConfig::default()).await;
        assert_eq!(detection.result, AmdResult::Human);
        assert_eq!(detection.reason, "a key was pressed");
        assert!(matches!(detection.held[0], LegEvent::Hold(true)));
        assert!(matches!(
            detection.held[1],
            LegEvent::Dtmf { digit: '5', .. }
        ));
    }

    #[tokio::test]
    async fn a_beep_before_any_greeting_is_a_machine_and_ends_the_wait() {
        let (tx, mut rx) = mpsc::channel(256);
        let mut frames = vec![Frame::silence(); 10];
        frames.extend(tone(1_000.0, 25, 10));
        frames.extend(vec![Frame::silence(); 5]);
        for frame in frames {
            tx.send(LegEvent::Audio(frame)).await.unwrap();
        }
        let detection = detect(&mut rx, &AmdConfig::default()).await;
        assert_eq!(detection.result, AmdResult::Machine, "{detection:?}");
        let beep = detection.beep.expect("the beep");
        assert!((beep.frequency_hz - 1_000.0).abs() < 20.0, "{beep:?}");
        assert!(
            detection.describe().contains("machine"),
            "{}",
            detection.describe()
        );
        assert!(detection.held.is_empty());
    }

    #[tokio::test]
    async fn a_hang_up_mid_detection_is_unknown_and_handed_on() {
        let (tx, mut rx) = mpsc::channel(16);
        tx.send(LegEvent::Audio(Frame::silence())).await.unwrap();
        tx.send(LegEvent::Hangup {
            reason: "remote hangup".into(),
        })
        .await
        .unwrap();
        let detection = detect(&mut rx, &AmdConfig::default()).await;
        assert_eq!(detection.result, AmdResult::Unknown);
        assert!(detection.reason.contains("hung up"), "{}", detection.reason);
        assert!(matches!(detection.held[..], [LegEvent::Hangup { .. }]));
    }

    #[tokio::test]
    async fn no_audio_at_all_is_unknown_by_the_wall_clock() {
        let (_tx, mut rx) = mpsc::channel::<LegEvent>(16);
        let config = AmdConfig {
            decision_deadline_ms: 100,
            ..AmdConfig::default()
        };
        let started = std::time::Instant::now();
        let detection = detect(&mut rx, &config).await;
        assert!(started.elapsed() >= WALL_SLACK);
        assert_eq!(detection.result, AmdResult::Unknown);
        assert!(
            detection.reason.contains("no verdict"),
            "{}",
            detection.reason
        );
    }

    #[tokio::test]
    async fn held_events_come_first_then_the_rest() {
        let info = switchyard_media::leg::LegInfo {
            channel: switchyard_media::leg::ChannelKind::Sip,
            from: String::new(),
            to: String::new(),
            channel_id: "x".into(),
        };
        let (leg, ends) = MediaLeg::pair(info, 4);
        ends.events.send(LegEvent::Hold(false)).await.unwrap();
        let mut leg = rejoin(leg, vec![LegEvent::Hold(true)]);
        assert!(matches!(
            leg.events.recv().await,
            Some(LegEvent::Hold(true))
        ));
        assert!(matches!(
            leg.events.recv().await,
            Some(LegEvent::Hold(false))
        ));
        drop(ends);
        assert!(leg.events.recv().await.is_none());
    }
}
