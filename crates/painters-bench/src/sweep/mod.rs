//! Sweeps: one model, many layer schedules, several tasks; resumable, shardable, and with the
//! schedules' common prefixes computed once.
//!
//! * [`experiments`]: the paper's experiments as named lists of [`SchedulePoint`]s (variant, N, M,
//!   seed, loops), always with the full model as baseline.
//! * [`store`]: one result file per key — model sha256 and weight mode, schedule text, task and the
//!   digest of its documents as read, limit, seed, batching (or fine-tuning) settings and
//!   [`SCORING_VERSION`](crate::score::SCORING_VERSION) — named by a hash of that key and written
//!   atomically as soon as it exists. A rerun skips valid files, redoes missing or corrupt ones,
//!   and recomputes (never reuses) results stored under another key.
//! * [`prefix`]: a [`PrefixGroup`] evaluates several schedules with their shared leading steps run
//!   once per forward pass, and counts the block applications saved.
//! * [`summary`]: the paper's normalized median (floors and metrics per task, explicit and
//!   configurable: arc_easy/arc_challenge/hellaswag `acc_norm` with floor 0.25, winogrande `acc`
//!   0.5, lambada_openai `acc` 0, gsm8k `exact_match,strict-match` 0) and mean/spread of seeds.
//! * [`table`]: the folder's combined `results.json` and `results.csv`.
//! * [`glue`]: the same for BERT encoders on GLUE tasks ([`run_glue_sweep`]): every schedule
//!   fine-tuned and evaluated under itself, results keyed by the fine-tuning settings too, summarized
//!   by the GLUE average.
//! * [`work`]: what both kinds share — work list, units, shards, skipping stored results, the
//!   progress bar, writing each result as it exists ([`Sweeper`](work::Sweeper) is what a kind supplies);
//!   [`lm`]: the decoder sweep on lm-eval tasks ([`run_sweep`]); [`merge`](mod@merge): joining
//!   shards' folders; [`run`]: a sweep as `painters sweep` names it ([`SweepRun`]: a model path,
//!   Llama or BERT, experiments, tasks, settings); [`estimate`]: its cost before it runs
//!   (`--dry-run`).
//!
//! # Work list, groups and shards
//!
//! The sweep's points are deduplicated by key (two points with the same schedule and seed, e.g.
//! `reverse` and `parallel` at M = 1, which both equal the full model, are one result recorded under
//! both labels) and sorted by their schedules' top-level steps, so that schedules with long common
//! prefixes are neighbours. That sorted list is cut into groups of `group_size` consecutive
//! schedules (1 without prefix reuse). The work *units* are (task, group) pairs, tasks in the given
//! order: unit k belongs to shard `k mod n` (`--shard i/n`, i counted from 0). The units depend only
//! on the points, the tasks and the group size, never on what is already stored, so every shard of a
//! sweep must be started with the same experiments, tasks, seeds, loops and group size; a resumed
//! run computes exactly the units' missing results.
//!
//! Within a unit the members still missing are evaluated one after the other (the first one's passes
//! compute every member's scores, see [`prefix`]); each result is written the moment its member
//! finishes. A killed sweep therefore loses at most the unit in progress.

pub mod error;
pub mod estimate;
pub mod experiments;
pub mod glue;
pub mod lm;
pub mod merge;
pub mod prefix;
pub mod run;
pub mod store;
pub mod summary;
pub mod table;
pub mod work;

pub use error::SweepError;
pub use estimate::{Calibration, SweepEstimate, TaskCost, VariantCost};
pub use experiments::{
    Experiment, ExperimentOptions, MAX_POINTS, SchedulePoint, count_points, sweep_points,
};
pub use glue::{FinetuneSettings, GlueSweepModel, GlueSweepOptions, glue_task, run_glue_sweep};
pub use lm::{
    SweepModel, SweepOptions, lm_task, reuse_json, reuse_line, run_sweep, scoring_settings,
};
pub use merge::{MergeReport, merge};
pub use prefix::{MemberLm, PrefixGroup, ReuseStats};
pub use run::{SweepEvent, SweepOutcome, SweepRun, SweepRunError, SweepSettings};
pub use store::{
    Lookup, Merged, OLD_RECORD_FORMAT, PointMeta, RECORD_FORMAT, Record, ResultKey, Scanned, Store,
    merge_stores,
};
pub use summary::{NormConfig, NormFlagError, TaskNorm};
pub use table::{Entry, combined_csv, combined_json, sort_entries, write_combined};
pub use work::{Shard, SweepReport};
