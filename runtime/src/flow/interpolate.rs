//! `{{var}}` interpolation of config strings from call variables.

use serde_json::Value;
use switchyard_sdk::protocol::Vars;

/// Looks up `name` or a dotted path (`webhook.status`) in `vars`.
pub fn lookup_var<'a>(vars: &'a Vars, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut value = vars.get(parts.next()?)?;
    for part in parts {
        value = match value {
            Value::Object(map) => map.get(part)?,
            Value::Array(items) => items.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(value)
}

fn render(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Replaces `{{name}}` in every string of `config`. A string that is exactly
/// one placeholder takes the variable's JSON value (so `"{{count}}"` can be a
/// number); elsewhere values are rendered as text. Unknown variables become
/// empty text, because a caller should hear a shorter sentence rather than
/// template syntax.
pub fn interpolate(config: &Value, vars: &Vars) -> Value {
    match config {
        Value::String(text) => interpolate_str(text, vars),
        Value::Array(items) => Value::Array(items.iter().map(|v| interpolate(v, vars)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), interpolate(v, vars)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn interpolate_str(text: &str, vars: &Vars) -> Value {
    if !text.contains("{{") {
        return Value::String(text.to_owned());
    }
    let trimmed = text.trim();
    if let Some(inner) = trimmed
        .strip_prefix("{{")
        .and_then(|t| t.strip_suffix("}}"))
        && !inner.contains("{{")
        && !inner.contains("}}")
    {
        return lookup_var(vars, inner.trim())
            .cloned()
            .unwrap_or(Value::String(String::new()));
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        match after.find("}}") {
            Some(close) => {
                out.push_str(
                    &lookup_var(vars, after[..close].trim())
                        .map(render)
                        .unwrap_or_default(),
                );
                rest = &after[close + 2..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    Value::String(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars() -> Vars {
        json!({"business": "Acme", "count": 3, "webhook": {"name": "Sam"}})
            .as_object()
            .unwrap()
            .clone()
    }

    #[test]
    fn replaces_placeholders_inside_text() {
        let out = interpolate(
            &json!({"text": "Welcome to {{ business }}, {{webhook.name}}!"}),
            &vars(),
        );
        assert_eq!(out, json!({"text": "Welcome to Acme, Sam!"}));
    }

    #[test]
    fn a_lone_placeholder_keeps_the_value_type() {
        assert_eq!(
            interpolate(&json!(["{{count}}", "n={{count}}"]), &vars()),
            json!([3, "n=3"])
        );
    }

    #[test]
    fn unknown_vars_become_empty_and_unclosed_braces_stay() {
        assert_eq!(
            interpolate(&json!("Hi {{nobody}}."), &vars()),
            json!("Hi .")
        );
        assert_eq!(interpolate(&json!("a {{b"), &vars()), json!("a {{b"));
    }
}
