//! Pictures of runs drawn with `plotters`' SVG backend: training curves in panels (loss, main
//! metric, learning rate) and confusion matrices. Every data series is one `<polyline>` of stroke
//! width 2 with one point per epoch (axes and ticks are 1 px wide; legends use filled squares).

use ffn_data::shorten;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::{EpochRecord, Metrics, TrainError};

/// Colours of successive series (Tableau 10).
pub(super) const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Series drawn with point markers as well as lines when they have at most this many points,
/// so that short runs (a single epoch) stay visible.
const MARKERS_UP_TO: usize = 40;

/// One curve: a name for the legend and `(epoch, value)` points.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// Points in epoch order; non-finite values are left out.
    pub points: Vec<(f64, f64)>,
    /// A shaded band around the curve, `(x, low, high)` in x order (empty: none), such as the
    /// range over seeds of a mean curve.
    pub band: Vec<(f64, f64, f64)>,
}

/// What the x axis of a run's curves counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    /// Epochs (tabular runs).
    Epochs,
    /// Optimiser steps (language models, evaluated every few hundred steps).
    Steps,
}

impl Axis {
    /// Where `record` lies on this axis.
    pub fn of(self, record: &EpochRecord) -> f64 {
        match self {
            Axis::Epochs => record.epoch as f64,
            Axis::Steps => record.step as f64,
        }
    }

    /// The axis label.
    pub fn label(self) -> &'static str {
        match self {
            Axis::Epochs => "epoch",
            Axis::Steps => "step",
        }
    }
}

/// A panel: a title, the axes' descriptions and its series.
#[derive(Debug, Clone)]
pub struct Panel {
    /// Title above the panel.
    pub title: String,
    /// What the x axis shows.
    pub x_desc: String,
    /// What the y axis shows.
    pub y_desc: String,
    /// The curves.
    pub series: Vec<Series>,
}

/// The panels of one run: loss and main metric (train and, when present, valid), learning rate,
/// and for language models the share of dead FFN neurons per block and each expert's share of
/// the token choices, against `axis`.
pub fn run_panels(history: &[EpochRecord], axis: Axis) -> Vec<Panel> {
    let (metric, _) = history.first().map_or(("loss", 0.0), |r| r.train.main());
    let curve = |name: &str, pick: &dyn Fn(&EpochRecord) -> Option<f64>| Series {
        band: Vec::new(),
        name: name.to_string(),
        points: history
            .iter()
            .filter_map(|r| pick(r).map(|v| (axis.of(r), v)))
            .filter(|(_, v)| v.is_finite())
            .collect(),
    };
    let pair = |value: fn(&Metrics) -> f64| {
        let mut series = vec![curve("train", &|r| Some(value(&r.train)))];
        if history.iter().any(|r| r.valid.is_some()) {
            series.push(curve("valid", &|r| r.valid.as_ref().map(value)));
        }
        series
    };
    let mut panels = vec![
        Panel {
            title: "loss".into(),
            x_desc: axis.label().into(),
            y_desc: "loss".into(),
            series: pair(|m| m.loss),
        },
        Panel {
            title: metric.into(),
            x_desc: axis.label().into(),
            y_desc: metric.into(),
            series: pair(|m| m.main().1),
        },
        Panel {
            title: "learning rate".into(),
            x_desc: axis.label().into(),
            y_desc: "lr".into(),
            series: vec![curve("lr", &|r| Some(r.lr))],
        },
    ];
    let blocks = history
        .iter()
        .filter_map(|r| r.dead_neurons.as_ref().map(Vec::len))
        .max()
        .unwrap_or(0);
    if blocks > 0 {
        panels.push(Panel {
            title: "dead FFN neurons (validation batches)".into(),
            x_desc: axis.label().into(),
            y_desc: "share of the block's neurons".into(),
            series: (0..blocks)
                .map(|i| {
                    curve(&format!("block {i}"), &|r| {
                        r.dead_neurons.as_ref().and_then(|d| d.get(i).copied())
                    })
                })
                .collect(),
        });
    }
    let mixtures = history
        .iter()
        .filter_map(|r| r.expert_tokens.as_ref())
        .map(|blocks| blocks.first().map_or(0, Vec::len))
        .max()
        .unwrap_or(0);
    if mixtures > 0 {
        // Each expert's share of the token choices, averaged over the mixture blocks.
        let share = |record: &EpochRecord, expert: usize| {
            let blocks = record.expert_tokens.as_ref()?;
            let shares = blocks.iter().map(|counts| {
                let total = counts.iter().sum::<usize>().max(1) as f64;
                counts.get(expert).copied().unwrap_or(0) as f64 / total
            });
            Some(shares.sum::<f64>() / blocks.len().max(1) as f64)
        };
        panels.push(Panel {
            title: "expert utilisation (validation batches, mean over mixture blocks)".into(),
            x_desc: axis.label().into(),
            y_desc: "share of the token choices".into(),
            series: (0..mixtures)
                .map(|e| curve(&format!("expert {e}"), &|r| share(r, e)))
                .collect(),
        });
    }
    panels
}

/// Draws `panels` stacked vertically into an SVG document `width` pixels wide.
pub fn panels_svg(title: &str, panels: &[Panel], width: u32) -> Result<String, TrainError> {
    let mut svg = String::new();
    let height = 60 + 300 * panels.len() as u32;
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let root = root.titled(title, ("sans-serif", 22)).map_err(plot_error)?;
        for (panel, area) in panels
            .iter()
            .zip(root.split_evenly((panels.len().max(1), 1)))
        {
            draw_panel(&area, panel)?;
        }
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

fn draw_panel(area: &DrawingArea<SVGBackend, Shift>, panel: &Panel) -> Result<(), TrainError> {
    let bands = panel.series.iter().flat_map(|s| s.band.iter());
    let band_points = bands.flat_map(|&(x, low, high)| [(x, low), (x, high)]);
    let points = panel.series.iter().flat_map(|s| s.points.iter().copied());
    let (mut x_max, mut y_min, mut y_max) = (1.0f64, f64::INFINITY, f64::NEG_INFINITY);
    for (x, y) in points.chain(band_points).filter(|(_, y)| y.is_finite()) {
        x_max = x_max.max(x);
        y_min = y_min.min(y);
        y_max = y_max.max(y);
    }
    if !y_min.is_finite() {
        (y_min, y_max) = (0.0, 1.0);
    }
    let pad = ((y_max - y_min) * 0.08).max(y_max.abs().max(1e-6) * 0.05);
    let x_range = if x_max <= 1.0 { 0.5..1.5 } else { 1.0..x_max };
    let mut chart = ChartBuilder::on(area)
        .caption(shorten(&panel.title), ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(x_range, (y_min - pad)..(y_max + pad))
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc(panel.x_desc.as_str())
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_desc(panel.y_desc.as_str())
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(plot_error)?;
    for (index, series) in panel.series.iter().enumerate() {
        let color = PALETTE[index % PALETTE.len()];
        if !series.band.is_empty() {
            let below = series.band.iter().map(|&(x, low, _)| (x, low));
            let above = series.band.iter().rev().map(|&(x, _, high)| (x, high));
            chart
                .draw_series(std::iter::once(Polygon::new(
                    below.chain(above).collect::<Vec<_>>(),
                    color.mix(0.15).filled(),
                )))
                .map_err(plot_error)?;
        }
        chart
            .draw_series(LineSeries::new(
                series.points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(plot_error)?
            .label(series.name.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
        if series.points.len() <= MARKERS_UP_TO {
            chart
                .draw_series(
                    series
                        .points
                        .iter()
                        .map(|&p| Circle::new(p, 3, color.filled())),
                )
                .map_err(plot_error)?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(plot_error)?;
    Ok(())
}

/// A confusion matrix as an SVG heat map: rows are the actual classes, columns the predicted,
/// each cell shaded by its share of the row and labelled with its count.
pub fn confusion_svg(
    title: &str,
    matrix: &[Vec<usize>],
    labels: &[String],
) -> Result<String, TrainError> {
    let n = matrix.len().max(1);
    let cell = (480 / n as u32).clamp(24, 80);
    let (left, top) = (140u32, 90u32);
    let (width, height) = (left + cell * n as u32 + 40, top + cell * n as u32 + 60);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let text = |size: u32| ("sans-serif", size).into_font().color(&BLACK);
        let centered = |size: u32| {
            text(size).pos(plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Center,
                plotters::style::text_anchor::VPos::Center,
            ))
        };
        root.draw_text(&shorten(title), &text(20), (12, 12))
            .map_err(plot_error)?;
        let grid = |i: usize| (i as u32 * cell) as i32;
        let (left, top) = (left as i32, top as i32);
        root.draw_text("predicted →", &text(15), (left, top - 50))
            .map_err(plot_error)?;
        root.draw_text("actual ↓", &text(15), (12, top - 24))
            .map_err(plot_error)?;
        let half = cell as i32 / 2;
        for (i, row) in matrix.iter().enumerate() {
            let total = row.iter().sum::<usize>().max(1) as f64;
            let label = labels.get(i).map_or(i.to_string(), |l| shorten(l));
            root.draw_text(&label, &text(14), (12, top + grid(i) + half - 7))
                .map_err(plot_error)?;
            root.draw_text(&label, &centered(14), (left + grid(i) + half, top - 14))
                .map_err(plot_error)?;
            for (j, &count) in row.iter().enumerate() {
                let share = count as f64 / total;
                let shade = (255.0 * (1.0 - 0.85 * share)) as u8;
                let fill = RGBColor(shade, shade, 255);
                let corner = (left + grid(j), top + grid(i));
                let far = (corner.0 + cell as i32, corner.1 + cell as i32);
                root.draw(&Rectangle::new([corner, far], fill.filled()))
                    .map_err(plot_error)?;
                root.draw(&Rectangle::new([corner, far], BLACK.mix(0.2)))
                    .map_err(plot_error)?;
                let ink = if share > 0.55 { WHITE } else { BLACK };
                let style = centered(14).color(&ink);
                root.draw_text(
                    &count.to_string(),
                    &style,
                    (corner.0 + half, corner.1 + half),
                )
                .map_err(plot_error)?;
            }
        }
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

pub(super) fn plot_error<E: std::error::Error + Send + Sync>(
    error: DrawingAreaErrorKind<E>,
) -> TrainError {
    TrainError::Report(format!("cannot draw the plot: {error}"))
}
