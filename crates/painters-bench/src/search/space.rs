//! Search spaces: the schedules a search may choose from, as edits of the full model.
//!
//! * remove `k` blocks anywhere ([`Space::Remove`]: C(T, k) schedules, searched greedily or by
//!   beam, never enumerated) or as one contiguous slice ([`Space::RemoveSlice`]: T − k + 1);
//! * duplicate a range (RYS-style): blocks `s..s+len` run `times` extra times right after
//!   themselves, for every start `s` and every `len` in a range ([`Space::Duplicate`]);
//! * reorder within a window: every permutation of `w` consecutive blocks ([`Space::Reorder`]);
//! * a list the user gives ([`Space::List`]).
//!
//! Every candidate is a plain [`LayerSchedule`]; its cost is the block applications of one forward
//! pass (compute, and depth for sequential schedules).

use painters::{KvMode, LayerSchedule, Plan};

/// A search space over schedules of a `T`-block model.
#[derive(Clone, Debug, PartialEq)]
pub enum Space {
    /// Remove any `k` blocks; blocks in `keep` are never removed.
    Remove { k: usize, keep: Vec<usize> },
    /// Remove `k` consecutive blocks.
    RemoveSlice { k: usize },
    /// Run blocks `s..s+len` `1 + times` times in a row, for every `len` in `lengths` and every
    /// start `s`.
    Duplicate {
        lengths: std::ops::RangeInclusive<usize>,
        times: usize,
    },
    /// Every reordering of `window` consecutive blocks (the identity left out).
    Reorder { window: usize },
    /// These schedules.
    List(Vec<LayerSchedule>),
}

/// One schedule of a space, with what it costs.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    pub schedule: LayerSchedule,
    /// Its canonical text (the key of its stored results).
    pub text: String,
    /// Block applications of one forward pass.
    pub blocks_applied: usize,
}

impl Candidate {
    pub fn new(schedule: LayerSchedule, layers: usize) -> Result<Self, painters::ScheduleError> {
        let plan = Plan::compile(&schedule, layers, KvMode::Exact)?;
        Ok(Candidate {
            text: schedule.to_string(),
            blocks_applied: plan.stats().block_applications,
            schedule,
        })
    }
}

/// The schedule that runs `blocks` in this order, each once.
pub fn sequence(blocks: &[usize]) -> LayerSchedule {
    LayerSchedule::seq(blocks.iter().map(|&b| LayerSchedule::block(b)))
}

/// The full model without `removed`.
pub fn without(layers: usize, removed: &[usize]) -> LayerSchedule {
    let kept: Vec<usize> = (0..layers).filter(|b| !removed.contains(b)).collect();
    sequence(&kept)
}

/// `n choose k` (saturating), the size of a [`Space::Remove`] space.
pub fn choose(n: usize, k: usize) -> u128 {
    if k > n {
        return 0;
    }
    let k = k.min(n - k);
    let mut r: u128 = 1;
    for i in 0..k {
        r = r.saturating_mul((n - i) as u128) / (i as u128 + 1);
    }
    r
}

/// All permutations of `items` in lexicographic order of positions.
fn permutations(items: &[usize]) -> Vec<Vec<usize>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut out = Vec::new();
    for i in 0..items.len() {
        let mut rest = items.to_vec();
        let first = rest.remove(i);
        for mut p in permutations(&rest) {
            p.insert(0, first);
            out.push(p);
        }
    }
    out
}

impl Space {
    /// How many schedules the space holds (saturating).
    pub fn size(&self, layers: usize) -> u128 {
        match self {
            Space::Remove { k, keep } => choose(layers.saturating_sub(keep.len()), *k),
            Space::RemoveSlice { k } => (layers + 1).saturating_sub(*k) as u128,
            Space::Duplicate { lengths, .. } => lengths
                .clone()
                .filter(|&l| l >= 1 && l <= layers)
                .map(|l| (layers + 1 - l) as u128)
                .sum(),
            Space::Reorder { window } if *window >= 2 && *window <= layers => {
                let perms: u128 = (1..=*window as u128).product();
                (layers + 1 - window) as u128 * (perms - 1)
            }
            Space::Reorder { .. } => 0,
            Space::List(l) => l.len() as u128,
        }
    }

    /// Every schedule of the space, when it is small enough to list (not [`Space::Remove`]).
    pub fn enumerate(&self, layers: usize) -> Option<Vec<LayerSchedule>> {
        let all: Vec<usize> = (0..layers).collect();
        Some(match self {
            Space::Remove { .. } => return None,
            Space::RemoveSlice { k } => (0..(layers + 1).saturating_sub(*k))
                .map(|s| without(layers, &(s..s + k).collect::<Vec<_>>()))
                .collect(),
            Space::Duplicate { lengths, times } => {
                let mut v = Vec::new();
                for len in lengths.clone().filter(|&l| l >= 1 && l <= layers) {
                    for s in 0..=layers - len {
                        let mut order: Vec<usize> = all[..s + len].to_vec();
                        for _ in 0..*times {
                            order.extend(s..s + len);
                        }
                        order.extend(s + len..layers);
                        v.push(sequence(&order));
                    }
                }
                v
            }
            Space::Reorder { window } => {
                let w = *window;
                if w < 2 || w > layers {
                    return Some(Vec::new());
                }
                let mut v = Vec::new();
                for s in 0..=layers - w {
                    for p in permutations(&all[s..s + w]) {
                        if p == all[s..s + w] {
                            continue;
                        }
                        let mut order = all[..s].to_vec();
                        order.extend(p);
                        order.extend(s + w..layers);
                        v.push(sequence(&order));
                    }
                }
                v
            }
            Space::List(l) => l.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spaces_have_the_sizes_they_list() {
        for s in [
            Space::RemoveSlice { k: 3 },
            Space::Duplicate {
                lengths: 1..=6,
                times: 1,
            },
            Space::Reorder { window: 3 },
        ] {
            let l = s.enumerate(30).unwrap();
            assert_eq!(l.len() as u128, s.size(30), "{s:?}");
        }
        assert_eq!(
            Space::Duplicate {
                lengths: 1..=6,
                times: 1
            }
            .size(30),
            165
        );
        assert_eq!(choose(30, 6), 593_775);
        assert_eq!(
            Space::Remove {
                k: 2,
                keep: vec![0, 29]
            }
            .size(30),
            choose(28, 2)
        );
        let d = Space::Duplicate {
            lengths: 2..=2,
            times: 1,
        }
        .enumerate(4)
        .unwrap();
        assert_eq!(d[1].to_string(), sequence(&[0, 1, 2, 1, 2, 3]).to_string());
        assert_eq!(
            without(5, &[1, 3]).to_string(),
            sequence(&[0, 2, 4]).to_string()
        );
    }
}
