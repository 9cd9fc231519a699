//! Integration tests of `switchyard-media`, one binary (see STYLE.md).

mod g711;
mod garbage;
mod pipeline;
