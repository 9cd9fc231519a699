//! Flows, their versions, routes and bindings:
//!
//! - `/v1/flows`, `/v1/flows/{name}`: drafts, guarded by `If-Match` ETags so
//!   two designers cannot silently overwrite each other;
//! - `/v1/flows/{name}/validate`: every problem at once, as `switchyard
//!   validate --format json` reports them;
//! - `/v1/flows/{name}/versions`, `.../versions/{version}`, `.../live`:
//!   immutable numbered versions and the `live` alias new calls run;
//! - `/v1/routes`: a called number or SIP URI → a flow and an environment;
//! - `/v1/environments/{env}/bindings`: the names flows use, bound per
//!   environment (see [`crate::flow_store`] for how a flow sees them).
//!
//! Reads take `flows:read` (or `flows:write`), changes `flows:write`;
//! routing the catch-all address `*` takes `admin`.

use std::collections::BTreeMap;

use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use switchyard_runtime::flow::Problem;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Auth;
use super::error::{ApiError, ApiJson, ApiPath, ApiResult, ErrorBody};
use crate::db::flows::{
    BINDING_KINDS, Binding, BindingValue, ENVIRONMENTS, FlowSummary, NewVersion, Route, VersionInfo,
};
use crate::db::{TenantId, now_ms};
use crate::flow_store::{
    canonical_json, check, etag_of, normalize_address, normalize_number, secret_place,
};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_flows, create_flow))
        .routes(routes!(get_flow, update_flow, delete_flow))
        .routes(routes!(validate_flow))
        .routes(routes!(list_versions, publish_flow))
        .routes(routes!(get_version))
        .routes(routes!(set_live))
        .routes(routes!(list_routes, create_route))
        .routes(routes!(delete_route))
        .routes(routes!(list_bindings))
        .routes(routes!(put_binding, delete_binding))
}

/// The longest flow or binding name.
const MAX_NAME: usize = 100;

/// Flow names as the flow schema allows them.
fn valid_flow_name(name: &str) -> bool {
    let first_ok = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    first_ok
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// Reads take `flows:read`; a key that may write may also read.
fn require_read(auth: &Auth) -> Result<(), ApiError> {
    if auth.require("flows:write").is_ok() {
        Ok(())
    } else {
        auth.require("flows:read")
    }
}

// ---------------------------------------------------------------- drafts

/// A `switchyard/v1` flow document (its JSON Schema is
/// `flows/schema/switchyard-v1.schema.json`). For the OpenAPI document
/// only: handlers take the body as JSON and check it themselves.
#[derive(Debug, Deserialize)]
pub struct FlowDocument(pub Value);

impl utoipa::PartialSchema for FlowDocument {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Type};
        let string = |description: &str| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some(description))
        };
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "A `switchyard/v1` flow document (see flows/schema/switchyard-v1.schema.json). \
                 A draft may be incomplete: only `flow` and `name` are checked when it is saved \
                 (`entry`, `nodes` and the rest may be missing or wrong); \
                 `POST /v1/flows/{name}/validate` reports everything else.",
            ))
            .property(
                "flow",
                string("Format marker.").enum_values(Some(["switchyard/v1"])),
            )
            .property(
                "name",
                string("The flow's name; routes and sub-flows refer to it.")
                    .pattern(Some("^[a-z0-9][a-z0-9_-]*$"))
                    .max_length(Some(MAX_NAME)),
            )
            .required("flow")
            .required("name")
            .additional_properties(Some(AdditionalProperties::FreeForm(true)))
            .into()
    }
}

impl ToSchema for FlowDocument {}

/// The name of a flow document, or what keeps the body from being one.
fn document_name(document: &Value) -> Result<String, ApiError> {
    let Some(map) = document.as_object() else {
        return Err(ApiError::invalid(
            "",
            "the body must be a switchyard/v1 flow document (a JSON object)",
        ));
    };
    if map.get("flow").and_then(Value::as_str) != Some("switchyard/v1") {
        return Err(ApiError::invalid(
            "/flow",
            "a flow document starts with \"flow\": \"switchyard/v1\"",
        ));
    }
    match map.get("name").and_then(Value::as_str) {
        Some(name) if valid_flow_name(name) => Ok(name.to_owned()),
        Some(name) => Err(ApiError::invalid(
            "/name",
            format!(
                "\"{name}\" is not a flow name: 1 to {MAX_NAME} lower-case letters, digits, - and _, starting with a letter or digit"
            ),
        )),
        None => Err(ApiError::invalid(
            "/name",
            "a flow document needs a \"name\" (a string)",
        )),
    }
}

/// A response with the draft's `ETag`.
fn with_etag(status: StatusCode, etag: &str, body: impl IntoResponse) -> Response {
    let mut response = (status, body).into_response();
    if let Ok(value) = HeaderValue::from_str(etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

/// What `If-Match` asks for.
enum IfMatch {
    Missing,
    Any,
    Tags(Vec<String>),
}

impl IfMatch {
    fn read(headers: &HeaderMap) -> Result<Self, ApiError> {
        let mut tags = Vec::new();
        let mut present = false;
        for value in headers.get_all(header::IF_MATCH) {
            present = true;
            let text = value.to_str().map_err(|_| {
                ApiError::bad_request("bad-header", "If-Match is not readable text")
            })?;
            for tag in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                if tag == "*" {
                    return Ok(Self::Any);
                }
                tags.push(tag.to_owned());
            }
        }
        Ok(if present {
            Self::Tags(tags)
        } else {
            Self::Missing
        })
    }

    /// Strong comparison (RFC 9110 §13.1.1): weak tags never match.
    fn matches(&self, current: &str) -> bool {
        match self {
            Self::Missing | Self::Any => true,
            Self::Tags(tags) => tags.iter().any(|t| t == current),
        }
    }
}

fn precondition_required(name: &str) -> ApiError {
    ApiError::new(
        StatusCode::PRECONDITION_REQUIRED,
        "precondition-required",
        format!(
            "send the ETag of the draft you edited in If-Match (GET /v1/flows/{name} returns it), so a change someone made meanwhile is not overwritten"
        ),
    )
}

fn etag_mismatch(name: &str, current: &str) -> ApiError {
    ApiError::new(
        StatusCode::PRECONDITION_FAILED,
        "etag-mismatch",
        format!(
            "flow {name} changed since you read it (its ETag is now {current}); GET it again, merge your change, and retry"
        ),
    )
    .with_details(json!({"etag": current}))
}

fn flow_not_found(name: &str) -> ApiError {
    ApiError::not_found(format!("flow {name}"))
}

/// The tenant's flows.
#[utoipa::path(get, path = "/v1/flows", tag = "flows",
    responses((status = 200, body = Vec<FlowSummary>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_flows(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<ApiJson<Vec<FlowSummary>>> {
    require_read(&auth)?;
    Ok(ApiJson(state.db.list_flows(&auth.tenant).await?))
}

/// Creates a draft from a flow document; its `name` names the flow.
#[utoipa::path(post, path = "/v1/flows", tag = "flows", request_body = FlowDocument,
    responses(
        (status = 201, body = FlowSummary, headers(("ETag" = String, description = "The draft's entity tag, for If-Match"))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "A flow of that name exists"),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody, description = "Not a flow document")))]
async fn create_flow(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(document): ApiJson<Value>,
) -> ApiResult<Response> {
    auth.require("flows:write")?;
    let name = document_name(&document)?;
    let draft = canonical_json(&document);
    let etag = etag_of(&draft);
    if !state
        .db
        .insert_flow(&auth.tenant, &name, &draft, &etag)
        .await?
    {
        return Err(ApiError::conflict(
            "flow-exists",
            format!(
                "a flow named {name} already exists; change it with PUT /v1/flows/{name} and If-Match"
            ),
        ));
    }
    let summary = summary_of(&state, &auth.tenant, &name).await?;
    let mut response = with_etag(StatusCode::CREATED, &etag, ApiJson(summary));
    if let Ok(location) = HeaderValue::from_str(&format!("/v1/flows/{name}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

async fn summary_of(
    state: &AppState,
    tenant: &TenantId,
    name: &str,
) -> Result<FlowSummary, ApiError> {
    state
        .db
        .flow(tenant, name)
        .await?
        .map(|f| f.summary)
        .ok_or_else(|| flow_not_found(name))
}

/// A flow's draft document, with its `ETag`.
#[utoipa::path(get, path = "/v1/flows/{name}", tag = "flows", params(("name" = String, Path)),
    responses(
        (status = 200, body = FlowDocument, headers(("ETag" = String, description = "The draft's entity tag, for If-Match"))),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_flow(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Response> {
    require_read(&auth)?;
    let flow = state
        .db
        .flow(&auth.tenant, &name)
        .await?
        .ok_or_else(|| flow_not_found(&name))?;
    let document: Value = serde_json::from_str(&flow.draft).map_err(anyhow::Error::from)?;
    Ok(with_etag(
        StatusCode::OK,
        &flow.summary.etag,
        ApiJson(document),
    ))
}

/// Replaces a draft. `If-Match` must carry the ETag of the draft the change
/// was made to; the `name` in the body must be the one in the path.
#[utoipa::path(put, path = "/v1/flows/{name}", tag = "flows", request_body = FlowDocument,
    params(("name" = String, Path), ("If-Match" = String, Header, description = "The ETag of the draft being replaced")),
    responses(
        (status = 200, body = FlowSummary, headers(("ETag" = String, description = "The new draft's entity tag"))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 412, body = ErrorBody, description = "The draft changed since that ETag (`etag-mismatch`)"),
        (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "Not a flow document, or its name is not the path's"),
        (status = 428, body = ErrorBody, description = "No If-Match (`precondition-required`)")))]
async fn update_flow(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(name): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(document): ApiJson<Value>,
) -> ApiResult<Response> {
    auth.require("flows:write")?;
    let current = state
        .db
        .flow(&auth.tenant, &name)
        .await?
        .ok_or_else(|| flow_not_found(&name))?;
    let wanted = IfMatch::read(&headers)?;
    if matches!(wanted, IfMatch::Missing) {
        return Err(precondition_required(&name));
    }
    if !wanted.matches(&current.summary.etag) {
        return Err(etag_mismatch(&name, &current.summary.etag));
    }
    let body_name = document_name(&document)?;
    if body_name != name {
        return Err(ApiError::invalid(
            "/name",
            format!(
                "the document is named \"{body_name}\" but the path names flow {name}; a flow is renamed by creating the new name"
            ),
        ));
    }
    let draft = canonical_json(&document);
    let etag = etag_of(&draft);
    // Unchanged: nothing to write, and `updated_at` keeps meaning "changed".
    if draft != current.draft
        && !state
            .db
            .update_draft(&auth.tenant, &name, &draft, &etag, &current.summary.etag)
            .await?
    {
        // Someone else wrote between our read and our write.
        return Err(match state.db.flow(&auth.tenant, &name).await? {
            None => flow_not_found(&name),
            Some(now) => etag_mismatch(&name, &now.summary.etag),
        });
    }
    let summary = summary_of(&state, &auth.tenant, &name).await?;
    let etag = summary.etag.clone();
    Ok(with_etag(StatusCode::OK, &etag, ApiJson(summary)))
}

/// Deletes a draft that was never published (published versions are
/// immutable and calls pin them) and that no route points at. `If-Match`
/// is checked when sent.
#[utoipa::path(delete, path = "/v1/flows/{name}", tag = "flows",
    params(("name" = String, Path), ("If-Match" = Option<String>, Header, description = "Delete only if the draft still has this ETag")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "The flow has published versions or routes"),
        (status = 412, body = ErrorBody)))]
async fn delete_flow(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(name): ApiPath<String>,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    auth.require("flows:write")?;
    let current = state
        .db
        .flow(&auth.tenant, &name)
        .await?
        .ok_or_else(|| flow_not_found(&name))?;
    let wanted = IfMatch::read(&headers)?;
    if !wanted.matches(&current.summary.etag) {
        return Err(etag_mismatch(&name, &current.summary.etag));
    }
    if let Some(latest) = current.summary.latest_version {
        return Err(ApiError::conflict(
            "flow-published",
            format!(
                "flow {name} has {latest} published version{}; versions are immutable and calls pin them, so a published flow is never deleted (delete its routes to stop new calls reaching it)",
                if latest == 1 { "" } else { "s" }
            ),
        ));
    }
    let routes = state.db.routes_to_flow(&auth.tenant, &name).await?;
    if !routes.is_empty() {
        return Err(ApiError::conflict(
            "flow-in-use",
            format!(
                "routes point at flow {name} ({}); delete them first",
                routes.join(", ")
            ),
        ));
    }
    let expected = match wanted {
        IfMatch::Tags(_) => Some(current.summary.etag.as_str()),
        _ => None,
    };
    if !state.db.delete_flow(&auth.tenant, &name, expected).await? {
        // Changed, published or deleted meanwhile: say which.
        return Err(match state.db.flow(&auth.tenant, &name).await? {
            None => flow_not_found(&name),
            Some(now) if now.summary.latest_version.is_some() => ApiError::conflict(
                "flow-published",
                format!("flow {name} was published meanwhile; published flows are never deleted"),
            ),
            Some(now) => etag_mismatch(&name, &now.summary.etag),
        });
    }
    state
        .db
        .audit(
            &auth.tenant,
            &auth.key_id,
            "flow.deleted",
            &format!("flow:{name}"),
            json!({}),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

// ------------------------------------------------------------ validation

/// One problem of a flow, at a JSON pointer into the document.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemBody {
    pub pointer: String,
    /// E.g. `unknown-node`, `config-schema`, `compliance-order`.
    pub code: String,
    pub message: String,
    /// A compliance counterexample: node ids from the entry to the node
    /// that breaks the rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<Vec<String>>,
}

impl From<&Problem> for ProblemBody {
    fn from(p: &Problem) -> Self {
        Self {
            pointer: p.pointer.clone(),
            code: p.code.clone(),
            message: p.message.clone(),
            path: p.path.clone(),
        }
    }
}

/// Every problem found, at once.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problems {
    pub problems: Vec<ProblemBody>,
}

/// Validates the draft with the tenant's plugins, its other flows as
/// sub-flows, and the compliance templates the tenant enabled on top of the
/// flow's own. Answers 200 with the problems (empty when there are none).
#[utoipa::path(post, path = "/v1/flows/{name}/validate", tag = "flows", params(("name" = String, Path)),
    responses((status = 200, body = Problems), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn validate_flow(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<ApiJson<Problems>> {
    require_read(&auth)?;
    let flow = state
        .db
        .flow(&auth.tenant, &name)
        .await?
        .ok_or_else(|| flow_not_found(&name))?;
    let checked = check(&state, &auth.tenant, &flow.draft).await?;
    Ok(ApiJson(Problems {
        problems: checked.problems.iter().map(ProblemBody::from).collect(),
    }))
}

// -------------------------------------------------------------- versions

/// A published version.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionView {
    #[serde(flatten)]
    pub info: VersionInfo,
    /// Whether the `live` alias points at it.
    pub live: bool,
}

/// A published version with its document.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionDocument {
    #[serde(flatten)]
    pub info: VersionInfo,
    pub live: bool,
    #[schema(value_type = Object)]
    pub document: Value,
}

/// How to publish.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishOptions {
    /// Move the `live` alias to the new version (default `true`).
    #[serde(default)]
    pub live: Option<bool>,
}

/// A JSON body that may be left out entirely (no body, no content type).
struct OptionalJson<T>(Option<T>);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let empty = req.headers().get(header::CONTENT_TYPE).is_none()
            && req
                .headers()
                .get(header::CONTENT_LENGTH)
                .is_none_or(|l| l.as_bytes() == b"0");
        if empty {
            return Ok(Self(None));
        }
        let ApiJson(value) = ApiJson::<T>::from_request(req, state).await?;
        Ok(Self(Some(value)))
    }
}

/// Publishes the draft as the next version: the same checks as validation
/// run first, and any problem refuses the publish (422 `publish-refused`,
/// the problems in `details.problems`, a compliance problem with its
/// counterexample `path`). The version pins the flow's digest and each
/// node's plugin digest, and is never changed. `live` moves to it unless
/// the body says `{"live": false}`. `If-Match` is checked when sent.
#[utoipa::path(post, path = "/v1/flows/{name}/versions", tag = "flows",
    request_body(content = Option<PublishOptions>, description = "Optional"),
    params(("name" = String, Path), ("If-Match" = Option<String>, Header, description = "Publish only if the draft still has this ETag")),
    responses((status = 201, body = VersionView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 412, body = ErrorBody),
        (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "The draft has problems (`publish-refused`)")))]
async fn publish_flow(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(name): ApiPath<String>,
    headers: HeaderMap,
    OptionalJson(options): OptionalJson<Option<PublishOptions>>,
) -> ApiResult<(StatusCode, ApiJson<VersionView>)> {
    auth.require("flows:write")?;
    let flow = state
        .db
        .flow(&auth.tenant, &name)
        .await?
        .ok_or_else(|| flow_not_found(&name))?;
    if !IfMatch::read(&headers)?.matches(&flow.summary.etag) {
        return Err(etag_mismatch(&name, &flow.summary.etag));
    }
    // No body, `null` and `{}` all mean the defaults.
    let make_live = options.flatten().and_then(|o| o.live).unwrap_or(true);
    let view = publish_draft(
        &state,
        &auth.tenant,
        &auth.key_id,
        &name,
        &flow.draft,
        make_live,
    )
    .await?;
    Ok((StatusCode::CREATED, ApiJson(view)))
}

/// Checks and publishes a draft, and audits it (`flow.published`).
async fn publish_draft(
    state: &AppState,
    tenant: &TenantId,
    actor: &str,
    name: &str,
    draft: &str,
    make_live: bool,
) -> Result<VersionView, ApiError> {
    let checked = check(state, tenant, draft).await?;
    let (Some(digest), true) = (&checked.digest, checked.problems.is_empty()) else {
        return Err(publish_refused(name, &checked.problems));
    };
    let info = state
        .db
        .publish_version(
            tenant,
            name,
            &NewVersion {
                document: draft,
                digest,
                plugins: &checked.plugins,
                published_by: actor,
                make_live,
            },
        )
        .await?;
    state
        .db
        .audit(
            tenant,
            actor,
            "flow.published",
            &format!("flow:{name}@{}", info.version),
            json!({"digest": info.digest, "live": make_live}),
        )
        .await?;
    let live = state
        .db
        .flow(tenant, name)
        .await?
        .and_then(|f| f.summary.live_version)
        == Some(info.version);
    Ok(VersionView { info, live })
}

fn publish_refused(name: &str, problems: &[Problem]) -> ApiError {
    let first = problems
        .first()
        .map(|p| format!("; the first: {p}"))
        .unwrap_or_default();
    let bodies: Vec<ProblemBody> = problems.iter().map(ProblemBody::from).collect();
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "publish-refused",
        format!(
            "flow {name} was not published: its draft has {} problem{}{first}",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" }
        ),
    )
    .with_details(json!({"problems": bodies}))
}

/// A flow's published versions, oldest first.
#[utoipa::path(get, path = "/v1/flows/{name}/versions", tag = "flows", params(("name" = String, Path)),
    responses((status = 200, body = Vec<VersionView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn list_versions(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<ApiJson<Vec<VersionView>>> {
    require_read(&auth)?;
    let live = summary_of(&state, &auth.tenant, &name).await?.live_version;
    let versions = state.db.versions(&auth.tenant, &name).await?;
    Ok(ApiJson(
        versions
            .into_iter()
            .map(|info| VersionView {
                live: Some(info.version) == live,
                info,
            })
            .collect(),
    ))
}

/// One published version, with its document.
#[utoipa::path(get, path = "/v1/flows/{name}/versions/{version}", tag = "flows",
    params(("name" = String, Path), ("version" = i64, Path)),
    responses((status = 200, body = VersionDocument), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_version(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath((name, version)): ApiPath<(String, i64)>,
) -> ApiResult<ApiJson<VersionDocument>> {
    require_read(&auth)?;
    let live = summary_of(&state, &auth.tenant, &name).await?.live_version;
    let (info, document) = state
        .db
        .version(&auth.tenant, &name, version)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("version {version} of flow {name}")))?;
    Ok(ApiJson(VersionDocument {
        live: Some(info.version) == live,
        document: serde_json::from_str(&document).map_err(anyhow::Error::from)?,
        info,
    }))
}

/// Where the `live` alias should point.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LiveVersion {
    pub version: i64,
}

/// Moves the `live` alias to a published version: back (a rollback, audited
/// `flow.rolled_back`) or forward (`flow.live_moved`). Calls already
/// running keep the version they started with.
#[utoipa::path(put, path = "/v1/flows/{name}/live", tag = "flows", request_body = LiveVersion,
    params(("name" = String, Path)),
    responses((status = 200, body = FlowSummary), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "No such version")))]
async fn set_live(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<LiveVersion>,
) -> ApiResult<ApiJson<FlowSummary>> {
    auth.require("flows:write")?;
    let summary = summary_of(&state, &auth.tenant, &name).await?;
    if state
        .db
        .version(&auth.tenant, &name, body.version)
        .await?
        .is_none()
    {
        let have = match summary.latest_version {
            Some(1) => "its only version is 1".to_owned(),
            Some(n) => format!("its versions are 1 to {n}"),
            None => "it has no published versions".to_owned(),
        };
        return Err(ApiError::invalid(
            "/version",
            format!("flow {name} has no version {}; {have}", body.version),
        ));
    }
    let before = state.db.set_live(&auth.tenant, &name, body.version).await?;
    let action = if before.is_some_and(|b| body.version < b) {
        "flow.rolled_back"
    } else {
        "flow.live_moved"
    };
    state
        .db
        .audit(
            &auth.tenant,
            &auth.key_id,
            action,
            &format!("flow:{name}@{}", body.version),
            json!({"from": before, "to": body.version}),
        )
        .await?;
    Ok(ApiJson(summary_of(&state, &auth.tenant, &name).await?))
}

// ---------------------------------------------------------------- routes

/// A new route.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRoute {
    /// An E.164 number (`+14155550100`), a `sip:` URI (`sip:desk@pbx.example`),
    /// or `*` for every address without a route of its own (admin only).
    pub address: String,
    /// The flow (its live version) that calls to the address run.
    pub flow: String,
    /// `staging` or `production`: whose bindings the calls use.
    pub environment: String,
}

/// Routes a called number or SIP URI to a flow. An address belongs to one
/// tenant: 409 when it is routed already.
#[utoipa::path(post, path = "/v1/routes", tag = "routes", request_body = NewRoute,
    responses((status = 201, body = Route), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody, description = "The address is routed already"),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_route(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(new): ApiJson<NewRoute>,
) -> ApiResult<(StatusCode, ApiJson<Route>)> {
    auth.require("flows:write")?;
    let address = normalize_address(&new.address).map_err(|m| ApiError::invalid("/address", m))?;
    if address == "*" {
        auth.require("admin")?;
    }
    crate::flow_store::check_environment(&new.environment).map_err(|e| e.at("/environment"))?;
    if state.db.flow(&auth.tenant, &new.flow).await?.is_none() {
        return Err(ApiError::invalid(
            "/flow",
            format!("no flow named \"{}\"", new.flow),
        ));
    }
    let route = Route {
        address,
        flow: new.flow,
        environment: new.environment,
        created_at: now_ms(),
    };
    if !state.db.insert_route(&auth.tenant, &route).await? {
        return Err(ApiError::conflict(
            "address-taken",
            format!(
                "{} already has a route, and an address reaches one flow; if the route is yours, DELETE /v1/routes/{} first",
                route.address,
                percent_encode(&route.address)
            ),
        ));
    }
    state
        .db
        .audit(
            &auth.tenant,
            &auth.key_id,
            "route.created",
            &format!("route:{}", route.address),
            json!({"flow": route.flow, "environment": route.environment}),
        )
        .await?;
    Ok((StatusCode::CREATED, ApiJson(route)))
}

/// An address as one path segment.
fn percent_encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The tenant's routes.
#[utoipa::path(get, path = "/v1/routes", tag = "routes",
    responses((status = 200, body = Vec<Route>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_routes(State(state): State<AppState>, auth: Auth) -> ApiResult<ApiJson<Vec<Route>>> {
    require_read(&auth)?;
    Ok(ApiJson(state.db.routes(&auth.tenant).await?))
}

/// Removes a route; the address is percent-encoded in the path
/// (`%2B14155550100`, `sip%3Adesk%40pbx.example`, `%2A`).
#[utoipa::path(delete, path = "/v1/routes/{address}", tag = "routes", params(("address" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn delete_route(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(address): ApiPath<String>,
) -> ApiResult<StatusCode> {
    auth.require("flows:write")?;
    let address = normalize_address(&address).unwrap_or(address);
    if address == "*" {
        auth.require("admin")?;
    }
    if !state.db.delete_route(&auth.tenant, &address).await? {
        return Err(ApiError::not_found(format!("route {address}")));
    }
    state
        .db
        .audit(
            &auth.tenant,
            &auth.key_id,
            "route.deleted",
            &format!("route:{address}"),
            json!({}),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

// -------------------------------------------------------------- bindings

/// The `{env}` path segment, for the OpenAPI document (the names are
/// [`ENVIRONMENTS`]).
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum Environment {
    Staging,
    Production,
}

impl Environment {
    const ALL: [Self; 2] = [Self::Staging, Self::Production];

    fn name(self) -> &'static str {
        match self {
            Self::Staging => "staging",
            Self::Production => "production",
        }
    }
}

/// The `{kind}` path segment, for the OpenAPI document (the names are
/// [`BINDING_KINDS`]).
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum BindingKind {
    Endpoint,
    Secret,
    Number,
    Subflow,
}

impl BindingKind {
    const ALL: [Self; 4] = [Self::Endpoint, Self::Secret, Self::Number, Self::Subflow];

    fn name(self) -> &'static str {
        match self {
            Self::Endpoint => "endpoint",
            Self::Secret => "secret",
            Self::Number => "number",
            Self::Subflow => "subflow",
        }
    }
}

fn environment_from_path(environment: &str) -> Result<(), ApiError> {
    if Environment::ALL.iter().any(|e| e.name() == environment) {
        Ok(())
    } else {
        Err(ApiError::not_found(format!(
            "environment {environment} (environments are {})",
            ENVIRONMENTS.join(", ")
        )))
    }
}

fn binding_target(environment: &str, kind: &str, name: &str) -> Result<(), ApiError> {
    environment_from_path(environment)?;
    if !BindingKind::ALL.iter().any(|k| k.name() == kind) {
        return Err(ApiError::not_found(format!(
            "binding kind {kind} (kinds are {})",
            BINDING_KINDS.join(", ")
        )));
    }
    let valid = !name.is_empty()
        && name.len() <= MAX_NAME
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            format!(
                "\"{name}\" is not a binding name: 1 to {MAX_NAME} letters, digits, - and _, starting with a letter or digit"
            ),
        ));
    }
    Ok(())
}

/// The names bound in one environment. Secrets show only that they are set.
#[utoipa::path(get, path = "/v1/environments/{env}/bindings", tag = "bindings",
    params(("env" = inline(Environment), Path)),
    responses((status = 200, body = Vec<Binding>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn list_bindings(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(environment): ApiPath<String>,
) -> ApiResult<ApiJson<Vec<Binding>>> {
    require_read(&auth)?;
    environment_from_path(&environment)?;
    Ok(ApiJson(
        state.db.bindings(&auth.tenant, &environment).await?,
    ))
}

/// A binding's value.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BindingBody {
    /// `endpoint`: an https URL; `secret`: the secret (write-only);
    /// `number`: an E.164 number; `subflow`: the name of one of the tenant's flows.
    pub value: String,
}

/// Binds a name in an environment (replacing any earlier value). Secrets are
/// sealed with the tenant's data key and never returned.
#[utoipa::path(put, path = "/v1/environments/{env}/bindings/{kind}/{name}", tag = "bindings",
    request_body = BindingBody,
    params(("env" = inline(Environment), Path), ("kind" = inline(BindingKind), Path),
           ("name" = String, Path)),
    responses((status = 200, body = Binding), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn put_binding(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath((environment, kind, name)): ApiPath<(String, String, String)>,
    ApiJson(body): ApiJson<BindingBody>,
) -> ApiResult<ApiJson<Binding>> {
    auth.require("flows:write")?;
    binding_target(&environment, &kind, &name)?;
    let tenant = &auth.tenant;
    let value = match kind.as_str() {
        "endpoint" => BindingValue::Plain(check_endpoint_url(&body.value, &state)?),
        "number" => BindingValue::Plain(
            normalize_number(&body.value).map_err(|m| ApiError::invalid("/value", m))?,
        ),
        "subflow" => {
            if state.db.flow(tenant, &body.value).await?.is_none() {
                return Err(ApiError::invalid(
                    "/value",
                    format!("no flow named \"{}\"", body.value),
                ));
            }
            BindingValue::Plain(body.value)
        }
        _ => {
            if body.value.is_empty() || body.value.len() > 8192 {
                return Err(ApiError::invalid("/value", "a secret is 1 to 8192 bytes"));
            }
            let (data_key_id, key) = state.keyring.current(&state.db, tenant).await?;
            let sealed = key.seal(
                body.value.as_bytes(),
                secret_place(tenant, &environment, &name).as_bytes(),
            );
            BindingValue::Sealed {
                data_key_id,
                sealed,
            }
        }
    };
    state
        .db
        .put_binding(tenant, &environment, &kind, &name, &value)
        .await?;
    state
        .db
        .audit(
            tenant,
            &auth.key_id,
            "binding.set",
            &format!("binding:{environment}/{kind}/{name}"),
            json!({}),
        )
        .await?;
    let binding = state
        .db
        .bindings(tenant, &environment)
        .await?
        .into_iter()
        .find(|b| b.kind == kind && b.name == name)
        .ok_or_else(|| {
            anyhow::anyhow!("binding {environment}/{kind}/{name} vanished after its write")
        })?;
    Ok(ApiJson(binding))
}

/// An endpoint URL: https (http too in development mode), with a host, and
/// without credentials (those belong in a `secret` of the same name).
/// An endpoint URL checked by the same rules webhooks use (scheme, no
/// credentials, no refused address literal), so a bad binding fails when it
/// is made rather than on the first call that uses it.
fn check_endpoint_url(value: &str, state: &AppState) -> Result<String, ApiError> {
    let url = reqwest::Url::parse(value.trim())
        .map_err(|e| ApiError::invalid("/value", format!("\"{value}\" is not a URL: {e}")))?;
    state
        .config
        .outbound
        .check_url(&url, state.config.dev_mode)
        .map_err(|problem| ApiError::invalid("/value", format!("endpoint {url}: {problem}")))?;
    Ok(url.to_string())
}

/// Removes a binding.
#[utoipa::path(delete, path = "/v1/environments/{env}/bindings/{kind}/{name}", tag = "bindings",
    params(("env" = inline(Environment), Path), ("kind" = inline(BindingKind), Path),
           ("name" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn delete_binding(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath((environment, kind, name)): ApiPath<(String, String, String)>,
) -> ApiResult<StatusCode> {
    auth.require("flows:write")?;
    binding_target(&environment, &kind, &name)?;
    if !state
        .db
        .delete_binding(&auth.tenant, &environment, &kind, &name)
        .await?
    {
        return Err(ApiError::not_found(format!(
            "binding {environment}/{kind}/{name}"
        )));
    }
    state
        .db
        .audit(
            &auth.tenant,
            &auth.key_id,
            "binding.deleted",
            &format!("binding:{environment}/{kind}/{name}"),
            json!({}),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

// ------------------------------------------------------------- bootstrap

/// Publishes the bundled flows for a new tenant (first start): each as a
/// draft and version 1, live, and the catch-all address `*` routed to
/// `receptionist` in production, so any inbound call reaches it.
pub async fn bootstrap(state: &AppState, tenant: &TenantId) -> anyhow::Result<()> {
    let mut names = BTreeMap::new();
    for (name, document) in crate::bundled_flows::BUNDLED_FLOWS {
        let value: Value = serde_json::from_str(document)?;
        let draft = canonical_json(&value);
        state
            .db
            .insert_flow(tenant, name, &draft, &etag_of(&draft))
            .await?;
        names.insert(*name, draft);
    }
    // Sub-flows first would not matter: validation sees drafts too.
    for (name, draft) in &names {
        publish_draft(state, tenant, "system", name, draft, true)
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "bundled flow {name} does not publish: {} {}",
                    e.message,
                    e.details.unwrap_or_default()
                )
            })?;
    }
    let route = Route {
        address: "*".into(),
        flow: "receptionist".into(),
        environment: "production".into(),
        created_at: now_ms(),
    };
    if state.db.insert_route(tenant, &route).await? {
        state
            .db
            .audit(
                tenant,
                "system",
                "route.created",
                "route:*",
                json!({"flow": route.flow, "environment": route.environment}),
            )
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_path_segments_are_the_stored_names() {
        let environments: Vec<&str> = Environment::ALL.iter().map(|e| e.name()).collect();
        assert_eq!(environments, ENVIRONMENTS);
        let kinds: Vec<&str> = BindingKind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(kinds, BINDING_KINDS);
        for e in Environment::ALL {
            assert_eq!(serde_json::to_value(e).unwrap(), e.name());
        }
        for k in BindingKind::ALL {
            assert_eq!(serde_json::to_value(k).unwrap(), k.name());
        }
    }

    #[test]
    fn flow_names_follow_the_flow_schema() {
        for good in ["a", "acme-main", "0day", "x_y"] {
            assert!(valid_flow_name(good), "{good}");
        }
        for bad in ["", "Acme", "-a", "_a", "a b", "a/b", &"a".repeat(101)] {
            assert!(!valid_flow_name(bad), "{bad}");
        }
    }

    #[test]
    fn if_match_compares_strong_tags() {
        let mut headers = HeaderMap::new();
        assert!(matches!(IfMatch::read(&headers).unwrap(), IfMatch::Missing));
        headers.insert(header::IF_MATCH, HeaderValue::from_static("\"a\", W/\"b\""));
        let wanted = IfMatch::read(&headers).unwrap();
        assert!(wanted.matches("\"a\""));
        assert!(!wanted.matches("\"b\""));
        headers.insert(header::IF_MATCH, HeaderValue::from_static("*"));
        assert!(IfMatch::read(&headers).unwrap().matches("\"z\""));
    }
}
