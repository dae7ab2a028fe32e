//! The paper's figures from a sweep's results: Fig. 11 (summary vs M, and per task), Figs. 4–9
//! (per variant), Fig. 10 (looped parallel heatmaps), Fig. 2 (skip one / switch).

use std::collections::{BTreeMap, BTreeSet};

use crate::report::markdown::{Align, Table};
use crate::report::plot::{Heatmap, LineChart, Series};
use crate::report::sweep::data::{Cell, Data, FULL, MIDDLE, Score, per_m, summary_per_m};
use crate::report::sweep::error::SweepReportError;
use crate::report::sweep::tables::{glue_table, m_table, metric_name};
use crate::report::sweep::writer::{Writer, f4, file_safe, flat, score_cell, series_of, x_span};
use crate::sweep::summary::normalize;

/// The summary over tasks vs M, a line per variant: Fig. 11's normalized median, or for a GLUE
/// sweep the GLUE average (the paper's BERT figure), with the full model as reference.
pub(super) fn fig11(w: &mut Writer) -> Result<(), SweepReportError> {
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
    w.figure(
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

/// Fig. 11 per task: the raw score vs M, a line per variant.
pub(super) fn per_task(w: &mut Writer) -> Result<(), SweepReportError> {
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
        w.figure(
            &chart,
            &format!("fig11_{}", file_safe(task)),
            &format!("{task} vs M, a line per variant"),
        )?;
    }
    Ok(())
}

/// The full model's score and the guessing floor of `task` as flat lines.
pub(super) fn references(d: &Data, task: &str, span: Option<(f64, f64)>, series: &mut Vec<Series>) {
    let Some(span) = span else { return };
    if let Some(f) = d.full.get(task) {
        series.push(flat(FULL, f.value, span));
    }
    if let Some(n) = d.norm.tasks.get(task) {
        series.push(flat(format!("guessing ({})", n.floor), n.floor, span));
    }
}

/// Figs. 4–9: per variant, score vs M, one panel per task, and a table.
pub(super) fn per_variant(w: &mut Writer) -> Result<(), SweepReportError> {
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
            w.figure(
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
pub(super) fn fig10(w: &mut Writer) -> Result<(), SweepReportError> {
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
        w.figure(
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
pub(super) fn fig2(w: &mut Writer) -> Result<(), SweepReportError> {
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
            w.figure(
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
