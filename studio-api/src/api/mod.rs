//! The Studio API (axum): one module per resource, each contributing its
//! routes and their OpenAPI description through `utoipa-axum`, so the
//! document served at `/v1/openapi.json` is generated from the handlers.
//!
//! Cross-cutting: every response carries an `x-request-id`; every failure
//! uses [`error::ApiError`]'s format, including unknown routes, wrong
//! methods, bad bodies and panics.

pub mod audit;
pub mod auth;
pub mod calls;
pub mod data;
pub mod error;
pub mod flows;
pub mod keys;
pub mod limits;
pub mod media;
pub mod outbound;
pub mod plugins;
pub mod webhooks;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::db::new_id;
use crate::state::AppState;
use error::{ApiError, REQUEST_ID, current_request_id};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Switchyard Studio API",
        description = "Flows, plugins, calls, webhooks, keys and data rights of a Switchyard tenant. \
                       Authenticate with `Authorization: Bearer <key>`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    components(schemas(error::ErrorBody))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The OpenAPI document and the router of every route, before state.
pub fn routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(keys::router())
        .merge(audit::router())
        .merge(flows::router())
        .merge(plugins::router())
        .merge(calls::router())
        .merge(outbound::router())
        .merge(media::router())
        .merge(webhooks::router())
        .merge(data::router())
        .routes(utoipa_axum::routes!(healthz))
        .split_for_parts();
    document_common_errors(&mut openapi);
    (router, openapi)
}

/// Whether the server is up: `ok`, without a key. For load balancers and
/// process supervisors; it touches neither the database nor any tenant.
#[utoipa::path(get, path = "/healthz", tag = "health", security(()),
    responses((status = 200, description = "The server is up", body = String,
               content_type = "text/plain", example = "ok")))]
async fn healthz() -> &'static str {
    "ok"
}

/// Adds the failures every route can answer with to every operation, so the
/// document is complete without repeating them on each handler: 401, 403
/// and 429 (authentication, scopes and rate limits) on every route that
/// takes a key, 500 everywhere, 404 where the path names something, and the
/// body failures (400, 413, 415, 422) where there is a body. A handler's own
/// description of a status wins.
fn document_common_errors(openapi: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::security::SecurityRequirement;
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let error = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build()
    };
    for (path, item) in openapi.paths.paths.iter_mut() {
        let has_params = path.contains('{');
        let operations = [
            item.get.as_mut(),
            item.put.as_mut(),
            item.post.as_mut(),
            item.delete.as_mut(),
            item.patch.as_mut(),
        ];
        for operation in operations.into_iter().flatten() {
            let has_body = operation.request_body.is_some();
            let has_query = operation.parameters.as_ref().is_some_and(|ps| {
                ps.iter()
                    .any(|p| matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Query))
            });
            // `security: [{}]`: the route takes no key (`/healthz`, the
            // media-stream WebSocket), so it has no key to refuse or limit.
            let keyless = operation
                .security
                .as_ref()
                .is_some_and(|s| s.contains(&SecurityRequirement::default()));
            let mut common = vec![("500", "Internal error; the server log has the details")];
            if !keyless {
                common.push(("401", "No key, or an unknown or revoked key"));
                common.push(("429", "Rate-limited; see `Retry-After`"));
            }
            if has_params {
                common.push(("400", "A path parameter is malformed"));
                common.push(("404", "Not found (or another tenant's)"));
            }
            if has_query {
                common.push(("400", "A query parameter is malformed"));
            }
            if has_body {
                common.push(("400", "The body is not valid JSON"));
                common.push(("413", "The body is too large"));
                common.push(("415", "The body is not `application/json`"));
                common.push(("422", "The body has the wrong shape or invalid values"));
            }
            if !keyless {
                common.push(("403", "The key lacks the scope this route needs"));
            }
            for (status, description) in common {
                operation
                    .responses
                    .responses
                    .entry(status.to_owned())
                    .or_insert_with(|| error(description).into());
            }
        }
    }
}

/// The whole application: routes, `/v1/openapi.json`, fallbacks and layers.
pub fn app(state: AppState) -> Router {
    let (router, openapi) = routes();
    let openapi = std::sync::Arc::new(openapi);
    let max_body = state.config.max_body_bytes;
    router
        .route(
            "/v1/openapi.json",
            axum::routing::get(move || {
                let openapi = openapi.clone();
                async move { axum::Json((*openapi).clone()) }
            }),
        )
        .fallback(|| async { ApiError::not_found("route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "this route does not take that method",
            )
        })
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            refuse_declared_oversize,
        ))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            panic_response,
        ))
        .layer(middleware::from_fn(request_id))
        .with_state(state)
}

/// Answers 413 from the `Content-Length` header alone, before any of the
/// body is read. Why: a client that sent only its headers (or `Expect:
/// 100-continue`, as curl does for large bodies) gets a clean answer
/// instead of a connection reset midway through an upload the server was
/// always going to refuse. Bodies without a declared length are still cut
/// at the same limit while they are read.
async fn refuse_declared_oversize(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let limit =
        if request.method() == axum::http::Method::POST && request.uri().path() == "/v1/plugins" {
            plugins::upload_body_limit(&state.config)
        } else {
            state.config.max_body_bytes
        };
    let declared = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(length) if length > limit as u64 => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            format!("the request body is {length} bytes; this route accepts at most {limit}"),
        )
        .into_response(),
        _ => next.run(request).await,
    }
}

/// Gives every request an id (in the response's `x-request-id` and in the
/// log) and logs one line per request, without bodies or headers.
async fn request_id(request: Request, next: Next) -> Response {
    let id = new_id("req");
    let method = request.method().clone();
    let path = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| request.uri().path().to_owned());
    let started = std::time::Instant::now();
    let mut response = REQUEST_ID.scope(id.clone(), next.run(request)).await;
    tracing::info!(
        request_id = %id,
        %method,
        %path,
        status = response.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

fn panic_response(_payload: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!(request_id = %current_request_id(), "handler panicked");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "internal error; the server log has the details",
    )
    .into_response()
}
