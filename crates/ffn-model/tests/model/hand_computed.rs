//! Tiny layers whose outputs were worked out by hand.

use ffn_model::{
    Activation, FeedForwardConfig, FfnVariant, MlpConfig, NormPlacement, TransformerFfnConfig,
};

use crate::{assert_close, flex, set_linear, tensor, values};

#[test]
fn feed_forward_relu_by_hand() {
    let device = flex();
    let mut layer = FeedForwardConfig::new(3, 2, Activation::Relu)
        .init(&device)
        .unwrap();
    // PyTorch layout [out, in]: unit 0 = x0 + 2 x1, unit 1 = -x0 + x2.
    set_linear(
        &mut layer.linear,
        &[1.0, 2.0, 0.0, -1.0, 0.0, 1.0],
        Some(&[0.5, -1.0]),
        &device,
    );
    let x = tensor(&[1.0, 2.0, 3.0, -1.0, 0.0, 1.0], [2, 3], &device);
    // Row 0: [5 + 0.5, 2 - 1] = [5.5, 1]; row 1: relu([-1 + 0.5, 2 - 1]) = [0, 1].
    let y = values(layer.forward(x).unwrap());
    assert_close(&y, &[5.5, 1.0, 0.0, 1.0], 0.0, 0.0, "dense");
}

#[test]
fn mlp_by_hand() {
    let device = flex();
    let mut mlp = MlpConfig::new(2, vec![2], 1).init(&device).unwrap();
    set_linear(
        &mut mlp.hidden[0].dense.linear,
        &[1.0, 1.0, 1.0, -1.0],
        Some(&[0.0, 0.0]),
        &device,
    );
    set_linear(&mut mlp.output.linear, &[2.0, -3.0], Some(&[1.0]), &device);
    // x = [3, 1]: h = relu([4, 2]) → 8 - 6 + 1 = 3.  x = [1, 3]: h = relu([4, -2]) → 8 + 1 = 9.
    let y = values(
        mlp.forward(tensor(&[3.0, 1.0, 1.0, 3.0], [2, 2], &device))
            .unwrap(),
    );
    assert_close(&y, &[3.0, 9.0], 0.0, 0.0, "mlp");
}

#[test]
fn transformer_ffn_by_hand() {
    let device = flex();
    let x = || tensor(&[1.0, -2.0], [1, 2], &device);
    let down = [1.0, 1.0, 0.0, 2.0];

    // Standard, relu, residual: up = I → relu([1, -2]) = [1, 0]; down → [1, 0]; + x = [2, -2].
    let mut standard = TransformerFfnConfig::new(2, 2)
        .with_activation(Activation::Relu)
        .with_bias(false)
        .with_residual(true)
        .init(&device)
        .unwrap();
    set_linear(
        &mut standard.up.linear,
        &[1.0, 0.0, 0.0, 1.0],
        None,
        &device,
    );
    set_linear(&mut standard.down.linear, &down, None, &device);
    assert_close(
        &values(standard.forward(x()).unwrap()),
        &[2.0, -2.0],
        0.0,
        0.0,
        "standard",
    );

    // Same block with post-LayerNorm (gamma 1, beta 0): [2, -2] has mean 0, variance 4 → [1, -1].
    let mut post = TransformerFfnConfig::new(2, 2)
        .with_activation(Activation::Relu)
        .with_bias(false)
        .with_residual(true)
        .with_norm(NormPlacement::Post)
        .with_norm_epsilon(1e-12)
        .init(&device)
        .unwrap();
    post.up = standard.up.clone();
    post.down = standard.down.clone();
    assert_close(
        &values(post.forward(x()).unwrap()),
        &[1.0, -1.0],
        1e-6,
        0.0,
        "post-norm",
    );

    // ReGLU: gate = I → relu([1, -2]) = [1, 0]; up = diag(2, 3) → [2, -6]; product [2, 0];
    // down → [2, 0]; no residual.
    let mut gated = TransformerFfnConfig::new(2, 2)
        .with_activation(Activation::Relu)
        .with_variant(FfnVariant::Gated)
        .with_bias(false)
        .init(&device)
        .unwrap();
    set_linear(
        &mut gated.gate.as_mut().unwrap().linear,
        &[1.0, 0.0, 0.0, 1.0],
        None,
        &device,
    );
    set_linear(&mut gated.up.linear, &[2.0, 0.0, 0.0, 3.0], None, &device);
    set_linear(&mut gated.down.linear, &down, None, &device);
    assert_close(
        &values(gated.forward(x()).unwrap()),
        &[2.0, 0.0],
        0.0,
        0.0,
        "gated",
    );
}
