//! The Studio API over HTTP, against a real SQLite file and a real
//! PostgreSQL database (one fresh database per test).

mod support;

mod calls;
mod data_rights;
mod flows;
mod isolation;
mod keys;
mod logs;
mod media_stream;
mod openapi;
mod outbound;
mod plugins;
mod readme;
mod sealed_card;
mod sip_calls;
mod voice_turns;
mod webhooks;
