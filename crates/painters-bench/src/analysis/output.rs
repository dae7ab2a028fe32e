//! Every number of a [`LayerAnalysis`] as JSON and CSV files.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::{AnalysisError, LayerAnalysis, Matrix, SimilarityMode};

fn write(path: &Path, text: &str) -> Result<(), AnalysisError> {
    std::fs::write(path, text).map_err(|source| AnalysisError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// A quoted CSV field when it needs one.
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) || s.starts_with(' ') || s.ends_with(' ') {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// A labelled square matrix as CSV: a header row `state,<labels…>`, then one row per label.
pub fn write_csv_matrix(path: &Path, labels: &[String], m: &Matrix) -> Result<(), AnalysisError> {
    let mut s = String::from("state");
    for l in labels {
        let _ = write!(s, ",{}", field(l));
    }
    s.push('\n');
    for (l, row) in labels.iter().zip(m) {
        s.push_str(&field(l));
        for v in row {
            let _ = write!(s, ",{v}");
        }
        s.push('\n');
    }
    write(path, &s)
}

/// Write `analysis.json` and the CSVs into `dir` (which must exist): one similarity matrix per
/// mode in `modes` (`similarity_<mode>.csv`), `angular_distance.csv` (n, start, distance),
/// `block_influence.csv`, and for the logit lens `logit_lens_summary.csv` and
/// `logit_lens_samples.csv`. Returns the paths written.
pub fn write_outputs(
    analysis: &LayerAnalysis,
    modes: &[SimilarityMode],
    dir: &Path,
) -> Result<Vec<PathBuf>, AnalysisError> {
    let mut written = Vec::new();
    let path = dir.join("analysis.json");
    write(&path, &serde_json::to_string_pretty(analysis)?)?;
    written.push(path);

    for &mode in modes {
        let path = dir.join(format!("similarity_{}.csv", mode.name().replace('-', "_")));
        write_csv_matrix(&path, &analysis.labels, analysis.similarity.matrix(mode))?;
        written.push(path);
    }
    let path = dir.join("angular_distance_matrix.csv");
    write_csv_matrix(
        &path,
        &analysis.labels,
        &analysis.similarity.last_token_angular,
    )?;
    written.push(path);

    let mut s = String::from("n,start,distance,best_start\n");
    for row in &analysis.angular {
        for (l, d) in row.distances.iter().enumerate() {
            let _ = writeln!(s, "{},{l},{d},{}", row.n, row.best_start);
        }
    }
    let path = dir.join("angular_distance.csv");
    write(&path, &s)?;
    written.push(path);

    let mut s = String::from("block,block_influence\n");
    for (i, bi) in analysis.block_influence.iter().enumerate() {
        let _ = writeln!(s, "{i},{bi}");
    }
    let path = dir.join("block_influence.csv");
    write(&path, &s)?;
    written.push(path);

    if let Some(lens) = &analysis.logit_lens {
        let mut s = String::from("state,label,top1,topk,median_rank,mrr,mean_target_logprob\n");
        for r in &lens.summary {
            let label = analysis.labels.get(r.state).map_or("", String::as_str);
            let _ = writeln!(
                s,
                "{},{},{},{},{},{},{}",
                r.state,
                field(label),
                r.top1,
                r.topk,
                r.median_rank,
                r.mrr,
                r.mean_target_logprob
            );
        }
        let path = dir.join("logit_lens_summary.csv");
        write(&path, &s)?;
        written.push(path);

        let mut s = String::from(
            "doc,position,target,target_text,state,rank,target_logprob,top_ids,top_texts,top_logprobs\n",
        );
        for sample in &lens.samples {
            for (state, r) in sample.states.iter().enumerate() {
                let join = |f: &dyn Fn(&super::TopToken) -> String| {
                    r.top.iter().map(f).collect::<Vec<_>>().join("|")
                };
                let _ = writeln!(
                    s,
                    "{},{},{},{},{state},{},{},{},{},{}",
                    sample.doc,
                    sample.position,
                    sample.target,
                    field(&sample.target_text),
                    r.rank,
                    r.target_logprob,
                    join(&|t| t.id.to_string()),
                    field(&join(&|t| t.text.clone())),
                    join(&|t| format!("{:.4}", t.logprob)),
                );
            }
        }
        let path = dir.join("logit_lens_samples.csv");
        write(&path, &s)?;
        written.push(path);
    }
    Ok(written)
}
