//! Plots (SVG and PNG) and the Markdown report writer.

use std::path::{Path, PathBuf};

use painters_bench::analysis::{
    AnalysisOptions, LayerAnalysis, SimilarityAccumulator, angular_distances, block_influence,
    sample_grams_host, state_labels,
};
use painters_bench::report::layers::{LayerReportMeta, write_layer_report};
use painters_bench::report::{
    Align, Heatmap, LineChart, PlotError, Report, Series, Table, relative_path, svg_string,
    write_png, write_svg,
};

fn out_dir(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("report-{name}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Decode a PNG; returns its width, height and how many distinct colours it has.
fn decode_png(path: &Path) -> (u32, u32, usize) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let px = info.color_type.samples();
    let colours: std::collections::HashSet<&[u8]> = buf[..info.buffer_size()].chunks(px).collect();
    (info.width, info.height, colours.len())
}

fn line_chart() -> LineChart {
    let xs = [1.0, 3.0, 5.0, 7.0, 9.0];
    LineChart {
        title: "Benchmark vs M".into(),
        x_label: "number of affected layers M".into(),
        y_label: "normalized score".into(),
        series: vec![
            Series::new("Skip", xs.iter().map(|&x| (x, 1.0 - x / 12.0)).collect()),
            Series::new(
                "Parallel",
                xs.iter().map(|&x| (x, 1.0 - x / 20.0)).collect(),
            )
            .with_band(
                xs.iter()
                    .map(|&x| (x, 0.9 - x / 20.0, 1.0 - x / 25.0))
                    .collect(),
            ),
            // Non-finite points are skipped, not drawn.
            Series::new(
                "Looped Parallel 3X",
                vec![(1.0, 0.99), (3.0, f64::NAN), (5.0, 0.9)],
            ),
        ],
        ..LineChart::default()
    }
}

fn heatmap() -> Heatmap {
    let n = 7;
    Heatmap {
        title: "Cosine similarity".into(),
        x_label: "layer".into(),
        y_label: "layer".into(),
        x_labels: state_labels(n),
        y_labels: state_labels(n),
        values: (0..n)
            .map(|a| {
                (0..n)
                    .map(|b| 1.0 - (a as f64 - b as f64).abs() / n as f64)
                    .collect()
            })
            .collect(),
        ..Heatmap::default()
    }
}

#[test]
fn line_chart_svg_and_png() {
    let dir = out_dir("line");
    let chart = line_chart();
    let svg = dir.join("line.svg");
    let png = dir.join("line.png");
    write_svg(&chart, &svg).unwrap();
    write_png(&chart, &png).unwrap();
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg"), "{}", &text[..80.min(text.len())]);
    for s in [
        "Benchmark vs M",
        "Skip",
        "Parallel",
        "Looped Parallel 3X",
        "number of affected layers M",
        "normalized score",
    ] {
        assert!(text.contains(s), "SVG lacks `{s}`");
    }
    assert_eq!(text, svg_string(&chart).unwrap());
    let (w, h, colours) = decode_png(&png);
    assert_eq!((w, h), chart.size);
    // Text, lines and bands give many colours; a blank image has one.
    assert!(colours > 20, "{colours} colours");
}

#[test]
fn heatmap_svg_and_png_with_colour_bar_and_sizes() {
    let dir = out_dir("heat");
    let mut chart = heatmap();
    chart.size = (640, 560);
    chart.annotate = true;
    chart.values[2][3] = f64::NAN; // missing cell: grey, not an error
    let svg = dir.join("heat.svg");
    let png = dir.join("heat.png");
    write_svg(&chart, &svg).unwrap();
    write_png(&chart, &png).unwrap();
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.contains("Cosine similarity"));
    // Text elements hold their text on its own line.
    let texts: Vec<&str> = text.lines().map(str::trim).collect();
    assert!(texts.contains(&"emb"), "axis tick labels");
    assert!(texts.contains(&"0.86"), "cell annotations");
    let (w, h, colours) = decode_png(&png);
    assert_eq!((w, h), (640, 560));
    assert!(
        colours > 50,
        "{colours} colours (viridis cells and colour bar)"
    );
}

#[test]
fn bad_chart_data_is_an_error_not_a_panic() {
    let dir = out_dir("bad");
    let mut h = heatmap();
    h.values[1].pop();
    assert!(matches!(
        write_svg(&h, &dir.join("x.svg")),
        Err(PlotError::Invalid(_))
    ));
    let mut h = heatmap();
    h.x_labels.pop();
    assert!(write_png(&h, &dir.join("x.png")).is_err());
    let h = Heatmap::default();
    assert!(svg_string(&h).is_err());
    let mut l = line_chart();
    l.y_range = Some((1.0, 0.0));
    assert!(svg_string(&l).is_err());
    // An empty line chart still draws (axes only).
    assert!(svg_string(&LineChart::default()).is_ok());
    // Writing into a missing folder fails with an error.
    assert!(write_png(&line_chart(), &dir.join("no/such/dir/x.png")).is_err());
    assert!(write_svg(&line_chart(), &dir.join("no/such/dir/x.svg")).is_err());
}

#[test]
fn markdown_report_embeds_images_and_tables() {
    let mut t = Table::new(["variant", "score"]).with_align(vec![Align::Left, Align::Right]);
    t.row(["skip | 3", "0.71"]);
    t.row(["parallel"]);
    let mut r = Report::new("Sweep");
    r.paragraph("Some text.")
        .image("Figure 3", "img/sim paper.png")
        .table(t)
        .code("sh", "painters layers --out x");
    let md = r.to_markdown();
    assert!(md.starts_with("# Sweep\n\nSome text.\n"));
    assert!(md.contains("![Figure 3](img/sim%20paper.png)"));
    assert!(md.contains("| variant | score |\n|---|--:|\n| skip \\| 3 | 0.71 |\n| parallel |  |"));
    assert!(md.contains("```sh\npainters layers --out x\n```"));
    assert!(md.ends_with("```\n"));
    assert_eq!(
        relative_path(Path::new("docs"), Path::new("docs/img/a.png")),
        "img/a.png"
    );
    assert_eq!(
        relative_path(Path::new("out/report"), Path::new("out/img/a.png")),
        "../img/a.png"
    );
}

#[test]
fn layer_report_writes_every_chart_and_links_them() {
    // A 4-state toy analysis.
    let states: Vec<Vec<f32>> = vec![
        vec![1., 0., 0., 1.],
        vec![1., 0.2, 0.1, 1.],
        vec![0.9, 0.5, 0.3, 1.],
        vec![0., 1., 1., 0.],
    ];
    let views: Vec<&[f32]> = states.iter().map(Vec::as_slice).collect();
    let grams = sample_grams_host(&views, 1, 2, 2, None).unwrap();
    let mut acc = SimilarityAccumulator::default();
    acc.add_batch(&grams).unwrap();
    let similarity = acc.finish();
    let analysis = LayerAnalysis {
        labels: state_labels(4),
        options: AnalysisOptions::default(),
        angular: angular_distances(&similarity.last_token_angular),
        block_influence: block_influence(&similarity.token_mean),
        logit_lens: None,
        similarity,
    };
    let dir = out_dir("layers");
    let meta = LayerReportMeta {
        model: "toy".into(),
        data: "two positions".into(),
        command: Some("painters layers --out x".into()),
        wall_seconds: Some(1.5),
    };
    let modes = painters_bench::analysis::SimilarityMode::ALL;
    let written = write_layer_report(&analysis, &modes, &meta, &dir).unwrap();
    for p in &written {
        assert!(std::fs::metadata(p).unwrap().len() > 0, "{}", p.display());
    }
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    for img in [
        "similarity_paper.png",
        "similarity_token_mean.png",
        "similarity_last_token.png",
        "block_influence.png",
        "angular_distance.png",
    ] {
        assert!(md.contains(&format!("]({img})")), "report lacks {img}");
        assert!(dir.join(img).is_file());
        let (w, h, _) = decode_png(&dir.join(img));
        assert!(w > 100 && h > 100);
    }
    assert!(md.contains("painters layers --out x"));
    assert!(md.contains("1.5 s"));
}
