//! Chat models: [`OpenAiChat`], an OpenAI-compatible chat-completions
//! client with streaming and tool calls (OpenAI, vLLM, llama.cpp server,
//! Ollama and others speak this protocol).

mod openai;
mod sse;

pub use openai::{OpenAiChat, OpenAiChatSettings};
