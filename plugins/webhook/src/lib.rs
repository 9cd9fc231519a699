//! `webhook@1`: calls the tenant-declared endpoint `endpoint` and takes `ok`
//! on a 2xx answer or `failed` otherwise. The body lands in var `result_var`
//! (default `webhook`), the status in `<result_var>_status`.
//!
//! ```
//! use switchyard_sdk::{harness::Harness, prelude::*};
//! let mut node = Harness::new(switchyard_plugin_webhook::step)
//!     .config(serde_json::json!({"endpoint": "crm-lookup", "body": {"phone": "+15550100"}}));
//! assert_eq!(node.enter().exit, None);
//! let body = serde_json::json!({"tier": "gold"});
//! let out = node.send(Event::HttpResult { status: 200, body: body.clone(), error: None });
//! assert_eq!(out.exit.as_deref(), Some("ok"));
//! assert_eq!(node.vars()["webhook"], body);
//! ```

use serde_json::Value;
use switchyard_sdk::prelude::*;

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// The step function.
pub fn step(input: StepInput) -> StepOutput {
    let config = &input.node.config;
    match input.event {
        Event::Enter => {
            let Some(endpoint) = config["endpoint"].as_str().filter(|e| !e.is_empty()) else {
                log(Level::Error, "webhook: `endpoint` is missing or empty");
                return StepOutput::exit("error");
            };
            let method = config["method"]
                .as_str()
                .map(str::to_ascii_uppercase)
                .filter(|m| METHODS.contains(&m.as_str()))
                .unwrap_or_else(|| "POST".to_owned());
            let body = config.get("body").cloned().unwrap_or(Value::Null);
            StepOutput::wait().with_action(Action::Http(HttpRequest {
                endpoint: endpoint.to_owned(),
                method,
                body,
            }))
        }
        Event::HttpResult { status, body, .. } => {
            let var = result_var(config);
            let out = if (200..300).contains(&status) {
                StepOutput::exit("ok").with_var(var, body)
            } else {
                // A failed answer's body is not trusted as a result, so only the
                // status is kept (0 means the endpoint was unreachable).
                StepOutput::exit("failed")
            };
            out.with_var(format!("{var}_status"), status)
        }
        _ => StepOutput::wait(),
    }
}

fn result_var(config: &Value) -> &str {
    config["result_var"]
        .as_str()
        .filter(|v| !v.is_empty())
        .unwrap_or("webhook")
}

switchyard_sdk::export_step!(step);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use switchyard_sdk::harness::Harness;

    #[test]
    fn sends_the_request_with_defaults() {
        let out = Harness::new(step)
            .config(json!({"endpoint": "crm"}))
            .enter();
        let request = HttpRequest {
            endpoint: "crm".into(),
            method: "POST".into(),
            body: Value::Null,
        };
        assert_eq!(out.actions, vec![Action::Http(request)]);
        assert_eq!(out.exit, None);
    }

    #[test]
    fn a_2xx_answer_is_ok_and_stores_body_and_status() {
        let config =
            json!({"endpoint": "crm", "method": "PUT", "body": {"a": 1}, "result_var": "crm"});
        let mut node = Harness::new(step).config(config);
        let Action::Http(request) = &node.enter().actions[0] else {
            panic!("no http action")
        };
        assert_eq!(
            (request.method.as_str(), &request.body),
            ("PUT", &json!({"a": 1}))
        );
        assert_eq!(node.send(Event::PromptDone), StepOutput::wait());
        let out = node.send(Event::HttpResult {
            status: 204,
            body: json!("done"),
            error: None,
        });
        assert_eq!(out.exit.as_deref(), Some("ok"));
        assert_eq!(node.vars()["crm"], "done");
        assert_eq!(node.vars()["crm_status"], 204);
    }

    #[test]
    fn other_statuses_fail_and_keep_only_the_status() {
        for status in [0, 302, 404, 500] {
            let mut node = Harness::new(step).config(json!({"endpoint": "crm"}));
            node.enter();
            let out = node.send(Event::HttpResult {
                status,
                body: json!({"oops": true}),
                error: Some("x".into()),
            });
            assert_eq!(out.exit.as_deref(), Some("failed"));
            assert_eq!(node.vars().get("webhook"), None);
            assert_eq!(node.vars()["webhook_status"], status);
        }
    }

    #[test]
    fn an_odd_method_falls_back_to_post() {
        let out = Harness::new(step)
            .config(json!({"endpoint": "crm", "method": "get"}))
            .enter();
        assert!(matches!(&out.actions[0], Action::Http(r) if r.method == "GET"));
        let out = Harness::new(step)
            .config(json!({"endpoint": "crm", "method": "BREW"}))
            .enter();
        assert!(matches!(&out.actions[0], Action::Http(r) if r.method == "POST"));
    }

    #[test]
    fn a_missing_endpoint_is_an_error() {
        assert_eq!(Harness::new(step).enter().exit.as_deref(), Some("error"));
    }
}
