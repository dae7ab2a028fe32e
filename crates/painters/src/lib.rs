//! # painters
//!
//! Run a pretrained transformer's layers under *layer schedules* — skip, repeat, reorder, run in
//! parallel and average, loop — and measure what that does. This is the core crate: the
//! [`LayerSchedule`] algebra and its notations, the paper's presets, compilation to an execution
//! [`Plan`], and the executor over burn modules. It knows nothing about any architecture; the
//! `painters-llama` and `painters-bert` crates implement [`Block`] and [`Transformer`] for real weights.
//!
//! ```
//! use painters::{LayerSchedule, Plan, KvMode, paper};
//!
//! // The paper's "looped parallel 3X" on a 32-block model with start layer N = 14 ...
//! let s = paper::looped_parallel(32, 14, 3).unwrap();
//! assert_eq!(s.to_string(), "0..=14, par(15..=17)x3, 18..=31");
//! // ... is the same value as the text notation and the fixture JSON.
//! assert_eq!(s, "0..=14, par(15..=17)x3, 18..32".parse::<LayerSchedule>().unwrap());
//! assert_eq!(LayerSchedule::from_json(&s.to_json()).unwrap(), s);
//!
//! let plan = Plan::compile(&s, 32, KvMode::Exact).unwrap();
//! assert_eq!(plan.stats().block_applications, 15 + 9 + 14);
//! assert_eq!(plan.stats().depth, 15 + 3 + 14);
//! ```
//!
//! Index convention (from the authors' code, arXiv 2407.09298): see [`paper`].

pub mod backend;
pub mod cache;
pub mod error;
pub mod exec;
pub mod json;
pub mod mergekit;
pub mod paper;
pub mod plan;
pub mod rng;
pub mod schedule;
pub mod syntax;
pub mod weights;

pub use cache::{KvCache, KvState};
pub use error::{PathSegment, ScheduleError, StepPath};
pub use exec::{Block, BlockOutput, ExecError, HiddenStates, ObservePoint, Observer, Transformer};
pub use plan::{KvMode, Op, Plan, PlanStats};
pub use rng::ShuffleRng;
pub use schedule::{BlockRange, LayerSchedule, Merge};
