//! Data-only charts drawn with `plotters` to SVG or PNG.
//!
//! A chart is a plain value: [`LineChart`] (one line per variant, optional error band, like the
//! paper's Figures 2, 4–9 and 11) or [`Heatmap`] (with a colour bar, like Figures 3 and 10). Draw it
//! with [`write_svg`], [`write_png`] or [`svg_string`]. Text uses DejaVu Sans, bundled in the binary
//! (`assets/fonts`), so PNGs render identically on machines without any system font.

use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Why a chart could not be drawn or written.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("{0}")]
    Invalid(String),
    #[error("drawing the chart: {0}")]
    Draw(String),
    #[error("the bundled font could not be loaded")]
    Font,
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn draw_err<E: std::fmt::Debug>(e: E) -> PlotError {
    PlotError::Draw(format!("{e:?}"))
}

/// The font family every chart uses; registered from the bundled TTF on first use.
const FONT: &str = "sans-serif";
static FONT_BYTES: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

fn ensure_font() -> Result<(), PlotError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES).is_ok()
    });
    if ok { Ok(()) } else { Err(PlotError::Font) }
}

/// One line of a [`LineChart`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    /// Legend entry.
    pub name: String,
    /// `(x, y)`, drawn in the given order; non-finite points are skipped.
    pub points: Vec<(f64, f64)>,
    /// Optional shaded band `(x, low, high)` (error bars, min–max spread).
    pub band: Option<Vec<(f64, f64, f64)>>,
    /// Markers only, no line through them (points that are not a curve).
    pub scatter: bool,
}

impl Series {
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Series {
            name: name.into(),
            points,
            band: None,
            scatter: false,
        }
    }
    /// Draw the points as markers only.
    pub fn scatter(mut self) -> Self {
        self.scatter = true;
        self
    }
    pub fn with_band(mut self, band: Vec<(f64, f64, f64)>) -> Self {
        self.band = Some(band);
        self
    }
}

/// Lines over a shared x axis, with a legend.
#[derive(Clone, Debug, PartialEq)]
pub struct LineChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    /// Fixed y range; default: the data's, padded.
    pub y_range: Option<(f64, f64)>,
    /// Draw a marker at every point.
    pub markers: bool,
    /// A logarithmic y axis (values ≤ 0 are not drawn); for quantities like perplexity whose
    /// range spans orders of magnitude.
    pub log_y: bool,
    /// Width and height in pixels.
    pub size: (u32, u32),
}

impl Default for LineChart {
    fn default() -> Self {
        LineChart {
            title: String::new(),
            x_label: String::new(),
            y_label: String::new(),
            series: Vec::new(),
            y_range: None,
            markers: true,
            log_y: false,
            size: (900, 600),
        }
    }
}

/// A matrix of values as coloured cells (row 0 at the top, as `imshow`), with a colour bar.
#[derive(Clone, Debug, PartialEq)]
pub struct Heatmap {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    /// One per column; may be empty (then 0, 1, …).
    pub x_labels: Vec<String>,
    /// One per row; may be empty (then 0, 1, …).
    pub y_labels: Vec<String>,
    /// `values[row][column]`; non-finite cells are drawn grey (missing).
    pub values: Vec<Vec<f64>>,
    /// Colour scale limits; default: the finite values' min and max.
    pub range: Option<(f64, f64)>,
    /// Print each cell's value in it (for small grids).
    pub annotate: bool,
    pub size: (u32, u32),
}

impl Default for Heatmap {
    fn default() -> Self {
        Heatmap {
            title: String::new(),
            x_label: String::new(),
            y_label: String::new(),
            x_labels: Vec::new(),
            y_labels: Vec::new(),
            values: Vec::new(),
            range: None,
            annotate: false,
            size: (860, 760),
        }
    }
}

/// Something [`write_svg`] and [`write_png`] can draw.
pub trait Chart {
    /// Width and height in pixels.
    fn size(&self) -> (u32, u32);
    /// Check the data before drawing anything.
    fn validate(&self) -> Result<(), PlotError>;
    /// Draw onto a cleared area.
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError>;
}

/// The chart as an SVG document.
pub fn svg_string<C: Chart>(chart: &C) -> Result<String, PlotError> {
    ensure_font()?;
    chart.validate()?;
    let mut s = String::new();
    {
        let root = SVGBackend::with_string(&mut s, chart.size()).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        chart.draw(&root)?;
        root.present().map_err(draw_err)?;
    }
    Ok(s)
}

/// Write the chart as SVG.
pub fn write_svg<C: Chart>(chart: &C, path: &Path) -> Result<(), PlotError> {
    let s = svg_string(chart)?;
    std::fs::write(path, s).map_err(|source| PlotError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Write the chart as PNG.
pub fn write_png<C: Chart>(chart: &C, path: &Path) -> Result<(), PlotError> {
    ensure_font()?;
    chart.validate()?;
    let root = BitMapBackend::new(path, chart.size()).into_drawing_area();
    root.fill(&WHITE).map_err(draw_err)?;
    chart.draw(&root)?;
    root.present()
        .map_err(|e| PlotError::Draw(format!("writing {}: {e:?}", path.display())))
}

/// A colour per series: matplotlib's `tab10`.
pub fn series_color(i: usize) -> RGBColor {
    const TAB10: [(u8, u8, u8); 10] = [
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (214, 39, 40),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (127, 127, 127),
        (188, 189, 34),
        (23, 190, 207),
    ];
    let (r, g, b) = TAB10[i % TAB10.len()];
    RGBColor(r, g, b)
}

/// matplotlib's viridis at `t` ∈ [0, 1] (8 stops, linearly interpolated).
pub fn viridis(t: f64) -> RGBColor {
    const STOPS: [(f64, f64, f64); 8] = [
        (68.0, 1.0, 84.0),
        (70.0, 50.0, 127.0),
        (54.0, 92.0, 141.0),
        (39.0, 127.0, 143.0),
        (31.0, 162.0, 136.0),
        (74.0, 194.0, 110.0),
        (160.0, 219.0, 57.0),
        (254.0, 232.0, 37.0),
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let x = t * (STOPS.len() - 1) as f64;
    let i = (x.floor() as usize).min(STOPS.len() - 2);
    let f = x - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let mix = |p: f64, q: f64| (p + (q - p) * f).round().clamp(0.0, 255.0) as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// `(min, max)` of finite values, widened when empty or flat.
fn span(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        (0.0, 1.0)
    } else if lo == hi {
        let w = if lo == 0.0 { 0.5 } else { lo.abs() * 0.05 };
        (lo - w, hi + w)
    } else {
        (lo, hi)
    }
}

fn pad((lo, hi): (f64, f64), frac: f64) -> (f64, f64) {
    let w = (hi - lo) * frac;
    (lo - w, hi + w)
}

/// A tick label with few digits.
fn tick(v: f64) -> String {
    let a = v.abs();
    if a < 1e-9 {
        return "0".into();
    }
    if !(1e-3..1e5).contains(&a) {
        format!("{v:.1e}")
    } else if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

impl Chart for LineChart {
    fn size(&self) -> (u32, u32) {
        self.size
    }

    fn validate(&self) -> Result<(), PlotError> {
        if let Some((lo, hi)) = self.y_range
            && !(lo.is_finite() && hi.is_finite() && lo < hi)
        {
            return Err(PlotError::Invalid(format!(
                "y range ({lo}, {hi}) must be finite and increasing"
            )));
        }
        Ok(())
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        // On a log axis the chart is drawn in log10(y) and labelled in y.
        let ty = |y: f64| match self.log_y {
            true if y > 0.0 => y.log10(),
            true => f64::NAN,
            false => y,
        };
        let xs = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0));
        let (x0, x1) = pad(span(xs), 0.02);
        let (y0, y1) = match self.y_range {
            Some((lo, hi)) => (ty(lo), ty(hi)),
            None => {
                let ys = self.series.iter().flat_map(|s| {
                    let band = s.band.iter().flatten().flat_map(|b| [b.1, b.2]);
                    s.points.iter().map(|p| p.1).chain(band).map(ty)
                });
                pad(span(ys.filter(|y| y.is_finite())), 0.05)
            }
        };
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, (FONT, 22))
            .margin(16)
            .x_label_area_size(52)
            .y_label_area_size(72)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(draw_err)?;
        let fmt = |v: &f64| tick(*v);
        let yfmt = |v: &f64| match self.log_y {
            true => tick(10f64.powf(*v)),
            false => tick(*v),
        };
        chart
            .configure_mesh()
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .x_label_formatter(&fmt)
            .y_label_formatter(&yfmt)
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 16))
            .light_line_style(RGBColor(235, 235, 235))
            .bold_line_style(RGBColor(215, 215, 215))
            .draw()
            .map_err(draw_err)?;
        let finite = |p: &&(f64, f64)| p.0.is_finite() && p.1.is_finite();
        for (i, s) in self.series.iter().enumerate() {
            let color = series_color(i);
            if let Some(band) = &s.band {
                let band: Vec<_> = band
                    .iter()
                    .map(|b| (b.0, ty(b.1), ty(b.2)))
                    .filter(|b| b.0.is_finite() && b.1.is_finite() && b.2.is_finite())
                    .collect();
                if band.len() >= 2 {
                    let mut poly: Vec<(f64, f64)> = band.iter().map(|b| (b.0, b.2)).collect();
                    poly.extend(band.iter().rev().map(|b| (b.0, b.1)));
                    chart
                        .draw_series(std::iter::once(Polygon::new(
                            poly,
                            color.mix(0.18).filled(),
                        )))
                        .map_err(draw_err)?;
                }
            }
            let points: Vec<(f64, f64)> = s.points.iter().map(|p| (p.0, ty(p.1))).collect();
            let pts: Vec<(f64, f64)> = points.iter().filter(finite).copied().collect();
            let line = ShapeStyle::from(&color).stroke_width(2);
            if s.scatter {
                chart
                    .draw_series(pts.iter().map(|&p| Circle::new(p, 4, color.filled())))
                    .map_err(draw_err)?
                    .label(&s.name)
                    .legend(move |(x, y)| Circle::new((x + 11, y), 4, color.filled()));
                continue;
            }
            // A non-finite point breaks the line.
            let segments = points
                .split(|p| !finite(&p))
                .filter(|seg| !seg.is_empty())
                .map(|seg| PathElement::new(seg.to_vec(), line));
            chart
                .draw_series(segments)
                .map_err(draw_err)?
                .label(&s.name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], line));
            if self.markers {
                chart
                    .draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))
                    .map_err(draw_err)?;
            }
        }
        if self.series.iter().any(|s| !s.name.is_empty()) {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(160, 160, 160))
                .label_font((FONT, 14))
                .draw()
                .map_err(draw_err)?;
        }
        Ok(())
    }
}

impl Heatmap {
    fn dims(&self) -> (usize, usize) {
        (self.values.len(), self.values.first().map_or(0, Vec::len))
    }
    fn color_range(&self) -> (f64, f64) {
        self.range
            .unwrap_or_else(|| span(self.values.iter().flatten().copied()))
    }
}

fn label_at(labels: &[String], i: usize) -> String {
    labels.get(i).cloned().unwrap_or_else(|| i.to_string())
}

impl Chart for Heatmap {
    fn size(&self) -> (u32, u32) {
        self.size
    }

    fn validate(&self) -> Result<(), PlotError> {
        let (rows, cols) = self.dims();
        if rows == 0 || cols == 0 {
            return Err(PlotError::Invalid(
                "a heatmap needs at least one cell".into(),
            ));
        }
        if self.values.iter().any(|r| r.len() != cols) {
            return Err(PlotError::Invalid(
                "heatmap rows of different lengths".into(),
            ));
        }
        if !self.x_labels.is_empty() && self.x_labels.len() != cols {
            return Err(PlotError::Invalid(format!(
                "{} x labels for {cols} columns",
                self.x_labels.len()
            )));
        }
        if !self.y_labels.is_empty() && self.y_labels.len() != rows {
            return Err(PlotError::Invalid(format!(
                "{} y labels for {rows} rows",
                self.y_labels.len()
            )));
        }
        if let Some((lo, hi)) = self.range
            && !(lo.is_finite() && hi.is_finite() && lo < hi)
        {
            return Err(PlotError::Invalid(format!(
                "colour range ({lo}, {hi}) must be finite and increasing"
            )));
        }
        Ok(())
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        let (rows, cols) = self.dims();
        let (lo, hi) = self.color_range();
        let (w, _) = root.dim_in_pixel();
        let bar_w = 110.min(w / 4);
        let (main, bar) = root.split_horizontally(w - bar_w);
        let title_h = 40;
        let caption = (FONT, 22);
        let main = main.titled(&self.title, caption).map_err(draw_err)?;
        let bar = bar.margin(title_h, 0, 0, 0);

        // Integer coordinates at twice the cell resolution: cell (r, c) covers [2c − 1, 2c + 1] ×
        // [2y − 1, 2y + 1] with y = rows − 1 − r (row 0 at the top), so the even ticks sit at
        // cell centres.
        let ticks = |n: usize| -> Vec<i32> {
            let step = n.div_ceil(16).max(1);
            (0..n).step_by(step).map(|i| 2 * i as i32).collect()
        };
        let (ci, ri) = (cols as i32, rows as i32);
        let mut chart = ChartBuilder::on(&main)
            .margin(12)
            .x_label_area_size(56)
            .y_label_area_size(64)
            .build_cartesian_2d(
                (-1..2 * ci - 1).with_key_points(ticks(cols)),
                (-1..2 * ri - 1)
                    .with_key_points(ticks(rows).into_iter().map(|r| 2 * (ri - 1) - r).collect()),
            )
            .map_err(draw_err)?;
        let index = |v: i32, n: usize| {
            (v >= 0 && v % 2 == 0 && ((v / 2) as usize) < n).then_some((v / 2) as usize)
        };
        let xfmt =
            |v: &i32| index(*v, cols).map_or_else(String::new, |c| label_at(&self.x_labels, c));
        let yfmt = |v: &i32| {
            index(*v, rows).map_or_else(String::new, |y| label_at(&self.y_labels, rows - 1 - y))
        };
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .x_label_formatter(&xfmt)
            .y_label_formatter(&yfmt)
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 16))
            .draw()
            .map_err(draw_err)?;
        let missing = RGBColor(200, 200, 200);
        let cells = self.values.iter().enumerate().flat_map(|(r, row)| {
            row.iter().enumerate().map(move |(c, &v)| {
                let (x, y) = (2 * c as i32, 2 * (rows - 1 - r) as i32);
                let color = if v.is_finite() {
                    viridis((v - lo) / (hi - lo))
                } else {
                    missing
                };
                Rectangle::new([(x - 1, y - 1), (x + 1, y + 1)], color.filled())
            })
        });
        chart.draw_series(cells).map_err(draw_err)?;
        if self.annotate {
            let texts = self.values.iter().enumerate().flat_map(|(r, row)| {
                row.iter().enumerate().map(move |(c, &v)| {
                    let (x, y) = (2 * c as i32, 2 * (rows - 1 - r) as i32);
                    let t = (v - lo) / (hi - lo);
                    let color = if t > 0.6 { &BLACK } else { &WHITE };
                    let style = TextStyle::from((FONT, 11).into_font())
                        .color(color)
                        .pos(Pos::new(HPos::Center, VPos::Center));
                    let s = if v.is_finite() {
                        tick_short(v)
                    } else {
                        String::new()
                    };
                    Text::new(s, (x, y), style)
                })
            });
            chart.draw_series(texts).map_err(draw_err)?;
        }

        // Colour bar: a column of thin cells from lo (bottom) to hi (top), ticks on the right.
        let mut cb = ChartBuilder::on(&bar)
            .margin_top(12)
            .margin_bottom(12 + 56)
            .margin_right(8)
            .set_label_area_size(LabelAreaPosition::Right, 64)
            .build_cartesian_2d(0f64..1f64, lo..hi)
            .map_err(draw_err)?;
        let fmt = |v: &f64| tick(*v);
        cb.configure_mesh()
            .disable_mesh()
            .disable_x_axis()
            .y_labels(8)
            .y_label_formatter(&fmt)
            .label_style((FONT, 12))
            .draw()
            .map_err(draw_err)?;
        const STEPS: usize = 128;
        let step = (hi - lo) / STEPS as f64;
        cb.draw_series((0..STEPS).map(|i| {
            let y = lo + step * i as f64;
            Rectangle::new(
                [(0.0, y), (1.0, (y + step * 1.02).min(hi))],
                viridis((i as f64 + 0.5) / STEPS as f64).filled(),
            )
        }))
        .map_err(draw_err)?;
        Ok(())
    }
}

/// Cell annotation: two significant decimals.
fn tick_short(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}
