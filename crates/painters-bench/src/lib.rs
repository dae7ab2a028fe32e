//! # painters-bench
//!
//! The harness around the `painters` core: the conformance runner against the PyTorch reference,
//! model discovery, and (growing) the evaluation tasks, sweeps and reports behind the `painters` CLI.

pub mod analysis;
pub mod batching;
pub mod conformance;
pub mod device;
pub mod eval;
pub mod glue;
pub mod heal;
pub mod hub;
pub mod io;
pub mod jobs;
pub mod lm;
pub mod models;
pub mod perf;
pub mod progress;
pub mod report;
pub mod requests;
pub mod schedules;
pub mod score;
pub mod search;
pub mod settings;
pub mod sweep;
pub mod tasks;
