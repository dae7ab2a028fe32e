//! The report's overview and tables.

use std::collections::{BTreeMap, BTreeSet};

use crate::report::markdown::{Align, Table};
use crate::report::sweep::data::{Cell, Score};
use crate::report::sweep::meta::SweepReportMeta;
use crate::report::sweep::writer::{Writer, f4, score_cell, table_cell};
use crate::sweep::PointMeta;

pub(super) fn overview(w: &mut Writer, meta: &SweepReportMeta) {
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
pub(super) fn glue_overview(w: &mut Writer) {
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

/// `"accuracy,none"` → `"accuracy"`.
pub(super) fn metric_name(key: &str) -> &str {
    key.split(',').next().unwrap_or(key)
}

/// GLUE sweeps: every point's main metric per task and its GLUE average, the full model first.
pub(super) fn glue_table(w: &mut Writer) {
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
pub(super) fn m_table(lines: &[(String, Vec<Cell>)]) -> Table {
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
