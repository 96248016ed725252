//! `ffn inspect`: what it prints and saves, the report section it adds, and every bad input a
//! one-line error.

use std::path::Path;

use crate::lm::lm_run;
use crate::{assert_fails_with, datasets, ffn, ffn_ok};

/// A fresh iris run in `dir/run` (inspect writes into the run, so the shared one is left alone).
fn iris(dir: &Path) -> String {
    let iris = datasets().join("iris.csv");
    let args = [
        "train",
        "--dataset",
        iris.to_str().unwrap(),
        "--epochs",
        "30",
        "--out",
        "run",
    ];
    ffn_ok(&args, dir);
    dir.join("run").to_str().unwrap().to_string()
}

#[test]
fn inspect_prints_saves_and_the_report_draws_it() {
    let dir = tempfile::tempdir().unwrap();
    let run = iris(dir.path());
    let text = ffn_ok(&["inspect", "--run", &run, "--top", "2"], dir.path());
    assert!(
        text.contains("inspected 23 rows of the test split"),
        "{text}"
    );
    assert!(
        text.contains("layer mlp.hidden.0 (relu): 128 units"),
        "{text}"
    );
    assert!(text.contains("mean |IG|"), "{text}");
    // Two features listed under the header: --top 2.
    let listed = text
        .lines()
        .skip_while(|l| !l.contains("mean |IG|"))
        .skip(1);
    assert_eq!(
        listed.take_while(|l| l.starts_with("  ")).count(),
        2,
        "{text}"
    );

    let json = ffn_ok(
        &["inspect", "--run", &run, "--split", "all", "--json"],
        dir.path(),
    );
    let value: serde_json::Value = serde_json::from_str(json.lines().last().unwrap()).unwrap();
    let inspection = &value["inspection"];
    assert_eq!(inspection["kind"], "tabular");
    assert_eq!(inspection["rows"], 150);
    let gap = inspection["attributions"]["worst_completeness_gap"]
        .as_f64()
        .unwrap();
    assert!(gap <= 0.01, "{gap}");
    assert_eq!(
        inspection["attributions"]["rows"].as_array().unwrap().len(),
        150
    );
    let saved: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("run/inspect.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(&saved, inspection);
    assert!(value["seconds"].as_f64().unwrap() > 0.0);

    ffn_ok(&["report", "--run", &run], dir.path());
    let html = std::fs::read_to_string(dir.path().join("run/report.html")).unwrap();
    for part in [
        "Inside the network: unit activity",
        "dead and saturated units",
        "feature attributions",
    ] {
        assert!(html.contains(part), "report lacks '{part}'");
    }
    assert!(html.contains("petal_width_cm"));
}

#[test]
fn inspect_lists_the_neurons_of_a_language_model() {
    let dir = lm_run();
    let text = ffn_ok(
        &["inspect", "--run", "lm", "--layer", "0", "--top", "3"],
        dir,
    );
    assert!(text.contains("dead FFN neurons: block 0 "), "{text}");
    assert!(text.contains("block 0 (gelu)"), "{text}");
    // One line per neuron of the 32-wide FFN.
    let neurons = text
        .lines()
        .filter(|l| l.starts_with("  ") && l.contains(" promotes "))
        .count();
    assert_eq!(neurons, 32, "{text}");
    let json = ffn_ok(
        &["inspect", "--run", "lm", "--max-tokens", "100", "--json"],
        dir,
    );
    let value: serde_json::Value = serde_json::from_str(json.lines().last().unwrap()).unwrap();
    assert_eq!(value["inspection"]["kind"], "lm");
    assert_eq!(value["inspection"]["tokens"], 100);
    assert_eq!(
        value["inspection"]["neurons"][0]["contexts"]
            .as_array()
            .unwrap()
            .len(),
        10
    );
}

#[test]
fn bad_inspect_options_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let run = iris(dir.path());
    let wine = datasets().join("wine.csv");
    let text = dir.path().join("t.txt");
    std::fs::write(&text, "some text").unwrap();
    let cases: [(&[&str], &str); 7] = [
        (
            &["--layer", "3"],
            "unknown layer '3'; valid layers: 0 (mlp.hidden.0)",
        ),
        (&["--layer", "mlp.output"], "unknown layer 'mlp.output'"),
        (&["--top", "0"], "--top must be at least 1"),
        (&["--steps", "5000"], "--steps must be at most 1024"),
        (&["--dataset", wine.to_str().unwrap()], "wine.csv"),
        (
            &["--text", text.to_str().unwrap()],
            "--text applies to language models only",
        ),
        (
            &["--max-tokens", "5"],
            "--max-tokens applies to language models only",
        ),
    ];
    for (extra, message) in cases {
        let mut args = vec!["inspect", "--run", run.as_str()];
        args.extend(extra);
        let output = ffn(&args, dir.path());
        assert_fails_with(&output, message);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    }
    let lm = lm_run();
    for (extra, message) in [
        (
            vec!["--split", "train"],
            "--split applies to tabular runs only",
        ),
        (vec!["--layer", "7"], "unknown layer '7'; valid layers: 0"),
    ] {
        let mut args = vec!["inspect", "--run", "lm"];
        args.extend(extra);
        assert_fails_with(&ffn(&args, lm), message);
    }
    assert_fails_with(
        &ffn(&["inspect", "--run", "nowhere"], dir.path()),
        "no such run directory",
    );
}
