//! # switchyard-runtime
//!
//! The data plane of Switchyard: the flow model ([`flow`]), the executor
//! ([`exec`]), the sandboxed plugin host ([`host`]), and the text channel and
//! conversation tests ([`convo`]).
//!
//! A whole call on the text channel, with the bundled plugins:
//!
//! ```
//! use switchyard_runtime::{convo, host::{HostConfig, PluginHost}};
//!
//! let host = PluginHost::new(HostConfig::default()).unwrap();
//! let plugins = host.bundled_registry().unwrap();
//! let flow = r#"{"flow": "switchyard/v1", "name": "hello", "entry": "hi",
//!   "nodes": {"hi": {"use": "say@1", "with": {"text": "Hello {{name}}."}, "on": {"done": "bye"}},
//!             "bye": {"use": "hangup@1"}}}"#;
//! let script = "flow: hello.json\ncall: name=Sam\nagent: Hello Sam.\nexpect: hangup\n";
//! let report = convo::run_source(&plugins, script, "hello.convo", &|_| Ok(flow.to_owned()));
//! assert!(report.passed(), "{}", report.render());
//! ```

pub mod convo;
pub mod exec;
pub mod flow;
pub mod host;
pub mod policy;
