//! The top layer: library entry points that chain the layers below into what one `painters`
//! command does when that is more than one layer's work — a sweep (or a merge of shards) followed
//! by its report, the layer analysis followed by its report. Commands that are one layer's work
//! call that layer directly ([`EvalRun`](crate::eval::EvalRun), [`GlueRun`](crate::eval::GlueRun),
//! [`BenchRun`](crate::perf::BenchRun), [`ScheduleQuery`](crate::schedules::ScheduleQuery),
//! [`run_manifest`](crate::conformance::run_manifest)).

pub mod export;
pub mod heal;
pub mod layers;
pub mod search;
pub mod sweep;

pub use export::{ExportOutcome, ExportRun, ExportRunError};
pub use heal::{HealOutcome, HealRun, HealRunError};
pub use layers::{LayersError, LayersOutcome, LayersRun};
pub use search::{SearchOutcome, SearchRun, SearchRunError};
pub use sweep::{JobError, MergeJob, ReportJob, Reported, SweepJob};
