//! Run reports as HTML: `report.html` per run (its description, final metrics, inline SVG plots
//! and config; no network), and comparisons that overlay several runs.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::inside::inside_sections;
use super::plot::{Axis, Panel, Series, confusion_svg, panels_svg, run_panels};
use crate::run::metrics_log;
use crate::{
    Artifact, EpochRecord, Inspection, LmRun, METRIC_COLUMNS, Metrics, RunDescription, RunDir,
    SavedRun, Summary, TrainError,
};

/// Width in pixels of the curve plots.
const WIDTH: u32 = 900;

/// The files a run report wrote.
#[derive(Debug, Clone)]
pub struct ReportFiles {
    /// `curves.svg`.
    pub curves: PathBuf,
    /// `confusion.svg`, for classification runs whose summary holds a test confusion matrix.
    pub confusion: Option<PathBuf>,
    /// `report.html`, when asked for.
    pub html: Option<PathBuf>,
}

/// Writes `curves.svg` (against `axis`) and, for classification with a test split,
/// `confusion.svg` into the run.
pub fn write_plots(
    run: &RunDir,
    history: &[EpochRecord],
    axis: Axis,
    summary: Option<&Summary>,
    labels: Option<&[String]>,
) -> Result<(String, Option<String>), TrainError> {
    let name = run_name(run.root());
    let curves = panels_svg(&format!("run {name}"), &run_panels(history, axis), WIDTH)?;
    run.write(&run.curves(), curves.as_bytes())?;
    let confusion = match (summary.and_then(|s| s.test_confusion.as_ref()), labels) {
        (Some(matrix), Some(labels)) => {
            let svg = confusion_svg(&format!("test split of {name}"), matrix, labels)?;
            run.write(&run.confusion(), svg.as_bytes())?;
            Some(svg)
        }
        _ => None,
    };
    Ok((curves, confusion))
}

/// Regenerates the plots of the run in `dir` and writes its `report.html`.
pub fn write_run_report(dir: &Path) -> Result<ReportFiles, TrainError> {
    let artifact = Artifact::open(dir)?;
    let description = RunDescription::of(&artifact, None);
    if let Artifact::Lm(lm) = &artifact {
        return write_lm_report(lm, &description);
    }
    let saved = artifact.into_trained("report on")?;
    let run = &saved.run;
    let history = metrics_log::read(run)?;
    let labels = saved
        .preprocessor
        .labels
        .as_ref()
        .map(|l| l.classes().to_vec());
    let (curves, confusion) = write_plots(
        run,
        &history,
        Axis::Epochs,
        saved.summary.as_ref(),
        labels.as_deref(),
    )?;
    let html = run_html(
        &saved,
        &description,
        &history,
        &curves,
        confusion.as_deref(),
    )?;
    let html_path = run.report();
    run.write(&html_path, html.as_bytes())?;
    Ok(ReportFiles {
        curves: run.curves(),
        confusion: confusion.map(|_| run.confusion()),
        html: Some(html_path),
    })
}

/// Overlays the curves of `runs` (validation curves, or training curves for runs without a
/// validation split) in `out/compare.svg` and writes `out/report.html` with a table of the runs.
pub fn write_comparison(runs: &[PathBuf], out: &Path) -> Result<PathBuf, TrainError> {
    if runs.len() < 2 {
        return Err(TrainError::InvalidConfig(
            "--compare needs at least two run directories".into(),
        ));
    }
    let mut loaded = Vec::new();
    for dir in runs {
        let saved = Artifact::open(dir)?.into_trained("compare")?;
        let history = metrics_log::read(&saved.run)?;
        loaded.push((saved, history));
    }
    let names = distinct_names(runs);
    let mut panels = [
        ("loss", "loss"),
        ("main metric", "metric"),
        ("learning rate", "lr"),
    ]
    .map(|(title, y)| Panel {
        title: title.into(),
        x_desc: Axis::Epochs.label().into(),
        y_desc: y.into(),
        series: Vec::new(),
    });
    for ((_, history), name) in loaded.iter().zip(&names) {
        let valid = history.iter().any(|r| r.valid.is_some());
        let split = if valid { "valid" } else { "train" };
        let metrics = |r: &EpochRecord| {
            if valid {
                r.valid.clone()
            } else {
                Some(r.train.clone())
            }
        };
        let series = |pick: &dyn Fn(&EpochRecord) -> Option<f64>, suffix: &str| Series {
            band: Vec::new(),
            name: format!("{name}{suffix}"),
            points: history
                .iter()
                .filter_map(|r| pick(r).map(|v| (r.epoch as f64, v)))
                .filter(|(_, v)| v.is_finite())
                .collect(),
        };
        let metric_name = history.first().map_or("loss", |r| r.train.main().0);
        panels[0].series.push(series(
            &|r| metrics(r).map(|m| m.loss),
            &format!(" ({split})"),
        ));
        panels[1].series.push(series(
            &|r| metrics(r).map(|m| m.main().1),
            &format!(" ({split} {metric_name})"),
        ));
        panels[2].series.push(series(&|r| Some(r.lr), ""));
    }
    let svg = panels_svg("comparison", &panels, WIDTH)?;
    let out_run = RunDir::new(out);
    std::fs::create_dir_all(out).map_err(|e| TrainError::Run {
        path: out.to_path_buf(),
        reason: format!("cannot create the report directory: {e}"),
    })?;
    out_run.write(&out.join("compare.svg"), svg.as_bytes())?;

    let mut body = String::from("<h1>Comparison</h1>\n<table>\n<tr><th>run</th><th>dataset</th>");
    body.push_str("<th>backend</th><th>parameters</th><th>trainable</th><th>epochs</th>");
    body.push_str("<th>seconds</th><th>test loss</th><th>test metric</th></tr>\n");
    for ((saved, _), name) in loaded.iter().zip(&names) {
        let s = saved.summary.as_ref();
        let cell = |v: Option<String>| v.unwrap_or_else(|| "–".into());
        let test = s.and_then(|s| s.test.as_ref());
        let _ = writeln!(
            body,
            "<tr><td title=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&saved.run.root().display().to_string()),
            escape(name),
            escape(&saved.config.dataset.display().to_string()),
            cell(s.map(|s| escape(&s.backend))),
            cell(s.map(|s| s.params.to_string())),
            cell(s.map(|s| s.trainable_params.to_string())),
            cell(s.map(|s| s.epochs_run.to_string())),
            cell(s.map(|s| format!("{:.1}", s.train_seconds))),
            cell(test.map(|m| format!("{:.4}", m.loss))),
            cell(test.map(|m| {
                let (n, v) = m.main();
                format!("{n} {v:.4}")
            })),
        );
    }
    body.push_str("</table>\n<h2>Curves</h2>\n");
    body.push_str(&svg);
    let html_path = out.join("report.html");
    out_run.write(&html_path, page("ffn comparison", &body).as_bytes())?;
    Ok(html_path)
}

/// What a run's page shows.
struct RunPage<'a> {
    root: &'a Path,
    description: &'a RunDescription,
    /// Epochs or evaluations checkpointed, when training has not finished.
    unfinished: Option<usize>,
    /// Final metrics per split.
    metrics: Vec<(&'a str, Option<&'a Metrics>)>,
    curves: &'a str,
    /// Further sections after the curves: (title, HTML).
    sections: Vec<(String, String)>,
    config: serde_json::Value,
    summary: Option<serde_json::Value>,
}

impl RunPage<'_> {
    fn html(&self) -> String {
        let name = run_name(self.root);
        let mut body = format!("<h1>Run {}</h1>\n<table>\n", escape(&name));
        for (key, value) in &self.description.rows {
            let _ = writeln!(
                body,
                "<tr><th>{}</th><td>{}</td></tr>",
                escape(key),
                escape(value)
            );
        }
        if let Some(done) = self.unfinished {
            let _ = writeln!(
                body,
                "<tr><th>status</th><td>not finished: {done} evaluations checkpointed</td></tr>"
            );
        }
        body.push_str("</table>\n");
        if self.unfinished.is_none() {
            body.push_str("<h2>Final metrics</h2>\n");
            body.push_str(&metrics_table(&self.metrics));
        }
        body.push_str("<h2>Training curves</h2>\n");
        body.push_str(self.curves);
        for (title, html) in &self.sections {
            let _ = write!(body, "\n<h2>{}</h2>\n{html}", escape(title));
        }
        let config_json = serde_json::to_string_pretty(&self.config).unwrap_or_default();
        let _ = write!(
            body,
            "\n<details><summary>config.json</summary><pre>{}</pre></details>\n",
            escape(&config_json)
        );
        if let Some(summary) = &self.summary {
            let json = summary.to_string().replace("</", "<\\/");
            let _ = writeln!(
                body,
                "<script type=\"application/json\" id=\"summary\">{json}</script>"
            );
        }
        page(&format!("ffn run {name}"), &body)
    }
}

/// The page of a tabular run.
fn run_html(
    saved: &SavedRun,
    description: &RunDescription,
    history: &[EpochRecord],
    curves: &str,
    confusion: Option<&str>,
) -> Result<String, TrainError> {
    let summary = saved.summary.as_ref();
    let mut sections: Vec<(String, String)> = confusion
        .map(|svg| ("Confusion matrix (test split)".to_string(), svg.to_string()))
        .into_iter()
        .collect();
    sections.extend(inside(&saved.run)?);
    Ok(RunPage {
        root: saved.run.root(),
        description,
        unfinished: summary.is_none().then_some(history.len()),
        metrics: vec![
            ("train", summary.map(|s| &s.train)),
            ("valid", summary.and_then(|s| s.valid.as_ref())),
            ("test", summary.and_then(|s| s.test.as_ref())),
        ],
        curves,
        sections,
        config: serde_json::to_value(&saved.config).unwrap_or_default(),
        summary: summary.and_then(|s| serde_json::to_value(s).ok()),
    }
    .html())
}

/// The "Inside the network" sections of the inspection saved in `run`, or a line saying how
/// to add them.
fn inside(run: &RunDir) -> Result<Vec<(String, String)>, TrainError> {
    match Inspection::read(run)? {
        Some(inspection) => inside_sections(&inspection),
        None => Ok(vec![(
            "Inside the network".to_string(),
            format!(
                "<p>Run <code>ffn inspect --run {}</code> to add what the hidden units do and                  which inputs drive the outputs.</p>",
                escape(&run.root().display().to_string())
            ),
        )]),
    }
}

/// Regenerates a language model's curves and writes its `report.html`, with the text it
/// generated after each evaluation.
fn write_lm_report(lm: &LmRun, description: &RunDescription) -> Result<ReportFiles, TrainError> {
    let run = &lm.run;
    let history = metrics_log::read(run)?;
    let (curves, _) = write_plots(run, &history, Axis::Steps, None, None)?;
    let mut samples = String::new();
    for record in &history {
        if let Some(text) = &record.sample {
            let _ = writeln!(
                samples,
                "<h3>step {}</h3>\n<pre>{}</pre>",
                record.step,
                escape(text)
            );
        }
    }
    let summary = lm.summary.as_ref();
    let html = RunPage {
        root: run.root(),
        description,
        unfinished: summary.is_none().then_some(history.len()),
        metrics: vec![
            ("train", summary.map(|s| &s.train)),
            ("valid", summary.map(|s| &s.valid)),
        ],
        curves: &curves,
        sections: (!samples.is_empty())
            .then(|| ("Samples after each evaluation".to_string(), samples))
            .into_iter()
            .chain(inside(run)?)
            .collect(),
        config: serde_json::to_value(&lm.config).unwrap_or_default(),
        summary: summary.and_then(|s| serde_json::to_value(s).ok()),
    }
    .html();
    run.write(&run.report(), html.as_bytes())?;
    Ok(ReportFiles {
        curves: run.curves(),
        confusion: None,
        html: Some(run.report()),
    })
}

/// A table of the metrics of each split (columns only for values some split has).
fn metrics_table(splits: &[(&str, Option<&Metrics>)]) -> String {
    let present: Vec<_> = METRIC_COLUMNS
        .iter()
        .filter(|column| splits.iter().any(|(_, m)| m.and_then(column.get).is_some()))
        .collect();
    let mut table = String::from("<table class=\"metrics\">\n<tr><th>split</th>");
    for column in &present {
        let _ = write!(table, "<th>{}</th>", column.label);
    }
    table.push_str("</tr>\n");
    for (split, metrics) in splits {
        let Some(m) = metrics else { continue };
        let _ = write!(table, "<tr><th>{split}</th>");
        for column in &present {
            let _ = write!(
                table,
                "<td>{}</td>",
                (column.get)(m).map_or("–".into(), |v| format!("{v:.4}"))
            );
        }
        table.push_str("</tr>\n");
    }
    table.push_str("</table>\n");
    table
}

/// A complete HTML page with the report's style sheet.
fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n\
         <style>\nbody {{ font-family: sans-serif; margin: 2em auto; max-width: 960px; color: #222; }}\n\
         table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; }}\n\
         th, td {{ border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: left; }}\n\
         table.metrics td {{ text-align: right; font-variant-numeric: tabular-nums; }}\n\
         th {{ background: #f4f4f4; }}\nsvg {{ max-width: 100%; height: auto; }}\n\
         pre {{ background: #f8f8f8; padding: 1em; overflow-x: auto; }}\n</style>\n</head>\n\
         <body>\n{}\n</body>\n</html>\n",
        escape(title),
        body
    )
}

/// The last component of a run's path, as runs are named in plots.
fn run_name(dir: &Path) -> String {
    dir.file_name().map_or_else(
        || dir.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Names for the legend: the last path component, or the whole path where two runs share it.
fn distinct_names(runs: &[PathBuf]) -> Vec<String> {
    let short: Vec<String> = runs.iter().map(|r| run_name(r)).collect();
    short
        .iter()
        .zip(runs)
        .map(|(name, path)| {
            if short.iter().filter(|n| *n == name).count() > 1 {
                path.display().to_string()
            } else {
                name.clone()
            }
        })
        .collect()
}

/// Escapes text for HTML content and attributes.
pub(super) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
