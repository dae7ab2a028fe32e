//! The sweep report: a sweep folder's results drawn as the paper's figures (SVG + PNG under
//! `OUT/figures/`) and an `OUT/report.md` that embeds them with tables of the numbers.
//!
//! The results are read with the sweep store's own reader ([`Store::scan`]): one [`Entry`] per
//! schedule point and task, exactly what `results.json` is built from. Only what the results hold is
//! drawn:
//!
//! | figure | drawn when | file stem |
//! |---|---|---|
//! | Fig. 2 | `skip_one` / `switch` points | `fig2_<variant>` (normalized score per task vs block index) |
//! | Figs. 4–9 | a middle variant's points | `fig<k>_<variant>_<task>` (score vs M, full model and guessing floor as references; ±1 standard error band, min–max band over seeds for `random`) |
//! | Fig. 11 per task | any middle variant | `fig11_<task>` (a line per variant) |
//! | Fig. 10 | `looped_parallel` points with ≥ 2 loop counts | `fig10_<task>`, `fig10_normalized_median` (M × K heatmaps) |
//! | Fig. 11 | any middle variant and a normalizable task | `fig11_normalized_median` |
//! | GLUE average (BERT) | any middle variant, GLUE results | `glue_average` (a line per variant) |
//!
//! The score of a task is its normalization metric ([`NormConfig`]) where one is configured, else the
//! first of `acc_norm`, `acc`, `exact_match`, `word_perplexity` it has, else its first metric.
//!
//! GLUE sweeps (results fine-tuned under each schedule, [`ResultKey::finetune`](crate::sweep::ResultKey::finetune))
//! are drawn the same way with each task's GLUE main metric as its score, and the GLUE average
//! ([`glue_average`]) takes the normalized median's place: in the summary figure, the per-variant
//! tables, the Fig. 10 heatmaps and the Fig. 2 tables. report.md then also has a table of every
//! point's main metric per task and average, and the fine-tuning settings.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::markdown::{Align, Report, Table};
use super::plot::{Heatmap, LineChart, PlotError, Series};
use super::write_both;
use crate::sweep::store::MetricValue;
use crate::sweep::summary::{glue_average, glue_main_metric, normalize, normalized_median, spread};
use crate::sweep::{Entry, NormConfig, PointMeta, Record, Store, SweepError};

/// Why a sweep report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SweepReportError {
    #[error(transparent)]
    Sweep(#[from] SweepError),
    #[error(transparent)]
    Plot(#[from] PlotError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} has no results/ folder; is it a sweep's --out folder?", .0.display())]
    NotASweep(PathBuf),
    #[error("{} holds no usable results", .0.display())]
    Empty(PathBuf),
}

/// Which results of a folder to report (a folder may hold several sweeps' results).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResultFilter {
    /// Only this model's results.
    pub model_sha256: Option<String>,
    /// Only results with this `--limit` (`Some(None)`: whole tasks).
    pub limit: Option<Option<usize>>,
    /// Only these tasks (results of other tasks are set aside).
    pub tasks: Option<BTreeSet<String>>,
    /// Only results with these fine-tuning settings ([`ResultKey::finetune`](crate::sweep::ResultKey::finetune);
    /// `Some(None)`: lm-eval results only).
    pub finetune: Option<Option<String>>,
}

/// The results of a sweep folder, ready to report.
#[derive(Clone, Debug, Default)]
pub struct Loaded {
    /// One per schedule point and task, the full model first.
    pub entries: Vec<Entry>,
    /// Files that could not be used, with why (reported, not fatal).
    pub unusable: Vec<(PathBuf, String)>,
    /// Valid results set aside: another model, `--limit` or task than the reported ones.
    pub set_aside: usize,
}

/// Read the results under `dir/results/` with the store's reader. Results of other models, limits,
/// tasks or fine-tuning settings than `filter` asks are set aside; without a filter, when the folder
/// mixes several (model, limit, fine-tuning settings), the one with the most results is reported
/// and the others are set aside.
pub fn load_results(dir: &Path, filter: &ResultFilter) -> Result<Loaded, SweepReportError> {
    let store = Store::at(dir);
    if !store.dir().is_dir() {
        return Err(SweepReportError::NotASweep(dir.to_path_buf()));
    }
    let mut loaded = Loaded::default();
    let mut records: Vec<Record> = Vec::new();
    for (path, rec) in store.scan()? {
        match rec {
            Ok(r) => records.push(r),
            Err(why) => loaded.unusable.push((path, why)),
        }
    }
    let keep = |r: &Record| {
        filter
            .model_sha256
            .as_ref()
            .is_none_or(|m| *m == r.key.model_sha256)
            && filter.limit.is_none_or(|l| l == r.key.limit)
            && filter
                .tasks
                .as_ref()
                .is_none_or(|t| t.contains(&r.key.task))
            && filter
                .finetune
                .as_ref()
                .is_none_or(|f| *f == r.key.finetune)
    };
    type Group = (String, Option<usize>, Option<String>);
    let group = |r: &Record| -> Group {
        (
            r.key.model_sha256.clone(),
            r.key.limit,
            r.key.finetune.clone(),
        )
    };
    let mut groups: BTreeMap<Group, usize> = BTreeMap::new();
    for r in records.iter().filter(|r| keep(r)) {
        *groups.entry(group(r)).or_default() += 1;
    }
    let chosen = groups
        .iter()
        .max_by_key(|(k, n)| (**n, std::cmp::Reverse((*k).clone())))
        .map(|(k, _)| k.clone());
    let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
    for r in records {
        let ours = keep(&r) && chosen.as_ref().is_some_and(|g| *g == group(&r));
        if !ours {
            loaded.set_aside += 1;
            continue;
        }
        for p in &r.points {
            if seen.insert((p.label.clone(), r.key.task.clone())) {
                loaded.entries.push(Entry {
                    point: p.clone(),
                    record: r.clone(),
                });
            }
        }
    }
    crate::sweep::sort_entries(&mut loaded.entries);
    Ok(loaded)
}

/// What the report says about the run besides the numbers.
#[derive(Clone, Debug, Default)]
pub struct SweepReportMeta {
    /// Short model name for titles; default `model <sha256 prefix>`.
    pub model: Option<String>,
    /// The command that produced the results, shown verbatim.
    pub command: Option<String>,
    pub wall_seconds: Option<f64>,
    /// Metric and floor per task of the normalized scores.
    pub norm: NormConfig,
}

/// What [`write_sweep_report`] wrote.
#[derive(Clone, Debug, Default)]
pub struct SweepReportFiles {
    /// Every SVG and PNG, in report order.
    pub figures: Vec<PathBuf>,
    /// `OUT/report.md`.
    pub report: PathBuf,
}

/// Middle variants in the paper's figure order: (variant, figure number, display name).
const MIDDLE: [(&str, u32, &str); 6] = [
    ("skip", 4, "Skip"),
    ("middle_repeat", 5, "Middle Repeat"),
    ("reverse", 6, "Reversed"),
    ("random", 7, "Random"),
    ("parallel", 8, "Parallel"),
    ("looped_parallel", 9, "Looped Parallel"),
];

const FULL: &str = "full model";

/// One task's score of one point.
#[derive(Clone, Debug)]
struct Score {
    value: f64,
    stderr: Option<f64>,
}

/// The results indexed for drawing.
struct Data {
    tasks: Vec<String>,
    /// Per task the metric drawn.
    metric: BTreeMap<String, String>,
    /// label → (point, task → score).
    points: BTreeMap<String, (PointMeta, BTreeMap<String, Score>)>,
    /// The full model's scores.
    full: BTreeMap<String, Score>,
    norm: NormConfig,
    /// Tasks left out of the normalization: (task, full model's score, floor).
    excluded: Vec<(String, Option<f64>, f64)>,
    model_sha256: String,
    layers: BTreeSet<usize>,
    limit: BTreeSet<Option<usize>>,
    results: usize,
    /// The GLUE tasks (results fine-tuned under the schedule), in task order; empty for lm-eval.
    glue_tasks: Vec<String>,
    /// The fine-tuning settings of the GLUE results.
    finetune: BTreeSet<String>,
}

fn primary_metric(record: &Record, norm: &NormConfig) -> Option<String> {
    if record.key.finetune.is_some()
        && let Some(m) = glue_main_metric(&record.key.task)
        && record.metric(&m).is_some()
    {
        return Some(m);
    }
    if let Some(n) = norm.tasks.get(&record.key.task)
        && record.metric(&n.metric).is_some()
    {
        return Some(n.metric.clone());
    }
    for m in ["acc_norm", "acc", "exact_match", "word_perplexity"] {
        if let Some(v) = record.metrics.iter().find(|v| v.metric == m) {
            return Some(v.key());
        }
    }
    record.metrics.first().map(MetricValue::key)
}

/// Task order: lm-eval names in `tasks::NAMES` order, then the others alphabetically.
fn task_order(tasks: &BTreeSet<String>) -> Vec<String> {
    let mut v: Vec<String> = tasks.iter().cloned().collect();
    v.sort_by_key(|t| {
        (
            crate::tasks::NAMES
                .iter()
                .position(|n| n == t)
                .unwrap_or(usize::MAX),
            t.clone(),
        )
    });
    v
}

impl Data {
    fn new(entries: &[Entry], norm: &NormConfig) -> Self {
        let tasks: BTreeSet<String> = entries.iter().map(|e| e.record.key.task.clone()).collect();
        let mut metric = BTreeMap::new();
        for e in entries {
            if !metric.contains_key(&e.record.key.task)
                && let Some(m) = primary_metric(&e.record, norm)
            {
                metric.insert(e.record.key.task.clone(), m);
            }
        }
        let mut points: BTreeMap<String, (PointMeta, BTreeMap<String, Score>)> = BTreeMap::new();
        let mut hashes = BTreeSet::new();
        for e in entries {
            hashes.insert(e.record.key.hash());
            let slot = points
                .entry(e.point.label.clone())
                .or_insert_with(|| (e.point.clone(), BTreeMap::new()));
            let task = &e.record.key.task;
            if let Some(m) = metric.get(task).and_then(|k| e.record.metric(k)) {
                slot.1.insert(
                    task.clone(),
                    Score {
                        value: m.value,
                        stderr: m.stderr,
                    },
                );
            }
        }
        let full = points
            .values()
            .find(|(p, _)| p.variant == "full")
            .map(|(_, s)| s.clone())
            .unwrap_or_default();
        let present: BTreeSet<&String> = tasks.iter().collect();
        let mut norm = NormConfig {
            tasks: norm
                .tasks
                .iter()
                .filter(|(t, n)| present.contains(t) && metric.get(*t) == Some(&n.metric))
                .map(|(t, n)| (t.clone(), n.clone()))
                .collect(),
        };
        // A task whose full model does not beat guessing has nothing to scale by (and a negative
        // span would flip its normalized scores): it stays out of the median.
        let mut excluded = Vec::new();
        norm.tasks.retain(|t, n| match full.get(t) {
            Some(f) if f.value > n.floor => true,
            other => {
                excluded.push((t.clone(), other.map(|f| f.value), n.floor));
                false
            }
        });
        let glue: BTreeSet<String> = entries
            .iter()
            .filter(|e| {
                e.record.key.finetune.is_some() && glue_main_metric(&e.record.key.task).is_some()
            })
            .map(|e| e.record.key.task.clone())
            .collect();
        Data {
            glue_tasks: task_order(&glue),
            finetune: entries
                .iter()
                .filter_map(|e| e.record.key.finetune.clone())
                .collect(),
            tasks: task_order(&tasks),
            metric,
            points,
            full,
            norm,
            excluded,
            model_sha256: entries
                .first()
                .map(|e| e.record.key.model_sha256.clone())
                .unwrap_or_default(),
            layers: entries.iter().map(|e| e.record.layers).collect(),
            limit: entries.iter().map(|e| e.record.key.limit).collect(),
            results: hashes.len(),
        }
    }

    fn of_variant(&self, variant: &str) -> Vec<&(PointMeta, BTreeMap<String, Score>)> {
        self.points
            .values()
            .filter(|(p, _)| p.variant == variant)
            .collect()
    }

    fn values(scores: &BTreeMap<String, Score>) -> BTreeMap<String, f64> {
        scores.iter().map(|(t, s)| (t.clone(), s.value)).collect()
    }

    fn full_values(&self) -> BTreeMap<String, f64> {
        Self::values(&self.full)
    }

    /// Whether the summary is the GLUE average (GLUE results) rather than the normalized median.
    fn is_glue(&self) -> bool {
        !self.glue_tasks.is_empty()
    }

    /// The summary of one point over tasks: the GLUE average of a GLUE sweep, else the paper's
    /// normalized median.
    fn summary_of(&self, scores: &BTreeMap<String, Score>) -> Option<f64> {
        if self.is_glue() {
            glue_average(&Self::values(scores), &self.glue_tasks)
        } else {
            normalized_median(&Self::values(scores), &self.full_values(), &self.norm)
        }
    }

    /// What [`Self::summary_of`] is called in tables and figure names.
    fn summary_name(&self) -> &'static str {
        if self.is_glue() {
            "GLUE average"
        } else {
            "normalized median"
        }
    }

    /// The file-name form of [`Self::summary_name`].
    fn summary_stem(&self) -> &'static str {
        if self.is_glue() {
            "glue_average"
        } else {
            "normalized_median"
        }
    }

    /// The loop count drawn as "Looped Parallel": 3 (the paper's 3X) when present, else the most
    /// frequent one (ties: the smallest).
    fn looped_k(&self) -> Option<usize> {
        let mut count: BTreeMap<usize, usize> = BTreeMap::new();
        for (p, _) in self.of_variant("looped_parallel") {
            if let Some(k) = p.loops {
                *count.entry(k).or_default() += 1;
            }
        }
        if count.contains_key(&3) {
            return Some(3);
        }
        count
            .iter()
            .max_by_key(|(k, n)| (**n, std::cmp::Reverse(**k)))
            .map(|(k, _)| *k)
    }

    /// The points of a middle variant as drawn (looped parallel: only the chosen K).
    fn middle_points(&self, variant: &str) -> Vec<&(PointMeta, BTreeMap<String, Score>)> {
        let k = self.looped_k();
        self.of_variant(variant)
            .into_iter()
            .filter(|(p, _)| p.m.is_some())
            .filter(|(p, _)| variant != "looped_parallel" || p.loops == k)
            .collect()
    }

    fn display_name(&self, variant: &str) -> String {
        match variant {
            "looped_parallel" => match self.looped_k() {
                Some(k) => format!("Looped Parallel {k}X"),
                None => "Looped Parallel".into(),
            },
            "random" => {
                let seeds: BTreeSet<i64> = self
                    .of_variant("random")
                    .iter()
                    .filter_map(|(p, _)| p.seed)
                    .collect();
                format!("Random (mean of {} seeds)", seeds.len())
            }
            v => MIDDLE
                .iter()
                .find(|(n, _, _)| *n == v)
                .map_or_else(|| v.to_string(), |(_, _, d)| d.to_string()),
        }
    }

    fn model_name(&self, meta: &SweepReportMeta) -> String {
        meta.model.clone().unwrap_or_else(|| {
            format!(
                "model {}",
                &self.model_sha256[..self.model_sha256.len().min(12)]
            )
        })
    }
}

/// One x position of a line: the value (mean over seeds), and the band (±1 standard error, or the
/// seeds' min–max), the seeds' spread.
#[derive(Clone, Copy, Debug)]
struct Cell {
    x: f64,
    y: f64,
    band: Option<(f64, f64)>,
    /// lm-eval's standard error (single results).
    se: Option<f64>,
    sd: Option<(f64, usize)>,
}

/// Per M, a variant's score on `task` (random: the seeds' mean with min–max band).
fn per_m(points: &[&(PointMeta, BTreeMap<String, Score>)], task: &str) -> Vec<Cell> {
    let mut by_m: BTreeMap<usize, Vec<(&PointMeta, &Score)>> = BTreeMap::new();
    for (p, s) in points {
        if let (Some(m), Some(score)) = (p.m, s.get(task)) {
            by_m.entry(m).or_default().push((p, score));
        }
    }
    by_m.into_iter()
        .filter_map(|(m, v)| cell(m as f64, &v))
        .collect()
}

fn cell(x: f64, v: &[(&PointMeta, &Score)]) -> Option<Cell> {
    if let [(p, s)] = v
        && p.seed.is_none()
    {
        return Some(Cell {
            x,
            y: s.value,
            band: s.stderr.map(|e| (s.value - e, s.value + e)),
            se: s.stderr,
            sd: None,
        });
    }
    let values: Vec<f64> = v.iter().map(|(_, s)| s.value).collect();
    let sp = spread(&values)?;
    Some(Cell {
        x,
        y: sp.mean,
        band: Some((sp.min, sp.max)),
        se: None,
        sd: Some((sp.std, sp.n)),
    })
}

/// Per M, a variant's summary over tasks ([`Data::summary_of`]; random: the mean of the per-seed
/// summaries, min–max band).
fn summary_per_m(data: &Data, points: &[&(PointMeta, BTreeMap<String, Score>)]) -> Vec<Cell> {
    let mut by_m: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
    for (p, s) in points {
        if let (Some(m), Some(med)) = (p.m, data.summary_of(s)) {
            by_m.entry(m).or_default().push(med);
        }
    }
    by_m.into_iter()
        .filter_map(|(m, values)| {
            let sp = spread(&values)?;
            let several = values.len() > 1;
            Some(Cell {
                x: m as f64,
                y: sp.mean,
                band: several.then_some((sp.min, sp.max)),
                se: None,
                sd: several.then_some((sp.std, sp.n)),
            })
        })
        .collect()
}

fn series_of(name: impl Into<String>, cells: &[Cell], band: bool) -> Series {
    let s = Series::new(name, cells.iter().map(|c| (c.x, c.y)).collect());
    let b: Vec<(f64, f64, f64)> = cells
        .iter()
        .filter_map(|c| c.band.map(|(lo, hi)| (c.x, lo, hi)))
        .collect();
    if band && b.len() >= 2 {
        s.with_band(b)
    } else {
        s
    }
}

/// A flat reference line over `[x0, x1]`.
fn flat(name: impl Into<String>, y: f64, (x0, x1): (f64, f64)) -> Series {
    Series::new(name, vec![(x0, y), (x1, y)])
}

fn x_span(cells: &[&[Cell]]) -> Option<(f64, f64)> {
    let xs: Vec<f64> = cells.iter().flat_map(|c| c.iter().map(|c| c.x)).collect();
    let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    lo.is_finite().then_some((lo, hi))
}

fn f4(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.4}")
    } else {
        "–".into()
    }
}

/// `value ± stderr` (the stderr left out where lm-eval gives none).
fn score_cell(s: &Score) -> String {
    match s.stderr {
        Some(e) => format!("{} ± {}", f4(s.value), f4(e)),
        None => f4(s.value),
    }
}

fn table_cell(c: &Cell) -> String {
    match (c.sd, c.band, c.se) {
        (Some((sd, n)), Some((lo, hi)), _) => format!(
            "{} ± {} sd [{}, {}] (n={n})",
            f4(c.y),
            f4(sd),
            f4(lo),
            f4(hi)
        ),
        (_, _, Some(se)) => format!("{} ± {}", f4(c.y), f4(se)),
        _ => f4(c.y),
    }
}

fn file_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The report being built: the Markdown and the figures written so far.
struct Writer<'a> {
    md: Report,
    fig_dir: PathBuf,
    written: Vec<PathBuf>,
    data: &'a Data,
    model: String,
}

impl Writer<'_> {
    fn line_chart(
        &mut self,
        chart: &LineChart,
        stem: &str,
        alt: &str,
    ) -> Result<(), SweepReportError> {
        self.written.extend(write_both(chart, &self.fig_dir, stem)?);
        self.embed(stem, alt);
        Ok(())
    }

    fn heatmap(&mut self, chart: &Heatmap, stem: &str, alt: &str) -> Result<(), SweepReportError> {
        self.written.extend(write_both(chart, &self.fig_dir, stem)?);
        self.embed(stem, alt);
        Ok(())
    }

    fn embed(&mut self, stem: &str, alt: &str) {
        self.md.image(alt, format!("figures/{stem}.png"));
        self.md.paragraph(format!("[SVG](figures/{stem}.svg)"));
    }

    fn score_label(&self, task: &str) -> String {
        match self.data.metric.get(task) {
            Some(m) => format!("{task} {}", m.split(',').next().unwrap_or(m)),
            None => task.to_string(),
        }
    }
}

/// Draw every figure the entries allow into `out/figures/` and write `out/report.md`.
pub fn write_sweep_report(
    entries: &[Entry],
    meta: &SweepReportMeta,
    out: &Path,
) -> Result<SweepReportFiles, SweepReportError> {
    if entries.is_empty() {
        return Err(SweepReportError::Empty(out.to_path_buf()));
    }
    let data = Data::new(entries, &meta.norm);
    let fig_dir = out.join("figures");
    std::fs::create_dir_all(&fig_dir).map_err(|source| SweepReportError::Io {
        path: fig_dir.clone(),
        source,
    })?;
    let model = data.model_name(meta);
    let mut w = Writer {
        md: Report::new(format!("Sweep report: {model}")),
        fig_dir,
        written: Vec::new(),
        data: &data,
        model,
    };
    overview(&mut w, meta);
    fig11(&mut w)?;
    per_task(&mut w)?;
    per_variant(&mut w)?;
    fig10(&mut w)?;
    fig2(&mut w)?;
    w.md.heading(2, "Files");
    w.md.paragraph(
        "`results.json` and `results.csv` hold every metric of every result (written by `painters \
         sweep` / `painters merge`); `results/<hash>.json` one result each; `figures/` the SVG and \
         PNG of every chart above. Regenerate this report with `painters report DIR`.",
    );
    let report = out.join("report.md");
    w.md.write(&report).map_err(|source| SweepReportError::Io {
        path: report.clone(),
        source,
    })?;
    Ok(SweepReportFiles {
        figures: w.written,
        report,
    })
}

/// Load `dir`'s results ([`load_results`]) and write their report into `dir`.
pub fn report_folder(
    dir: &Path,
    filter: &ResultFilter,
    meta: &SweepReportMeta,
) -> Result<(Loaded, SweepReportFiles), SweepReportError> {
    let loaded = load_results(dir, filter)?;
    let files = write_sweep_report(&loaded.entries, meta, dir)?;
    if !loaded.unusable.is_empty() || loaded.set_aside > 0 {
        // Say so at the end of the report.
        let mut text =
            std::fs::read_to_string(&files.report).map_err(|source| SweepReportError::Io {
                path: files.report.clone(),
                source,
            })?;
        text.push_str(&format!(
            "\nNot reported: {} results of another model, `--limit` or task, {} unusable files{}.\n",
            loaded.set_aside,
            loaded.unusable.len(),
            loaded
                .unusable
                .iter()
                .take(5)
                .map(|(p, why)| format!("; `{}`: {why}", p.display()))
                .collect::<String>()
        ));
        std::fs::write(&files.report, text).map_err(|source| SweepReportError::Io {
            path: files.report.clone(),
            source,
        })?;
    }
    Ok((loaded, files))
}

fn overview(w: &mut Writer, meta: &SweepReportMeta) {
    let d = w.data;
    let list = |v: Vec<String>| v.join(", ");
    let mut t = Table::new(["", ""]);
    t.row(["model", w.model.as_str()]);
    t.row(["model sha256", d.model_sha256.as_str()]);
    t.row([
        "blocks".to_string(),
        list(d.layers.iter().map(usize::to_string).collect()),
    ]);
    t.row([
        if d.is_glue() {
            "dev examples per task"
        } else {
            "documents per task"
        }
        .to_string(),
        list(
            d.limit
                .iter()
                .map(|l| l.map_or_else(|| "all".to_string(), |n| format!("first {n}")))
                .collect(),
        ),
    ]);
    t.row(["tasks".to_string(), list(d.tasks.clone())]);
    t.row([
        "schedule points / results".to_string(),
        format!("{} / {}", d.points.len(), d.results),
    ]);
    let variants: BTreeSet<&str> = d.points.values().map(|(p, _)| p.variant.as_str()).collect();
    t.row([
        "variants".to_string(),
        list(variants.iter().map(|s| s.to_string()).collect()),
    ]);
    if let Some(s) = meta.wall_seconds {
        t.row(["wall time".to_string(), format!("{s:.0} s")]);
    }
    w.md.table(t);
    if let Some(c) = &meta.command {
        w.md.code("sh", c.clone());
    }
    if d.is_glue() {
        glue_overview(w);
        return;
    }
    w.md.paragraph(
        "M is the number of affected (middle) blocks, M = T − 2N − 1 for start layer N. Scores are \
         lm-eval's metrics; `±` is lm-eval's standard error of the mean over documents, and for \
         the random variant the standard deviation (sd) over seeds with their [min, max]. Bands \
         in the charts: ±1 standard error, or the seeds' min–max.",
    );

    w.md.heading(2, "Normalization");
    w.md.paragraph(
        "Normalized score = (score − floor) / (full − floor): 0 is random (or majority-class) \
         guessing, 1 the full model; the normalized median is the median over tasks. The paper \
         states neither the metric nor the floor per task: the ones below are this report's \
         assumption (change them with `--floor TASK=X` and `--norm-metric TASK=METRIC`).",
    );
    let mut t = Table::new(["task", "metric", "floor", "full model"]).with_align(vec![
        Align::Left,
        Align::Left,
        Align::Right,
        Align::Right,
    ]);
    for task in &d.tasks {
        let metric = d.metric.get(task).cloned().unwrap_or_default();
        let floor = d
            .norm
            .tasks
            .get(task)
            .map(|n| f4(n.floor))
            .or_else(|| {
                d.excluded
                    .iter()
                    .find(|(t, _, _)| t == task)
                    .map(|(_, _, floor)| format!("{} (left out)", f4(*floor)))
            })
            .unwrap_or_else(|| "– (not normalized)".to_string());
        let full = d.full.get(task).map_or_else(|| "–".into(), score_cell);
        t.row([task.clone(), metric, floor, full]);
    }
    w.md.table(t);
    if !d.excluded.is_empty() {
        w.md.paragraph(format!(
            "Left out of the normalized scores because the full model does not beat the guessing \
             floor there: {}.",
            d.excluded
                .iter()
                .map(|(t, full, floor)| format!(
                    "{t} (full model {}, floor {})",
                    full.map_or_else(|| "not run".into(), f4),
                    f4(*floor)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
}

/// The overview's notes for a GLUE sweep: what a point is, and the fine-tuning settings.
fn glue_overview(w: &mut Writer) {
    let d = w.data;
    w.md.paragraph(
        "M is the number of affected (middle) blocks, M = T − 2N − 1 for start layer N. Every \
         result is the encoder fine-tuned with a new classification head on the task's train \
         split with the point's schedule in force, then evaluated on the GLUE dev split (the \
         test labels are not public) under the same schedule. Scores are each task's GLUE main \
         metric; `±` is the standard error of a dev accuracy over examples. Bands in the charts: \
         ±1 standard error, or the random variant's seeds' min–max.",
    );
    w.md.heading(2, "Fine-tuning");
    let mut t = Table::new(["settings (part of every result's key)"]);
    for f in &d.finetune {
        t.row([format!("`{f}`")]);
    }
    w.md.table(t);
    let mut t = Table::new(["task", "main metric", "full model"]).with_align(vec![
        Align::Left,
        Align::Left,
        Align::Right,
    ]);
    for task in &d.glue_tasks {
        let metric = d
            .metric
            .get(task)
            .map_or("", |m| metric_name(m))
            .to_string();
        let full = d.full.get(task).map_or_else(|| "–".into(), score_cell);
        t.row([task.clone(), metric, full]);
    }
    w.md.table(t);
}

/// The summary over tasks vs M, a line per variant: Fig. 11's normalized median, or for a GLUE
/// sweep the GLUE average (the paper's BERT figure), with the full model as reference.
fn fig11(w: &mut Writer) -> Result<(), SweepReportError> {
    let d = w.data;
    let lines: Vec<(&str, Vec<Cell>)> = MIDDLE
        .iter()
        .map(|(v, _, _)| (*v, summary_per_m(d, &d.middle_points(v))))
        .filter(|(_, c)| !c.is_empty())
        .collect();
    if lines.is_empty() {
        return Ok(());
    }
    let glue = d.is_glue();
    let (heading, title, y_label, stem) = if glue {
        (
            "GLUE average vs M (the paper's BERT figure)",
            "GLUE average after fine-tuning under each schedule",
            "GLUE average of the tasks' main metrics",
            "glue_average",
        )
    } else {
        (
            "Fig. 11: normalized median over tasks",
            "normalized median over tasks",
            "normalized median (0 = guessing, 1 = full)",
            "fig11_normalized_median",
        )
    };
    let reference = if glue {
        d.summary_of(&d.full)
    } else {
        Some(1.0)
    };
    w.md.heading(2, heading);
    let slices: Vec<&[Cell]> = lines.iter().map(|(_, c)| c.as_slice()).collect();
    let mut series: Vec<Series> = lines
        .iter()
        .map(|(v, c)| series_of(d.display_name(v), c, *v == "random"))
        .collect();
    if let (Some(span), Some(y)) = (x_span(&slices), reference) {
        series.push(flat(FULL, y, span));
    }
    let chart = LineChart {
        title: format!("{}: {title}", w.model),
        x_label: "number of affected layers M".into(),
        y_label: y_label.into(),
        series,
        ..LineChart::default()
    };
    w.line_chart(
        &chart,
        stem,
        &format!("{} vs M, a line per variant", d.summary_name()),
    )?;
    if glue {
        w.md.paragraph(format!(
            "Every point is a model fine-tuned with its schedule in force and evaluated on the GLUE \
             dev split under the same schedule; the GLUE average is the plain mean of the tasks' \
             main metrics: {}. The full model's average is {}.",
            d.glue_tasks
                .iter()
                .map(|t| format!("{t} ({})", d.metric.get(t).map_or(t.as_str(), |m| metric_name(m))))
                .collect::<Vec<_>>()
                .join(", "),
            reference.map_or_else(|| "not available".into(), f4),
        ));
    } else {
        w.md.paragraph(format!(
            "Tasks in the median: {}.",
            d.norm
                .tasks
                .iter()
                .map(|(t, n)| format!("{t} ({}, floor {})", n.metric, n.floor))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    w.md.table(m_table(
        &lines
            .iter()
            .map(|(v, c)| (d.display_name(v), c.clone()))
            .collect::<Vec<_>>(),
    ));
    if glue {
        glue_table(w);
    }
    Ok(())
}

/// `"accuracy,none"` → `"accuracy"`.
fn metric_name(key: &str) -> &str {
    key.split(',').next().unwrap_or(key)
}

/// GLUE sweeps: every point's main metric per task and its GLUE average, the full model first.
fn glue_table(w: &mut Writer) {
    let d = w.data;
    w.md.heading(3, "Per task");
    let mut headers: Vec<String> = ["point", "variant", "N", "M"].map(String::from).to_vec();
    headers.extend(
        d.glue_tasks
            .iter()
            .map(|t| format!("{t} {}", d.metric.get(t).map_or("", |m| metric_name(m)))),
    );
    headers.push("GLUE average".into());
    let mut align = vec![Align::Left, Align::Left, Align::Right, Align::Right];
    align.extend(vec![Align::Right; d.glue_tasks.len() + 1]);
    let mut t = Table::new(headers).with_align(align);
    let mut rows: Vec<&(PointMeta, BTreeMap<String, Score>)> = d.points.values().collect();
    rows.sort_by_key(|(p, _)| (p.variant != "full", p.variant.clone(), p.n, p.loops, p.seed));
    let opt = |v: Option<usize>| v.map_or_else(String::new, |x| x.to_string());
    for (p, scores) in rows {
        let mut row = vec![p.label.clone(), p.variant.clone(), opt(p.n), opt(p.m)];
        for task in &d.glue_tasks {
            row.push(scores.get(task).map_or_else(String::new, score_cell));
        }
        row.push(d.summary_of(scores).map_or_else(String::new, f4));
        t.row(row);
    }
    w.md.table(t);
    w.md.paragraph(
        "`±`: the standard error of the dev accuracy over examples (for accuracy only; GLUE's F1, \
         Matthews correlation and Spearman have none here). One fine-tuning seed per point, so \
         seed-to-seed variance is not included.",
    );
}

/// A row per M (ascending), a column per line.
fn m_table(lines: &[(String, Vec<Cell>)]) -> Table {
    let ms: BTreeSet<u64> = lines
        .iter()
        .flat_map(|(_, c)| c.iter().map(|c| c.x as u64))
        .collect();
    let mut headers = vec!["M".to_string()];
    headers.extend(lines.iter().map(|(n, _)| n.clone()));
    let mut t = Table::new(headers).with_align(vec![Align::Right; lines.len() + 1]);
    for m in ms {
        let mut row = vec![m.to_string()];
        for (_, cells) in lines {
            row.push(
                cells
                    .iter()
                    .find(|c| c.x as u64 == m)
                    .map_or_else(String::new, table_cell),
            );
        }
        t.row(row);
    }
    t
}

/// Fig. 11 per task: the raw score vs M, a line per variant.
fn per_task(w: &mut Writer) -> Result<(), SweepReportError> {
    let d = w.data;
    let present: Vec<&str> = MIDDLE
        .iter()
        .map(|(v, _, _)| *v)
        .filter(|v| !d.middle_points(v).is_empty())
        .collect();
    if present.is_empty() {
        return Ok(());
    }
    w.md.heading(2, "All variants per task");
    for task in &d.tasks {
        let lines: Vec<(&str, Vec<Cell>)> = present
            .iter()
            .map(|v| (*v, per_m(&d.middle_points(v), task)))
            .filter(|(_, c)| !c.is_empty())
            .collect();
        if lines.is_empty() {
            continue;
        }
        let slices: Vec<&[Cell]> = lines.iter().map(|(_, c)| c.as_slice()).collect();
        let mut series: Vec<Series> = lines
            .iter()
            .map(|(v, c)| series_of(d.display_name(v), c, false))
            .collect();
        references(d, task, x_span(&slices), &mut series);
        let chart = LineChart {
            title: format!("{}: {task}, every variant", w.model),
            x_label: "number of affected layers M".into(),
            y_label: w.score_label(task),
            series,
            ..LineChart::default()
        };
        w.md.heading(3, task.clone());
        w.line_chart(
            &chart,
            &format!("fig11_{}", file_safe(task)),
            &format!("{task} vs M, a line per variant"),
        )?;
    }
    Ok(())
}

/// The full model's score and the guessing floor of `task` as flat lines.
fn references(d: &Data, task: &str, span: Option<(f64, f64)>, series: &mut Vec<Series>) {
    let Some(span) = span else { return };
    if let Some(f) = d.full.get(task) {
        series.push(flat(FULL, f.value, span));
    }
    if let Some(n) = d.norm.tasks.get(task) {
        series.push(flat(format!("guessing ({})", n.floor), n.floor, span));
    }
}

/// Figs. 4–9: per variant, score vs M, one panel per task, and a table.
fn per_variant(w: &mut Writer) -> Result<(), SweepReportError> {
    let d = w.data;
    for (variant, fig, _) in MIDDLE {
        let points = d.middle_points(variant);
        if points.is_empty() {
            continue;
        }
        let name = d.display_name(variant);
        w.md.heading(2, format!("Fig. {fig}: {name}"));
        let mut columns: Vec<(String, Vec<Cell>)> = Vec::new();
        for task in &d.tasks {
            let cells = per_m(&points, task);
            if cells.is_empty() {
                continue;
            }
            let mut series = vec![series_of(name.clone(), &cells, true)];
            references(d, task, x_span(&[&cells]), &mut series);
            let chart = LineChart {
                title: format!("{}: {name}, {task}", w.model),
                x_label: "number of affected layers M".into(),
                y_label: w.score_label(task),
                series,
                ..LineChart::default()
            };
            w.line_chart(
                &chart,
                &format!("fig{fig}_{variant}_{}", file_safe(task)),
                &format!("{name} on {task} vs M"),
            )?;
            columns.push((task.clone(), cells));
        }
        let med = summary_per_m(d, &points);
        if !med.is_empty() {
            columns.push((d.summary_name().into(), med));
        }
        let mut t = m_table(&columns);
        // The start layer N of each row.
        t.headers.insert(1, "N".into());
        t.align.insert(1, Align::Right);
        let n_of: BTreeMap<u64, Option<usize>> = points
            .iter()
            .filter_map(|(p, _)| Some((p.m? as u64, p.n)))
            .collect();
        for row in &mut t.rows {
            let m: u64 = row.first().and_then(|s| s.parse().ok()).unwrap_or(0);
            let n = n_of.get(&m).copied().flatten();
            row.insert(1, n.map_or_else(String::new, |n| n.to_string()));
        }
        w.md.table(t);
    }
    Ok(())
}

/// Fig. 10: looped parallel, M × K heatmaps per task and of the normalized median.
fn fig10(w: &mut Writer) -> Result<(), SweepReportError> {
    let d = w.data;
    let points: Vec<_> = d
        .of_variant("looped_parallel")
        .into_iter()
        .filter(|(p, _)| p.m.is_some() && p.loops.is_some())
        .collect();
    let ks: BTreeSet<usize> = points.iter().filter_map(|(p, _)| p.loops).collect();
    if ks.len() < 2 {
        return Ok(());
    }
    let ms: BTreeSet<usize> = points.iter().filter_map(|(p, _)| p.m).collect();
    let ms: Vec<usize> = ms.into_iter().collect();
    // Largest K in the top row, so K grows upwards.
    let ks: Vec<usize> = ks.into_iter().rev().collect();
    let at = |m: usize, k: usize| {
        points
            .iter()
            .find(|(p, _)| p.m == Some(m) && p.loops == Some(k))
            .map(|(_, s)| s)
    };
    w.md.heading(2, "Fig. 10: looped parallel, M × K");
    w.md.paragraph(
        "Each cell is the score with the middle M blocks run in parallel and that parallel step \
         looped K times; grey cells were not run.",
    );
    let annotate = ms.len() <= 16 && ks.len() <= 16;
    let mut grids: Vec<(String, String, Vec<Vec<f64>>)> = Vec::new();
    if !d.norm.tasks.is_empty() || d.is_glue() {
        let values = ks
            .iter()
            .map(|&k| {
                ms.iter()
                    .map(|&m| at(m, k).and_then(|s| d.summary_of(s)).unwrap_or(f64::NAN))
                    .collect()
            })
            .collect();
        grids.push((d.summary_stem().into(), d.summary_name().into(), values));
    }
    for task in &d.tasks {
        let values = ks
            .iter()
            .map(|&k| {
                ms.iter()
                    .map(|&m| {
                        at(m, k)
                            .and_then(|s| s.get(task))
                            .map_or(f64::NAN, |s| s.value)
                    })
                    .collect()
            })
            .collect();
        grids.push((file_safe(task), w.score_label(task), values));
    }
    let mut best = Table::new(
        std::iter::once("M".to_string()).chain(
            grids
                .iter()
                .map(|(_, label, _)| format!("best K ({label})")),
        ),
    )
    .with_align(vec![Align::Right; grids.len() + 1]);
    for (j, m) in ms.iter().enumerate() {
        let mut row = vec![m.to_string()];
        for (_, _, values) in &grids {
            let best_k = ks
                .iter()
                .enumerate()
                .filter_map(|(i, k)| {
                    let v = values.get(i)?.get(j)?;
                    v.is_finite().then_some((*k, *v))
                })
                .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)));
            row.push(best_k.map_or_else(String::new, |(k, v)| format!("{k} ({})", f4(v))));
        }
        best.row(row);
    }
    for (stem, label, values) in grids {
        let chart = Heatmap {
            title: format!("{}: looped parallel, {label}", w.model),
            x_label: "number of affected layers M".into(),
            y_label: "loops K".into(),
            x_labels: ms.iter().map(usize::to_string).collect(),
            y_labels: ks.iter().map(usize::to_string).collect(),
            values,
            annotate,
            ..Heatmap::default()
        };
        w.md.heading(3, label.clone());
        w.heatmap(
            &chart,
            &format!("fig10_{stem}"),
            &format!("looped parallel {label}, M × K"),
        )?;
    }
    w.md.heading(3, "Best loop count per M");
    w.md.table(best);
    Ok(())
}

/// Fig. 2: skip one block / switch two neighbours, per block index.
fn fig2(w: &mut Writer) -> Result<(), SweepReportError> {
    let d = w.data;
    for (variant, title, x_label) in [
        ("skip_one", "skip block i", "skipped block i"),
        (
            "switch",
            "switch blocks i and i+1",
            "first switched block i",
        ),
    ] {
        let points = d.of_variant(variant);
        if points.is_empty() {
            continue;
        }
        let mut by_i: BTreeMap<usize, &BTreeMap<String, Score>> = BTreeMap::new();
        for (p, s) in &points {
            if let Some(i) = p.n {
                by_i.insert(i, s);
            }
        }
        w.md.heading(2, format!("Fig. 2: {title}"));
        let full = d.full_values();
        let mut series: Vec<Series> = d
            .norm
            .tasks
            .iter()
            .filter_map(|(task, n)| {
                let pts: Vec<(f64, f64)> = by_i
                    .iter()
                    .filter_map(|(i, s)| {
                        let v = normalize(s.get(task)?.value, n.floor, *full.get(task)?)?;
                        Some((*i as f64, v))
                    })
                    .collect();
                (!pts.is_empty()).then(|| Series::new(task.clone(), pts))
            })
            .collect();
        let medians: Vec<(f64, f64)> = by_i
            .iter()
            .filter_map(|(i, s)| Some((*i as f64, d.summary_of(s)?)))
            .collect();
        if !series.is_empty() {
            if series.len() > 1 && !medians.is_empty() {
                series.push(Series::new("median over tasks", medians.clone()));
            }
            let span = by_i
                .keys()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |a, &i| {
                    (a.0.min(i as f64), a.1.max(i as f64))
                });
            series.push(flat(FULL, 1.0, span));
            let chart = LineChart {
                title: format!("{}: {title}", w.model),
                x_label: x_label.into(),
                y_label: "normalized score (0 = guessing, 1 = full)".into(),
                series,
                ..LineChart::default()
            };
            w.line_chart(
                &chart,
                &format!("fig2_{variant}"),
                &format!("{title}: normalized score per task vs block index"),
            )?;
        }
        let mut headers = vec!["i".to_string()];
        headers.extend(d.tasks.iter().cloned());
        headers.push(d.summary_name().into());
        let mut t = Table::new(headers).with_align(vec![Align::Right; d.tasks.len() + 2]);
        for (i, s) in &by_i {
            let mut row = vec![i.to_string()];
            for task in &d.tasks {
                row.push(s.get(task).map_or_else(String::new, score_cell));
            }
            row.push(d.summary_of(s).map_or_else(String::new, f4));
            t.row(row);
        }
        w.md.table(t);
    }
    Ok(())
}
