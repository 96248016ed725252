//! `inspect`: integrated gradients that rank the features a synthetic label depends on, that
//! are complete on the shipped datasets and agree across backends, and language-model neurons
//! whose contexts and promoted tokens equal a direct recomputation.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::Path;

use burn::prelude::*;
use ffn_data::{SplitMix64, Text, TokenSplit};
use ffn_train::{
    Artifact, Backend, COMPLETENESS_TOLERANCE, InspectOptions, Inspection, LmInspection, LmRun,
    ModelSpec, TabularInspection, TrainConfig, inspect, open_device, train, train_lm,
};

use crate::lm::{excerpt, tiny};
use crate::{datasets, one_at_a_time, other_backends, quiet};

fn tabular(dir: &Path, options: &InspectOptions, backend: Backend) -> TabularInspection {
    let device = open_device(backend, None).unwrap().device;
    let artifact = Artifact::open(dir).unwrap();
    match inspect(&artifact, options, &device, &mut |_, _| {})
        .unwrap()
        .0
    {
        Inspection::Tabular(t) => *t,
        Inspection::Lm(_) => panic!("a tabular run gave a language-model inspection"),
    }
}

fn trained(dataset: &Path, epochs: usize, out: &Path) {
    trained_with(dataset, epochs, ModelSpec::default(), out);
}

fn trained_with(dataset: &Path, epochs: usize, model: ModelSpec, out: &Path) {
    let config = TrainConfig {
        dataset: dataset.to_path_buf(),
        epochs,
        early_stopping: None,
        model,
        ..TrainConfig::default()
    };
    train(&config, out, &mut quiet).unwrap();
}

/// 4,000 rows of ten standard-normal features; the label is `x0 + x1 > 0`.
fn synthetic(path: &Path) {
    let mut rng = SplitMix64::new(11);
    let mut normal = || {
        let u = (rng.below(1 << 30) as f64 + 0.5) / f64::from(1 << 30);
        let v = rng.below(1 << 30) as f64 / f64::from(1 << 30);
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    };
    let mut csv = (0..10).map(|j| format!("x{j},")).collect::<String>() + "label\n";
    for _ in 0..4000 {
        let x: Vec<f64> = (0..10).map(|_| normal()).collect();
        for v in &x {
            let _ = write!(csv, "{v:.5},");
        }
        let _ = writeln!(csv, "{}", u8::from(x[0] + x[1] > 0.0));
    }
    std::fs::write(path, csv).unwrap();
}

#[test]
fn attributions_find_the_two_features_the_label_depends_on() {
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("sum.csv");
    synthetic(&data);
    let model = ModelSpec {
        hidden: vec![16],
        ..ModelSpec::default()
    };
    trained_with(&data, 30, model, &dir.path().join("run"));
    let found = tabular(
        &dir.path().join("run"),
        &InspectOptions::default(),
        Backend::Flex,
    );
    let attributions = &found.attributions;
    let relevant: HashSet<usize> = [0, 1].into();
    let top_two = |values: &mut dyn Iterator<Item = f64>| -> HashSet<usize> {
        let mut ranked: Vec<(usize, f64)> = values.enumerate().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        ranked.iter().take(2).map(|&(j, _)| j).collect()
    };
    let hits = attributions
        .rows
        .iter()
        .filter(|r| top_two(&mut r.integrated_gradients.iter().map(|v| v.abs())) == relevant)
        .count();
    let share = hits as f64 / attributions.rows.len() as f64;
    eprintln!(
        "IG ranks x0, x1 top two on {share:.3} of {} rows",
        found.rows
    );
    assert!(
        share >= 0.95,
        "x0 and x1 lead on only {share:.3} of the rows"
    );
    let by_permutation = top_two(&mut attributions.features.iter().map(|f| f.permutation));
    assert_eq!(by_permutation, relevant, "{:?}", attributions.features);
    assert_eq!(attributions.features[0].feature, "x0");
}

#[test]
fn integrated_gradients_are_complete_on_the_shipped_datasets() {
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    for (name, epochs) in [("iris", 40), ("wine", 40), ("digits", 20)] {
        let run = dir.path().join(name);
        trained(&datasets().join(format!("{name}.csv")), epochs, &run);
        let found = tabular(&run, &InspectOptions::default(), Backend::Flex);
        let worst = found.attributions.worst_completeness_gap;
        eprintln!(
            "{name}: worst completeness gap {worst:.2e} over {} rows",
            found.rows
        );
        assert!(worst <= COMPLETENESS_TOLERANCE, "{name}: {worst}");
        for row in &found.attributions.rows {
            let sum: f64 = row.integrated_gradients.iter().sum();
            let difference = row.output - row.baseline_output;
            let mass: f64 = row.integrated_gradients.iter().map(|v| v.abs()).sum();
            assert!(
                (sum - difference).abs() <= COMPLETENESS_TOLERANCE * mass.max(difference.abs())
            );
        }
        let layer = &found.layers[0];
        assert_eq!(layer.units.len(), 128);
        let classes = found.classes.as_ref().unwrap().len();
        assert_eq!(layer.units[0].class_means.len(), classes);
        // The report draws it: a heat map with a cell per unit and class, and the bar chart.
        Inspection::Tabular(Box::new(found))
            .save(&ffn_train::RunDir::new(&run))
            .unwrap();
        let html = report_html(&run);
        let svgs = inline_svgs(&html);
        let heatmap = svgs
            .iter()
            .find(|s| s.contains("mean activation per class"))
            .unwrap();
        let cells = roxmltree::Document::parse(heatmap)
            .unwrap()
            .descendants()
            .filter(|n| n.tag_name().name() == "rect")
            .count();
        assert!(cells >= 128 * classes, "{name}: {cells} rectangles");
        assert!(svgs.iter().any(|s| s.contains("feature attributions")));
    }
}

/// The run's regenerated `report.html`.
fn report_html(run: &Path) -> String {
    ffn_train::write_run_report(run).unwrap();
    std::fs::read_to_string(run.join("report.html")).unwrap()
}

/// The inline SVG documents of a page, each parsed as XML.
fn inline_svgs(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<svg") {
        let end = rest[start..].find("</svg>").unwrap() + start + "</svg>".len();
        let svg = &rest[start..end];
        roxmltree::Document::parse(svg).expect("inline SVG parses as XML");
        found.push(svg.to_string());
        rest = &rest[end..];
    }
    found
}

#[test]
fn attributions_and_unit_statistics_agree_across_backends() {
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("iris");
    trained(&datasets().join("iris.csv"), 20, &run);
    let options = InspectOptions {
        split: Some(ffn_train::SplitChoice::All),
        ..InspectOptions::default()
    };
    let reference = tabular(&run, &options, Backend::Flex);
    for backend in other_backends() {
        let other = tabular(&run, &options, backend);
        for (a, b) in other
            .attributions
            .rows
            .iter()
            .zip(&reference.attributions.rows)
        {
            assert_eq!(a.class, b.class, "{backend}");
            let scale: f64 = b.integrated_gradients.iter().map(|v| v.abs()).sum();
            for (x, y) in a.integrated_gradients.iter().zip(&b.integrated_gradients) {
                assert!(
                    (x - y).abs() <= 1e-4 * scale,
                    "{backend}: IG {x} against {y}"
                );
            }
        }
        for (a, b) in other.layers[0].units.iter().zip(&reference.layers[0].units) {
            assert!(
                (a.mean - b.mean).abs() <= 1e-4 * (1.0 + b.mean.abs()),
                "{backend}"
            );
            assert_eq!(a.dead, b.dead, "{backend}");
        }
    }
}

#[test]
fn neuron_contexts_and_promoted_tokens_equal_a_direct_recomputation() {
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let mut config = tiny(excerpt(dir.path(), "shakespeare.txt", 20_000));
    config.model.ffn = ffn_model::FfnKind::Relu.into();
    let out = dir.path().join("lm");
    train_lm(&config, &out, &mut quiet).unwrap();
    let history = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    for line in history.lines() {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        let dead = record["dead_neurons"].as_array().unwrap();
        assert_eq!(dead.len(), 2);
        assert!(
            dead.iter()
                .all(|d| (0.0..=1.0).contains(&d.as_f64().unwrap()))
        );
    }
    let device = Device::flex();
    let options = InspectOptions {
        layer: Some("0".into()),
        top: Some(3),
        max_tokens: Some(500),
        ..InspectOptions::default()
    };
    let artifact = Artifact::open(&out).unwrap();
    let Inspection::Lm(found) = inspect(&artifact, &options, &device, &mut |_, _| {})
        .unwrap()
        .0
    else {
        panic!("a language model gave a tabular inspection");
    };
    let found: LmInspection = *found;
    assert_eq!(
        (found.layer, found.tokens, found.neurons.len()),
        (0, 500, 32)
    );

    // Recompute every window one at a time: each neuron's largest coefficient and its place.
    let lm = LmRun::open(&out).unwrap();
    let model = lm.model(&device).unwrap();
    let text = Text::read(&config.text).unwrap();
    let (split, _) = TokenSplit::new(&text, &lm.tokenizer, config.valid_fraction).unwrap();
    let tokens = &split.valid[..500];
    let mut best = vec![(f32::NEG_INFINITY, 0usize); 32];
    let mut active = vec![0usize; 32];
    for start in (0..tokens.len()).step_by(16) {
        let window = &tokens[start..(start + 16).min(tokens.len())];
        let ids: Vec<i64> = window.iter().map(|&t| i64::from(t)).collect();
        let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, [1, window.len()]), &device);
        let (_, activity, _) = model.forward_probed(ids).unwrap();
        let hidden: Vec<f32> = activity[0]
            .hidden
            .clone()
            .into_data()
            .try_into_vec_as::<f32>()
            .unwrap();
        for (p, row) in hidden.chunks(32).enumerate() {
            for (i, &v) in row.iter().enumerate() {
                if v > best[i].0 {
                    best[i] = (v, start + p);
                }
                active[i] += usize::from(v > 0.0);
            }
        }
    }
    let weights = |t: Tensor<2>| -> (Vec<f32>, [usize; 2]) {
        let dims = t.dims();
        (t.into_data().try_into_vec_as::<f32>().unwrap(), dims)
    };
    let ffn = model.blocks[0].ffn.dense().unwrap();
    let (down, _) = weights(ffn.down.linear.weight.val());
    let (embedding, [vocab, d_model]) = weights(model.tokens.weight.val());
    for (i, neuron) in found.neurons.iter().enumerate() {
        let top = &neuron.contexts[0];
        assert!(
            (top.value - f64::from(best[i].0)).abs() < 1e-5,
            "neuron {i}"
        );
        assert!(neuron.contexts.windows(2).all(|w| w[0].value >= w[1].value));
        assert!((neuron.active_fraction - active[i] as f64 / 500.0).abs() < 1e-9);
        let logit = |token: usize| -> f64 {
            (0..d_model)
                .map(|d| {
                    f64::from(down[i * d_model + d]) * f64::from(embedding[token * d_model + d])
                })
                .sum()
        };
        let argmax = (0..vocab)
            .max_by(|&a, &b| logit(a).total_cmp(&logit(b)))
            .unwrap();
        assert_eq!(neuron.promoted[0].id, argmax, "neuron {i}");
        assert!((neuron.promoted[0].logit - logit(argmax)).abs() < 1e-4);
    }
    let dead = found.neurons.iter().filter(|n| n.dead).count() as f64 / 32.0;
    assert!((found.dead_fractions[0] - dead).abs() < 1e-12);

    // The report: a dead-neuron panel with one curve per block, and the page of neurons.
    Inspection::Lm(Box::new(found))
        .save(&ffn_train::RunDir::new(&out))
        .unwrap();
    let html = report_html(&out);
    assert!(html.contains("Inside the network: neurons"));
    inline_svgs(&html);
    let curves = std::fs::read_to_string(out.join("curves.svg")).unwrap();
    assert!(curves.contains("dead FFN neurons"));
    let lines = crate::report::polylines(&curves);
    // train and valid loss, train and valid perplexity, the learning rate, two blocks.
    assert_eq!(lines.len(), 7);
    assert!(lines.iter().all(|l| l.len() == 3));
}
