//! The compact text notation for schedules, for command lines and config files.
//!
//! ```text
//! schedule := [ item { "," item } ]
//! item     := primary [ ("x" | "*") COUNT ]          repeat / loop the primary COUNT times
//! primary  := INT                                    one block
//!           | INT ".." INT                           ascending blocks, end exclusive
//!           | INT "..=" INT                          blocks, end inclusive (descending when start > end)
//!           | "(" schedule ")"                       a group: one sequential unit
//!           | "par" "(" branches ")"                 parallel, merged by mean (the paper's)
//!           | "sum" "(" branches ")"                 parallel, merged as h + Σ(b_i(h) − h)
//! branches := item { "," item }                      each item is one branch, except that a bare
//!                                                    range stands for one branch per block
//! ```
//!
//! Whitespace is free. Example: `0..=14, par(15..=16)x3, 17..32` runs blocks 0–14, then blocks 15 and 16
//! in parallel (mean) three times, then 17–31. `par((1, 2), 3)` runs the sequence 1→2 beside block 3.
//! The full grammar with examples is in `docs/schedule-syntax.md`.
//!
//! [`LayerSchedule`]'s `Display` prints this notation and `FromStr` parses it; printing then parsing
//! gives back the same (canonical) schedule.

use std::fmt;
use std::str::FromStr;

use crate::error::ScheduleError;
use crate::schedule::{LayerSchedule, MAX_APPLICATIONS, MAX_NESTING, Merge};

impl FromStr for LayerSchedule {
    type Err = ScheduleError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut p = Parser {
            text,
            chars: text.char_indices().collect(),
            pos: 0,
            depth: 0,
            blocks: 0,
        };
        let items = p.list(None)?;
        p.skip_ws();
        if p.pos < p.chars.len() {
            return Err(p.error(format!("unexpected `{}`", p.chars[p.pos].1)));
        }
        Ok(LayerSchedule::seq(
            items.into_iter().map(Item::into_schedule),
        ))
    }
}

struct Parser<'a> {
    text: &'a str,
    chars: Vec<(usize, char)>,
    pos: usize,
    /// Open groups and parallel steps around the current position.
    depth: usize,
    /// Block indices written out so far (ranges count every block): bounds the parser's memory.
    blocks: usize,
}

/// A parsed item; bare ranges are kept apart because inside `par(...)` they mean one branch per block.
enum Item {
    BareRange(Vec<usize>),
    Other(LayerSchedule),
}

impl Item {
    fn into_schedule(self) -> LayerSchedule {
        match self {
            Item::BareRange(v) => LayerSchedule::seq(v.into_iter().map(LayerSchedule::Block)),
            Item::Other(s) => s,
        }
    }
}

impl Parser<'_> {
    fn error(&self, message: String) -> ScheduleError {
        ScheduleError::Syntax {
            text: self.text.to_string(),
            column: self.pos + 1,
            message,
        }
    }

    fn skip_ws(&mut self) {
        while self.pos < self.chars.len() && self.chars[self.pos].1.is_whitespace() {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<char> {
        self.skip_ws();
        self.chars.get(self.pos).map(|c| c.1)
    }

    fn eat(&mut self, s: &str) -> bool {
        self.skip_ws();
        let n = s.chars().count();
        if self.pos + n <= self.chars.len()
            && self.chars[self.pos..self.pos + n]
                .iter()
                .map(|c| c.1)
                .eq(s.chars())
        {
            self.pos += n;
            true
        } else {
            false
        }
    }

    fn require(&mut self, s: &str) -> Result<(), ScheduleError> {
        if self.eat(s) {
            Ok(())
        } else {
            let found = match self.peek() {
                Some(c) => format!("`{c}`"),
                None => "the end of the text".to_string(),
            };
            Err(self.error(format!("expected `{s}`, found {found}")))
        }
    }

    fn int(&mut self) -> Result<usize, ScheduleError> {
        self.skip_ws();
        let start = self.pos;
        while self.pos < self.chars.len() && self.chars[self.pos].1.is_ascii_digit() {
            self.pos += 1;
        }
        if start == self.pos {
            return Err(self.error(match self.chars.get(self.pos) {
                Some((_, c)) => format!("expected a block index or `(`, found `{c}`"),
                None => "expected a block index, found the end of the text".to_string(),
            }));
        }
        let digits: String = self.chars[start..self.pos].iter().map(|c| c.1).collect();
        digits.parse().map_err(|_| {
            self.pos = start;
            self.error(format!("number `{digits}` is too large"))
        })
    }

    /// Items separated by commas until `close` (or the end of the text when `close` is None).
    fn list(&mut self, close: Option<char>) -> Result<Vec<Item>, ScheduleError> {
        let mut items = Vec::new();
        if self.peek() == close {
            return Ok(items);
        }
        loop {
            items.push(self.item()?);
            if !self.eat(",") {
                return Ok(items);
            }
        }
    }

    fn item(&mut self) -> Result<Item, ScheduleError> {
        let primary = self.primary()?;
        if self.eat("x") || self.eat("*") || self.eat("×") {
            let at = self.pos;
            let times = self.int()?;
            if times == 0 {
                self.pos = at;
                return Err(self.error("a repeat count must be at least 1".to_string()));
            }
            return Ok(Item::Other(LayerSchedule::repeat(
                primary.into_schedule(),
                times,
            )));
        }
        Ok(primary)
    }

    /// Enter a group or parallel step; refuses nesting beyond [`MAX_NESTING`] before recursing.
    fn open(&mut self) -> Result<(), ScheduleError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(self.error(format!(
                "groups and parallel steps nest more than {MAX_NESTING} deep"
            )));
        }
        Ok(())
    }

    fn primary(&mut self) -> Result<Item, ScheduleError> {
        for (kw, merge) in [("par", Merge::Mean), ("sum", Merge::ResidualSum)] {
            if self.eat(kw) {
                self.require("(")?;
                self.open()?;
                let at = self.pos;
                let items = self.list(Some(')'))?;
                if items.is_empty() {
                    self.pos = at;
                    return Err(self.error(format!("`{kw}(...)` needs at least one branch")));
                }
                self.require(")")?;
                self.depth -= 1;
                let mut branches = Vec::new();
                for it in items {
                    match it {
                        Item::BareRange(v) => {
                            branches.extend(v.into_iter().map(LayerSchedule::Block))
                        }
                        Item::Other(s) => branches.push(s),
                    }
                }
                return Ok(Item::Other(LayerSchedule::parallel(branches, merge)));
            }
        }
        if self.eat("(") {
            self.open()?;
            let items = self.list(Some(')'))?;
            self.require(")")?;
            self.depth -= 1;
            return Ok(Item::Other(LayerSchedule::seq(
                items.into_iter().map(Item::into_schedule),
            )));
        }
        let start_pos = self.pos;
        let a = self.int()?;
        if self.eat("..=") {
            let b = self.int()?;
            self.count_blocks(a.abs_diff(b).saturating_add(1), start_pos)?;
            let v: Vec<usize> = if a <= b {
                (a..=b).collect()
            } else {
                (b..=a).rev().collect()
            };
            return Ok(Item::BareRange(v));
        }
        if self.eat("..") {
            let b = self.int()?;
            if b <= a {
                self.pos = start_pos;
                return Err(self.error(format!(
                    "range {a}..{b} is empty; write {a}..={b} for a descending range"
                )));
            }
            self.count_blocks(b - a, start_pos)?;
            return Ok(Item::BareRange((a..b).collect()));
        }
        self.count_blocks(1, start_pos)?;
        Ok(Item::Other(LayerSchedule::Block(a)))
    }

    /// Count `n` more written-out blocks; refuses texts that spell out more than
    /// [`MAX_APPLICATIONS`] before allocating them.
    fn count_blocks(&mut self, n: usize, at: usize) -> Result<(), ScheduleError> {
        self.blocks = self.blocks.saturating_add(n);
        if self.blocks > MAX_APPLICATIONS {
            self.pos = at;
            return Err(self.error(format!(
                "the text spells out more than {MAX_APPLICATIONS} blocks"
            )));
        }
        Ok(())
    }
}

impl fmt::Display for LayerSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_list(f, self.steps(), false)
    }
}

/// Writes items separated by ", ", folding runs of ≥ 3 consecutive blocks into `a..=b`.
/// In a branch list (`in_par`) a run is one branch per block, which is what a bare range means there.
fn write_list(f: &mut fmt::Formatter<'_>, items: &[LayerSchedule], in_par: bool) -> fmt::Result {
    let mut i = 0;
    let mut first = true;
    while i < items.len() {
        if !first {
            f.write_str(", ")?;
        }
        first = false;
        if let LayerSchedule::Block(a) = items[i] {
            let run = run_length(&items[i..]);
            if run >= 3 {
                let LayerSchedule::Block(b) = items[i + run - 1] else {
                    unreachable!("run_length only counts blocks")
                };
                write!(f, "{a}..={b}")?;
                i += run;
                continue;
            }
        }
        write_item(f, &items[i], in_par)?;
        i += 1;
    }
    Ok(())
}

/// Length of the run of consecutive (ascending or descending by one) blocks at the start of `items`.
fn run_length(items: &[LayerSchedule]) -> usize {
    let block = |k: usize| match items.get(k) {
        Some(LayerSchedule::Block(b)) => Some(*b as i128),
        _ => None,
    };
    let (Some(a), Some(b)) = (block(0), block(1)) else {
        return 1;
    };
    let step = b - a;
    if step != 1 && step != -1 {
        return 1;
    }
    let mut n = 2;
    while block(n) == Some(a + step * n as i128) {
        n += 1;
    }
    n
}

fn write_item(f: &mut fmt::Formatter<'_>, s: &LayerSchedule, in_par: bool) -> fmt::Result {
    match s {
        LayerSchedule::Block(i) => write!(f, "{i}"),
        LayerSchedule::Seq(v) => {
            // Top-level sequences are flattened by `seq`, so a Seq here is a group: a branch or a body.
            let _ = in_par;
            f.write_str("(")?;
            write_list(f, v, false)?;
            f.write_str(")")
        }
        LayerSchedule::Repeat { body, times } => {
            match body.as_ref() {
                LayerSchedule::Block(i) => write!(f, "{i}")?,
                LayerSchedule::Seq(v) => {
                    f.write_str("(")?;
                    write_list(f, v, false)?;
                    f.write_str(")")?;
                }
                // Repeats of repeats are merged by `repeat`; written directly they still need a group.
                LayerSchedule::Repeat { .. } => {
                    f.write_str("(")?;
                    write_item(f, body, false)?;
                    f.write_str(")")?;
                }
                LayerSchedule::Parallel { .. } => write_item(f, body, false)?,
            }
            write!(f, "x{times}")
        }
        LayerSchedule::Parallel { branches, merge } => {
            f.write_str(match merge {
                Merge::Mean => "par(",
                Merge::ResidualSum => "sum(",
            })?;
            write_list(f, branches, true)?;
            f.write_str(")")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use LayerSchedule as S;

    fn p(s: &str) -> LayerSchedule {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn parses_the_documented_example() {
        let s = p("0..=14, par(15..=16)x3, 17..32");
        let want = S::seq([
            S::range(0..=14),
            S::looped(S::parallel_range(15..=16), 3),
            S::range(17..32),
        ]);
        assert_eq!(s, want);
        assert_eq!(s.to_string(), "0..=14, par(15, 16)x3, 17..=31");
    }

    #[test]
    fn groups_branches_and_descending_ranges() {
        assert_eq!(
            p("par((1,2), 3)"),
            S::parallel_mean([S::range(1..=2), S::block(3)])
        );
        assert_eq!(p("par((1..=3))"), S::range(1..=3));
        assert_eq!(p("5..=2").block_applications(), vec![5, 4, 3, 2]);
        assert_eq!(p("(1, 2)x2").block_applications(), vec![1, 2, 1, 2]);
        assert_eq!(p("1..3 x2"), S::repeat(S::range(1..3), 2));
        assert_eq!(
            p(" sum( 1 , 2 ) "),
            S::parallel([S::block(1), S::block(2)], Merge::ResidualSum)
        );
        assert_eq!(p(""), S::empty());
        assert_eq!(p("16*3"), S::repeat(S::block(16), 3));
    }

    #[test]
    fn errors_carry_the_column() {
        let cases = [
            ("0, 1,, 2", 6, "expected a block index"),
            ("0..=3, par()", 12, "needs at least one branch"),
            ("par(1, 2", 9, "expected `)`"),
            ("4x0", 3, "at least 1"),
            ("3..1", 1, "descending"),
            ("0, 1 2", 6, "unexpected `2`"),
            ("99999999999999999999999", 1, "too large"),
        ];
        for (text, col, msg) in cases {
            match text.parse::<LayerSchedule>() {
                Err(ScheduleError::Syntax {
                    column, message, ..
                }) => {
                    assert_eq!(column, col, "{text}: {message}");
                    assert!(message.contains(msg), "{text}: {message}");
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn hostile_texts_are_refused_before_allocating() {
        use crate::schedule::{MAX_APPLICATIONS, MAX_NESTING};
        // A range of 2^64 blocks, and many large ranges: refused by count, not by running out of memory.
        let huge = format!("0..={}", usize::MAX);
        let e = huge.parse::<LayerSchedule>().unwrap_err().to_string();
        assert!(e.contains("spells out more than"), "{e}");
        let many = ["0..=40000"; 2].join(", ");
        assert!(many.parse::<LayerSchedule>().is_err());
        // The fuzzer's find: 17 bytes spelling out 816 897 blocks.
        assert!("0..=04,15..816912".parse::<LayerSchedule>().is_err());
        assert!(
            format!("0..{MAX_APPLICATIONS}")
                .parse::<LayerSchedule>()
                .is_ok()
        );
        // Nesting: 100 000 open parentheses must not overflow the stack.
        let deep = "(".repeat(100_000);
        let e = deep.parse::<LayerSchedule>().unwrap_err().to_string();
        assert!(e.contains("nest more than"), "{e}");
        let ok = format!("{}0{}", "par(".repeat(MAX_NESTING), ")".repeat(MAX_NESTING));
        assert_eq!(p(&ok), S::block(0));
        // A huge repeat count parses (it is a number) but does not validate or compile.
        let s = p("0x18446744073709551615, 1");
        assert_eq!(s.application_count(), usize::MAX);
        assert!(matches!(
            s.validate(2),
            Err(ScheduleError::TooLarge {
                applications: usize::MAX,
                ..
            })
        ));
        assert_eq!(s.blocks_used().len(), 2);
        // The JSON fuzz target's find: a parallel step looped 255 555 times passed the old limit
        // and compiled into a plan of 766 666 applications.
        let s = LayerSchedule::from_json_str(
            r#"{"steps": [{"block": 5555555555}, {"parallel": [1, 5513, 4], "loops":255555}]}"#,
        )
        .unwrap();
        assert!(matches!(
            s.validate(5555555556),
            Err(ScheduleError::TooLarge {
                applications: 766666,
                ..
            })
        ));
    }

    #[test]
    fn printing_round_trips() {
        for text in [
            "0..=14, par(15..=16)x3, 17..32",
            "0, 2, 1, 3",
            "9..=0",
            "par((1, 2), 3..=6, sum(7, 8)), 16x4",
            "par(1, 2)x2, (3, 4)x3, ()",
            "0..=3, par((4..=6)x2, 7), 8",
        ] {
            let s = p(text);
            assert_eq!(p(&s.to_string()), s, "{text} printed as {s}");
        }
    }
}
