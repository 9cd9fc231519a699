//! Integration tests of `switchyard-speech`, one binary (see STYLE.md).
//!
//! The local defaults run for real (espeak-ng and pocketsphinx must be
//! installed: `apt-get install -y espeak-ng pocketsphinx pocketsphinx-en-us`);
//! the cloud adapters talk to servers started here that speak each
//! provider's protocol, and the tests check what those servers received as
//! well as what the adapters made of the answers.

mod cache;
mod config;
mod deepgram;
mod espeak;
mod openai_chat;
mod openai_stt;
mod openai_tts;
mod pocketsphinx;
mod support;
