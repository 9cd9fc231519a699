//! The runtime's flow source and routing table, backed by the database: what
//! a call (or a simulation) runs, and which tenant and flow an inbound call
//! to an address reaches.
//!
//! # How a flow sees the names a tenant binds
//!
//! A flow refers to endpoints, secrets, numbers and sub-flows by name, never
//! by internal id, and the tenant binds each name per environment
//! (`staging`, `production`), so one flow file runs unchanged in both. A
//! route says which environment a called address runs in.
//!
//! - **number**: each binding becomes a call variable of the same name
//!   ([`LoadedFlow::vars`], holding the E.164 number), on top of the flow's
//!   own `vars`, so `"to": "{{sales}}"` reaches the staging desk in staging
//!   and the real one in production. A flow keeps a default in its `vars`.
//! - **endpoint**: the `webhook` plugin's `endpoint` config names one; the
//!   `http` action carries the name, and the runtime resolves it to the URL
//!   with [`endpoint`] when it performs the request (after the SSRF check).
//!   URLs are never call variables: plugins and event logs do not see them.
//! - **secret**: sealed with the tenant's data key and never returned by the
//!   API. Nothing puts a secret in a flow; the code performing an `http`
//!   action to endpoint `NAME` asks [`secret`] for the secret of the same
//!   name and signs the request with it (see [`crate::outbound_http`]), so
//!   a flow names only the endpoint.
//! - **subflow**: a `subflow` node's `flow` names another flow. Bound, the
//!   name stands for the bound flow of the tenant; unbound, for the
//!   tenant's flow of that very name. [`LoadedFlow::documents`] holds every
//!   flow a call may enter, keyed by the name the nodes use; a bound flow's
//!   document has its `name` set to that key, because the runtime finds
//!   sub-flows by their document's name.
//!
//! # Which versions a load returns
//!
//! [`FlowRef::Draft`] loads the draft and the drafts of its sub-flows (for
//! simulation). [`FlowRef::Live`] and [`FlowRef::Version`] load a published
//! version and the live version of each sub-flow; a sub-flow with no
//! published version is left out, and entering it takes the node's `error`
//! outcome, as for any unknown flow. A call loads once, at its start, and
//! keeps what it loaded: moving `live` later does not change a running call.

use std::collections::{BTreeMap, BTreeSet};

use axum::http::StatusCode;
use serde_json::Value;
use sha2::{Digest, Sha256};
use switchyard_runtime::flow::{Flow, Problem, compile, validate_source};
use switchyard_runtime::policy::template::bundled_template;
use zeroize::Zeroizing;

use crate::api::error::ApiError;
use crate::db::TenantId;
use crate::db::flows::{BindingValue, ENVIRONMENTS};
use crate::state::AppState;

/// Which document of a flow to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowRef {
    /// The draft (simulations of work in progress).
    Draft,
    /// The version the `live` alias points at (new calls).
    Live,
    /// One published version (a call that pinned it).
    Version(i64),
}

/// A flow ready to hand to the runtime, with everything resolved for one
/// environment.
#[derive(Debug, Clone)]
pub struct LoadedFlow {
    pub name: String,
    /// The published version, `None` for a draft.
    pub version: Option<i64>,
    /// `sha256:<hex>` of the document as the runtime compiles it (for a
    /// version, the digest stored at publish).
    pub digest: String,
    /// The root flow's document.
    pub document: String,
    pub environment: String,
    /// Every flow the call may enter as a sub-flow (transitively), by the
    /// name its `subflow` nodes use, resolved for the environment.
    pub documents: BTreeMap<String, String>,
    /// Call variables from the environment's `number` bindings.
    pub vars: serde_json::Map<String, Value>,
}

/// Loads flow `name` of `tenant` for `environment`.
///
/// # Errors
/// 404 when the tenant has no such flow, no live version or no such
/// version; 422 for an unknown environment.
pub async fn load(
    state: &AppState,
    tenant: &TenantId,
    name: &str,
    which: FlowRef,
    environment: &str,
) -> Result<LoadedFlow, ApiError> {
    check_environment(environment).map_err(|e| e.at("/environment"))?;
    let db = &state.db;
    let stored = db
        .flow(tenant, name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("flow {name}")))?;
    let (version, document, digest) = match which {
        FlowRef::Draft => {
            let digest = document_digest(&stored.draft);
            (None, stored.draft, digest)
        }
        FlowRef::Live | FlowRef::Version(_) => {
            let number = match which {
                FlowRef::Version(n) => n,
                _ => stored.summary.live_version.ok_or_else(|| {
                    ApiError::new(
                        StatusCode::NOT_FOUND,
                        "not-found",
                        format!("flow {name} has no live version; publish it first"),
                    )
                })?,
            };
            let (info, document) = db
                .version(tenant, name, number)
                .await?
                .ok_or_else(|| ApiError::not_found(format!("version {number} of flow {name}")))?;
            (Some(number), document, info.digest)
        }
    };

    // Sub-flows, breadth first, each name resolved once.
    let bound = db.binding_values(tenant, environment, "subflow").await?;
    let mut documents = BTreeMap::new();
    let mut seen = BTreeSet::from([name.to_owned()]);
    let mut todo: Vec<String> = subflow_names_in(&document).into_iter().collect();
    while let Some(used) = todo.pop() {
        if !seen.insert(used.clone()) {
            continue;
        }
        let target = bound.get(&used).cloned().unwrap_or_else(|| used.clone());
        let text = match which {
            FlowRef::Draft => db.flow(tenant, &target).await?.map(|f| f.draft),
            FlowRef::Live | FlowRef::Version(_) => live_document(state, tenant, &target).await?,
        };
        let Some(text) = text else { continue };
        let text = if target == used {
            text
        } else {
            renamed(&text, &used)
        };
        todo.extend(subflow_names_in(&text));
        documents.insert(used, text);
    }

    let vars = db
        .binding_values(tenant, environment, "number")
        .await?
        .into_iter()
        .map(|(name, number)| (name, Value::String(number)))
        .collect();
    Ok(LoadedFlow {
        name: name.to_owned(),
        version,
        digest,
        document,
        environment: environment.to_owned(),
        documents,
        vars,
    })
}

/// The tenant, flow and environment an inbound call to `address` reaches:
/// the route of the address itself (also tried in its canonical form, and
/// for a `sip:` URI whose user part is a phone number, as that number),
/// else the catch-all route `*`, else `None`.
pub async fn route(
    state: &AppState,
    address: &str,
) -> anyhow::Result<Option<(TenantId, String, String)>> {
    for candidate in address_candidates(address) {
        if let Some(found) = state.db.route_for_address(&candidate).await? {
            return Ok(Some(found));
        }
    }
    state.db.route_for_address("*").await
}

/// The URL endpoint `name` is bound to in `environment`.
pub async fn endpoint(
    state: &AppState,
    tenant: &TenantId,
    environment: &str,
    name: &str,
) -> anyhow::Result<Option<String>> {
    Ok(
        match state
            .db
            .binding(tenant, environment, "endpoint", name)
            .await?
        {
            Some(BindingValue::Plain(url)) => Some(url),
            _ => None,
        },
    )
}

/// The secret bound to `name` in `environment`, unsealed. Keep it only as
/// long as the request that needs it.
pub async fn secret(
    state: &AppState,
    tenant: &TenantId,
    environment: &str,
    name: &str,
) -> anyhow::Result<Option<Zeroizing<Vec<u8>>>> {
    let Some(BindingValue::Sealed {
        data_key_id,
        sealed,
    }) = state
        .db
        .binding(tenant, environment, "secret", name)
        .await?
    else {
        return Ok(None);
    };
    let key = state.keyring.by_id(&state.db, tenant, &data_key_id).await?;
    let plain = key
        .open(&sealed, secret_place(tenant, environment, name).as_bytes())
        .map_err(|_| {
            anyhow::anyhow!("secret {name} of {environment} does not open with its data key")
        })?;
    Ok(Some(Zeroizing::new(plain)))
}

/// Where a secret binding is sealed (the AEAD's associated data), so a
/// sealed value copied to another row does not open.
pub fn secret_place(tenant: &TenantId, environment: &str, name: &str) -> String {
    format!("bindings/{tenant}/{environment}/secret/{name}")
}

/// Refuses environments other than `staging` and `production` (422).
pub fn check_environment(environment: &str) -> Result<(), ApiError> {
    if ENVIRONMENTS.contains(&environment) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            format!(
                "unknown environment \"{environment}\"; environments are {}",
                ENVIRONMENTS.join(", ")
            ),
        ))
    }
}

/// Canonical JSON text of a value: compact, object keys sorted at every
/// level, so equal documents are equal text (and have equal etags).
pub fn canonical_json(value: &Value) -> String {
    serde_json::to_string(&sorted(value)).unwrap_or_default()
}

/// Pretty JSON with sorted keys and a final newline, for files in a
/// repository (stable, so diffs show only real changes).
pub fn pretty_json(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(&sorted(value)).unwrap_or_default();
    text.push('\n');
    text
}

fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let ordered: BTreeMap<&String, Value> =
                map.iter().map(|(k, v)| (k, sorted(v))).collect();
            Value::Object(ordered.into_iter().map(|(k, v)| (k.clone(), v)).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// The strong entity tag of a draft's canonical text, quoted.
pub fn etag_of(canonical: &str) -> String {
    format!(
        "\"{}\"",
        &hex::encode(Sha256::digest(canonical.as_bytes()))[..32]
    )
}

/// The digest the runtime gives a document when it compiles it (`sha256:`
/// of the parsed flow re-serialised), or of the text itself when it does
/// not parse as a flow.
pub fn document_digest(text: &str) -> String {
    let bytes = serde_json::from_str::<Flow>(text)
        .ok()
        .and_then(|flow| serde_json::to_vec(&flow).ok())
        .unwrap_or_else(|| text.as_bytes().to_vec());
    format!("sha256:{}", hex::encode(Sha256::digest(&bytes)))
}

/// The flow names a document's `subflow` nodes enter.
pub fn subflow_names_in(document: &str) -> BTreeSet<String> {
    let Ok(value) = serde_json::from_str::<Value>(document) else {
        return BTreeSet::new();
    };
    subflow_names(&value)
}

/// The flow names a parsed document's `subflow` nodes enter.
pub fn subflow_names(document: &Value) -> BTreeSet<String> {
    document
        .get("nodes")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|nodes| nodes.values())
        .filter(|node| {
            node.get("use")
                .and_then(Value::as_str)
                .is_some_and(|u| u.split('@').next() == Some("subflow"))
        })
        .filter_map(|node| node.pointer("/with/flow").and_then(Value::as_str))
        .map(str::to_owned)
        .collect()
}

/// A document with its `name` replaced (a bound sub-flow under the name
/// its callers use).
fn renamed(text: &str, name: &str) -> String {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(mut map)) => {
            map.insert("name".into(), Value::String(name.to_owned()));
            canonical_json(&Value::Object(map))
        }
        _ => text.to_owned(),
    }
}

/// The document of a flow's live version, if it has one.
async fn live_document(
    state: &AppState,
    tenant: &TenantId,
    name: &str,
) -> anyhow::Result<Option<String>> {
    let Some(flow) = state.db.flow(tenant, name).await? else {
        return Ok(None);
    };
    let Some(live) = flow.summary.live_version else {
        return Ok(None);
    };
    Ok(state
        .db
        .version(tenant, name, live)
        .await?
        .map(|(_, document)| document))
}

/// What a flow is checked against before it is published.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The flow, when the document parsed far enough.
    pub flow: Option<Flow>,
    /// Every problem, sorted, each at its JSON pointer.
    pub problems: Vec<Problem>,
    /// When there is no problem: the digest the runtime gives the document
    /// (`sha256:<hex>`) ...
    pub digest: Option<String>,
    /// ... and, by node id, the digest of the plugin it runs.
    pub plugins: BTreeMap<String, String>,
}

/// Validates a flow document of `tenant` as `switchyard validate` does, with
/// the tenant's plugins, the tenant's flows as sub-flows, and the
/// compliance templates the tenant enabled proved on top of the flow's own
/// `compliance` list.
pub async fn check(state: &AppState, tenant: &TenantId, document: &str) -> anyhow::Result<Checked> {
    let registry = crate::tenant_plugins::registry(state, tenant).await?;
    let enabled = state.db.tenant(tenant).await?.templates;
    let returns = subflow_returns(state, tenant, document).await?;
    let resolver = |name: &str| returns.get(name).cloned();
    let checked_text = with_templates(document, &enabled);
    let (flow, mut problems) = validate_source(&checked_text, &registry, Some(&resolver));
    // The flow as the designer wrote it, without the tenant's templates.
    let flow = flow.map(|mut flow| {
        if let Ok(original) = serde_json::from_str::<Flow>(document) {
            flow.compliance = original.compliance;
        }
        flow
    });
    let (mut digest, mut plugins) = (None, BTreeMap::new());
    if problems.is_empty() {
        // Compiled as written: the digest is of the designer's document.
        match compile(document, &registry, Some(&resolver)) {
            Ok(compiled) => {
                digest = Some(compiled.digest.clone());
                plugins = compiled
                    .plugins
                    .iter()
                    .map(|(node, plugin)| (node.clone(), plugin.digest().to_owned()))
                    .collect();
            }
            Err(found) => problems = found,
        }
    }
    Ok(Checked {
        flow,
        problems,
        digest,
        plugins,
    })
}

/// The document with the tenant's enabled templates appended to its
/// `compliance` list (those it does not list already), so the publish-time
/// proofs cover both. Appending keeps the pointers of the flow's own
/// entries; unknown ids are skipped, since the tenant cannot fix them in
/// the flow.
fn with_templates(document: &str, enabled: &[String]) -> String {
    let Ok(Value::Object(mut map)) = serde_json::from_str::<Value>(document) else {
        return document.to_owned();
    };
    let mut list = match map.get("compliance") {
        None => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        // Malformed: leave it for the schema check to report.
        Some(_) => return document.to_owned(),
    };
    let before = list.len();
    for id in enabled {
        if bundled_template(id).is_some() && !list.iter().any(|v| v.as_str() == Some(id)) {
            list.push(Value::String(id.clone()));
        }
    }
    if list.len() == before {
        return document.to_owned();
    }
    map.insert("compliance".into(), Value::Array(list));
    serde_json::to_string(&Value::Object(map)).unwrap_or_else(|_| document.to_owned())
}

/// For each sub-flow name the document uses, the outcomes it returns with,
/// when the tenant has such a flow. Validation is the same in every
/// environment: a name is known when the tenant has a flow of that name,
/// else when it is bound to one (production first, then staging). Returns
/// come from the flow's live version, else its draft.
async fn subflow_returns(
    state: &AppState,
    tenant: &TenantId,
    document: &str,
) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
    let mut out = BTreeMap::new();
    let mut bound: Vec<BTreeMap<String, String>> = Vec::new();
    for environment in ["production", "staging"] {
        bound.push(
            state
                .db
                .binding_values(tenant, environment, "subflow")
                .await?,
        );
    }
    for name in subflow_names_in(document) {
        let mut targets = vec![name.clone()];
        targets.extend(bound.iter().filter_map(|b| b.get(&name).cloned()));
        for target in targets {
            let Some(flow) = state.db.flow(tenant, &target).await? else {
                continue;
            };
            let text = match live_document(state, tenant, &target).await? {
                Some(text) => text,
                None => flow.draft,
            };
            out.insert(name.clone(), returns_in(&text));
            break;
        }
    }
    Ok(out)
}

fn returns_in(document: &str) -> Vec<String> {
    serde_json::from_str::<Value>(document)
        .ok()
        .and_then(|v| v.get("returns").cloned())
        .and_then(|r| serde_json::from_value(r).ok())
        .unwrap_or_default()
}

/// The forms of an inbound address to look up, most exact first.
fn address_candidates(address: &str) -> Vec<String> {
    let mut out = vec![address.to_owned()];
    let mut push = |candidate: String| {
        if !out.contains(&candidate) {
            out.push(candidate);
        }
    };
    let trimmed = address.trim();
    let lower = trimmed.to_ascii_lowercase();
    if lower.starts_with("sip:") || lower.starts_with("sips:") || lower.starts_with("tel:") {
        // Without URI parameters and headers.
        let bare = trimmed.split([';', '?']).next().unwrap_or(trimmed);
        if let Ok(canonical) = normalize_address(bare) {
            push(canonical);
        }
        let user = bare.split_once(':').map_or("", |(_, rest)| rest);
        let user = user.split('@').next().unwrap_or_default();
        if let Ok(number) = normalize_number(user) {
            push(number);
        }
    } else if let Ok(canonical) = normalize_address(trimmed) {
        push(canonical);
    }
    out
}

/// The canonical form of a route address: `*`, an E.164 number (parsed
/// and formatted by libphonenumber's metadata), or a `sip:`/`sips:` URI
/// with a lower-case scheme and host and no parameters.
///
/// # Errors
/// What is wrong with the address, for a 422.
pub fn normalize_address(address: &str) -> Result<String, String> {
    let address = address.trim();
    if address == "*" {
        return Ok("*".into());
    }
    let lower = address.to_ascii_lowercase();
    for scheme in ["sip:", "sips:"] {
        if lower.starts_with(scheme) {
            let rest = &address[scheme.len()..];
            if rest.is_empty()
                || rest
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"'))
            {
                return Err(format!(
                    "\"{address}\" is not a SIP URI (want sip:user@host)"
                ));
            }
            if rest.contains([';', '?']) {
                return Err(format!(
                    "\"{address}\" has URI parameters or headers; route the bare URI (sip:user@host)"
                ));
            }
            let (user, host) = match rest.rsplit_once('@') {
                Some((user, host)) => (Some(user), host),
                None => (None, rest),
            };
            if host.is_empty() || user.is_some_and(str::is_empty) {
                return Err(format!(
                    "\"{address}\" is not a SIP URI (want sip:user@host)"
                ));
            }
            return Ok(match user {
                Some(user) => format!("{scheme}{user}@{}", host.to_ascii_lowercase()),
                None => format!("{scheme}{}", host.to_ascii_lowercase()),
            });
        }
    }
    normalize_number(address)
}

/// An E.164 number, parsed and formatted by libphonenumber's metadata
/// (through the runtime's jurisdiction lookup).
///
/// # Errors
/// What is wrong with the number.
pub fn normalize_number(number: &str) -> Result<String, String> {
    use switchyard_runtime::policy::jurisdiction::{Location, locate};
    let number = number.trim();
    if !number.starts_with('+') {
        return Err(format!(
            "\"{number}\" is neither an E.164 number (+ and country code, e.g. +14155550100) nor a sip: URI"
        ));
    }
    if number
        .chars()
        .skip(1)
        .any(|c| !(c.is_ascii_digit() || matches!(c, ' ' | '-' | '(' | ')' | '.')))
    {
        return Err(format!(
            "\"{number}\" is not an E.164 number: only digits may follow the +"
        ));
    }
    match locate(number) {
        Location::Known { e164, .. } => Ok(e164),
        Location::Unknown { reason } => Err(format!("not an E.164 number: {reason}")),
        Location::Withheld => Err(format!("\"{number}\" is not an E.164 number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let value: Value =
            serde_json::from_str(r#"{"b": 1, "a": {"d": [ {"z": 1, "y": 2} ], "c": null}}"#)
                .unwrap();
        assert_eq!(
            canonical_json(&value),
            r#"{"a":{"c":null,"d":[{"y":2,"z":1}]},"b":1}"#
        );
        assert!(pretty_json(&value).ends_with("}\n"));
        assert_eq!(etag_of("x"), etag_of("x"));
        assert_ne!(etag_of("x"), etag_of("y"));
        assert!(etag_of("x").starts_with('"') && etag_of("x").ends_with('"'));
    }

    #[test]
    fn addresses_are_canonical_numbers_or_sip_uris() {
        assert_eq!(
            normalize_address("+1 415 555 0100").unwrap(),
            "+14155550100"
        );
        assert_eq!(normalize_address("*").unwrap(), "*");
        assert_eq!(
            normalize_address("SIP:Alice@Example.COM").unwrap(),
            "sip:Alice@example.com"
        );
        assert!(normalize_address("14155550100").is_err());
        assert!(normalize_address("+1415").is_err());
        assert!(normalize_address("sip:").is_err());
        assert!(normalize_address("sip:a@b;transport=udp").is_err());
        assert!(normalize_address("+1 415 555 0100 x12").is_err());
    }

    #[test]
    fn inbound_addresses_are_tried_exact_then_canonical() {
        let candidates = address_candidates("sip:+14155550100@pbx.example;transport=udp");
        assert_eq!(
            candidates,
            [
                "sip:+14155550100@pbx.example;transport=udp",
                "sip:+14155550100@pbx.example",
                "+14155550100"
            ]
        );
        assert_eq!(address_candidates("+14155550100"), ["+14155550100"]);
    }

    #[test]
    fn tenant_templates_are_appended_to_the_compliance_list() {
        let doc =
            r#"{"flow":"switchyard/v1","name":"a","compliance":["uk"],"entry":"x","nodes":{}}"#;
        let out: Value = serde_json::from_str(&with_templates(
            doc,
            &["us-federal".into(), "uk".into(), "nope".into()],
        ))
        .unwrap();
        assert_eq!(out["compliance"], serde_json::json!(["uk", "us-federal"]));
        assert_eq!(with_templates(doc, &[]), doc);
    }

    #[test]
    fn subflow_names_come_from_subflow_nodes() {
        let doc = r#"{"nodes": {"a": {"use": "subflow@1", "with": {"flow": "vm"}},
                                "b": {"use": "say@1", "with": {"flow": "no"}}}}"#;
        assert_eq!(subflow_names_in(doc), BTreeSet::from(["vm".to_owned()]));
        let renamed: Value = serde_json::from_str(&renamed(r#"{"name":"x","a":1}"#, "y")).unwrap();
        assert_eq!(renamed["name"], "y");
    }
}
