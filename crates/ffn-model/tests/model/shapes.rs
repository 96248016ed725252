//! Wrong input shapes and invalid configs give errors naming the layer, never panics.

use ffn_model::{
    Activation, FeedForwardConfig, MlpConfig, ModelError, NormKind, TransformerFfnConfig,
};

use crate::{flex, tensor};

#[track_caller]
fn assert_shape_error(error: ModelError, layer: &str, expected: &str, actual: &[usize]) {
    let message = error.to_string();
    match error {
        ModelError::InputShape {
            layer: l,
            expected: e,
            actual: a,
        } => {
            assert!(l.starts_with(layer), "{message}");
            assert_eq!(e, expected, "{message}");
            assert_eq!(a, actual, "{message}");
        }
        other => panic!("expected an input-shape error, got {other}"),
    }
}

#[test]
fn wrong_last_dimension_is_an_error_naming_the_layer() {
    let device = flex();
    let x = tensor(&[0.0; 12], [2, 6], &device);
    let dense = FeedForwardConfig::new(5, 3, Activation::Relu)
        .init(&device)
        .unwrap();
    let error = dense.forward(x.clone()).unwrap_err();
    assert!(error.to_string().contains("FeedForward(d_input=5, units=3"));
    assert_shape_error(error, "FeedForward", "[.., 5]", &[2, 6]);

    let mlp = MlpConfig::new(4, vec![8], 2).init(&device).unwrap();
    assert_shape_error(
        mlp.forward(x.clone()).unwrap_err(),
        "Mlp",
        "[.., 4]",
        &[2, 6],
    );

    let ffn = TransformerFfnConfig::new(8, 16).init(&device).unwrap();
    assert_shape_error(
        ffn.forward(x).unwrap_err(),
        "TransformerFfn",
        "[batch, seq, 8] or [batch, 8]",
        &[2, 6],
    );
}

#[test]
fn transformer_ffn_rejects_other_ranks() {
    let device = flex();
    let ffn = TransformerFfnConfig::new(4, 8).init(&device).unwrap();
    let rank4 = tensor(&[0.0; 16], [1, 2, 2, 4], &device);
    assert_shape_error(
        ffn.forward(rank4).unwrap_err(),
        "TransformerFfn",
        "[batch, seq, 4] or [batch, 4]",
        &[1, 2, 2, 4],
    );
    let rank1 = tensor(&[0.0; 4], [4], &device);
    assert!(ffn.forward(rank1).is_err());
    assert!(ffn.forward(tensor(&[0.0; 8], [2, 4], &device)).is_ok());
    assert!(ffn.forward(tensor(&[0.0; 24], [2, 3, 4], &device)).is_ok());
}

#[test]
fn invalid_configs_are_errors() {
    let device = flex();
    let reason = |r: Result<(), ModelError>| match r.unwrap_err() {
        ModelError::InvalidConfig { reason, .. } => reason,
        other => panic!("expected invalid config, got {other}"),
    };
    let dense = |units| {
        FeedForwardConfig::new(3, units, Activation::Relu)
            .init(&device)
            .map(drop)
    };
    assert!(reason(dense(0)).contains("units must be at least 1"));
    let mlp = |hidden: Vec<usize>, dropout: f64, eps: f64| {
        MlpConfig::new(3, hidden, 2)
            .with_dropout(dropout)
            .with_norm(Some(NormKind::LayerNorm))
            .with_norm_epsilon(eps)
            .init(&device)
            .map(drop)
    };
    assert!(reason(mlp(vec![4, 0], 0.0, 1e-5)).contains("hidden[1] must be at least 1"));
    assert!(reason(mlp(vec![4], 1.0, 1e-5)).contains("dropout must be in [0, 1), got 1"));
    assert!(reason(mlp(vec![4], -0.1, 1e-5)).contains("dropout"));
    assert!(reason(mlp(vec![4], 0.1, 0.0)).contains("epsilon"));
    let ffn = TransformerFfnConfig::new(4, 0).init(&device).map(drop);
    assert!(reason(ffn).contains("d_ff must be at least 1"));
}

/// Batches without rows give empty outputs of the right shape on every layer kind.
#[test]
fn empty_batches_give_empty_outputs() {
    use burn::tensor::Tensor;

    let device = flex();
    let dense = FeedForwardConfig::new(5, 3, Activation::Gelu)
        .init(&device)
        .unwrap();
    let mlp = MlpConfig::new(5, vec![8], 2).init(&device).unwrap();
    let block = TransformerFfnConfig::llama(5, 12).init(&device).unwrap();
    for dims in [[0, 7, 5], [4, 0, 5]] {
        let x = Tensor::<3>::empty(dims, &device);
        assert_eq!(
            dense.forward(x.clone()).unwrap().dims(),
            [dims[0], dims[1], 3]
        );
        assert_eq!(
            mlp.forward(x.clone()).unwrap().dims(),
            [dims[0], dims[1], 2]
        );
        assert_eq!(block.forward(x).unwrap().dims(), dims);
    }
}
