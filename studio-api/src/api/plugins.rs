//! Plugins: `/v1/plugins` (upload, list) and `/v1/plugins/{name}/{version}`.
//!
//! An upload is one JSON body, `{"manifest": {...}, "module_base64": "..."}`
//! (or `"script": "..."` for a Rhai plugin): the manifest object and the
//! module bytes, base64. JSON keeps the one error format and the usual
//! client code; multipart is not enabled in this server.

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::StatusCode;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use switchyard_runtime::host::PluginPackage;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Auth;
use super::error::{ApiError, ApiJson, ApiPath, ApiResult, ErrorBody};
use crate::db::now_ms;
use crate::db::plugins::{Inserted, StoredPlugin};
use crate::state::AppState;
use crate::tenant_plugins::{check_parts, is_bundled_name, module_bytes, stored_form};

pub fn router() -> OpenApiRouter<AppState> {
    let (schemas, paths, method_router) = routes!(list_plugins, upload_plugin);
    // Uploads are larger than the server's JSON limit: the route lifts the
    // global limit and [`Upload`] applies `max_plugin_bytes` itself.
    OpenApiRouter::new()
        .routes((
            schemas,
            paths,
            method_router.layer(DefaultBodyLimit::disable()),
        ))
        .routes(routes!(get_plugin))
}

/// A plugin package to upload.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PluginUpload {
    /// The package's `manifest.json`, as an object.
    #[schema(value_type = Object)]
    pub manifest: Value,
    /// The WebAssembly module (or a Rhai script), base64 (standard alphabet).
    #[serde(default)]
    pub module_base64: Option<String>,
    /// A Rhai script as text, instead of `module_base64`.
    #[serde(default)]
    pub script: Option<String>,
}

/// A plugin a tenant's flows can use.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PluginInfo {
    pub name: String,
    pub version: String,
    /// What flows write after `@` in `use`.
    pub major: i64,
    /// `wasm` or `rhai`.
    pub kind: String,
    /// `sha256:` of manifest and module: what a published flow pins.
    pub digest: String,
    /// `bundled` (in the binary), `platform` (installed by the operator) or
    /// `tenant` (uploaded by this tenant, private to it).
    pub origin: String,
    /// Bundled and platform plugins are trusted: only they may claim
    /// compliance roles.
    pub trusted: bool,
    pub description: String,
    pub outcomes: Vec<String>,
    pub actions: Vec<String>,
    pub roles: Vec<String>,
    /// When uploaded or installed (absent for bundled plugins).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub added_at: Option<i64>,
    /// The whole manifest (on the single-plugin route).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub manifest: Option<Value>,
    /// What `switchyard plugin check` warns about (on upload).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warnings: Option<Vec<String>>,
}

impl PluginInfo {
    fn from_manifest(
        manifest: &switchyard_sdk::manifest::Manifest,
        digest: &str,
        origin: &str,
        added_at: Option<i64>,
    ) -> Self {
        Self {
            name: manifest.name.clone(),
            version: manifest.version.clone(),
            major: manifest.major().unwrap_or(0) as i64,
            kind: serde_json::to_value(manifest.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            digest: digest.to_owned(),
            origin: origin.to_owned(),
            trusted: origin != "tenant",
            description: manifest.description.clone(),
            outcomes: manifest.outcomes.clone(),
            actions: manifest.actions.clone(),
            roles: manifest.roles.clone(),
            added_at,
            manifest: None,
            warnings: None,
        }
    }

    fn from_stored(stored: &StoredPlugin, origin: &str) -> Option<Self> {
        let manifest: switchyard_sdk::manifest::Manifest =
            serde_json::from_str(&stored.manifest).ok()?;
        let mut info = Self::from_manifest(&manifest, &stored.digest, origin, Some(stored.at));
        info.manifest = serde_json::from_str(&stored.manifest).ok();
        Some(info)
    }
}

/// How many bytes an upload body may hold: the largest module, as base64,
/// plus room for the manifest.
pub(super) fn upload_body_limit(config: &crate::state::ServerConfig) -> usize {
    config.max_plugin_bytes / 3 * 4 + (256 << 10)
}

/// The upload body, read up to `max_plugin_bytes` (as base64, plus room for
/// the manifest) and then parsed like any JSON body.
struct Upload(PluginUpload);

impl FromRequest<AppState> for Upload {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let limit = upload_body_limit(&state.config);
        let (parts, body) = req.into_parts();
        let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body-too-large",
                format!(
                    "a plugin upload may hold a module of at most {} bytes",
                    state.config.max_plugin_bytes
                ),
            )
        })?;
        let req = Request::from_parts(parts, Body::from(bytes));
        let ApiJson(upload) = ApiJson::<PluginUpload>::from_request(req, state).await?;
        Ok(Self(upload))
    }
}

/// Uploads a plugin package, private to this tenant.
///
/// The body is JSON: `{"manifest": {...manifest.json...}, "module_base64":
/// "<the .wasm module or .rhai script, base64>"}`; a Rhai script may come as
/// text in `"script"` instead. The module may be up to the server's plugin
/// limit (16 MiB by default). The package is checked exactly as `switchyard
/// plugin check` checks it (manifest, config schema, ABI, imports and
/// exports); a 422 `invalid-plugin` lists every problem in
/// `details.problems`. A manifest claiming compliance roles is refused
/// (422 `untrusted-role`): only plugins the platform operator installs may
/// claim them. The package is stored by digest; uploading the same version
/// again is a no-op (200), with other contents a 409 `version-exists`.
#[utoipa::path(post, path = "/v1/plugins", tag = "plugins", request_body = PluginUpload,
    responses((status = 201, description = "stored", body = PluginInfo),
              (status = 200, description = "this exact package was already stored", body = PluginInfo),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn upload_plugin(
    State(state): State<AppState>,
    auth: Auth,
    Upload(upload): Upload,
) -> ApiResult<(StatusCode, ApiJson<PluginInfo>)> {
    auth.require("plugins:write")?;
    if !upload.manifest.is_object() {
        return Err(ApiError::invalid(
            "/manifest",
            "the manifest is a JSON object (the contents of manifest.json)",
        ));
    }
    let module = match (&upload.module_base64, &upload.script) {
        (Some(encoded), None) => base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|e| ApiError::invalid("/module_base64", format!("not base64: {e}")))?,
        (None, Some(script)) => script.as_bytes().to_vec(),
        _ => {
            return Err(ApiError::invalid(
                "/module_base64",
                "send the module as `module_base64`, or a Rhai script as `script` (one of the two)",
            ));
        }
    };
    if module.len() > state.config.max_plugin_bytes {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            format!(
                "the module is {} bytes; a plugin may be at most {} bytes",
                module.len(),
                state.config.max_plugin_bytes
            ),
        ));
    }
    let manifest_bytes = serde_json::to_vec_pretty(&upload.manifest).unwrap_or_default();

    // The same check as `switchyard plugin check`, off the async workers:
    // it compiles the module.
    let scratch = state.config.data_dir.join("tmp");
    let checker = state.clone();
    let (report, module) = tokio::task::spawn_blocking(move || {
        let report = check_parts(&checker.host, &scratch, &manifest_bytes, &module);
        (report, module)
    })
    .await
    .map_err(|e| ApiError::internal(e.into()))?;
    let report = report?;
    let roles: Vec<String> = upload
        .manifest
        .get("roles")
        .and_then(Value::as_array)
        .map(|r| {
            r.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let mut problems = report.problems.clone();
    if !roles.is_empty() {
        problems.push(format!(
            "claims compliance roles ({}); only plugins installed by the platform operator may claim them",
            roles.join(", ")
        ));
    }
    if !problems.is_empty() {
        let code = if report.ok() {
            "untrusted-role"
        } else {
            "invalid-plugin"
        };
        let pointer = if report.ok() { "/manifest/roles" } else { "" };
        let message = if problems.len() == 1 {
            problems[0].clone()
        } else {
            format!("{} problems: {}", problems.len(), problems.join("; "))
        };
        let mut error = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
            .with_details(json!({"problems": problems, "warnings": report.warnings}));
        if !pointer.is_empty() {
            error = error.at(pointer);
        }
        return Err(error);
    }

    let package = PluginPackage::from_parts(
        &serde_json::to_vec(&upload.manifest).unwrap_or_default(),
        module,
    )
    .map_err(|e| ApiError::invalid("/manifest", e.to_string()))?;
    let name = package.manifest.name.clone();
    if is_bundled_name(&state.bundled, &name) || state.db.platform_plugin_named(&name).await? {
        return Err(ApiError::conflict(
            "name-taken",
            format!(
                "`{name}` is the name of a bundled or platform plugin; upload yours under another name"
            ),
        )
        .at("/manifest/name"));
    }
    let stored = stored_form(&package, now_ms());
    state
        .db
        .put_plugin_blob(&stored.digest, &module_bytes(&package))
        .await?;
    let mut info = PluginInfo::from_manifest(&package.manifest, &stored.digest, "tenant", None);
    info.warnings = Some(report.warnings.clone());
    match state.db.insert_tenant_plugin(&auth.tenant, &stored).await? {
        Inserted::New => {
            state
                .db
                .audit(
                    &auth.tenant,
                    &auth.key_id,
                    "plugin.uploaded",
                    &format!("plugin:{}@{}", stored.name, stored.version),
                    json!({"digest": stored.digest, "kind": stored.kind}),
                )
                .await?;
            info.added_at = Some(stored.at);
            Ok((StatusCode::CREATED, ApiJson(info)))
        }
        Inserted::Exists { digest } if digest == stored.digest => {
            let existing = state
                .db
                .tenant_plugin(&auth.tenant, &stored.name, &stored.version)
                .await?;
            info.added_at = existing.map(|e| e.at);
            Ok((StatusCode::OK, ApiJson(info)))
        }
        Inserted::Exists { digest } => Err(ApiError::conflict(
            "version-exists",
            format!(
                "{}@{} is already uploaded with other contents ({digest}); versions are immutable, so bump the version",
                stored.name, stored.version
            ),
        )
        .at("/manifest/version")),
    }
}

/// Any of the scopes that work with flows or plugins may read plugins.
fn require_plugin_reader(auth: &Auth) -> Result<(), ApiError> {
    ["flows:read", "flows:write", "plugins:write"]
        .iter()
        .find_map(|scope| auth.require(scope).ok())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this key lacks a scope that reads plugins (`flows:read`, `flows:write` or `plugins:write`)",
            )
        })
}

/// Every plugin this tenant's flows can use: bundled, platform-installed and
/// the tenant's own, each marked with its `origin`.
#[utoipa::path(get, path = "/v1/plugins", tag = "plugins",
    responses((status = 200, body = Vec<PluginInfo>), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody)))]
async fn list_plugins(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<ApiJson<Vec<PluginInfo>>> {
    require_plugin_reader(&auth)?;
    let mut out: Vec<PluginInfo> = state
        .bundled
        .iter()
        .map(|p| PluginInfo::from_manifest(p.manifest(), p.digest(), "bundled", None))
        .collect();
    for stored in state.db.platform_plugins().await? {
        out.extend(PluginInfo::from_stored(&stored, "platform").map(without_manifest));
    }
    for stored in state.db.tenant_plugins(&auth.tenant).await? {
        out.extend(PluginInfo::from_stored(&stored, "tenant").map(without_manifest));
    }
    Ok(ApiJson(out))
}

fn without_manifest(mut info: PluginInfo) -> PluginInfo {
    info.manifest = None;
    info
}

/// One plugin version this tenant can use, with its whole manifest.
/// Another tenant's plugin is not found.
#[utoipa::path(get, path = "/v1/plugins/{name}/{version}", tag = "plugins",
    params(("name" = String, Path), ("version" = String, Path, description = "e.g. 1.0.0")),
    responses((status = 200, body = PluginInfo), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_plugin(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath((name, version)): ApiPath<(String, String)>,
) -> ApiResult<ApiJson<PluginInfo>> {
    require_plugin_reader(&auth)?;
    if let Some(plugin) = state
        .bundled
        .iter()
        .find(|p| p.manifest().name == name && p.manifest().version == version)
    {
        let mut info =
            PluginInfo::from_manifest(plugin.manifest(), plugin.digest(), "bundled", None);
        info.manifest = serde_json::to_value(plugin.manifest()).ok();
        return Ok(ApiJson(info));
    }
    if let Some(stored) = state.db.platform_plugin(&name, &version).await?
        && let Some(info) = PluginInfo::from_stored(&stored, "platform")
    {
        return Ok(ApiJson(info));
    }
    if let Some(stored) = state
        .db
        .tenant_plugin(&auth.tenant, &name, &version)
        .await?
        && let Some(info) = PluginInfo::from_stored(&stored, "tenant")
    {
        return Ok(ApiJson(info));
    }
    Err(ApiError::not_found(format!("plugin {name}@{version}")))
}
