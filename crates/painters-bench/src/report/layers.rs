//! The layer-analysis report: similarity heatmaps (the paper's Figure 3), Block Influence, angular
//! distances, the logit lens, as SVG + PNG charts and a `report.md` that embeds them.

use std::path::{Path, PathBuf};

use super::markdown::{Align, Report, Table};
use super::plot::{Heatmap, LineChart, Series};
use super::{ReportError, write_both};
use crate::analysis::{LayerAnalysis, SimilarityMode};

/// What the report says about the run besides the numbers.
#[derive(Clone, Debug, Default)]
pub struct LayerReportMeta {
    /// Short model name for titles (e.g. `SmolLM2-135M-Instruct Q4_1`).
    pub model: String,
    /// Data set description (e.g. `lambada_openai, 100 docs`).
    pub data: String,
    /// The command that produced the run, shown verbatim.
    pub command: Option<String>,
    pub wall_seconds: Option<f64>,
}

const STATE_AXIS: &str = "state (emb = embedding output, j = output of block j)";

/// The similarity heatmap of one mode.
pub fn similarity_heatmap(
    analysis: &LayerAnalysis,
    mode: SimilarityMode,
    meta: &LayerReportMeta,
) -> Heatmap {
    Heatmap {
        title: format!("{}: cosine similarity ({} mode)", meta.model, mode.name()),
        x_label: STATE_AXIS.into(),
        y_label: "state".into(),
        x_labels: analysis.labels.clone(),
        y_labels: analysis.labels.clone(),
        values: analysis.similarity.matrix(mode).clone(),
        ..Heatmap::default()
    }
}

/// Block Influence per block.
pub fn block_influence_chart(analysis: &LayerAnalysis, meta: &LayerReportMeta) -> LineChart {
    let pts = analysis
        .block_influence
        .iter()
        .enumerate()
        .map(|(i, &b)| (i as f64, b))
        .collect();
    LineChart {
        title: format!("{}: Block Influence (ShortGPT)", meta.model),
        x_label: "block".into(),
        y_label: "BI = 1 − mean token cos(in, out)".into(),
        series: vec![Series::new("BI", pts)],
        ..LineChart::default()
    }
}

/// The block counts drawn in the angular-distance chart: 1, 2, 4, … and T/2, at most 6.
fn angular_ns(t: usize) -> Vec<usize> {
    let mut ns: Vec<usize> = std::iter::successors(Some(1usize), |n| Some(n * 2))
        .take_while(|&n| n < t)
        .collect();
    if t >= 4 && !ns.contains(&(t / 2)) {
        ns.push(t / 2);
        ns.sort_unstable();
    }
    while ns.len() > 6 {
        ns.remove(ns.len() / 2);
    }
    ns
}

/// Angular distance of the last token between states ℓ and ℓ+n, for a few n.
pub fn angular_chart(analysis: &LayerAnalysis, meta: &LayerReportMeta) -> LineChart {
    let t = analysis.block_influence.len();
    let series = angular_ns(t)
        .into_iter()
        .filter_map(|n| analysis.angular.iter().find(|r| r.n == n))
        .map(|r| {
            let pts = r
                .distances
                .iter()
                .enumerate()
                .map(|(l, &d)| (l as f64, d))
                .collect();
            Series::new(format!("n = {}", r.n), pts)
        })
        .collect();
    LineChart {
        title: format!(
            "{}: angular distance d(x^ℓ, x^(ℓ+n)), last token",
            meta.model
        ),
        x_label: "first block ℓ".into(),
        y_label: "arccos(cos) / π".into(),
        series,
        ..LineChart::default()
    }
}

/// Logit lens accuracy per state.
pub fn logit_lens_chart(analysis: &LayerAnalysis, meta: &LayerReportMeta) -> Option<LineChart> {
    let lens = analysis.logit_lens.as_ref()?;
    let line = |name: String, f: &dyn Fn(&crate::analysis::LensSummary) -> f64| {
        Series::new(
            name,
            lens.summary
                .iter()
                .map(|s| (s.state as f64, f(s)))
                .collect(),
        )
    };
    Some(LineChart {
        title: format!("{}: logit lens on the target token", meta.model),
        x_label: STATE_AXIS.into(),
        y_label: "fraction of samples / MRR".into(),
        series: vec![
            line("top-1".into(), &|s| s.top1),
            line(format!("top-{}", lens.k), &|s| s.topk),
            line("mean reciprocal rank".into(), &|s| s.mrr),
        ],
        y_range: Some((0.0, 1.0)),
        ..LineChart::default()
    })
}

fn f4(v: f64) -> String {
    format!("{v:.4}")
}

/// Draw every chart into `dir` and write `dir/report.md` embedding them; returns the paths written.
pub fn write_layer_report(
    analysis: &LayerAnalysis,
    modes: &[SimilarityMode],
    meta: &LayerReportMeta,
    dir: &Path,
) -> Result<Vec<PathBuf>, ReportError> {
    let mut written = Vec::new();
    let sim = &analysis.similarity;
    let mut r = Report::new(format!("Layer analysis: {}", meta.model));
    let mut run = Table::new(["", ""]);
    run.row(["model", meta.model.as_str()]);
    run.row(["data", meta.data.as_str()]);
    run.row([
        "samples / batches / real tokens".to_string(),
        format!("{} / {} / {}", sim.samples, sim.batches, sim.tokens),
    ]);
    run.row([
        "states".to_string(),
        format!(
            "{} (embedding output + {} blocks, before the final norm)",
            sim.states,
            sim.states.saturating_sub(1)
        ),
    ]);
    run.row([
        "batching".to_string(),
        format!(
            "batch size {}, right-padded with id {}, {}",
            analysis.options.batch_size,
            analysis.options.pad_id,
            if analysis.options.sort_by_length {
                "sorted by length (lm-eval order)"
            } else {
                "in data order"
            }
        ),
    ]);
    if let Some(s) = meta.wall_seconds {
        run.row(["wall time".to_string(), format!("{s:.1} s")]);
    }
    r.table(run);
    if let Some(c) = &meta.command {
        r.code("sh", c.clone());
    }

    r.heading(2, "Similarity between states");
    r.paragraph(
        "Cosine similarity between every pair of residual states. `paper`: each sample's whole \
         sequence flattened, padding included, cosine per sample, averaged over the samples of a \
         batch and then over batches (the paper's Figure 3). `token-mean`: cosine per real token, \
         averaged over tokens (ShortGPT). `last-token`: cosine at each sample's last real token \
         (Gromov et al.).",
    );
    for &mode in modes {
        let stem = format!("similarity_{}", mode.name().replace('-', "_"));
        written.extend(write_both(
            &similarity_heatmap(analysis, mode, meta),
            dir,
            &stem,
        )?);
        r.heading(3, format!("{} mode", mode.name()));
        r.image(
            format!("cosine similarity, {} mode", mode.name()),
            format!("{stem}.png"),
        );
        r.paragraph(format!(
            "[SVG]({stem}.svg) · [CSV]({stem}.csv) · adjacent states: {}",
            adjacent_summary(sim.matrix(mode))
        ));
    }

    r.heading(2, "Block Influence (ShortGPT)");
    written.extend(write_both(
        &block_influence_chart(analysis, meta),
        dir,
        "block_influence",
    )?);
    r.image("Block Influence per block", "block_influence.png");
    let mut order: Vec<usize> = (0..analysis.block_influence.len()).collect();
    order.sort_by(|&a, &b| analysis.block_influence[a].total_cmp(&analysis.block_influence[b]));
    r.paragraph(format!(
        "Lowest BI (ShortGPT removes these first): {}. Highest: {}.",
        order
            .iter()
            .take(5)
            .map(|&i| format!("block {i} ({:.4})", analysis.block_influence[i]))
            .collect::<Vec<_>>()
            .join(", "),
        order
            .iter()
            .rev()
            .take(3)
            .map(|&i| format!("block {i} ({:.4})", analysis.block_influence[i]))
            .collect::<Vec<_>>()
            .join(", "),
    ));

    r.heading(2, "Angular distance (Gromov et al.)");
    written.extend(write_both(
        &angular_chart(analysis, meta),
        dir,
        "angular_distance",
    )?);
    r.image("angular distance by first block", "angular_distance.png");
    let mut t = Table::new(["n blocks", "best ℓ*", "prune blocks", "d(x^ℓ*, x^(ℓ*+n))"])
        .with_align(vec![Align::Right, Align::Right, Align::Left, Align::Right]);
    for row in &analysis.angular {
        t.row([
            row.n.to_string(),
            row.best_start.to_string(),
            format!("{}..={}", row.best_start, row.best_start + row.n - 1),
            f4(row.best),
        ]);
    }
    r.table(t);

    if let Some(lens) = &analysis.logit_lens
        && let Some(chart) = logit_lens_chart(analysis, meta)
    {
        r.heading(2, "Logit lens");
        written.extend(write_both(&chart, dir, "logit_lens")?);
        r.image("logit lens accuracy per state", "logit_lens.png");
        r.paragraph(format!(
            "Each state through the final norm and the LM head, at the position that predicts the \
             target (the first token of the continuation); ranks are 1-based. Top-{} per sample \
             are in `logit_lens_samples.csv`; tokens are shown as Rust string literals.",
            lens.k
        ));
        let mut t = Table::new([
            "state",
            "top-1",
            &format!("top-{}", lens.k),
            "median rank",
            "MRR",
            "mean log p(target)",
        ])
        .with_align(vec![Align::Right; 6]);
        for s in &lens.summary {
            t.row([
                analysis.labels.get(s.state).cloned().unwrap_or_default(),
                format!("{:.2}", s.top1),
                format!("{:.2}", s.topk),
                format!("{}", s.median_rank),
                format!("{:.3}", s.mrr),
                format!("{:.2}", s.mean_target_logprob),
            ]);
        }
        r.table(t);
        if let Some(sample) = lens.samples.first() {
            r.heading(
                3,
                format!("Sample {} (target `{:?}`)", sample.doc, sample.target_text),
            );
            let mut t = Table::new(["state", "rank", "top tokens"]).with_align(vec![
                Align::Right,
                Align::Right,
                Align::Left,
            ]);
            for (i, reading) in sample.states.iter().enumerate() {
                let tops = reading
                    .top
                    .iter()
                    .map(|tok| format!("`{:?}`", tok.text))
                    .collect::<Vec<_>>()
                    .join(" ");
                t.row([
                    analysis.labels.get(i).cloned().unwrap_or_default(),
                    reading.rank.to_string(),
                    tops,
                ]);
            }
            r.table(t);
        }
    }
    r.heading(2, "Files");
    r.paragraph(
        "`analysis.json` holds every number; the CSVs hold the matrices \
         (`similarity_*.csv`, `angular_distance_matrix.csv`), `angular_distance.csv`, \
         `block_influence.csv` and the logit lens (`logit_lens_summary.csv`, \
         `logit_lens_samples.csv`).",
    );
    let path = dir.join("report.md");
    r.write(&path).map_err(|source| ReportError::Io {
        path: path.clone(),
        source,
    })?;
    written.push(path);
    Ok(written)
}

/// `min … max` of cos(state i, state i+1).
fn adjacent_summary(m: &[Vec<f64>]) -> String {
    let adj: Vec<f64> = (0..m.len().saturating_sub(1))
        .map(|i| m[i][i + 1])
        .collect();
    let lo = adj.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = adj.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if adj.is_empty() {
        "none".into()
    } else {
        format!("cos(i, i+1) from {lo:.4} to {hi:.4}")
    }
}
