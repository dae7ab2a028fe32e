//! The sweep report (`painters report`, and the end of `painters sweep` / `painters merge`): from
//! hand-built result sets written with the store's API, it draws the expected figures (and only
//! those the results allow), the SVGs carry the titles and series names, the Markdown links every
//! figure, and its tables hold the input numbers.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use painters_bench::report::sweep::{
    ResultFilter, SweepReportError, SweepReportMeta, load_results, report_folder,
};
use painters_bench::sweep::{NormConfig, PointMeta, Record, ResultKey, Store};
use serde_json::json;

const SHA: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
/// Blocks of the pretend model: N = 0, 1, 2 give M = 5, 3, 1.
const T: usize = 6;
const TASKS: [&str; 2] = ["arc_easy", "winogrande"];

fn out_dir(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("sweep-report-{name}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn point(variant: &str, n: Option<usize>, seed: Option<i64>, loops: Option<usize>) -> PointMeta {
    let middle = !matches!(variant, "full" | "skip_one" | "switch");
    let label = match (variant, n, seed, loops) {
        ("full", ..) => "full".to_string(),
        ("skip_one" | "switch", Some(i), ..) => format!("{variant}/i={i}"),
        (_, Some(n), Some(s), _) => format!("{variant}/n={n}/seed={s}"),
        ("looped_parallel", Some(n), _, Some(k)) => format!("{variant}/n={n}/loops={k}"),
        (_, Some(n), ..) => format!("{variant}/n={n}"),
        _ => unreachable!(),
    };
    PointMeta {
        label,
        variant: variant.into(),
        n,
        m: if middle {
            n.map(|n| T - 2 * n - 1)
        } else {
            None
        },
        seed,
        loops,
    }
}

/// The full model's score of a task.
fn full_score(task: &str) -> f64 {
    if task == "arc_easy" { 0.75 } else { 0.7 }
}

/// The made-up score of a point on a task (its normalization metric: acc_norm for arc_easy, acc
/// for winogrande), a multiple of 1/400 so that four decimals show it exactly.
fn score(p: &PointMeta, task: &str) -> f64 {
    let full = full_score(task);
    let m = p.m.unwrap_or(0) as f64;
    let t = if task == "arc_easy" { 1.0 } else { 0.5 };
    let drop = match p.variant.as_str() {
        "full" => 0.0,
        "skip" => 0.0625 * m * t,
        "middle_repeat" => 0.1 * m * t,
        "reverse" => 0.03 * m * t,
        "random" => (0.02 + 0.0025 * p.seed.unwrap_or(0) as f64) * m * t,
        "parallel" => 0.025 * m * t,
        "looped_parallel" => {
            // Best K grows with M: the drop is smallest at K = (M + 1) / 2.
            let k = p.loops.unwrap_or(1) as f64;
            (0.01 + 0.005 * (k - (m + 1.0) / 2.0).abs()) * m * t
        }
        "skip_one" | "switch" => {
            let i = p.n.unwrap_or(0);
            if i == 0 || i + 1 == T {
                0.25 * t
            } else {
                0.0125 * t
            }
        }
        other => panic!("{other}"),
    };
    ((full - drop) * 400.0).round() / 400.0
}

fn stderr_of(task: &str) -> f64 {
    if task == "arc_easy" { 0.0625 } else { 0.05 }
}

/// Write one result of `points` (which share it) on `task` into the store under `dir`.
fn write(dir: &Path, points: &[PointMeta], task: &str, limit: Option<usize>) {
    let p = &points[0];
    let v = score(p, task);
    let se = stderr_of(task);
    let metrics = if task == "arc_easy" {
        json!({"acc,none": v - 0.05, "acc_stderr,none": se, "acc_norm,none": v, "acc_norm_stderr,none": se, "alias": task})
    } else {
        json!({"acc,none": v, "acc_stderr,none": se, "alias": task})
    };
    let key = ResultKey {
        model_sha256: SHA.into(),
        schedule: p.label.clone(),
        task: task.into(),
        limit,
        seed: p.seed,
        finetune: None,
        data: format!("data of {task}"),
        settings: "weights=f32".into(),
        scoring: painters_bench::score::SCORING_VERSION,
    };
    let rec = Record::new(
        key,
        points.to_vec(),
        T,
        json!([]),
        json!({}),
        json!({"results": {task: metrics}}),
        json!({"seconds": 1.0}),
    )
    .unwrap();
    Store::open(dir).unwrap().write(&rec).unwrap();
}

/// Every experiment: full, skip, middle_repeat, reverse, random (3 seeds), parallel, looped
/// parallel K = 1..=4 (the grid), skip_one and switch. Parallel at M = 1 shares the full model's
/// result, as it does in a real sweep.
fn all_points() -> Vec<Vec<PointMeta>> {
    let mut v = vec![vec![
        point("full", None, None, None),
        point("parallel", Some(2), None, Some(1)),
    ]];
    for n in 0..=2 {
        for variant in ["skip", "middle_repeat", "reverse"] {
            v.push(vec![point(variant, Some(n), None, None)]);
        }
        for seed in 0..3 {
            v.push(vec![point("random", Some(n), Some(seed), None)]);
        }
        if n < 2 {
            v.push(vec![point("parallel", Some(n), None, Some(1))]);
        }
        for k in 1..=4 {
            v.push(vec![point("looped_parallel", Some(n), None, Some(k))]);
        }
    }
    for i in 0..T {
        v.push(vec![point("skip_one", Some(i), None, None)]);
        if i + 1 < T {
            v.push(vec![point("switch", Some(i), None, None)]);
        }
    }
    v
}

fn write_all(dir: &Path, sets: &[Vec<PointMeta>], limit: Option<usize>) {
    for pts in sets {
        for task in TASKS {
            write(dir, pts, task, limit);
        }
    }
}

fn meta() -> SweepReportMeta {
    SweepReportMeta {
        model: Some("Pretend-6".into()),
        command: Some("painters sweep --experiment all".into()),
        wall_seconds: Some(12.0),
        norm: NormConfig::defaults_for(&TASKS),
    }
}

fn figure_stems(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir.join("figures"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// The Markdown table row whose first cells are `first`.
fn row<'a>(md: &'a str, after_heading: &str, first: &str) -> &'a str {
    let start = md
        .find(after_heading)
        .unwrap_or_else(|| panic!("no {after_heading:?}"));
    md[start..]
        .lines()
        .find(|l| l.starts_with(first))
        .unwrap_or_else(|| panic!("no row {first:?} after {after_heading:?}"))
}

fn f4(v: f64) -> String {
    format!("{v:.4}")
}

#[test]
fn every_figure_of_a_full_sweep_is_drawn_linked_and_tabled() {
    let dir = out_dir("all");
    write_all(&dir, &all_points(), Some(20));
    let (loaded, files) = report_folder(&dir, &ResultFilter::default(), &meta()).unwrap();
    assert!(loaded.unusable.is_empty());
    assert_eq!(loaded.set_aside, 0);

    let mut stems = vec![
        "fig11_normalized_median".to_string(),
        "fig10_normalized_median".into(),
        "fig2_skip_one".into(),
        "fig2_switch".into(),
    ];
    for task in TASKS {
        stems.push(format!("fig11_{task}"));
        stems.push(format!("fig10_{task}"));
        for (fig, v) in [
            (4, "skip"),
            (5, "middle_repeat"),
            (6, "reverse"),
            (7, "random"),
            (8, "parallel"),
            (9, "looped_parallel"),
        ] {
            stems.push(format!("fig{fig}_{v}_{task}"));
        }
    }
    let want: BTreeSet<String> = stems
        .iter()
        .flat_map(|s| [format!("{s}.svg"), format!("{s}.png")])
        .collect();
    assert_eq!(figure_stems(&dir), want);
    assert_eq!(files.figures.len(), want.len());
    for f in &files.figures {
        assert!(
            std::fs::metadata(f).unwrap().len() > 1000,
            "{}",
            f.display()
        );
    }

    // Every figure is linked from the report (PNG embedded, SVG linked).
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    for f in &want {
        assert!(
            md.contains(&format!("(figures/{f})")),
            "report.md does not link {f}"
        );
    }
    for s in &stems {
        assert!(md.contains("![") && md.contains(&format!("](figures/{s}.png)")));
    }

    // The SVGs carry titles and series names.
    let svg =
        |s: &str| std::fs::read_to_string(dir.join("figures").join(format!("{s}.svg"))).unwrap();
    let fig11 = svg("fig11_normalized_median");
    for name in [
        "Pretend-6: normalized median over tasks",
        "Skip",
        "Middle Repeat",
        "Reversed",
        "Random (mean of 3 seeds)",
        "Parallel",
        "Looped Parallel 3X",
        "full model",
    ] {
        assert!(fig11.contains(name), "fig11 SVG lacks {name:?}");
    }
    let fig7 = svg("fig7_random_arc_easy");
    for name in [
        "Pretend-6: Random (mean of 3 seeds), arc_easy",
        "full model",
        "guessing (0.25)",
    ] {
        assert!(fig7.contains(name), "fig7 SVG lacks {name:?}");
    }
    let fig2 = svg("fig2_skip_one");
    for name in [
        "skip block i",
        "arc_easy",
        "winogrande",
        "median over tasks",
    ] {
        assert!(fig2.contains(name), "fig2 SVG lacks {name:?}");
    }
    assert!(svg("fig10_winogrande").contains("looped parallel"));

    // The floors are stated, with the full model's scores.
    assert!(
        md.contains("| arc_easy | acc_norm,none | 0.2500 | 0.7500 ± 0.0625 |"),
        "{md}"
    );
    assert!(md.contains("| winogrande | acc,none | 0.5000 | 0.7000 ± 0.0500 |"));

    // Fig. 4 table: skip at N = 1 (M = 3), value ± stderr per task, and the normalized median.
    let skip1 = point("skip", Some(1), None, None);
    let r = row(&md, "## Fig. 4: Skip", "| 3 | 1 |");
    let (a, w) = (score(&skip1, "arc_easy"), score(&skip1, "winogrande"));
    assert!(r.contains(&format!("{} ± 0.0625", f4(a))), "{r}");
    assert!(r.contains(&format!("{} ± 0.0500", f4(w))), "{r}");
    let med = ((a - 0.25) / 0.5 + (w - 0.5) / 0.2) / 2.0;
    assert!(r.ends_with(&format!("| {} |", f4(med))), "{r} vs {med}");

    // Fig. 7 table: the seeds' mean, sd, min and max.
    let seeds: Vec<f64> = (0..3)
        .map(|s| score(&point("random", Some(0), Some(s), None), "arc_easy"))
        .collect();
    let mean = seeds.iter().sum::<f64>() / 3.0;
    let sd = (seeds.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 2.0).sqrt();
    let r = row(&md, "## Fig. 7:", "| 5 | 0 |");
    assert!(
        r.contains(&format!(
            "{} ± {} sd [{}, {}] (n=3)",
            f4(mean),
            f4(sd),
            f4(seeds[2]),
            f4(seeds[0])
        )),
        "{r}"
    );

    // Parallel at M = 1 is the full model's shared result.
    let r = row(&md, "## Fig. 8:", "| 1 | 2 |");
    assert!(
        r.contains("0.7500 ± 0.0625") && r.contains("| 1.0000 |"),
        "{r}"
    );

    // Fig. 10: the best K per M follows the made-up optimum K = (M + 1) / 2.
    assert!(row(&md, "### Best loop count per M", "| 1 |").starts_with("| 1 | 1 ("));
    assert!(row(&md, "### Best loop count per M", "| 3 |").starts_with("| 3 | 2 ("));
    assert!(row(&md, "### Best loop count per M", "| 5 |").starts_with("| 5 | 3 ("));

    // Fig. 2 table: raw scores per block index.
    let r = row(&md, "## Fig. 2: skip block i", "| 0 |");
    let s0 = score(&point("skip_one", Some(0), None, None), "arc_easy");
    assert!(r.contains(&format!("{} ± 0.0625", f4(s0))), "{r}");

    // The run table.
    assert!(md.contains("| documents per task | first 20 |"));
    assert!(md.contains("| wall time | 12 s |"));
    assert!(md.contains("painters sweep --experiment all"));
}

#[test]
fn a_sweep_of_two_experiments_draws_only_those() {
    let dir = out_dir("two");
    let sets: Vec<Vec<PointMeta>> = all_points()
        .into_iter()
        .filter(|pts| matches!(pts[0].variant.as_str(), "full" | "skip" | "parallel"))
        .collect();
    write_all(&dir, &sets, None);
    let (_, files) = report_folder(&dir, &ResultFilter::default(), &meta()).unwrap();
    let stems: BTreeSet<String> = figure_stems(&dir)
        .into_iter()
        .filter_map(|f| f.strip_suffix(".svg").map(str::to_string))
        .collect();
    let want: BTreeSet<String> = [
        "fig11_normalized_median",
        "fig11_arc_easy",
        "fig11_winogrande",
        "fig4_skip_arc_easy",
        "fig4_skip_winogrande",
        "fig8_parallel_arc_easy",
        "fig8_parallel_winogrande",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(stems, want);
    assert_eq!(files.figures.len(), 2 * want.len());
    let md = std::fs::read_to_string(&files.report).unwrap();
    for absent in ["Fig. 2", "Fig. 5", "Fig. 6", "Fig. 7", "Fig. 9", "Fig. 10"] {
        assert!(!md.contains(absent), "{absent} in {md}");
    }
    assert!(md.contains("| documents per task | all |"));
    let fig11 = std::fs::read_to_string(dir.join("figures/fig11_normalized_median.svg")).unwrap();
    assert!(fig11.contains("Skip") && fig11.contains("Parallel"));
    assert!(!fig11.contains("Reversed"));
}

#[test]
fn other_limits_and_unusable_files_are_set_aside() {
    let dir = out_dir("mixed");
    let sets: Vec<Vec<PointMeta>> = all_points()
        .into_iter()
        .filter(|pts| matches!(pts[0].variant.as_str(), "full" | "skip"))
        .collect();
    write_all(&dir, &sets, Some(20));
    write_all(&dir, &sets[..2], Some(2));
    std::fs::write(dir.join("results/0000.json"), "{ not json").unwrap();

    let loaded = load_results(&dir, &ResultFilter::default()).unwrap();
    // One entry per point and task (the full model's result also stands for parallel at M = 1).
    let points: usize = sets.iter().map(Vec::len).sum();
    assert_eq!(loaded.entries.len(), 2 * points);
    assert!(
        loaded
            .entries
            .iter()
            .all(|e| e.record.key.limit == Some(20))
    );
    assert_eq!(loaded.set_aside, 4);
    assert_eq!(loaded.unusable.len(), 1);
    // The full model comes first.
    assert_eq!(loaded.entries[0].point.variant, "full");

    let two = ResultFilter {
        limit: Some(Some(2)),
        ..ResultFilter::default()
    };
    let loaded = load_results(&dir, &two).unwrap();
    assert_eq!(loaded.entries.len(), 2 * 3);
    let wino = ResultFilter {
        tasks: Some(["winogrande".to_string()].into()),
        ..ResultFilter::default()
    };
    let loaded = load_results(&dir, &wino).unwrap();
    assert_eq!(loaded.entries.len(), points);
    assert!(
        loaded
            .entries
            .iter()
            .all(|e| e.record.key.task == "winogrande")
    );
    assert_eq!(loaded.set_aside, sets.len() + 4);

    let (_, files) = report_folder(&dir, &ResultFilter::default(), &meta()).unwrap();
    let md = std::fs::read_to_string(files.report).unwrap();
    assert!(
        md.contains(
            "Not reported: 4 results of another model, `--limit` or task, 1 unusable files"
        )
    );

    let empty = out_dir("empty");
    assert!(matches!(
        report_folder(&empty, &ResultFilter::default(), &meta()),
        Err(SweepReportError::NotASweep(_))
    ));
    std::fs::create_dir_all(empty.join("results")).unwrap();
    assert!(matches!(
        report_folder(&empty, &ResultFilter::default(), &meta()),
        Err(SweepReportError::Empty(_))
    ));
}

#[test]
fn painters_report_regenerates_the_report() {
    let dir = out_dir("cli");
    let sets: Vec<Vec<PointMeta>> = all_points()
        .into_iter()
        .filter(|pts| matches!(pts[0].variant.as_str(), "full" | "reverse"))
        .collect();
    write_all(&dir, &sets, Some(5));
    let out = Command::new(env!("CARGO_BIN_EXE_painters"))
        .args(["report", dir.to_str().unwrap(), "--model-name", "Tiny"])
        .args(["--floor", "winogrande=0.4"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.starts_with("# Sweep report: Tiny\n"));
    assert!(md.contains("| winogrande | acc,none | 0.4000 |"));
    assert!(dir.join("figures/fig6_reverse_winogrande.png").is_file());

    let out = Command::new(env!("CARGO_BIN_EXE_painters"))
        .args(["report", dir.join("nope").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no results/ folder") && err.contains("hint:"),
        "{err}"
    );
}
