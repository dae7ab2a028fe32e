//! Whole-model performance: the measuring helpers ([`measure`]: inputs, medians, a counting global
//! allocator for peak heap) and `painters bench` as a library run ([`BenchRun`]) whose figures
//! ([`BenchFigures`]) print as the same Markdown tables every time, so that regressions show.

pub mod bench;
pub mod measure;
pub mod table;

pub use bench::{BenchError, BenchRun, SCHEDULES};
pub use measure::{
    CountingAlloc, counting_active, decode_tokens_per_s, forward_once, input, input_rows,
    live_bytes, machine, median, peak_alloc, set_counting, straight_line_once, time_forward,
    time_median,
};
pub use table::{BenchFigures, BenchRow};
