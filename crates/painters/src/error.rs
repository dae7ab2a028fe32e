//! The core crate's error type.
//!
//! Every error names *where* the problem is (a step path, a text column, a JSON step) so that a user
//! who typed a schedule on the command line can fix it without reading our source.

use std::fmt;

/// Where a problem sits inside a schedule: top-level step, then branch / body positions.
///
/// Displayed as `step 3 > branch 1 > step 0`, matching how the text syntax and the JSON nest.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct StepPath(pub Vec<PathSegment>);

/// One level of a [`StepPath`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PathSegment {
    /// The i-th step of a sequence.
    Step(usize),
    /// The i-th branch of a parallel step.
    Branch(usize),
    /// The body of a repeat / loop.
    Body,
}

impl StepPath {
    pub(crate) fn push(&self, seg: PathSegment) -> StepPath {
        let mut v = self.0.clone();
        v.push(seg);
        StepPath(v)
    }
}

impl fmt::Display for StepPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("the schedule");
        }
        for (i, seg) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" > ")?;
            }
            match seg {
                PathSegment::Step(s) => write!(f, "step {s}")?,
                PathSegment::Branch(b) => write!(f, "branch {b}")?,
                PathSegment::Body => f.write_str("body")?,
            }
        }
        Ok(())
    }
}

/// Everything that can be wrong with a schedule, its notation, or a preset's parameters.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScheduleError {
    #[error(
        "{at}: block {block} is out of range: the model has {num_blocks} blocks (valid: 0..{num_blocks})"
    )]
    BlockOutOfRange {
        at: StepPath,
        block: usize,
        num_blocks: usize,
    },
    #[error("{at}: a parallel step needs at least one branch")]
    EmptyParallel { at: StepPath },
    #[error(
        "{at}: repeat/loop count is 0; use 1 or more (a step run zero times is a skip: remove it)"
    )]
    ZeroRepeat { at: StepPath },
    #[error(
        "permutation of blocks {range} is not a permutation: {reason} (give each of the range's {len} block indices exactly once)"
    )]
    NotAPermutation {
        range: String,
        len: usize,
        reason: String,
    },
    #[error("schedule text, column {column}: {message}\n  {text}\n  {caret:>width$}", caret = "^", width = *column)]
    Syntax {
        text: String,
        column: usize,
        message: String,
    },
    #[error("schedule JSON, {at}: {message}")]
    Json { at: String, message: String },
    #[error(
        "{at}: parallel branch {branch} is not a single block; the paper-averaged KV cache needs single-block branches (use KvMode::Exact)"
    )]
    AveragedKvNeedsBlocks { at: StepPath, branch: usize },
    #[error(
        "the schedule unrolls to {applications} block applications; at most {max} are allowed (is a repeat count too large?)"
    )]
    TooLarge { applications: usize, max: usize },
    #[error(
        "the schedule nests {depth} levels deep (groups, parallel steps, repeats); at most {max} are allowed"
    )]
    TooDeep { depth: usize, max: usize },
    #[error("paper preset: {0}")]
    Preset(String),
}
