//! Progress of a long run on stderr: a bar when stderr is a terminal, and otherwise (a batch job's
//! log, a pipe) one line at a steady interval — `label: done/total unit (p%), rate unit/s, ETA
//! h:mm:ss` and what is under way — so that a log shows the run is alive and when it will end.
//!
//! The interval is [`DEFAULT_INTERVAL`], or `$PAINTERS_PROGRESS_SECONDS` (a positive number of
//! seconds). Lines are printed by a small thread that wakes at that interval, so they keep coming
//! while a single item takes long.

use std::io::IsTerminal;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// The time between two progress lines without a terminal.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);

/// The environment variable that sets the interval in seconds.
pub const INTERVAL_VAR: &str = "PAINTERS_PROGRESS_SECONDS";

/// The interval: `$PAINTERS_PROGRESS_SECONDS` when it is a positive number, else
/// [`DEFAULT_INTERVAL`].
pub fn interval() -> Duration {
    std::env::var(INTERVAL_VAR)
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map_or(DEFAULT_INTERVAL, Duration::from_secs_f64)
}

/// What the line printer reads.
struct State {
    label: String,
    unit: &'static str,
    total: u64,
    done: u64,
    /// `done` when the clock started (items done by earlier runs do not count for the rate).
    base: u64,
    started: Instant,
    message: String,
}

impl State {
    /// `label: done/total unit (p%), rate unit/s, ETA h:mm:ss[; message]`.
    fn line(&self) -> String {
        let secs = self.started.elapsed().as_secs_f64();
        let rate = self.done.saturating_sub(self.base) as f64 / secs.max(1e-9);
        let left = self.total.saturating_sub(self.done);
        let pct = 100.0 * self.done as f64 / self.total.max(1) as f64;
        let eta = if left == 0 {
            "0:00:00".to_string()
        } else if rate > 0.0 {
            clock(left as f64 / rate)
        } else {
            "unknown".to_string()
        };
        let mut line = format!(
            "{}: {}/{} {} ({pct:.0}%), {} {}/s, ETA {eta}",
            self.label,
            self.done,
            self.total,
            self.unit,
            rate_text(rate),
            self.unit
        );
        if !self.message.is_empty() {
            line.push_str("; ");
            line.push_str(&self.message);
        }
        line
    }
}

/// `h:mm:ss`.
fn clock(seconds: f64) -> String {
    let s = seconds.round().min(u64::MAX as f64) as u64;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// A rate with three significant digits.
fn rate_text(rate: f64) -> String {
    if rate >= 100.0 {
        format!("{rate:.0}")
    } else if rate >= 10.0 {
        format!("{rate:.1}")
    } else {
        format!("{rate:.3}")
    }
}

/// How a [`Progress`] shows itself.
enum Display {
    Hidden,
    Bar(ProgressBar),
    Lines {
        stop: Sender<()>,
        thread: Option<JoinHandle<()>>,
    },
}

/// The progress of `total` items of one run; see the module docs. Dropping it ends the display.
pub struct Progress {
    state: Arc<Mutex<State>>,
    display: Display,
}

impl Progress {
    /// Progress over `total` items called `unit` (`docs`, `results`, `steps`), shown as `label`:
    /// nothing unless `show`; a bar on a terminal; lines every [`interval`] otherwise.
    pub fn new(label: &str, total: usize, unit: &'static str, show: bool) -> Self {
        let state = Arc::new(Mutex::new(State {
            label: label.to_string(),
            unit,
            total: total as u64,
            done: 0,
            base: 0,
            started: Instant::now(),
            message: String::new(),
        }));
        let display = if !show {
            Display::Hidden
        } else if std::io::stderr().is_terminal() {
            Display::Bar(bar(label, total, unit))
        } else {
            let (stop, wake) = mpsc::channel::<()>();
            let every = interval();
            let shared = Arc::clone(&state);
            let thread = std::thread::Builder::new()
                .name("painters-progress".into())
                .spawn(move || {
                    while let Err(RecvTimeoutError::Timeout) = wake.recv_timeout(every) {
                        let line = shared.lock().unwrap_or_else(PoisonError::into_inner).line();
                        eprintln!("{line}");
                    }
                })
                .ok();
            Display::Lines { stop, thread }
        };
        Progress { state, display }
    }

    fn with_state<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// `n` more items are done.
    pub fn inc(&self, n: usize) {
        self.with_state(|s| s.done += n as u64);
        if let Display::Bar(b) = &self.display {
            b.inc(n as u64);
        }
    }

    /// `n` items were done before this run started (resumed): they count as done, not for the rate.
    pub fn skip(&self, n: usize) {
        self.with_state(|s| {
            s.done += n as u64;
            s.base = s.done;
        });
        if let Display::Bar(b) = &self.display {
            b.inc(n as u64);
            b.reset_eta();
        }
    }

    /// What is under way (shown after the counts).
    pub fn set_message(&self, message: impl Into<String>) {
        let message = message.into();
        if let Display::Bar(b) = &self.display {
            b.set_message(message.clone());
        }
        self.with_state(|s| s.message = message);
    }

    /// Print `line` on stderr without tearing the bar.
    pub fn println(&self, line: &str) {
        match &self.display {
            Display::Bar(b) => b.suspend(|| eprintln!("{line}")),
            _ => eprintln!("{line}"),
        }
    }

    /// The line the printer would print now (for tests and callers' own logs).
    pub fn line(&self) -> String {
        self.with_state(|s| s.line())
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        match &mut self.display {
            Display::Hidden => {}
            Display::Bar(b) => b.finish_and_clear(),
            Display::Lines { stop, thread } => {
                let _ = stop.send(());
                if let Some(t) = thread.take() {
                    let _ = t.join();
                }
            }
        }
    }
}

/// The terminal bar.
fn bar(label: &str, total: usize, unit: &str) -> ProgressBar {
    let pb = ProgressBar::new(total as u64);
    if let Ok(style) = ProgressStyle::with_template(&format!(
        "{{prefix:>15}} [{{elapsed_precise}}] {{wide_bar}} {{pos}}/{{len}} {unit}, {{per_sec}}, ETA {{eta}} {{msg}}"
    )) {
        pb.set_style(style);
    }
    pb.set_prefix(label.to_string());
    pb
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_has_the_counts_rate_and_eta() {
        let p = Progress::new("arc_easy", 100, "docs", false);
        assert_eq!(
            p.line().split(',').next(),
            Some("arc_easy: 0/100 docs (0%)")
        );
        assert!(p.line().contains("ETA unknown"), "{}", p.line());
        p.skip(20);
        std::thread::sleep(Duration::from_millis(20));
        p.inc(10);
        p.set_message("skip/n=3 on arc_easy");
        let line = p.line();
        assert!(line.starts_with("arc_easy: 30/100 docs (30%), "), "{line}");
        assert!(line.contains(" docs/s, ETA 0:"), "{line}");
        assert!(line.ends_with("; skip/n=3 on arc_easy"), "{line}");
        assert_eq!(clock(3725.0), "1:02:05");
    }
}
