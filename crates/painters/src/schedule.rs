//! The `LayerSchedule` algebra: which blocks run, in what order, how often, and how their outputs combine.
//!
//! A schedule is a plain value with no model and no tensors attached, so it can be written once, printed,
//! stored in a results file and compared. It only meets a model when it is [validated](LayerSchedule::validate)
//! against a block count and [compiled](crate::plan::Plan::compile).
//!
//! The algebra has four node kinds:
//!
//! * [`Block`](LayerSchedule::Block): `h ← block_i(h)`, where a block's output already contains the
//!   residual (as HF decoder and encoder layers return it);
//! * [`Seq`](LayerSchedule::Seq): run children one after the other;
//! * [`Repeat`](LayerSchedule::Repeat): run the body `times` times, feeding the output back. Repeating
//!   and looping are the same operator: [`LayerSchedule::repeat`] and [`LayerSchedule::looped`] are two
//!   names for it, one reading naturally for "block 16 eight times", the other for "the parallel step,
//!   three times";
//! * [`Parallel`](LayerSchedule::Parallel): every branch gets the same input; the outputs are merged by
//!   [`Merge::Mean`] (the paper's semantics: the mean of the branches' full outputs, residual included)
//!   or [`Merge::ResidualSum`] (`h + Σ (b_i(h) − h)`, the non-paper "sum of updates" variant).
//!
//! Transformations ([`skip`](LayerSchedule::skip), [`reverse`](LayerSchedule::reverse),
//! [`permute`](LayerSchedule::permute), [`shuffle`](LayerSchedule::shuffle)) act on block *identities*:
//! they rename or drop block occurrences wherever they appear. On the identity schedule this is exactly
//! "reorder the layers"; on a composed schedule it keeps the structure and swaps which weights run.
//!
//! Constructors keep schedules in a canonical form (nested sequences are flattened, `repeat(s, 1) = s`,
//! a one-branch mean is its branch, repeats of repeats multiply), so the algebra's laws hold as plain
//! `==` on values built through them.

use std::collections::BTreeSet;
use std::fmt;
use std::ops::{Range, RangeInclusive};

use crate::error::{PathSegment, ScheduleError, StepPath};
use crate::rng::{self, ShuffleRng};

/// The most block applications a schedule may unroll to: 65 536, where the paper's largest schedules
/// run a few hundred (a 1 000-block model looped 64 times still fits). Bounds what parsing,
/// validation, compilation and execution do for a schedule read from a file or typed on a command
/// line, so that `0x99999999999` is an error, not a hang, and `0..=999999` (10 bytes) cannot make the
/// parser allocate tens of megabytes (found by the `schedule_text` fuzz target).
pub const MAX_APPLICATIONS: usize = 1 << 16;

/// The deepest nesting of groups, parallel steps and repeats a schedule may have. Bounds the
/// recursion of the parsers and of every walk over a schedule.
pub const MAX_NESTING: usize = 64;

/// How a parallel step combines its branches' outputs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Merge {
    /// `mean_i b_i(h)`: the paper's parallel layers. For a pre-LN residual block this is
    /// `h + mean_i Δ_i(h)`: the residual counted once, each update scaled by 1/k.
    #[default]
    Mean,
    /// `h + Σ_i (b_i(h) − h)`: every branch's update added at full weight (CQIL-style parallel).
    ResidualSum,
}

/// A layer schedule over block indices `0..T`. See the [module docs](self).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LayerSchedule {
    /// Run one block.
    Block(usize),
    /// Run the children in order. The empty sequence is the identity (no block runs).
    Seq(Vec<LayerSchedule>),
    /// Run `body` `times` times, feeding each output back as the next input.
    Repeat {
        body: Box<LayerSchedule>,
        times: usize,
    },
    /// Run every branch on the same input and merge the outputs.
    Parallel {
        branches: Vec<LayerSchedule>,
        merge: Merge,
    },
}

/// An inclusive range of block indices, the argument of the range transformations.
///
/// Built from `a..b` or `a..=b`; an empty range makes a transformation a no-op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockRange {
    start: usize,
    /// One past the last block.
    end: usize,
}

impl BlockRange {
    /// The blocks in the range, ascending.
    pub fn blocks(&self) -> Range<usize> {
        self.start..self.end
    }
    pub fn len(&self) -> usize {
        self.end.saturating_sub(self.start)
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn contains(&self, i: usize) -> bool {
        self.start <= i && i < self.end
    }
}

impl fmt::Display for BlockRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            write!(f, "{}..{}", self.start, self.end)
        } else {
            write!(f, "{}..={}", self.start, self.end - 1)
        }
    }
}

impl From<Range<usize>> for BlockRange {
    fn from(r: Range<usize>) -> Self {
        BlockRange {
            start: r.start,
            end: r.end.max(r.start),
        }
    }
}

impl From<RangeInclusive<usize>> for BlockRange {
    fn from(r: RangeInclusive<usize>) -> Self {
        let (s, e) = r.into_inner();
        BlockRange {
            start: s,
            end: if e < s { s } else { e + 1 },
        }
    }
}

impl LayerSchedule {
    // ----- constructors (canonicalising) -----

    /// One block.
    pub fn block(i: usize) -> Self {
        LayerSchedule::Block(i)
    }

    /// Blocks of a range in ascending order, e.g. `range(0..=14)`.
    pub fn range(r: impl Into<BlockRange>) -> Self {
        Self::seq(r.into().blocks().map(LayerSchedule::Block))
    }

    /// The identity schedule of a `layers`-block model: `0, 1, …, T−1`.
    pub fn full(layers: usize) -> Self {
        Self::range(0..layers)
    }

    /// The empty schedule (no block runs): the identity function on hidden states.
    pub fn empty() -> Self {
        LayerSchedule::Seq(Vec::new())
    }

    /// Children in order; nested sequences are flattened, a one-element sequence is its element.
    pub fn seq(parts: impl IntoIterator<Item = LayerSchedule>) -> Self {
        let mut out = Vec::new();
        for p in parts {
            match p {
                LayerSchedule::Seq(inner) => out.extend(inner),
                other => out.push(other),
            }
        }
        if out.len() == 1 {
            out.pop().unwrap_or_else(Self::empty)
        } else {
            LayerSchedule::Seq(out)
        }
    }

    /// Run `body` `times` times in sequence. `repeat(s, 1) = s`; `repeat(repeat(s, a), b) = repeat(s, a·b)`.
    /// A count of 0 is kept so that [`validate`](Self::validate) can report it with its position.
    pub fn repeat(body: LayerSchedule, times: usize) -> Self {
        match (body, times) {
            (b, 1) => b,
            // Repeating the identity is the identity (a count of 0 is still kept for validation).
            (LayerSchedule::Seq(v), t) if v.is_empty() && t > 0 => LayerSchedule::Seq(v),
            (LayerSchedule::Repeat { body, times: inner }, t) if t > 0 => LayerSchedule::Repeat {
                body,
                times: inner.saturating_mul(t),
            },
            (b, t) => LayerSchedule::Repeat {
                body: Box::new(b),
                times: t,
            },
        }
    }

    /// Feed the output of `body` back `k` times. The same operator as [`repeat`](Self::repeat).
    pub fn looped(body: LayerSchedule, k: usize) -> Self {
        Self::repeat(body, k)
    }

    /// The paper's parallel step: every branch gets the same input, the result is the mean of the
    /// branches' full outputs. `parallel_mean([s]) = s`.
    pub fn parallel_mean(branches: impl IntoIterator<Item = LayerSchedule>) -> Self {
        Self::parallel(branches, Merge::Mean)
    }

    /// A parallel step with an explicit [`Merge`].
    pub fn parallel(branches: impl IntoIterator<Item = LayerSchedule>, merge: Merge) -> Self {
        let mut branches: Vec<LayerSchedule> = branches.into_iter().collect();
        if branches.len() == 1 {
            return branches.pop().unwrap_or_else(Self::empty);
        }
        LayerSchedule::Parallel { branches, merge }
    }

    /// One branch per block of the range, merged by mean: `par(a..=b)` in the text syntax.
    pub fn parallel_range(r: impl Into<BlockRange>) -> Self {
        Self::parallel_mean(r.into().blocks().map(LayerSchedule::Block))
    }

    /// Append `next` after `self`.
    pub fn then(self, next: LayerSchedule) -> Self {
        Self::seq([self, next])
    }

    /// Rebuild through the canonicalising constructors (for values built directly from the variants).
    pub fn normalized(&self) -> Self {
        match self {
            LayerSchedule::Block(i) => LayerSchedule::Block(*i),
            LayerSchedule::Seq(v) => Self::seq(v.iter().map(Self::normalized)),
            LayerSchedule::Repeat { body, times } => Self::repeat(body.normalized(), *times),
            LayerSchedule::Parallel { branches, merge } => {
                Self::parallel(branches.iter().map(Self::normalized), *merge)
            }
        }
    }

    // ----- inspection -----

    /// The top-level steps: a sequence's children, or the schedule itself as one step.
    ///
    /// Step `j` here is what fixtures and observers call "schedule step j".
    pub fn steps(&self) -> &[LayerSchedule] {
        match self {
            LayerSchedule::Seq(v) => v,
            other => std::slice::from_ref(other),
        }
    }

    /// The flattened list of block applications in execution order (branches in listed order, repeats unrolled).
    pub fn block_applications(&self) -> Vec<usize> {
        let mut out = Vec::new();
        self.for_each_application(&mut |i| out.push(i));
        out
    }

    fn for_each_application(&self, f: &mut impl FnMut(usize)) {
        match self {
            LayerSchedule::Block(i) => f(*i),
            LayerSchedule::Seq(v) => v.iter().for_each(|s| s.for_each_application(f)),
            LayerSchedule::Repeat { body, times } => {
                // A body without blocks (only constructible by hand) must not loop `times` times.
                if body.application_count() > 0 {
                    for _ in 0..*times {
                        body.for_each_application(f)
                    }
                }
            }
            LayerSchedule::Parallel { branches, .. } => {
                branches.iter().for_each(|s| s.for_each_application(f))
            }
        }
    }

    /// The distinct blocks the schedule uses. Visits each repeat body once, so it is cheap even for
    /// schedules that would unroll to more than [`MAX_APPLICATIONS`].
    pub fn blocks_used(&self) -> BTreeSet<usize> {
        fn walk(s: &LayerSchedule, set: &mut BTreeSet<usize>) {
            match s {
                LayerSchedule::Block(i) => {
                    set.insert(*i);
                }
                LayerSchedule::Seq(v) | LayerSchedule::Parallel { branches: v, .. } => {
                    v.iter().for_each(|c| walk(c, set))
                }
                LayerSchedule::Repeat { body, .. } => walk(body, set),
            }
        }
        let mut set = BTreeSet::new();
        walk(self, &mut set);
        set
    }

    /// How many block applications the schedule unrolls to, saturating at `usize::MAX`; computed
    /// without unrolling.
    pub fn application_count(&self) -> usize {
        match self {
            LayerSchedule::Block(_) => 1,
            LayerSchedule::Seq(v) | LayerSchedule::Parallel { branches: v, .. } => v
                .iter()
                .fold(0usize, |n, c| n.saturating_add(c.application_count())),
            LayerSchedule::Repeat { body, times } => {
                body.application_count().saturating_mul(*times)
            }
        }
    }

    /// Nesting depth: 0 for a block, 1 + the deepest child for the other nodes.
    pub fn nesting(&self) -> usize {
        match self {
            LayerSchedule::Block(_) => 0,
            LayerSchedule::Seq(v) | LayerSchedule::Parallel { branches: v, .. } => {
                1 + v.iter().map(Self::nesting).max().unwrap_or(0)
            }
            LayerSchedule::Repeat { body, .. } => 1 + body.nesting(),
        }
    }

    /// Check the schedule against a model with `num_blocks` blocks.
    ///
    /// Reports the first problem in execution order, naming its step path.
    pub fn validate(&self, num_blocks: usize) -> Result<(), ScheduleError> {
        let depth = self.nesting();
        if depth > MAX_NESTING {
            return Err(ScheduleError::TooDeep {
                depth,
                max: MAX_NESTING,
            });
        }
        self.validate_at(num_blocks, &StepPath::default(), true)?;
        let applications = self.application_count();
        if applications > MAX_APPLICATIONS {
            return Err(ScheduleError::TooLarge {
                applications,
                max: MAX_APPLICATIONS,
            });
        }
        Ok(())
    }

    fn validate_at(&self, t: usize, at: &StepPath, top: bool) -> Result<(), ScheduleError> {
        match self {
            LayerSchedule::Block(i) => {
                if *i >= t {
                    // A bare block at the top level is step 0.
                    let at = if top {
                        at.push(PathSegment::Step(0))
                    } else {
                        at.clone()
                    };
                    return Err(ScheduleError::BlockOutOfRange {
                        at,
                        block: *i,
                        num_blocks: t,
                    });
                }
                Ok(())
            }
            LayerSchedule::Seq(v) => {
                for (j, s) in v.iter().enumerate() {
                    s.validate_at(t, &at.push(PathSegment::Step(j)), false)?;
                }
                Ok(())
            }
            LayerSchedule::Repeat { body, times } => {
                let at = if top {
                    at.push(PathSegment::Step(0))
                } else {
                    at.clone()
                };
                if *times == 0 {
                    return Err(ScheduleError::ZeroRepeat { at });
                }
                body.validate_at(t, &at.push(PathSegment::Body), false)
            }
            LayerSchedule::Parallel { branches, .. } => {
                let at = if top {
                    at.push(PathSegment::Step(0))
                } else {
                    at.clone()
                };
                if branches.is_empty() {
                    return Err(ScheduleError::EmptyParallel { at });
                }
                for (b, s) in branches.iter().enumerate() {
                    s.validate_at(t, &at.push(PathSegment::Branch(b)), false)?;
                }
                Ok(())
            }
        }
    }

    // ----- transformations -----

    /// Rename every block occurrence through `f` (`None` drops it), then re-canonicalise.
    ///
    /// Parallel branches and repeat bodies that become empty disappear with the blocks they held, so
    /// skipping every member of a parallel step removes the step.
    pub fn map_blocks(&self, f: &mut impl FnMut(usize) -> Option<usize>) -> LayerSchedule {
        self.map_opt(f).unwrap_or_else(Self::empty)
    }

    fn map_opt(&self, f: &mut impl FnMut(usize) -> Option<usize>) -> Option<LayerSchedule> {
        match self {
            LayerSchedule::Block(i) => f(*i).map(LayerSchedule::Block),
            LayerSchedule::Seq(v) => {
                let had = !v.is_empty();
                let parts: Vec<_> = v.iter().filter_map(|s| s.map_opt(f)).collect();
                if had && parts.is_empty() {
                    None
                } else {
                    Some(Self::seq(parts))
                }
            }
            LayerSchedule::Repeat { body, times } => {
                body.map_opt(f).map(|b| Self::repeat(b, *times))
            }
            LayerSchedule::Parallel { branches, merge } => {
                let had = !branches.is_empty();
                let kept: Vec<_> = branches.iter().filter_map(|s| s.map_opt(f)).collect();
                if had && kept.is_empty() {
                    None
                } else {
                    Some(Self::parallel(kept, *merge))
                }
            }
        }
    }

    /// Drop every occurrence of the given blocks.
    pub fn skip(&self, blocks: impl IntoIterator<Item = usize>) -> LayerSchedule {
        let set: BTreeSet<usize> = blocks.into_iter().collect();
        self.map_blocks(&mut |i| (!set.contains(&i)).then_some(i))
    }

    /// Reverse the blocks of a range: block `lo + k` becomes block `hi − k`.
    pub fn reverse(&self, range: impl Into<BlockRange>) -> LayerSchedule {
        let r = range.into();
        if r.is_empty() {
            return self.clone();
        }
        let (lo, hi) = (r.start, r.end - 1);
        self.map_blocks(&mut |i| Some(if r.contains(i) { lo + hi - i } else { i }))
    }

    /// Reorder the blocks of a range: `order` lists the range's block indices in their new order, so on
    /// the identity schedule position `range.start + k` runs block `order[k]`.
    pub fn permute(
        &self,
        range: impl Into<BlockRange>,
        order: &[usize],
    ) -> Result<LayerSchedule, ScheduleError> {
        let r = range.into();
        check_permutation(r, order)?;
        Ok(self.map_blocks(&mut |i| Some(if r.contains(i) { order[i - r.start] } else { i })))
    }

    /// Reorder the blocks of a range by a seeded random permutation.
    ///
    /// [`ShuffleRng::Python`] reproduces `random.seed(s); random.shuffle(list(range))` of CPython, which
    /// is how the paper's authors drew their random layer orders; [`ShuffleRng::ChaCha`] is the library's
    /// own portable default.
    pub fn shuffle(&self, range: impl Into<BlockRange>, rng: ShuffleRng) -> LayerSchedule {
        let r = range.into();
        let mut order: Vec<usize> = r.blocks().collect();
        rng::shuffle(&mut order, rng);
        // A shuffle of the range's own indices is a permutation by construction.
        self.map_blocks(&mut |i| Some(if r.contains(i) { order[i - r.start] } else { i }))
    }
}

fn check_permutation(r: BlockRange, order: &[usize]) -> Result<(), ScheduleError> {
    let err = |reason: String| ScheduleError::NotAPermutation {
        range: r.to_string(),
        len: r.len(),
        reason,
    };
    if order.len() != r.len() {
        return Err(err(format!("{} indices given", order.len())));
    }
    let mut seen = vec![false; r.len()];
    for &i in order {
        if !r.contains(i) {
            return Err(err(format!("{i} is outside the range")));
        }
        if std::mem::replace(&mut seen[i - r.start], true) {
            return Err(err(format!("{i} appears twice")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use LayerSchedule as S;

    #[test]
    fn constructors_canonicalise() {
        assert_eq!(S::seq([S::range(0..2), S::block(2)]), S::full(3));
        assert_eq!(S::repeat(S::block(4), 1), S::block(4));
        assert_eq!(S::parallel_mean([S::range(1..=3)]), S::range(1..=3));
        assert_eq!(
            S::repeat(S::repeat(S::block(1), 2), 3),
            S::repeat(S::block(1), 6)
        );
        #[allow(clippy::reversed_empty_ranges)] // an empty range is what is being tested
        let empty = S::range(5..=4);
        assert_eq!(empty, S::empty());
    }

    #[test]
    fn reverse_twice_is_identity() {
        let s = S::seq([
            S::range(0..=3),
            S::looped(S::parallel_range(4..=6), 3),
            S::range(7..10),
        ]);
        for r in [0..=9, 2..=7, 4..=6, 3..=3] {
            assert_eq!(s.reverse(r.clone()).reverse(r), s);
        }
        assert_eq!(
            S::full(6).reverse(1..=4).block_applications(),
            vec![0, 4, 3, 2, 1, 5]
        );
    }

    #[test]
    fn skip_drops_occurrences_everywhere() {
        let s = S::seq([
            S::block(0),
            S::repeat(S::block(3), 2),
            S::parallel_range(1..=3),
        ]);
        assert_eq!(s.skip([3]), S::seq([S::block(0), S::parallel_range(1..=2)]));
        assert_eq!(s.skip([1, 2, 3]), S::block(0));
        assert_eq!(S::full(4).skip(0..4), S::empty());
    }

    #[test]
    fn permute_checks_its_argument() {
        let s = S::full(6);
        assert_eq!(
            s.permute(1..=4, &[3, 1, 4, 2])
                .unwrap()
                .block_applications(),
            vec![0, 3, 1, 4, 2, 5]
        );
        for bad in [&[1, 2, 3][..], &[1, 2, 3, 3], &[1, 2, 3, 9]] {
            assert!(matches!(
                s.permute(1..=4, bad),
                Err(ScheduleError::NotAPermutation { .. })
            ));
        }
    }

    #[test]
    fn validate_names_the_step() {
        let s = S::seq([
            S::block(0),
            S::parallel_mean([S::block(1), S::seq([S::block(2), S::block(9)])]),
        ]);
        let e = s.validate(4).unwrap_err();
        assert_eq!(
            e.to_string().split(':').next().unwrap(),
            "step 1 > branch 1 > step 1"
        );
        assert!(matches!(
            e,
            ScheduleError::BlockOutOfRange {
                block: 9,
                num_blocks: 4,
                ..
            }
        ));
        let e = S::seq([
            S::block(0),
            S::Parallel {
                branches: vec![],
                merge: Merge::Mean,
            },
        ])
        .validate(4)
        .unwrap_err();
        assert!(matches!(e, ScheduleError::EmptyParallel { .. }), "{e}");
        let e = S::seq([S::block(0), S::repeat(S::block(1), 0)])
            .validate(4)
            .unwrap_err();
        assert_eq!(e.to_string().split(':').next().unwrap(), "step 1");
        assert!(
            S::block(7)
                .validate(4)
                .unwrap_err()
                .to_string()
                .starts_with("step 0")
        );
        assert!(S::full(4).validate(4).is_ok());
    }
}
