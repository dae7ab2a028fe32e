//! The sweep report: a sweep folder's results drawn as the paper's figures (SVG + PNG under
//! `OUT/figures/`) and an `OUT/report.md` that embeds them with tables of the numbers.
//!
//! The results are read with the sweep store's own reader ([`Store::scan`](crate::sweep::Store::scan)): one [`Entry`](crate::sweep::Entry) per
//! schedule point and task, exactly what `results.json` is built from. Only what the results hold is
//! drawn:
//!
//! | figure | drawn when | file stem |
//! |---|---|---|
//! | Fig. 2 | `skip_one` / `switch` points | `fig2_<variant>` (normalized score per task vs block index) |
//! | Figs. 4–9 | a middle variant's points | `fig<k>_<variant>_<task>` (score vs M, full model and guessing floor as references; ±1 standard error band, min–max band over seeds for `random`) |
//! | Fig. 11 per task | any middle variant | `fig11_<task>` (a line per variant) |
//! | Fig. 10 | `looped_parallel` points with ≥ 2 loop counts | `fig10_<task>`, `fig10_normalized_median` (M × K heatmaps) |
//! | Fig. 11 | any middle variant and a normalizable task | `fig11_normalized_median` |
//! | GLUE average (BERT) | any middle variant, GLUE results | `glue_average` (a line per variant) |
//!
//! The score of a task is its normalization metric ([`NormConfig`](crate::sweep::NormConfig)) where one is configured, else the
//! first of `acc_norm`, `acc`, `exact_match`, `word_perplexity` it has, else its first metric.
//!
//! GLUE sweeps (results fine-tuned under each schedule, [`ResultKey::finetune`](crate::sweep::ResultKey::finetune))
//! are drawn the same way with each task's GLUE main metric as its score, and the GLUE average
//! ([`glue_average`](crate::sweep::summary::glue_average)) takes the normalized median's place: in
//! the summary figure, the per-variant tables, the Fig. 10 heatmaps and the Fig. 2 tables. report.md then also has a table of every
//! point's main metric per task and average, and the fine-tuning settings.

mod data;
mod error;
mod figures;
mod load;
mod meta;
mod tables;
mod write;
mod writer;

pub use error::SweepReportError;
pub use load::{Loaded, ResultFilter, load_results};
pub use meta::{SweepReportFiles, SweepReportMeta};
pub use write::{report_folder, write_sweep_report};
