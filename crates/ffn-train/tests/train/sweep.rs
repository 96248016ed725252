//! The FFN-variant sweep: equal parameters per variant, and a small sweep run, read back and
//! continued.

use burn::prelude::*;
use ffn_model::{FfnKind, FfnSpec};
use ffn_train::{
    LmConfig, SweepConfig, equal_parameter_d_ff, parameters, sweep_lm, variant_config,
};

use crate::lm::{excerpt, tiny};
use crate::report::polylines;
use crate::{one_at_a_time, quiet};

const VARIANTS: [FfnKind; 5] = [
    FfnKind::Relu,
    FfnKind::Gelu,
    FfnKind::Swiglu,
    FfnKind::Geglu,
    FfnKind::Reglu,
];

#[test]
fn variants_have_equal_parameters_within_one_percent() {
    assert_eq!(equal_parameter_d_ff(FfnKind::Gelu.into(), 512), 512);
    // 2/3 of 512 is 341.3, rounded to a multiple of 8.
    assert_eq!(equal_parameter_d_ff(FfnKind::Swiglu.into(), 512), 344);
    // Two SwiGLU experts per token: 341.3 / 2 = 170.7, so 168; two GELU experts: 256.
    let moe = |text: &str| text.parse::<FfnSpec>().unwrap();
    assert_eq!(equal_parameter_d_ff(moe("moe:8:2"), 512), 168);
    assert_eq!(equal_parameter_d_ff(moe("moe:4:2:gelu"), 512), 256);
    let device = Device::flex();
    let count = |variant| {
        let config = variant_config(&LmConfig::default(), FfnSpec::Dense(variant), 0);
        let model = config.model.model_config(79).init(&device).unwrap();
        parameters(&model).iter().map(|p| p.numel).sum::<usize>() as f64
    };
    let dense = count(FfnKind::Relu);
    for variant in VARIANTS {
        let params = count(variant);
        assert!(
            (params - dense).abs() / dense < 0.01,
            "{variant}: {params} parameters against {dense}"
        );
    }
}

#[test]
fn a_sweep_trains_every_variant_and_seed_and_continues() {
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let mut base = tiny(excerpt(dir.path(), "shakespeare.txt", 20_000));
    (base.steps, base.eval_interval) = (20, 10);
    let config = SweepConfig {
        base,
        variants: vec![FfnKind::Gelu.into(), FfnKind::Swiglu.into()],
        seeds: vec![0, 1],
    };
    let out = dir.path().join("sweep");
    let mut names = Vec::new();
    let summary = sweep_lm(
        &config,
        &out,
        &mut |n| names.push(n.to_string()),
        &mut quiet,
    )
    .unwrap();
    assert_eq!(names, ["gelu-s0", "gelu-s1", "swiglu-s0", "swiglu-s1"]);
    assert_eq!(summary.results.len(), 2);
    let swiglu = &summary.results[1];
    assert_eq!(swiglu.d_ff, 24, "2/3 of 32, a multiple of 8");
    for (result, variant) in summary.results.iter().zip(["gelu", "swiglu"]) {
        assert_eq!(result.valid_losses.len(), 2);
        for (seed, loss) in result.valid_losses.iter().enumerate() {
            let run = out.join(format!("{variant}-s{seed}/summary.json"));
            let saved: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(run).unwrap()).unwrap();
            assert_eq!(saved["valid"]["loss"].as_f64().unwrap(), *loss);
        }
        let mean = result.valid_losses.iter().sum::<f64>() / 2.0;
        assert!((result.valid_loss_mean - mean).abs() < 1e-12);
        let spread = (result.valid_losses[0] - result.valid_losses[1]).abs() / 2f64.sqrt();
        assert!((result.valid_loss_std - spread).abs() < 1e-12);
    }
    let svg = std::fs::read_to_string(out.join("curves.svg")).unwrap();
    let curves = polylines(&svg);
    assert_eq!(curves.len(), 2, "one mean curve per variant");
    assert!(
        curves.iter().all(|c| c.len() == 2),
        "a point per evaluation"
    );
    assert_eq!(
        svg.matches("<polygon").count(),
        2,
        "a band over the seeds per variant"
    );
    // Running it again reads the finished runs back instead of training them again.
    let again = sweep_lm(&config, &out, &mut |_| {}, &mut |_| panic!("trained again")).unwrap();
    assert_eq!(again.results, summary.results);
    // A sweep of another recipe into the same directory is refused, not mixed in.
    let mut other = config.clone();
    other.base.steps = 30;
    let error = sweep_lm(&other, &out, &mut |_| {}, &mut quiet)
        .unwrap_err()
        .to_string();
    assert!(error.contains("holds a run of another recipe"), "{error}");
}
