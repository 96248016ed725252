//! The commands on a trained run: eval, predict, info, report, and `ffn` with no arguments.

use crate::{assert_fails_with, datasets, ffn, ffn_ok, iris_run};

#[test]
fn eval_predict_and_info_work_on_a_run() {
    let dir = iris_run();
    let out = ffn(&["eval", "--run", "run", "--split", "all", "--json"], dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let eval: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(eval["metrics"]["accuracy"].as_f64().unwrap() > 0.8);

    std::fs::write(
        dir.join("new.csv"),
        "petal_width_cm,petal_length_cm,sepal_width_cm,sepal_length_cm\n0.2,1.4,3.5,5.1\n2.3,6.0,3.2,6.9\n",
    )
    .unwrap();
    let out = ffn(
        &[
            "predict", "--run", "run", "--input", "new.csv", "--output", "pred.csv",
        ],
        dir,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let predictions = std::fs::read_to_string(dir.join("pred.csv")).unwrap();
    let lines: Vec<&str> = predictions.lines().collect();
    assert_eq!(lines[0], "species,p_setosa,p_versicolor,p_virginica");
    assert!(
        lines[1].starts_with("setosa,") && lines[2].starts_with("virginica,"),
        "{predictions}"
    );
    let probabilities: f64 = lines[1]
        .split(',')
        .skip(1)
        .map(|p| p.parse::<f64>().unwrap())
        .sum();
    assert!((probabilities - 1.0).abs() < 1e-4);

    let out = ffn(&["info", "--run", "run", "--json"], dir);
    assert!(out.status.success());
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(info["params"], 4 * 128 + 128 + 128 * 3 + 3);
    assert_eq!(info["classes"][2], "virginica");
    let out = ffn(&["info", "--run", "run"], dir);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("MLP 4 → 128 → 3 (relu, dropout 0.3)"),
        "{text}"
    );
}

#[test]
fn no_arguments_trains_iris_and_says_where() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("datasets")).unwrap();
    std::fs::copy(
        datasets().join("iris.csv"),
        dir.path().join("datasets/iris.csv"),
    )
    .unwrap();
    let out = ffn(&[], dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("training on flex (CPU)"), "{stdout}");
    assert!(
        stdout.lines().any(|l| l.starts_with("epoch ")),
        "plain epoch lines: {stdout}"
    );
    let saved = stdout
        .lines()
        .find_map(|l| l.strip_prefix("saved the run to "))
        .unwrap();
    assert!(dir.path().join(saved).join("model.bpk").exists());
}

#[test]
fn report_command_writes_html_and_comparisons() {
    let dir = tempfile::tempdir().unwrap();
    let run = iris_run().join("run");
    let copy = dir.path().join("run");
    std::fs::create_dir_all(&copy).unwrap();
    for file in [
        "config.json",
        "preprocessor.json",
        "split.json",
        "summary.json",
        "metrics.jsonl",
        "model.bpk",
    ] {
        std::fs::copy(run.join(file), copy.join(file)).unwrap();
    }
    let stdout = ffn_ok(&["report", "--run", "run", "--json"], dir.path());
    let written: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(written["report"].as_str().unwrap().ends_with("report.html"));
    for file in ["curves.svg", "confusion.svg", "report.html"] {
        assert!(copy.join(file).exists(), "{file}");
    }
    let stdout = ffn_ok(
        &[
            "report",
            "--compare",
            "run",
            run.to_str().unwrap(),
            "--out",
            "cmp",
        ],
        dir.path(),
    );
    assert!(stdout.contains("compare.svg") && dir.path().join("cmp/compare.svg").exists());
    assert_fails_with(&ffn(&["report"], dir.path()), "--run");
    assert_fails_with(
        &ffn(&["report", "--run", "nowhere"], dir.path()),
        "no such run directory",
    );
}
