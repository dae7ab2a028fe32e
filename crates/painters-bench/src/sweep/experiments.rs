//! The paper's experiments as named lists of schedule points, built from the presets in
//! [`painters::paper`].
//!
//! Every list starts with the full model (`full`, the identity schedule): it is the baseline every
//! figure compares against and the "1" of the normalized scores. For a T-block model the start layer
//! N runs over every value that leaves a middle (`0..=(T−2)/2`, so M = T − 2N − 1 = T−1, T−3, …, 1 or
//! 2); `skip_one` and `switch` run over every block index.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use super::SweepError;
use super::store::PointMeta;
use painters::LayerSchedule;
use painters::paper::{Middle, Variant};

/// One schedule of a sweep with what it means in the paper's terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchedulePoint {
    /// Unique within a sweep: `full`, `skip/n=3`, `random/n=3/seed=2`, `looped_parallel/n=3/loops=3`,
    /// `skip_one/i=4`, `switch/i=4`.
    pub label: String,
    /// The preset name ([`Variant::name`]).
    pub variant: String,
    /// Start layer N; the block index for `skip_one` and `switch`; `None` for `full`.
    pub n: Option<usize>,
    /// Affected middle blocks M = T − 2N − 1 (middle-based variants only).
    pub m: Option<usize>,
    /// Seed of `random`.
    pub seed: Option<i64>,
    /// Loop count K of `parallel` (1) and `looped_parallel`.
    pub loops: Option<usize>,
    pub schedule: LayerSchedule,
}

impl SchedulePoint {
    /// The full model: the identity schedule.
    pub fn full(layers: usize) -> Self {
        SchedulePoint {
            label: "full".into(),
            variant: Variant::Full.name().into(),
            n: None,
            m: None,
            seed: None,
            loops: None,
            schedule: LayerSchedule::full(layers),
        }
    }

    /// The point of `variant` at start layer (or block index) `n`.
    pub fn of(variant: Variant, layers: usize, n: usize) -> Result<Self, SweepError> {
        let schedule = variant.schedule(layers, n)?;
        let m = if variant.uses_middle() {
            Some(Middle::from_n(layers, n)?.m())
        } else {
            None
        };
        let (seed, loops, label) = match variant {
            Variant::Full => return Ok(Self::full(layers)),
            Variant::SkipOne | Variant::Switch => (None, None, format!("{}/i={n}", variant.name())),
            Variant::Random { seed } => {
                let seed = i64::try_from(seed).map_err(|_| {
                    SweepError::Experiment(format!("random seed {seed} does not fit in 64 bits"))
                })?;
                (Some(seed), None, format!("random/n={n}/seed={seed}"))
            }
            Variant::Parallel => (None, Some(1), format!("parallel/n={n}")),
            Variant::LoopedParallel { loops } => (
                None,
                Some(loops),
                format!("looped_parallel/n={n}/loops={loops}"),
            ),
            _ => (None, None, format!("{}/n={n}", variant.name())),
        };
        Ok(SchedulePoint {
            label,
            variant: variant.name().into(),
            n: Some(n),
            m,
            seed,
            loops,
            schedule,
        })
    }

    /// The point's description without the schedule (what result files and tables carry).
    pub fn meta(&self) -> PointMeta {
        PointMeta {
            label: self.label.clone(),
            variant: self.variant.clone(),
            n: self.n,
            m: self.m,
            seed: self.seed,
            loops: self.loops,
        }
    }
}

/// A named experiment of the paper.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Experiment {
    /// Fig. 2: drop one block, for every block index.
    SkipOne,
    /// Fig. 2: swap blocks i and i+1, for every i.
    Switch,
    /// Fig. 4: skip the middle, every N.
    Skip,
    /// Fig. 5: repeat the centre block M times, every N.
    MiddleRepeat,
    /// Fig. 6: reverse the middle, every N.
    Reverse,
    /// Fig. 7: shuffle the middle, every N, `seeds` seeds (0, 1, …).
    Random,
    /// Fig. 8: the middle in parallel (averaged), every N.
    Parallel,
    /// Fig. 9: the parallel middle looped `loops` (3) times, every N.
    LoopedParallel,
    /// Fig. 10: looped parallel over every N × K = 1..=`max_loops`.
    Grid,
    /// Fig. 11: skip, middle_repeat, reverse, random, parallel and looped_parallel, every N.
    Summary,
    /// Every experiment above.
    All,
}

impl Experiment {
    pub const NAMES: [&'static str; 11] = [
        "skip_one",
        "switch",
        "skip",
        "middle_repeat",
        "reverse",
        "random",
        "parallel",
        "looped_parallel",
        "grid",
        "summary",
        "all",
    ];
    const ALL: [Experiment; 11] = [
        Experiment::SkipOne,
        Experiment::Switch,
        Experiment::Skip,
        Experiment::MiddleRepeat,
        Experiment::Reverse,
        Experiment::Random,
        Experiment::Parallel,
        Experiment::LoopedParallel,
        Experiment::Grid,
        Experiment::Summary,
        Experiment::All,
    ];

    pub fn name(&self) -> &'static str {
        Self::NAMES[*self as usize]
    }

    /// The experiments this one stands for: itself, or the list that `summary` and `all` name.
    fn leaves(self) -> Vec<Experiment> {
        match self {
            // Skip, MiddleRepeat, Reverse, Random, Parallel, LoopedParallel.
            Experiment::Summary => Self::ALL[2..8].to_vec(),
            Experiment::All => Self::ALL[..Self::ALL.len() - 2].to_vec(),
            leaf => vec![leaf],
        }
    }

    /// The schedule points of this experiment for a `layers`-block model, the full model first.
    pub fn points(
        &self,
        layers: usize,
        opts: &ExperimentOptions,
    ) -> Result<Vec<SchedulePoint>, SweepError> {
        sweep_points(&[*self], layers, opts)
    }

    /// The points of a leaf experiment (not `summary` or `all`) after the full model, built one at
    /// a time as the iterator is read.
    fn leaf_points(
        self,
        layers: usize,
        opts: ExperimentOptions,
    ) -> Box<dyn Iterator<Item = Result<SchedulePoint, SweepError>>> {
        let last_n = layers.saturating_sub(2) / 2;
        let ns = 0..=last_n;
        let each_n = move |v: Variant| -> Box<dyn Iterator<Item = _>> {
            Box::new((0..=last_n).map(move |n| SchedulePoint::of(v, layers, n)))
        };
        match self {
            Experiment::SkipOne => {
                Box::new((0..layers).map(move |i| SchedulePoint::of(Variant::SkipOne, layers, i)))
            }
            Experiment::Switch => Box::new(
                (0..layers.saturating_sub(1))
                    .map(move |i| SchedulePoint::of(Variant::Switch, layers, i)),
            ),
            Experiment::Skip => each_n(Variant::Skip),
            Experiment::MiddleRepeat => each_n(Variant::MiddleRepeat),
            Experiment::Reverse => each_n(Variant::Reverse),
            Experiment::Random => Box::new(ns.flat_map(move |n| {
                (0..opts.seeds).map(move |seed| {
                    SchedulePoint::of(Variant::Random { seed: seed as i128 }, layers, n)
                })
            })),
            Experiment::Parallel => each_n(Variant::Parallel),
            Experiment::LoopedParallel => each_n(Variant::LoopedParallel { loops: opts.loops }),
            Experiment::Grid => Box::new(ns.flat_map(move |n| {
                (1..=opts.max_loops).map(move |loops| {
                    SchedulePoint::of(Variant::LoopedParallel { loops }, layers, n)
                })
            })),
            Experiment::Summary | Experiment::All => Box::new(std::iter::empty()),
        }
    }
}

impl fmt::Display for Experiment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Experiment {
    type Err = SweepError;
    fn from_str(s: &str) -> Result<Self, SweepError> {
        let key = s.trim().to_ascii_lowercase().replace('-', "_");
        let alias = match key.as_str() {
            "loop_parallel" => "looped_parallel",
            "fig10" | "heatmap" => "grid",
            "fig11" => "summary",
            "skip_idx_layer" => "skip_one",
            "switch_idx_layer" => "switch",
            "repeat" => "middle_repeat",
            other => other,
        };
        Self::NAMES
            .iter()
            .position(|n| *n == alias)
            .map(|i| Self::ALL[i])
            .ok_or_else(|| SweepError::UnknownExperiment(s.to_string()))
    }
}

/// Parameters of the experiments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExperimentOptions {
    /// Seeds of `random` (0..seeds); the paper averages 10.
    pub seeds: usize,
    /// Largest K of `grid` (the paper's Fig. 10 goes to 28).
    pub max_loops: usize,
    /// K of `looped_parallel` (the paper's "3X").
    pub loops: usize,
    /// The most points a sweep may have (`--max-points`); a sweep of more is refused, counted
    /// before any point is built ([`count_points`]).
    pub max_points: usize,
}

/// The default [`ExperimentOptions::max_points`]: about 15 times the paper's whole set of
/// experiments on a 32-block model (`all` with 10 seeds and K up to 28: 686 points).
pub const MAX_POINTS: usize = 10_000;

impl Default for ExperimentOptions {
    fn default() -> Self {
        ExperimentOptions {
            seeds: 10,
            max_loops: 28,
            loops: 3,
            max_points: MAX_POINTS,
        }
    }
}

/// The leaf experiments `experiments` name, each once.
fn leaves(experiments: &[Experiment]) -> BTreeSet<Experiment> {
    experiments.iter().flat_map(|e| e.leaves()).collect()
}

/// How many distinct points [`sweep_points`] would build, computed from the counts alone (no point
/// is built); `None` beyond `u128`. Every point's label is unique to its variant and parameters, so
/// the union of experiments is a sum per variant, with `looped_parallel`'s K counted once when
/// `grid` covers it.
pub fn count_points(
    experiments: &[Experiment],
    layers: usize,
    opts: &ExperimentOptions,
) -> Option<u128> {
    let leaves = leaves(experiments);
    let t = layers as u128;
    let ns = (layers.saturating_sub(2) / 2) as u128 + 1;
    let mut count: u128 = 1;
    for e in &leaves {
        let add = match e {
            Experiment::SkipOne => t,
            Experiment::Switch => t.saturating_sub(1),
            Experiment::Skip
            | Experiment::MiddleRepeat
            | Experiment::Reverse
            | Experiment::Parallel => ns,
            Experiment::Random => ns.checked_mul(opts.seeds as u128)?,
            Experiment::Grid => ns.checked_mul(opts.max_loops as u128)?,
            Experiment::LoopedParallel => {
                let in_grid = leaves.contains(&Experiment::Grid)
                    && (1..=opts.max_loops).contains(&opts.loops);
                if in_grid { 0 } else { ns }
            }
            Experiment::Summary | Experiment::All => 0,
        };
        count = count.checked_add(add)?;
    }
    Some(count)
}

/// The union of several experiments' points, each label once, in first-seen order (so the full
/// model comes first). The points are counted first ([`count_points`]): a sweep of more than
/// `opts.max_points` is refused before any point is built, and the rest are built one at a time.
pub fn sweep_points(
    experiments: &[Experiment],
    layers: usize,
    opts: &ExperimentOptions,
) -> Result<Vec<SchedulePoint>, SweepError> {
    if layers < 2 {
        return Err(SweepError::Experiment(format!(
            "a {layers}-block model has no middle to sweep"
        )));
    }
    let leaves = leaves(experiments);
    for (experiment, flag, value) in [
        (Experiment::Random, "--seeds", opts.seeds),
        (Experiment::Grid, "--max-loops", opts.max_loops),
        (Experiment::LoopedParallel, "--loops", opts.loops),
    ] {
        if value == 0 && leaves.contains(&experiment) {
            return Err(SweepError::Experiment(format!(
                "{flag} 0: the {experiment} experiment needs at least 1"
            )));
        }
    }
    let count = count_points(experiments, layers, opts);
    if count.is_none_or(|c| c > opts.max_points as u128) {
        return Err(SweepError::TooManyPoints {
            count: count.unwrap_or(u128::MAX),
            limit: opts.max_points,
            experiments: experiments
                .iter()
                .map(|e| e.name())
                .collect::<Vec<_>>()
                .join(", "),
            layers,
        });
    }
    let mut seen = BTreeSet::new();
    let mut out = vec![SchedulePoint::full(layers)];
    seen.insert(out[0].label.clone());
    for e in experiments.iter().flat_map(|e| e.leaves()) {
        for p in e.leaf_points(layers, *opts) {
            let p = p?;
            if seen.insert(p.label.clone()) {
                out.push(p);
            }
        }
    }
    Ok(out)
}
