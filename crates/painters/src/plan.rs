//! Compilation of a schedule into a flat, inspectable execution plan.
//!
//! The plan is what the executor runs and what users inspect (`painters schedule` prints it): loops
//! are unrolled, every executed block occurrence has its own KV-cache slot, and parallel steps become
//! `Fork … NextBranch … Join` brackets. Keeping it flat (rather than walking the schedule tree at run
//! time) makes the cost figures exact, gives every op a stable index, and lets later passes (batched
//! parallel steps, shared-prefix reuse in sweeps) work on a plain list.

use std::fmt;

use crate::error::{PathSegment, ScheduleError, StepPath};
use crate::schedule::{LayerSchedule, Merge};

/// Index of a KV-cache slot in a [`KvCache`](crate::cache::KvCache).
pub type SlotId = usize;

/// How a parallel step's members use the KV cache during incremental decoding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum KvMode {
    /// One slot per executed block occurrence: cached generation equals recomputing without a cache.
    #[default]
    Exact,
    /// The paper authors' approximation: one slot per loop iteration of a parallel step, holding the
    /// element-wise mean of the members' keys and values. Each member attends over that averaged past
    /// plus its own current keys/values. Reproduces their cached (GSM8K) numbers; not exact.
    PaperAveraged,
}

/// Where a block writes the keys/values it computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KvWrite {
    /// Append them to its own slot.
    Own,
    /// Contribute them to the slot's pooled mean, appended when the enclosing parallel step joins.
    Pooled,
}

/// One operation of a plan. `h` is the running hidden state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// `h ← block(h)`, reading past keys/values from `slot`.
    Apply {
        block: usize,
        slot: SlotId,
        write: KvWrite,
    },
    /// Start a parallel step of `branches` branches: remember `h` as every branch's input.
    Fork { branches: usize },
    /// End of one branch: keep its output, restart from the step's input.
    NextBranch,
    /// End of the last branch: merge the branch outputs into `h`. With the paper-averaged cache,
    /// `pooled` is the slot that receives the mean of the members' keys/values.
    Join {
        branches: usize,
        merge: Merge,
        pooled: Option<SlotId>,
    },
    /// `h` is now the output of top-level schedule step `step` (observers see it here).
    EndStep { step: usize },
}

/// A parallel step whose branches are all single block applications (`par(3, 5, 7)`, not
/// `par((3, 4), 5)`): the executor may run its members as one batched computation
/// ([`Block::forward_group`](crate::exec::Block::forward_group)).
///
/// Its ops are `Fork`, then `Apply` per member separated by `NextBranch`, then `Join` at
/// `fork + 2·blocks.len()`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BlockGroup {
    /// Index of the step's `Fork` op.
    pub fork: usize,
    /// The member blocks, in branch order (a block may appear more than once).
    pub blocks: Vec<usize>,
}

impl BlockGroup {
    /// Index of the step's `Join` op.
    pub fn join(&self) -> usize {
        self.fork + 2 * self.blocks.len()
    }
}

/// Cost figures of a plan.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize)]
pub struct PlanStats {
    /// Top-level schedule steps.
    pub steps: usize,
    /// Block applications on the longest path: the latency if parallel branches ran concurrently.
    pub depth: usize,
    /// Block applications in total: the compute cost.
    pub block_applications: usize,
    /// KV-cache slots needed for incremental decoding.
    pub cache_slots: usize,
    /// Distinct blocks whose weights the plan touches.
    pub distinct_blocks: usize,
}

/// A compiled schedule. Build with [`Plan::compile`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Plan {
    ops: Vec<Op>,
    /// The parallel steps whose branches are single blocks, by `Fork` index (ascending).
    groups: Vec<BlockGroup>,
    stats: PlanStats,
    num_blocks: usize,
    kv_mode: KvMode,
}

impl Plan {
    /// Validate `schedule` against a `num_blocks`-block model and compile it.
    pub fn compile(
        schedule: &LayerSchedule,
        num_blocks: usize,
        kv_mode: KvMode,
    ) -> Result<Plan, ScheduleError> {
        schedule.validate(num_blocks)?;
        let mut c = Compiler {
            ops: Vec::new(),
            slots: 0,
            kv_mode,
        };
        let mut depth = 0;
        for (j, step) in schedule.steps().iter().enumerate() {
            depth += c.emit(step, &StepPath(vec![PathSegment::Step(j)]))?;
            c.ops.push(Op::EndStep { step: j });
        }
        let applications = c
            .ops
            .iter()
            .filter(|op| matches!(op, Op::Apply { .. }))
            .count();
        let stats = PlanStats {
            steps: schedule.steps().len(),
            depth,
            block_applications: applications,
            cache_slots: c.slots,
            distinct_blocks: schedule.blocks_used().len(),
        };
        Ok(Plan {
            groups: block_groups(&c.ops),
            ops: c.ops,
            stats,
            num_blocks,
            kv_mode,
        })
    }

    pub fn ops(&self) -> &[Op] {
        &self.ops
    }
    pub fn stats(&self) -> PlanStats {
        self.stats
    }
    /// The block count the plan was validated against.
    pub fn num_blocks(&self) -> usize {
        self.num_blocks
    }
    pub fn kv_mode(&self) -> KvMode {
        self.kv_mode
    }
    /// The parallel steps whose branches are all single blocks, in op order (loops unrolled, so a
    /// looped step appears once per iteration).
    pub fn block_groups(&self) -> &[BlockGroup] {
        &self.groups
    }
    /// The block group whose `Fork` op is at index `fork`, if that step qualifies.
    pub fn block_group_at(&self, fork: usize) -> Option<&BlockGroup> {
        self.groups
            .binary_search_by_key(&fork, |g| g.fork)
            .ok()
            .and_then(|i| self.groups.get(i))
    }
}

/// Finds every `Fork, Apply, (NextBranch, Apply)*, Join` run of ops.
fn block_groups(ops: &[Op]) -> Vec<BlockGroup> {
    let mut out = Vec::new();
    for (fork, op) in ops.iter().enumerate() {
        let Op::Fork { branches } = *op else {
            continue;
        };
        let mut blocks = Vec::with_capacity(branches);
        for j in 0..branches {
            match ops.get(fork + 1 + 2 * j) {
                Some(Op::Apply { block, .. }) => blocks.push(*block),
                _ => break,
            }
            let want_sep = j + 1 < branches;
            match (ops.get(fork + 2 + 2 * j), want_sep) {
                (Some(Op::NextBranch), true) | (Some(Op::Join { .. }), false) => {}
                _ => break,
            }
        }
        if branches > 0 && blocks.len() == branches {
            out.push(BlockGroup { fork, blocks });
        }
    }
    out
}

struct Compiler {
    ops: Vec<Op>,
    slots: usize,
    kv_mode: KvMode,
}

impl Compiler {
    fn slot(&mut self) -> SlotId {
        self.slots += 1;
        self.slots - 1
    }

    /// Emits ops for `s` and returns its depth (block applications on the longest path).
    fn emit(&mut self, s: &LayerSchedule, at: &StepPath) -> Result<usize, ScheduleError> {
        Ok(match s {
            LayerSchedule::Block(b) => {
                let slot = self.slot();
                self.ops.push(Op::Apply {
                    block: *b,
                    slot,
                    write: KvWrite::Own,
                });
                1
            }
            LayerSchedule::Seq(v) => {
                let mut d = 0;
                for (j, x) in v.iter().enumerate() {
                    d += self.emit(x, &at.push(PathSegment::Step(j)))?;
                }
                d
            }
            LayerSchedule::Repeat { body, times } => {
                let mut d = 0;
                // Validation bounds the unrolled size; a body without blocks adds nothing however
                // often it repeats, so it is not unrolled at all (fuzz find: `{"loop":[],"times":8e10}`).
                if body.application_count() == 0 {
                    return Ok(0);
                }
                for _ in 0..*times {
                    d += self.emit(body, &at.push(PathSegment::Body))?;
                }
                d
            }
            LayerSchedule::Parallel { branches, merge } => {
                let n = branches.len();
                self.ops.push(Op::Fork { branches: n });
                let pooled = match self.kv_mode {
                    KvMode::Exact => None,
                    KvMode::PaperAveraged => {
                        if let Some(b) = branches
                            .iter()
                            .position(|b| !matches!(b, LayerSchedule::Block(_)))
                        {
                            return Err(ScheduleError::AveragedKvNeedsBlocks {
                                at: at.clone(),
                                branch: b,
                            });
                        }
                        Some(self.slot())
                    }
                };
                let mut d = 0;
                for (i, b) in branches.iter().enumerate() {
                    if i > 0 {
                        self.ops.push(Op::NextBranch);
                    }
                    d = d.max(match (pooled, b) {
                        (Some(slot), LayerSchedule::Block(block)) => {
                            self.ops.push(Op::Apply {
                                block: *block,
                                slot,
                                write: KvWrite::Pooled,
                            });
                            1
                        }
                        _ => self.emit(b, &at.push(PathSegment::Branch(i)))?,
                    });
                }
                self.ops.push(Op::Join {
                    branches: n,
                    merge: *merge,
                    pooled,
                });
                d
            }
        })
    }
}

impl fmt::Display for PlanStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} steps, depth {}, {} block applications, {} KV slots, {} distinct blocks",
            self.steps, self.depth, self.block_applications, self.cache_slots, self.distinct_blocks
        )
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.kv_mode {
            KvMode::Exact => "exact",
            KvMode::PaperAveraged => "paper-averaged",
        };
        writeln!(
            f,
            "plan over {} blocks ({mode} KV): {}",
            self.num_blocks, self.stats
        )?;
        let mut indent = 1;
        for (i, op) in self.ops.iter().enumerate() {
            let pad = "  ".repeat(indent);
            match op {
                Op::Apply { block, slot, write } => {
                    let pooled = if *write == KvWrite::Pooled {
                        ", pooled"
                    } else {
                        ""
                    };
                    writeln!(f, "{i:>4} {pad}block {block:<3} [slot {slot}{pooled}]")?
                }
                Op::Fork { branches } => {
                    writeln!(f, "{i:>4} {pad}fork {branches} branches")?;
                    indent += 1;
                }
                Op::NextBranch => writeln!(f, "{i:>4} {}next branch", "  ".repeat(indent - 1))?,
                Op::Join { merge, .. } => {
                    indent = indent.saturating_sub(1).max(1);
                    let m = match merge {
                        Merge::Mean => "mean",
                        Merge::ResidualSum => "residual sum",
                    };
                    writeln!(f, "{i:>4} {}join ({m})", "  ".repeat(indent))?
                }
                Op::EndStep { step } => writeln!(f, "{i:>4} {pad}-- end of step {step}")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use LayerSchedule as S;

    #[test]
    fn figures_count_occurrences() {
        let s: S = "0, par(1, 2, (3, 4))x2, 5x3".parse().unwrap();
        let p = Plan::compile(&s, 6, KvMode::Exact).unwrap();
        let st = p.stats();
        assert_eq!(st.steps, 3);
        assert_eq!(st.block_applications, 1 + 2 * 4 + 3);
        assert_eq!(st.cache_slots, st.block_applications);
        assert_eq!(st.depth, 1 + 2 * 2 + 3);
        assert_eq!(st.distinct_blocks, 6);
        let slots: Vec<_> = p
            .ops()
            .iter()
            .filter_map(|op| match op {
                Op::Apply { slot, .. } => Some(*slot),
                _ => None,
            })
            .collect();
        assert_eq!(
            slots,
            (0..12).collect::<Vec<_>>(),
            "slots are allocated in execution order"
        );
    }

    #[test]
    fn paper_averaged_pools_one_slot_per_iteration() {
        let s: S = "0, par(1..=3)x2, 4".parse().unwrap();
        let p = Plan::compile(&s, 5, KvMode::PaperAveraged).unwrap();
        assert_eq!(p.stats().cache_slots, 4);
        assert_eq!(p.stats().block_applications, 8);
        let bad: S = "par((1, 2), 3)".parse().unwrap();
        assert!(matches!(
            Plan::compile(&bad, 5, KvMode::PaperAveraged),
            Err(ScheduleError::AveragedKvNeedsBlocks { branch: 0, .. })
        ));
        assert!(Plan::compile(&bad, 5, KvMode::Exact).is_ok());
    }

    #[test]
    fn block_groups_are_single_block_parallel_steps() {
        let s: S = "0, par(1, 2, 2)x2, par((1, 2), 3), sum(4, 5)"
            .parse()
            .unwrap();
        let p = Plan::compile(&s, 6, KvMode::Exact).unwrap();
        let groups: Vec<_> = p.block_groups().iter().map(|g| g.blocks.clone()).collect();
        assert_eq!(groups, vec![vec![1, 2, 2], vec![1, 2, 2], vec![4, 5]]);
        for g in p.block_groups() {
            assert_eq!(
                p.ops()[g.fork],
                Op::Fork {
                    branches: g.blocks.len()
                }
            );
            assert!(matches!(p.ops()[g.join()], Op::Join { .. }));
            assert_eq!(p.block_group_at(g.fork), Some(g));
        }
        assert_eq!(p.block_group_at(0), None);
        let nested: S = "par(par(1, 2), 3)".parse().unwrap();
        let p = Plan::compile(&nested, 6, KvMode::Exact).unwrap();
        let groups: Vec<_> = p.block_groups().iter().map(|g| g.blocks.clone()).collect();
        assert_eq!(groups, vec![vec![1, 2]], "only the inner step qualifies");
        let s: S = "0, par(1, 2, 2)x2, sum(4, 5)".parse().unwrap();
        let avg = Plan::compile(&s, 6, KvMode::PaperAveraged).unwrap();
        assert_eq!(avg.block_groups().len(), 3, "pooled members qualify too");
    }

    #[test]
    fn compile_validates() {
        assert!(matches!(
            Plan::compile(&S::full(4), 3, KvMode::Exact),
            Err(ScheduleError::BlockOutOfRange { block: 3, .. })
        ));
    }

    #[test]
    fn display_lists_every_op() {
        let p = Plan::compile(&"0, par(1, 2)".parse().unwrap(), 3, KvMode::Exact).unwrap();
        let text = p.to_string();
        assert!(
            text.contains("depth 2, 3 block applications, 3 KV slots"),
            "{text}"
        );
        assert_eq!(text.lines().count(), 1 + p.ops().len());
    }
}
