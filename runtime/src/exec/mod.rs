//! The executor: one [`CallSession`] per call, driven by [`Input`]s and
//! answering with the [`Action`](switchyard_sdk::protocol::Action)s the
//! channel must carry out.
//!
//! The session does no I/O and reads no clock: time arrives as
//! [`Input::Clock`], provider answers (LLM, HTTP, transfer) arrive as inputs
//! too. That is what makes a call's [`EventLog`] replayable and lets tests
//! run a 30-second timeout in microseconds. Live channels feed the real
//! clock; simulations and conversation tests feed a virtual one.
//!
//! ```
//! use std::sync::Arc;
//! use switchyard_runtime::exec::{CallSession, CallSetup, FlowSet, Input};
//! use switchyard_runtime::{flow, host::{HostConfig, PluginHost}};
//! use switchyard_sdk::protocol::Action;
//!
//! let host = PluginHost::new(HostConfig::default()).unwrap();
//! let plugins = host.bundled_registry().unwrap();
//! let source = r#"{"flow": "switchyard/v1", "name": "m", "entry": "menu",
//!   "nodes": {"menu": {"use": "menu@1", "with": {"prompt": "Press 1.", "options": ["1"], "timeout_ms": 3000},
//!                      "on": {"1": "bye", "timeout": "bye", "invalid": "bye"}},
//!             "bye": {"use": "hangup@1", "with": {"text": "Bye."}}}}"#;
//! let flows = FlowSet::single(flow::compile(source, &plugins, None).unwrap());
//! let mut call = CallSession::new(Arc::new(flows), CallSetup::test("c1", 0));
//! let actions = call.start();
//! assert!(matches!(&actions[0], Action::Say { text, .. } if text == "Press 1."));
//! assert_eq!(call.next_deadline(), Some(3000));
//! // Three virtual seconds pass: the menu times out and the flow says goodbye.
//! let actions = call.deliver(Input::Clock { now_ms: 3000 });
//! assert!(matches!(&actions[0], Action::Say { text, .. } if text == "Bye."));
//! assert!(call.ended().is_some());
//! ```

mod log;
mod replay;
mod session;

pub use log::{CallSetup, Entry, EventLog, LogEntry};
pub use replay::{NodeAction, ReplayReport, replay};
pub use session::{CallSession, FlowSet, Input};
