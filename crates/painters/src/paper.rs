//! Presets for every variant of "Transformer Layers as Painters" (Sun, Pickett, Nain, Jones;
//! arXiv 2407.09298, AAAI-25), as the authors' code defines them.
//!
//! The paper's prose is inconsistent about indices ("first and last N−1 layers", "skipping layers N+1
//! through T−N"); its code (github.com/floatingbigcat/transformer_layers_as_painters,
//! `gpt/routing_llama.py` and `bert/modeling_bert.py`) is the ground truth and this module follows it:
//!
//! * T blocks, N = `start_layer` (0-based);
//! * blocks `0..=N` (N+1 blocks) always run first, blocks `T−N..T` (N blocks) always run last;
//! * the M = T − 2N − 1 blocks `N+1..=T−N−1` are the affected middle. M is the x-axis of the paper's
//!   plots ("number of affected layers"), so [`Middle::from_m`] addresses the middle by M as well.
//!
//! Every preset is built from the [`LayerSchedule`] algebra; none is a separate code path.

use std::fmt;
use std::str::FromStr;

use crate::error::ScheduleError;
use crate::rng::ShuffleRng;
use crate::schedule::LayerSchedule;

/// The split of T blocks into the kept first part, the affected middle and the kept last part.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Middle {
    layers: usize,
    n: usize,
}

impl Middle {
    /// The split for start layer N: requires `M = T − 2N − 1 ≥ 1`, i.e. `N ≤ (T − 2) / 2`.
    pub fn from_n(layers: usize, n: usize) -> Result<Self, ScheduleError> {
        if layers < 2 || 2 * n + 1 >= layers {
            return Err(ScheduleError::Preset(format!(
                "start layer N={n} leaves no middle in a {layers}-block model (need T − 2N − 1 ≥ 1, so N ≤ {})",
                layers.saturating_sub(2) / 2
            )));
        }
        Ok(Middle { layers, n })
    }

    /// The split with M affected blocks: `N = (T − M − 1) / 2`, so M must have the parity of T − 1.
    pub fn from_m(layers: usize, m: usize) -> Result<Self, ScheduleError> {
        if m == 0 || m >= layers || !(layers - m - 1).is_multiple_of(2) {
            let parity = if layers.is_multiple_of(2) {
                "odd"
            } else {
                "even"
            };
            return Err(ScheduleError::Preset(format!(
                "M={m} affected blocks is not possible with T={layers}: M must be {parity} and between 1 and {}",
                layers.saturating_sub(1)
            )));
        }
        Self::from_n(layers, (layers - m - 1) / 2)
    }

    pub fn layers(&self) -> usize {
        self.layers
    }
    /// N, the authors' `start_layer`.
    pub fn n(&self) -> usize {
        self.n
    }
    /// M = T − 2N − 1, the number of affected blocks.
    pub fn m(&self) -> usize {
        self.layers - 2 * self.n - 1
    }
    /// Blocks `0..=N`.
    pub fn first(&self) -> LayerSchedule {
        LayerSchedule::range(0..=self.n)
    }
    /// The affected blocks `N+1..=T−N−1`, in order.
    pub fn middle_range(&self) -> std::ops::RangeInclusive<usize> {
        self.n + 1..=self.layers - self.n - 1
    }
    /// Blocks `T−N..T`.
    pub fn last(&self) -> LayerSchedule {
        LayerSchedule::range(self.layers - self.n..self.layers)
    }
    /// `first, body, last`.
    pub fn wrap(&self, body: LayerSchedule) -> LayerSchedule {
        LayerSchedule::seq([self.first(), body, self.last()])
    }
}

/// A variant of the paper. Parameters that are not N (seed, loop count) live in the variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Variant {
    /// `baseline`: every block once, in order.
    Full,
    /// `skip`: the middle is dropped.
    Skip,
    /// `middle_repeat`: the centre block `T/2` runs M times in place of the middle.
    MiddleRepeat,
    /// `reverse`: the middle in reverse order.
    Reverse,
    /// `random`: the middle shuffled by CPython's `random.seed(seed); random.shuffle(middle)`.
    Random { seed: i128 },
    /// `loop_parallel` with 1 iteration: every middle block on the same input, outputs averaged.
    Parallel,
    /// `loop_parallel`: the parallel step iterated `loops` times.
    LoopedParallel { loops: usize },
    /// `skip_idx_layer`: drop block N only (Fig. 2).
    SkipOne,
    /// `switch_idx_layer`: swap blocks N and N+1 (Fig. 2).
    Switch,
}

impl Variant {
    /// Every preset name accepted by [`Variant::parse`], for help texts.
    pub const NAMES: [&'static str; 9] = [
        "full",
        "skip",
        "middle_repeat",
        "reverse",
        "random",
        "parallel",
        "looped_parallel",
        "skip_one",
        "switch",
    ];

    /// The preset's name; the authors' method names are accepted as aliases by [`Variant::parse`].
    pub fn name(&self) -> &'static str {
        match self {
            Variant::Full => "full",
            Variant::Skip => "skip",
            Variant::MiddleRepeat => "middle_repeat",
            Variant::Reverse => "reverse",
            Variant::Random { .. } => "random",
            Variant::Parallel => "parallel",
            Variant::LoopedParallel { .. } => "looped_parallel",
            Variant::SkipOne => "skip_one",
            Variant::Switch => "switch",
        }
    }

    /// A variant by name, with its parameters (`seed` for random, `loops` for looped_parallel).
    pub fn parse(name: &str, seed: i128, loops: usize) -> Result<Self, ScheduleError> {
        Ok(match name.to_ascii_lowercase().replace('-', "_").as_str() {
            "full" | "identity" | "baseline" => Variant::Full,
            "skip" => Variant::Skip,
            "middle_repeat" | "repeat" => Variant::MiddleRepeat,
            "reverse" | "reversed" => Variant::Reverse,
            "random" | "shuffle" => Variant::Random { seed },
            "parallel" => Variant::Parallel,
            "looped_parallel" | "loop_parallel" => Variant::LoopedParallel { loops },
            "skip_one" | "skip_idx_layer" => Variant::SkipOne,
            "switch" | "switch_idx_layer" => Variant::Switch,
            other => {
                return Err(ScheduleError::Preset(format!(
                    "unknown preset `{other}`; known: {}",
                    Self::NAMES.join(", ")
                )));
            }
        })
    }

    /// Whether the variant is defined through the middle (and so can be addressed by M).
    pub fn uses_middle(&self) -> bool {
        !matches!(self, Variant::Full | Variant::SkipOne | Variant::Switch)
    }

    /// The schedule of this variant for a `layers`-block model with start layer `n`.
    ///
    /// For [`SkipOne`](Variant::SkipOne) and [`Switch`](Variant::Switch) `n` is the block index; for
    /// [`Full`](Variant::Full) it is ignored.
    pub fn schedule(&self, layers: usize, n: usize) -> Result<LayerSchedule, ScheduleError> {
        let full = LayerSchedule::full(layers);
        match *self {
            Variant::Full => Ok(full),
            Variant::SkipOne => {
                if n >= layers {
                    return Err(ScheduleError::Preset(format!(
                        "skip_one: block {n} does not exist in a {layers}-block model"
                    )));
                }
                Ok(full.skip([n]))
            }
            Variant::Switch => {
                if n + 1 >= layers {
                    return Err(ScheduleError::Preset(format!(
                        "switch: blocks {n} and {} do not both exist in a {layers}-block model",
                        n + 1
                    )));
                }
                full.permute(n..=n + 1, &[n + 1, n])
            }
            _ => Ok(self.on_middle(Middle::from_n(layers, n)?)),
        }
    }

    /// The schedule of a middle-based variant for a given split.
    pub fn on_middle(&self, mid: Middle) -> LayerSchedule {
        let full = LayerSchedule::full(mid.layers());
        let r = mid.middle_range();
        match *self {
            Variant::Full | Variant::SkipOne | Variant::Switch => full,
            Variant::Skip => full.skip(r),
            Variant::MiddleRepeat => mid.wrap(LayerSchedule::repeat(
                LayerSchedule::block(mid.layers() / 2),
                mid.m(),
            )),
            Variant::Reverse => full.reverse(r),
            Variant::Random { seed } => full.shuffle(r, ShuffleRng::Python(seed)),
            Variant::Parallel => mid.wrap(LayerSchedule::parallel_range(r)),
            Variant::LoopedParallel { loops } => mid.wrap(LayerSchedule::looped(
                LayerSchedule::parallel_range(r),
                loops,
            )),
        }
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Variant::Random { seed } => write!(f, "random(seed={seed})"),
            Variant::LoopedParallel { loops } => write!(f, "looped_parallel(loops={loops})"),
            other => f.write_str(other.name()),
        }
    }
}

impl FromStr for Variant {
    type Err = ScheduleError;
    /// Parses a bare name with default parameters (seed 0, 3 loops as in the paper's "3X").
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Variant::parse(s, 0, 3)
    }
}

/// `full`, the identity schedule.
pub fn full(layers: usize) -> LayerSchedule {
    LayerSchedule::full(layers)
}

/// `skip` at start layer N.
pub fn skip(layers: usize, n: usize) -> Result<LayerSchedule, ScheduleError> {
    Variant::Skip.schedule(layers, n)
}

/// `middle_repeat` at start layer N.
pub fn middle_repeat(layers: usize, n: usize) -> Result<LayerSchedule, ScheduleError> {
    Variant::MiddleRepeat.schedule(layers, n)
}

/// `reverse` at start layer N.
pub fn reverse(layers: usize, n: usize) -> Result<LayerSchedule, ScheduleError> {
    Variant::Reverse.schedule(layers, n)
}

/// `random` at start layer N with the authors' Python-compatible shuffle.
pub fn random(layers: usize, n: usize, seed: i128) -> Result<LayerSchedule, ScheduleError> {
    Variant::Random { seed }.schedule(layers, n)
}

/// `parallel` at start layer N.
pub fn parallel(layers: usize, n: usize) -> Result<LayerSchedule, ScheduleError> {
    Variant::Parallel.schedule(layers, n)
}

/// `looped_parallel(k)` at start layer N.
pub fn looped_parallel(
    layers: usize,
    n: usize,
    loops: usize,
) -> Result<LayerSchedule, ScheduleError> {
    Variant::LoopedParallel { loops }.schedule(layers, n)
}

/// `skip_one(i)`: drop block i.
pub fn skip_one(layers: usize, i: usize) -> Result<LayerSchedule, ScheduleError> {
    Variant::SkipOne.schedule(layers, i)
}

/// `switch(i)`: swap blocks i and i+1.
pub fn switch(layers: usize, i: usize) -> Result<LayerSchedule, ScheduleError> {
    Variant::Switch.schedule(layers, i)
}
