//! Searching the schedule space: which schedule of a declared space scores best on a task, at
//! what cost in block applications.
//!
//! * [`space`]: the spaces (remove k blocks anywhere or as a slice, duplicate a range, reorder
//!   within a window, a given list) and their candidates;
//! * [`evaluate`]: scoring candidates on documents, journaled per document (resumable), the
//!   candidates' shared prefixes run once through the sweep's [`PrefixGroup`](crate::sweep::PrefixGroup),
//!   costs counted;
//! * [`strategy`]: successive halving over a listed space, greedy / beam removal;
//! * [`heldout`]: held-out scores with standard errors, paired differences, the Pareto front, the
//!   cost against exhaustive scoring.
//!
//! `painters search` ([`crate::jobs::SearchRun`]) adds the heuristic baselines (Block Influence,
//! angular distance) and writes the results.

pub mod evaluate;
pub mod heldout;
pub mod space;
pub mod strategy;

pub use evaluate::{Cost, DocMetrics, ScoreError, Scorer, aggregated, metric_spec, values};
pub use heldout::{CostReport, HeldOut, Paired, held_out, mark_pareto, paired};
pub use space::{Candidate, Space, choose, sequence, without};
pub use strategy::{
    Halving, Progress, Scored, SearchError, SearchResult, SearchSpec, Strategy, search,
};
