//! Voice calls: a [`MediaLeg`] from a channel (SIP/RTP or a Twilio media
//! stream) runs a tenant's flow with speech in and out.
//!
//! A voice call is a [`crate::live_calls`] call like a text one (same row,
//! same sealed log, transcript and evidence, same webhooks, same shutdown
//! drain); what differs is who drives it. Here [`driver`] turns the
//! session's actions into audio (TTS, playout, barge-in, recording) and the
//! caller's audio and keys into inputs (VAD, STT, DTMF).

pub mod driver;
pub mod outbound;

use std::sync::Arc;

use anyhow::Context;
use switchyard_media::leg::{LegInfo, MediaLeg};

use crate::api::error::ApiError;
use crate::db::TenantId;
use crate::live_calls::{LiveCall, StartCall};
use crate::state::AppState;

/// The speech and language providers voice calls use.
pub type VoiceServices = switchyard_speech::config::SpeechServices;

/// `switchyard serve`'s choice of speech and language providers.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SpeechOptions {
    /// Speech and language providers as JSON (`switchyard_speech`'s
    /// `SpeechConfig`: `{"tts": {"provider": "openai", ...}, "stt": ...,
    /// "llm": ...}`); API keys are named by environment variable, never
    /// written in the file. Without it: espeak-ng, pocketsphinx, no model.
    #[arg(long, value_name = "FILE")]
    pub speech_config: Option<std::path::PathBuf>,
}

impl SpeechOptions {
    /// Builds the providers.
    ///
    /// # Errors
    /// A file that cannot be read or does not parse (with the line and
    /// column), or a key variable that is not set.
    pub fn build(&self) -> anyhow::Result<VoiceServices> {
        let config = match &self.speech_config {
            None => switchyard_speech::config::SpeechConfig::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                serde_json::from_str(&text)
                    .with_context(|| format!("{} is not a speech configuration", path.display()))?
            }
        };
        Ok(config.build()?)
    }
}

/// Finds the tenant and flow of an inbound voice call by the called
/// address (number or SIP URI), before the channel answers: no route is a
/// 404 the channel turns into its own refusal (SIP 404).
///
/// # Errors
/// 404 when no tenant routes the address; 503 while shutting down.
pub async fn route_inbound(state: &AppState, info: &LegInfo) -> Result<TenantId, ApiError> {
    let routed = crate::flow_store::route(state, &info.to).await?;
    routed
        .map(|(tenant, _, _)| tenant)
        .ok_or_else(|| ApiError::not_found(format!("a route for {}", info.to)))
}

/// Opens the call's row and session for `tenant` (the flow routed by
/// `info.to`), ready for [`driver::run`].
///
/// # Errors
/// As [`crate::live_calls::LiveCalls::open`].
pub(crate) async fn open(
    state: &AppState,
    tenant: &TenantId,
    info: &LegInfo,
) -> Result<Arc<LiveCall>, ApiError> {
    let request = StartCall {
        to: info.to.clone(),
        from: info.from.clone(),
        at_ms: None,
        virtual_clock: false,
        vars: serde_json::Map::new(),
        placed: None,
    };
    state
        .calls
        .open(state, tenant, &request, info.channel.as_str())
        .await
}

/// Routes, opens and runs an inbound call to its end. The channel has
/// answered already; a call that cannot be opened is hung up.
pub(crate) async fn answer(state: AppState, tenant: TenantId, leg: MediaLeg) {
    match open(&state, &tenant, &leg.info).await {
        Ok(call) => driver::run(state, call, leg).await,
        Err(error) => {
            tracing::warn!(
                channel = leg.info.channel.as_str(),
                code = error.code,
                "voice call could not start"
            );
            let _ = leg
                .commands
                .send(switchyard_media::leg::LegCommand::Hangup)
                .await;
        }
    }
}
