//! Webhooks: events queued by [`emit`], delivered signed by
//! [`delivery_worker`], retried with backoff, kept in a delivery log.
//!
//! The wire format (documented for customers in `docs/webhooks.md`):
//!
//! ```text
//! POST <webhook url>
//! Content-Type: application/json
//! Switchyard-Signature: t=1795305600,v1=<hex HMAC-SHA256(secret, "1795305600.<body>")>
//! Switchyard-Event: evt_…            (the event's id: the same for every webhook and attempt)
//! Switchyard-Event-Type: call.ended
//! Switchyard-Delivery: whd_…         (this webhook's delivery: the same on every attempt)
//!
//! {"id":"evt_…","type":"call.ended","created_at":1795305600123,"tenant_id":"ten_…","data":{…}}
//! ```
//!
//! The HMAC is the one the payment tokenizer uses ([`signature_hex`]); the
//! tokenizer's own protocol carries the timestamp in a header of its own.
//!
//! Delivery is at least once: a receiver deduplicates on
//! `Switchyard-Event` (or `Switchyard-Delivery`). Every request goes through
//! the SSRF-guarded client of [`crate::ssrf`].

use std::time::Duration;

use futures_util::StreamExt;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::watch;

use crate::db::webhooks::{AttemptResult, DueDelivery};
use crate::db::{TenantId, new_id, now_ms};
use crate::ssrf::{ClientOptions, GuardedClient, UrlProblem, describe_failure, refusal};
use crate::state::{AppState, ServerConfig};

/// Every event type a webhook can subscribe to, with what it means. `emit`
/// refuses any other type, so the list in the docs stays complete.
pub const EVENT_TYPES: &[(&str, &str)] = &[
    (
        "call.started",
        "a call reached a flow (inbound) or was placed (outbound)",
    ),
    ("call.ended", "a call ended, with its outcome and duration"),
    (
        "call.transferred",
        "a call was handed to another number or SIP URI",
    ),
    (
        "voicemail.left",
        "a caller left a voicemail (the recording stays in Switchyard)",
    ),
    (
        "compliance.opt_out",
        "a caller opted out (e.g. said \"stop recording\")",
    ),
    (
        "compliance.refused",
        "a caller refused consent, or the guard refused an action",
    ),
    ("ping", "a test event, sent by POST /v1/webhooks/{id}/ping"),
];

/// Whether `event` is one of [`EVENT_TYPES`].
pub fn is_event_type(event: &str) -> bool {
    EVENT_TYPES.iter().any(|(name, _)| *name == event)
}

/// The largest payload `emit` queues, in bytes: events carry ids and
/// outcomes, never transcripts or recordings.
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;

/// How long delivered and failed deliveries stay in the log.
pub const DELIVERY_LOG_DAYS: i64 = 30;

/// Redirect hops a delivery follows, each re-checked against the policy.
const MAX_REDIRECTS: usize = 3;

/// Deliveries taken from the database per query, and sent at once.
const BATCH: i64 = 32;
const CONCURRENCY: usize = 8;

/// The longest the worker sleeps without looking at the database: rows can
/// fall due because another process queued them or a lease ran out.
const IDLE_POLL: Duration = Duration::from_secs(5);

/// The longest delay between two attempts, whatever the backoff base.
const MAX_DELAY: Duration = Duration::from_secs(6 * 3600);

/// Lowercase hex of `HMAC-SHA256(secret, "<timestamp>.<body>")`: the
/// signature of webhook deliveries, `webhook` plugin requests and the
/// payment tokenizer.
pub fn signature_hex(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The `Switchyard-Signature` header of a webhook request sent at
/// `timestamp` (Unix seconds): `t=<timestamp>,v1=<signature_hex>`.
pub fn signature_header(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
    format!(
        "t={timestamp},v1={}",
        signature_hex(secret, timestamp, body)
    )
}

/// A new webhook secret: `whsec_` and 32 random bytes in base64url. The
/// whole string, prefix included, is the HMAC key.
pub fn generate_secret() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    format!(
        "whsec_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// Where a webhook's secret is sealed (the associated data of the seal), so
/// a sealed secret copied to another webhook does not open.
pub fn secret_place(webhook_id: &str) -> Vec<u8> {
    format!("webhooks/{webhook_id}/secret").into_bytes()
}

/// Unix seconds now.
fn unix_seconds() -> u64 {
    u64::try_from(now_ms() / 1000).unwrap_or_default()
}

/// The body of an event, fields in this order on the wire.
#[derive(serde::Serialize)]
struct Envelope<'a> {
    id: String,
    #[serde(rename = "type")]
    event: &'a str,
    created_at: i64,
    tenant_id: &'a str,
    data: Value,
}

/// The body of an event: `{id, type, created_at, tenant_id, data}`,
/// serialised once so that every attempt sends and signs the same bytes.
fn envelope(tenant: &TenantId, event: &str, data: Value) -> String {
    serde_json::to_string(&Envelope {
        id: new_id("evt"),
        event,
        created_at: now_ms(),
        tenant_id: tenant.as_str(),
        data,
    })
    .expect("a JSON value serialises")
}

/// Queues `event` (e.g. `call.started`) with `payload` as its `data` for
/// every webhook of `tenant` that subscribes to it, and wakes the delivery
/// worker.
///
/// The payload should name things by id (call id, flow name, outcome,
/// times) and hold no transcript text, recording, or captured digits:
/// webhooks leave the platform.
///
/// # Errors
/// An event type that is not in [`EVENT_TYPES`], a payload over
/// [`MAX_PAYLOAD_BYTES`], or a database failure.
pub async fn emit(
    state: &AppState,
    tenant: &TenantId,
    event: &str,
    payload: Value,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        is_event_type(event),
        "unknown webhook event type {event:?} (add it to webhooks::EVENT_TYPES and docs/webhooks.md)"
    );
    let subscribed: Vec<String> = state
        .db
        .webhooks(tenant)
        .await?
        .into_iter()
        .filter(|w| w.events.iter().any(|e| e == event))
        .map(|w| w.id)
        .collect();
    if subscribed.is_empty() {
        return Ok(());
    }
    let body = envelope(tenant, event, payload);
    anyhow::ensure!(
        body.len() <= MAX_PAYLOAD_BYTES,
        "webhook event {event} is {} bytes, over the {MAX_PAYLOAD_BYTES}-byte limit",
        body.len()
    );
    state
        .db
        .queue_deliveries(tenant, &subscribed, event, &body)
        .await?;
    // notify_one keeps a permit when the worker is busy, so it looks again.
    state.deliveries.notify_one();
    Ok(())
}

/// Queues a `ping` to one webhook, whatever it subscribes to; returns the
/// delivery's id.
pub async fn ping(state: &AppState, tenant: &TenantId, webhook_id: &str) -> anyhow::Result<String> {
    let body = envelope(tenant, "ping", json!({"webhook_id": webhook_id}));
    let ids = state
        .db
        .queue_deliveries(tenant, &[webhook_id.to_owned()], "ping", &body)
        .await?;
    state.deliveries.notify_one();
    ids.into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("no delivery was queued"))
}

/// The client deliveries go through.
pub fn client_options(config: &ServerConfig) -> ClientOptions {
    ClientOptions {
        timeout: config.webhook_timeout,
        allow_plain_http: config.dev_mode,
        max_redirects: MAX_REDIRECTS,
    }
}

/// The delay before the attempt after attempt number `attempt` (1-based):
/// `base · 2^(attempt-1)`, at most six hours, plus up to a quarter more at
/// random so that receivers that came back are not hit by every retry at
/// once.
pub fn backoff(base: Duration, attempt: u32) -> Duration {
    let nominal = base
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
        .min(MAX_DELAY);
    let mut random = [0u8; 8];
    getrandom::fill(&mut random).expect("the OS random source is available");
    let fraction = (u64::from_le_bytes(random) >> 11) as f64 / (1u64 << 53) as f64;
    nominal + nominal.mul_f64(fraction / 4.0)
}

/// Delivers queued webhook events until `stop`. Sends due deliveries, then
/// sleeps until the next one falls due, a new one is queued, or a few
/// seconds pass (another process may have queued some). Returns as soon as
/// `stop` turns true; a send cut short then is retried when its lease ends.
pub async fn delivery_worker(state: AppState, mut stop: watch::Receiver<bool>) {
    let client = match state.config.outbound.client(client_options(&state.config)) {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(error = %error, "webhook delivery is off: no HTTP client");
            let _ = stop.wait_for(|s| *s).await;
            return;
        }
    };
    let mut last_prune = 0;
    loop {
        if *stop.borrow() {
            return;
        }
        let pass = tokio::select! {
            result = deliver_due(&state, &client) => result,
            _ = stop.wait_for(|s| *s) => return,
        };
        let wait = match pass {
            Ok(Some(due)) => Duration::from_millis(u64::try_from(due - now_ms()).unwrap_or(0)),
            Ok(None) => IDLE_POLL,
            Err(error) => {
                tracing::error!(error = format!("{error:#}"), "webhook delivery pass failed");
                IDLE_POLL
            }
        }
        .min(IDLE_POLL);
        if now_ms() - last_prune > 3_600_000 {
            last_prune = now_ms();
            match state
                .db
                .prune_deliveries(now_ms() - DELIVERY_LOG_DAYS * 86_400_000)
                .await
            {
                Ok(0) => {}
                Ok(pruned) => tracing::info!(pruned, "old webhook deliveries removed"),
                Err(error) => {
                    tracing::error!(error = format!("{error:#}"), "pruning webhook deliveries")
                }
            }
        }
        if wait.is_zero() {
            continue;
        }
        tokio::select! {
            _ = state.deliveries.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// Sends every delivery due now; returns when the next one falls due.
async fn deliver_due(state: &AppState, client: &GuardedClient) -> anyhow::Result<Option<i64>> {
    // A bounded number of batches, so a flood cannot keep the worker from
    // checking `stop` and pruning.
    for _ in 0..16 {
        let due = state.db.due_deliveries(now_ms(), BATCH).await?;
        let full = due.len() as i64 == BATCH;
        futures_util::stream::iter(due)
            .for_each_concurrent(CONCURRENCY, |delivery| async move {
                if let Err(error) = deliver(state, client, delivery).await {
                    tracing::error!(
                        error = format!("{error:#}"),
                        "webhook delivery failed to run"
                    );
                }
            })
            .await;
        if !full {
            break;
        }
    }
    state.db.next_delivery_due().await
}

/// One attempt at one delivery, if this process wins the claim.
async fn deliver(state: &AppState, client: &GuardedClient, due: DueDelivery) -> anyhow::Result<()> {
    // The lease outlasts the request (its timeout covers redirects), so a
    // live sender is never overtaken by another process.
    let lease = state.config.webhook_timeout + Duration::from_secs(60);
    let lease_until = now_ms() + i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
    if !state.db.claim_delivery(&due, lease_until).await? {
        return Ok(());
    }
    let attempt = due.attempts + 1;
    let result = attempt_delivery(state, client, &due, attempt).await?;
    let Some(result) = result else {
        // Queued while its webhook was being deleted: nothing to send to,
        // and nobody to show it to.
        state.db.delete_delivery(&due.tenant, &due.id).await?;
        return Ok(());
    };
    match &result {
        AttemptResult::Delivered { status } => tracing::info!(
            tenant = %due.tenant, webhook = %due.webhook_id, delivery = %due.id,
            event = %due.event, attempt, status, "webhook delivered"
        ),
        AttemptResult::Retry { status, error, .. } => tracing::info!(
            tenant = %due.tenant, webhook = %due.webhook_id, delivery = %due.id,
            event = %due.event, attempt, status, error = %error, "webhook delivery will be retried"
        ),
        AttemptResult::Failed { status, error } => tracing::warn!(
            tenant = %due.tenant, webhook = %due.webhook_id, delivery = %due.id,
            event = %due.event, attempt, status, error = %error, "webhook delivery failed"
        ),
    }
    state
        .db
        .finish_delivery(&due.tenant, &due.id, attempt, &result)
        .await?;
    Ok(())
}

/// Sends attempt `attempt` and says how it ended; `None` when the webhook
/// is gone (its deliveries went with it).
async fn attempt_delivery(
    state: &AppState,
    client: &GuardedClient,
    due: &DueDelivery,
    attempt: i64,
) -> anyhow::Result<Option<AttemptResult>> {
    let Some(target) = state
        .db
        .webhook_target(&due.tenant, &due.webhook_id)
        .await?
    else {
        return Ok(None);
    };
    let failed = |error: String| AttemptResult::Failed {
        status: None,
        error,
    };
    let key = match state
        .keyring
        .by_id(&state.db, &due.tenant, &target.secret_key_id)
        .await
    {
        Ok(key) => key,
        Err(error) => {
            tracing::error!(webhook = %due.webhook_id, error = format!("{error:#}"), "the data key of a webhook secret");
            return Ok(Some(failed(
                "the signing secret could not be opened".into(),
            )));
        }
    };
    let Ok(secret) = key.open(&target.sealed_secret, &secret_place(&due.webhook_id)) else {
        return Ok(Some(failed(
            "the signing secret could not be opened".into(),
        )));
    };
    let secret = zeroize::Zeroizing::new(secret);
    let url = match reqwest::Url::parse(&target.url) {
        Ok(url) => url,
        Err(error) => return Ok(Some(failed(format!("the URL does not parse: {error}")))),
    };
    let request = match client.request(reqwest::Method::POST, &url) {
        Ok(request) => request,
        Err(problem @ UrlProblem::Refused(_)) => return Ok(Some(failed(problem.to_string()))),
        Err(problem) => return Ok(Some(failed(format!("refused: {problem}")))),
    };
    let event_id = serde_json::from_str::<Value>(&due.payload)
        .ok()
        .and_then(|v| v["id"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let timestamp = unix_seconds();
    let sent = request
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(
            "Switchyard-Signature",
            signature_header(&secret, timestamp, due.payload.as_bytes()),
        )
        .header("Switchyard-Event", event_id)
        .header("Switchyard-Event-Type", &due.event)
        .header("Switchyard-Delivery", &due.id)
        .body(due.payload.clone())
        .send()
        .await;
    let (status, error) = match sent {
        Ok(response) if response.status().is_success() => {
            return Ok(Some(AttemptResult::Delivered {
                status: i64::from(response.status().as_u16()),
            }));
        }
        Ok(response) => {
            let status = response.status();
            (
                Some(i64::from(status.as_u16())),
                format!(
                    "the receiver answered {} {}",
                    status.as_u16(),
                    status.canonical_reason().unwrap_or_default()
                )
                .trim_end()
                .to_owned(),
            )
        }
        // A refusal will not change by retrying: it needs the URL or the
        // operator's allow-list changed.
        Err(error) if refusal(&error).is_some() => {
            return Ok(Some(failed(describe_failure(&error))));
        }
        Err(error) => (None, describe_failure(&error)),
    };
    let max_attempts = i64::from(state.config.webhook_max_attempts.max(1));
    Ok(Some(if attempt >= max_attempts {
        AttemptResult::Failed { status, error }
    } else {
        let delay = backoff(
            state.config.webhook_backoff,
            u32::try_from(attempt).unwrap_or(u32::MAX),
        );
        AttemptResult::Retry {
            status,
            error,
            retry_at: now_ms() + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 2),
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Python: hmac.new(b"s3cret", b'1795305600.{"number":"4111111111111111"}',
        //                  hashlib.sha256).hexdigest()
        assert_eq!(
            signature_hex(
                b"s3cret",
                1_795_305_600,
                br#"{"number":"4111111111111111"}"#
            ),
            "b7908e452f315a7154f12a2b78b1aa68f6b3381bc6445fc0331260ae246d824d"
        );
        assert_eq!(
            signature_header(
                b"s3cret",
                1_795_305_600,
                br#"{"number":"4111111111111111"}"#
            ),
            "t=1795305600,v1=b7908e452f315a7154f12a2b78b1aa68f6b3381bc6445fc0331260ae246d824d"
        );
    }

    #[test]
    fn backoff_doubles_from_the_base_with_up_to_a_quarter_of_jitter_and_a_ceiling() {
        let base = Duration::from_secs(60);
        for (attempt, nominal) in [(1, 60), (2, 120), (3, 240), (9, 60 * 256)] {
            let delay = backoff(base, attempt);
            let nominal = Duration::from_secs(nominal);
            assert!(
                delay >= nominal && delay <= nominal.mul_f64(1.25),
                "{attempt}: {delay:?}"
            );
        }
        for attempt in [10, 11, 40, u32::MAX] {
            let delay = backoff(base, attempt);
            assert!(
                delay >= MAX_DELAY && delay <= MAX_DELAY.mul_f64(1.25),
                "{attempt}: {delay:?}"
            );
        }
    }

    #[test]
    fn secrets_are_random_and_prefixed() {
        let (a, b) = (generate_secret(), generate_secret());
        assert!(a.starts_with("whsec_") && a.len() == 6 + 43, "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn every_event_type_is_documented() {
        let docs = include_str!("../../docs/webhooks.md");
        for (event, _) in EVENT_TYPES {
            assert!(
                docs.contains(&format!("`{event}`")),
                "{event} is missing from docs/webhooks.md"
            );
        }
    }
}
