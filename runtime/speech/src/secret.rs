//! API keys: sent in request headers, never printed.

use std::fmt;

use crate::SpeechError;

/// A provider's API key.
///
/// It has no `Display`, its `Debug` prints `ApiKey(***)`, and adapters cut
/// it out of any provider message they pass on (some providers echo a
/// rejected key in their error), so a key cannot reach a log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key.
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// Reads the key from the environment variable `var` through `env`
    /// (usually [`std::env::var`]), so configurations name keys without
    /// holding them.
    ///
    /// # Errors
    /// [`SpeechError::Config`] naming `var` (never a value) when it is unset
    /// or empty.
    pub fn from_env(var: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, SpeechError> {
        match env(var) {
            Some(key) if !key.trim().is_empty() => Ok(Self(key.trim().to_owned())),
            _ => Err(SpeechError::Config(format!(
                "the environment variable {var} holding the API key is not set"
            ))),
        }
    }

    /// The key itself, for a request header.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// `text` with every occurrence of the key replaced by `***`.
    pub(crate) fn redact(&self, text: &str) -> String {
        if self.0.is_empty() {
            text.to_owned()
        } else {
            text.replace(&self.0, "***")
        }
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_key_and_redact_cuts_it_out() {
        let key = ApiKey::new("sk-secret-123");
        assert_eq!(format!("{key:?}"), "ApiKey(***)");
        assert_eq!(
            key.redact("Incorrect API key provided: sk-secret-123."),
            "Incorrect API key provided: ***."
        );
    }

    #[test]
    fn from_env_names_the_variable_when_it_is_missing() {
        let error = ApiKey::from_env("MY_KEY", &|_| None).unwrap_err();
        assert_eq!(
            error.to_string(),
            "speech configuration: the environment variable MY_KEY holding the API key is not set"
        );
        let key = ApiKey::from_env("MY_KEY", &|name| {
            (name == "MY_KEY").then(|| " k1 \n".into())
        });
        assert_eq!(key.unwrap().expose(), "k1");
    }
}
