//! Run reports: the SVG plots parse as XML and hold one polyline per curve with one point per
//! epoch; short runs and runs without a validation split still plot; the HTML report carries
//! the summary's final metrics and its plots inline; comparisons overlay every run.

use std::path::Path;

use ffn_train::{Summary, TrainConfig};

use crate::{datasets, one_at_a_time, quiet};

fn train_iris(dir: &Path, name: &str, epochs: usize, valid_fraction: f64) -> Summary {
    let config = TrainConfig {
        dataset: datasets().join("iris.csv"),
        epochs,
        early_stopping: None,
        valid_fraction,
        ..TrainConfig::default()
    };
    ffn_train::train(&config, &dir.join(name), &mut quiet).unwrap()
}

/// The `points` of every data series (2-px `<polyline>`) in an SVG document, which must parse
/// as XML.
pub(crate) fn polylines(svg: &str) -> Vec<Vec<(f64, f64)>> {
    let doc = roxmltree::Document::parse(svg).expect("SVG parses as XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    doc.descendants()
        .filter(|n| n.tag_name().name() == "polyline" && n.attribute("stroke-width") == Some("2"))
        .map(|n| {
            n.attribute("points")
                .unwrap_or_default()
                .split_whitespace()
                .map(|pair| {
                    let (x, y) = pair.split_once(',').unwrap();
                    (x.parse().unwrap(), y.parse().unwrap())
                })
                .collect()
        })
        .collect()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn curves_hold_one_series_per_curve_and_confusion_counts_the_test_rows() {
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let summary = train_iris(dir.path(), "run", 7, 0.15);
    let run = dir.path().join("run");
    let lines = polylines(&read(&run.join("curves.svg")));
    // loss (train, valid), accuracy (train, valid), learning rate.
    assert_eq!(lines.len(), 5);
    assert!(lines.iter().all(|l| l.len() == 7), "{lines:?}");
    // Epochs run left to right.
    assert!(lines.iter().all(|l| l.windows(2).all(|w| w[0].0 < w[1].0)));

    let svg = read(&run.join("confusion.svg"));
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let counts: Vec<usize> = doc
        .descendants()
        .filter(|n| n.tag_name().name() == "text")
        .filter_map(|n| n.text().and_then(|t| t.trim().parse().ok()))
        .collect();
    assert_eq!(counts.len(), 9, "3 × 3 cells");
    let matrix = summary.test_confusion.unwrap();
    let test_rows: usize = matrix.iter().flatten().sum();
    assert_eq!(counts.iter().sum::<usize>(), test_rows);
    let correct: usize = (0..3).map(|i| matrix[i][i]).sum();
    let accuracy = summary.test.unwrap().accuracy.unwrap();
    assert!((accuracy - correct as f64 / test_rows as f64).abs() < 1e-12);
    for class in ["setosa", "versicolor", "virginica"] {
        assert!(svg.contains(class), "{class} labelled");
    }
}

#[test]
fn single_epoch_and_missing_validation_still_plot() {
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    train_iris(dir.path(), "one", 1, 0.15);
    let svg = read(&dir.path().join("one/curves.svg"));
    let lines = polylines(&svg);
    assert_eq!(lines.len(), 5);
    assert!(lines.iter().all(|l| l.len() == 1));
    assert!(
        svg.matches("<circle").count() >= 5,
        "single points get markers"
    );

    train_iris(dir.path(), "no-valid", 4, 0.0);
    let lines = polylines(&read(&dir.path().join("no-valid/curves.svg")));
    assert_eq!(lines.len(), 3, "train loss, train accuracy, learning rate");
    assert!(lines.iter().all(|l| l.len() == 4));
}

#[test]
fn html_report_holds_the_summary_and_inline_plots() {
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let summary = train_iris(dir.path(), "run", 5, 0.15);
    let run = dir.path().join("run");
    std::fs::remove_file(run.join("curves.svg")).unwrap();
    let files = ffn_train::write_run_report(&run).unwrap();
    assert!(files.curves.exists(), "regenerated");
    let html = read(files.html.as_ref().unwrap());
    let start = html
        .find("<script type=\"application/json\" id=\"summary\">")
        .unwrap();
    let json = &html[start..];
    let json = &json[json.find('>').unwrap() + 1..json.find("</script>").unwrap()];
    let embedded: Summary = serde_json::from_str(&json.replace("<\\/", "</")).unwrap();
    let saved: Summary = serde_json::from_str(&read(&run.join("summary.json"))).unwrap();
    assert_eq!(embedded, saved);
    assert_eq!(embedded, summary);
    let test = summary.test.unwrap();
    for value in [test.loss, test.accuracy.unwrap(), test.macro_f1.unwrap()] {
        assert!(
            html.contains(&format!("<td>{value:.4}</td>")),
            "{value:.4} in the table"
        );
    }
    assert_eq!(
        html.matches("<svg").count(),
        2,
        "curves and confusion inline"
    );
    assert!(
        !html.contains("src=\"http") && !html.contains("href=\"http"),
        "offline"
    );
    assert!(html.contains(&format!("{} trainable", summary.params)));
}

#[test]
fn comparison_overlays_every_run() {
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    train_iris(dir.path(), "a", 3, 0.15);
    train_iris(dir.path(), "b", 6, 0.0);
    let runs = [dir.path().join("a"), dir.path().join("b")];
    let out = dir.path().join("cmp");
    let html = ffn_train::write_comparison(&runs, &out).unwrap();
    let lines = polylines(&read(&out.join("compare.svg")));
    // Three panels, one curve per run in each.
    assert_eq!(
        lines.iter().map(Vec::len).collect::<Vec<_>>(),
        [3, 6, 3, 6, 3, 6]
    );
    let html = read(&html);
    assert!(
        html.contains("a (valid)") && html.contains("b (train)"),
        "legend names the split"
    );
    assert!(ffn_train::write_comparison(&runs[..1], &out).is_err());
}
