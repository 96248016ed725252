//! The report's "Inside the network" section, drawn from a run's `inspect.json`: for tabular
//! runs a heat map of each hidden layer's mean activation per class, a table of dead and
//! saturated units and a bar chart of the feature attributions; for language models the share
//! of dead FFN neurons per block and a page of neurons with their contexts and promoted tokens.

use std::fmt::Write as _;

use ffn_data::shorten;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::html::escape;
use super::plot::{PALETTE, plot_error};
use crate::{Attributions, Inspection, LayerUnits, LmInspection, TabularInspection, TrainError};

/// Units drawn per heat map at most.
const HEATMAP_UNITS: usize = 256;
/// Features drawn in the attribution chart at most (the most attributed).
const CHART_FEATURES: usize = 24;
/// Contexts shown per neuron on the page.
const PAGE_CONTEXTS: usize = 3;

/// The section's parts as (title, HTML) pairs.
pub(crate) fn inside_sections(
    inspection: &Inspection,
) -> Result<Vec<(String, String)>, TrainError> {
    match inspection {
        Inspection::Tabular(tabular) => tabular_sections(tabular),
        Inspection::Lm(lm) => Ok(lm_sections(lm)),
    }
}

fn tabular_sections(inspection: &TabularInspection) -> Result<Vec<(String, String)>, TrainError> {
    let mut sections = Vec::new();
    let rows = format!("{} rows of the {}", inspection.rows, inspection.rows_from);
    if let Some(classes) = &inspection.classes {
        let mut html = format!("<p>Mean activation of each unit over the {rows}, per class.</p>\n");
        for layer in &inspection.layers {
            html.push_str(&activity_heatmap_svg(layer, classes)?);
            html.push('\n');
        }
        sections.push(("Inside the network: unit activity".to_string(), html));
    }
    sections.push((
        "Inside the network: dead and saturated units".to_string(),
        units_table(&inspection.layers),
    ));
    let attributions = &inspection.attributions;
    let mut html = format!(
        "<p>Integrated gradients ({} steps from the {}; worst completeness gap {:.2e}) and \
         permutation importance (drop of {} over {} permutations per feature) on the {rows}.</p>\n",
        attributions.steps,
        escape(&attributions.baseline),
        attributions.worst_completeness_gap,
        escape(&attributions.metric),
        attributions.repeats,
    );
    html.push_str(&attribution_svg(attributions)?);
    sections.push(("Inside the network: feature attributions".to_string(), html));
    Ok(sections)
}

fn units_table(layers: &[LayerUnits]) -> String {
    let mut html = String::from(
        "<table>\n<tr><th>layer</th><th>activation</th><th>units</th><th>dead (training \
         split)</th><th>saturated</th><th>mean active share</th></tr>\n",
    );
    let list = |units: &[usize]| match units.is_empty() {
        true => "none".to_string(),
        false => format!(
            "{}: {}",
            units.len(),
            units
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    for layer in layers {
        let active = layer.units.iter().map(|u| u.active_fraction).sum::<f64>()
            / layer.units.len().max(1) as f64;
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.3}</td></tr>",
            escape(&layer.name),
            escape(&layer.activation),
            layer.units.len(),
            list(&layer.dead),
            list(&layer.saturated),
            active
        );
    }
    html.push_str("</table>\n");
    html
}

/// Classes as rows, units as columns, each cell the unit's mean activation over the class's
/// rows on a blue (negative) to red (positive) scale shared by the layer.
fn activity_heatmap_svg(layer: &LayerUnits, classes: &[String]) -> Result<String, TrainError> {
    let units = &layer.units[..layer.units.len().min(HEATMAP_UNITS)];
    let scale = units
        .iter()
        .flat_map(|u| u.class_means.iter().flatten())
        .fold(0.0f64, |m, v| m.max(v.abs()))
        .max(1e-12);
    let cell_w = (800 / units.len().max(1) as u32).clamp(3, 24);
    let cell_h = 18u32;
    let (left, top) = (120u32, 56u32);
    let width = left + cell_w * units.len() as u32 + 30;
    let height = top + cell_h * classes.len() as u32 + 40;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let text = |size: u32| ("sans-serif", size).into_font().color(&BLACK);
        let shown = match units.len() < layer.units.len() {
            true => format!(" (first {} of {} units)", units.len(), layer.units.len()),
            false => String::new(),
        };
        let title = format!(
            "{} ({}): mean activation per class{shown}, scale ±{scale:.3}",
            layer.name, layer.activation
        );
        root.draw_text(&shorten(&title), &text(16), (10, 10))
            .map_err(plot_error)?;
        root.draw_text("unit →", &text(13), (left as i32, top as i32 - 20))
            .map_err(plot_error)?;
        for (c, class) in classes.iter().enumerate() {
            let y = (top + c as u32 * cell_h) as i32;
            root.draw_text(&shorten(class), &text(12), (10, y + 3))
                .map_err(plot_error)?;
            for (i, unit) in units.iter().enumerate() {
                let x = (left + i as u32 * cell_w) as i32;
                let fill = match unit.class_means.get(c).copied().flatten() {
                    Some(v) => diverging(v / scale),
                    None => RGBColor(220, 220, 220),
                };
                let far = (x + cell_w as i32, y + cell_h as i32);
                root.draw(&Rectangle::new([(x, y), far], fill.filled()))
                    .map_err(plot_error)?;
            }
        }
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

/// White at 0, red towards +1, blue towards −1.
fn diverging(v: f64) -> RGBColor {
    let fade = |t: f64| (255.0 * (1.0 - 0.85 * t.clamp(0.0, 1.0))) as u8;
    match v >= 0.0 {
        true => RGBColor(255, fade(v), fade(v)),
        false => RGBColor(fade(-v), fade(-v), 255),
    }
}

/// Horizontal bars per feature (the most attributed first): mean |integrated gradients| and,
/// beside it, the permutation importance, each scaled to its own largest value.
fn attribution_svg(attributions: &Attributions) -> Result<String, TrainError> {
    let mut features: Vec<_> = attributions.features.iter().collect();
    features.sort_by(|a, b| b.mean_abs_ig.total_cmp(&a.mean_abs_ig));
    features.truncate(CHART_FEATURES);
    let max = |pick: fn(&&crate::FeatureImportance) -> f64| {
        features.iter().map(pick).fold(0.0f64, f64::max).max(1e-12)
    };
    let (ig_max, perm_max) = (max(|f| f.mean_abs_ig), max(|f| f.permutation));
    let (left, top, bar_w, row_h) = (170i32, 70i32, 300i32, 22i32);
    let width = (left + 2 * bar_w + 200) as u32;
    let height = (top + row_h * features.len() as i32 + 30) as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let text = |size: u32| ("sans-serif", size).into_font().color(&BLACK);
        let right = text(12).pos(Pos::new(HPos::Right, VPos::Center));
        root.draw_text("feature attributions", &text(16), (10, 10))
            .map_err(plot_error)?;
        let heads = [
            (format!("mean |IG| (max {ig_max:.3})"), left),
            (
                format!(
                    "permutation: {} drop (max {perm_max:.3})",
                    attributions.metric
                ),
                left + bar_w + 60,
            ),
        ];
        for (head, x) in &heads {
            root.draw_text(head, &text(13), (*x, top - 26))
                .map_err(plot_error)?;
        }
        for (i, feature) in features.iter().enumerate() {
            let y = top + i as i32 * row_h;
            root.draw_text(
                &shorten(&feature.feature),
                &right,
                (left - 8, y + row_h / 2),
            )
            .map_err(plot_error)?;
            let bars = [
                (feature.mean_abs_ig / ig_max, left, PALETTE[0]),
                (
                    feature.permutation / perm_max,
                    left + bar_w + 60,
                    PALETTE[1],
                ),
            ];
            for (share, x, color) in bars {
                let length = (share.clamp(0.0, 1.0) * f64::from(bar_w)) as i32;
                let corner = (x, y + 3);
                let far = (x + length.max(1), y + row_h - 3);
                root.draw(&Rectangle::new([corner, far], color.filled()))
                    .map_err(plot_error)?;
            }
        }
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

fn lm_sections(inspection: &LmInspection) -> Vec<(String, String)> {
    let mut dead = format!(
        "<p>Over {} tokens of the {}.</p>\n<table>\n<tr><th>block</th><th>dead FFN \
         neurons</th></tr>\n",
        inspection.tokens,
        escape(&inspection.text)
    );
    for (block, share) in inspection.dead_fractions.iter().enumerate() {
        let _ = writeln!(
            dead,
            "<tr><td>{block}</td><td>{:.1} %</td></tr>",
            share * 100.0
        );
    }
    dead.push_str("</table>\n");
    let mut page = format!(
        "<p>Block {} ({}): each neuron's key fires on the contexts shown (the firing token in \
         bold, its coefficient before it), and its value vector promotes the tokens listed \
         (through the unembedding).</p>\n<table>\n<tr><th>neuron</th><th>active</th><th>top \
         contexts</th><th>promoted tokens</th></tr>\n",
        inspection.layer,
        escape(&inspection.activation)
    );
    for neuron in &inspection.neurons {
        let contexts: Vec<String> = neuron
            .contexts
            .iter()
            .take(PAGE_CONTEXTS)
            .map(|c| {
                format!(
                    "{:.2}: <code>{}<b>{}</b>{}</code>",
                    c.value,
                    escape(&c.before),
                    escape(&c.token),
                    escape(&c.after)
                )
            })
            .collect();
        let promoted: Vec<String> = neuron
            .promoted
            .iter()
            .map(|p| format!("<code>{}</code>", escape(&p.token)))
            .collect();
        let _ = writeln!(
            page,
            "<tr><td>{}{}</td><td>{:.1} %</td><td>{}</td><td>{}</td></tr>",
            neuron.neuron,
            if neuron.dead { " (dead)" } else { "" },
            neuron.active_fraction * 100.0,
            contexts.join("<br>"),
            promoted.join(" ")
        );
    }
    page.push_str("</table>\n");
    vec![
        ("Inside the network: dead FFN neurons".to_string(), dead),
        ("Inside the network: neurons".to_string(), page),
    ]
}
