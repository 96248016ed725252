use ffn_model::{Activation, ModelError};

use crate::{assert_close, flex, tensor, values};

/// Grid with extreme inputs; every activation is finite on all of it.
const GRID: [f64; 21] = [
    -1e4, -100.0, -30.0, -10.0, -3.0, -1.5, -1.0, -0.5, -1e-3, 0.0, 1e-3, 0.5, 1.0, 1.5, 3.0,
    5.999, 6.5, 10.0, 30.0, 100.0, 1e4,
];

fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        x.exp() / (1.0 + x.exp())
    }
}

fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// The defining formula of each activation, in f64.
fn formula(activation: Activation, x: f64) -> f64 {
    let c = (2.0 / std::f64::consts::PI).sqrt();
    match activation {
        Activation::Identity => x,
        Activation::Relu => x.max(0.0),
        Activation::LeakyRelu { slope } => {
            if x >= 0.0 {
                x
            } else {
                slope * x
            }
        }
        Activation::Sigmoid => sigmoid(x),
        Activation::Tanh => x.tanh(),
        Activation::Gelu => 0.5 * x * (1.0 + libm::erf(x / 2f64.sqrt())),
        Activation::GeluTanh => 0.5 * x * (1.0 + (c * (x + 0.044715 * x.powi(3))).tanh()),
        Activation::QuickGelu => x * sigmoid(1.702 * x),
        Activation::Silu => x * sigmoid(x),
        Activation::Mish => x * softplus(x).tanh(),
        Activation::Softplus => softplus(x),
        Activation::Softsign => x / (1.0 + x.abs()),
        Activation::Relu6 => x.clamp(0.0, 6.0),
        Activation::Elu { alpha } => {
            if x > 0.0 {
                x
            } else {
                alpha * x.exp_m1()
            }
        }
        Activation::Selu => {
            let (alpha, scale) = (1.673_263_242_354_377_3, 1.050_700_987_355_480_5);
            scale * if x > 0.0 { x } else { alpha * x.exp_m1() }
        }
    }
}

#[test]
fn every_activation_matches_its_formula_on_extreme_grid() {
    let device = flex();
    let mut all = Activation::all().to_vec();
    all.push(Activation::LeakyRelu { slope: 0.2 });
    all.push(Activation::Elu { alpha: 0.5 });
    for activation in all {
        let y = values(activation.forward(tensor(&GRID, [GRID.len()], &device)));
        let expected: Vec<f64> = GRID.iter().map(|&x| formula(activation, x)).collect();
        assert!(y.iter().all(|v| v.is_finite()), "{activation}: {y:?}");
        assert_close(&y, &expected, 2e-6, 2e-6, &activation.to_string());
    }
}

#[test]
fn names_parse_case_insensitively_with_aliases() {
    let cases = [
        ("ReLU", Activation::Relu),
        ("linear", Activation::Identity),
        ("GELU", Activation::Gelu),
        ("gelu_new", Activation::GeluTanh),
        ("gelu_pytorch_tanh", Activation::GeluTanh),
        ("Swish", Activation::Silu),
        ("leaky-relu", Activation::LeakyRelu { slope: 0.01 }),
        ("leaky_relu(0.2)", Activation::LeakyRelu { slope: 0.2 }),
        (" elu( 0.5 ) ", Activation::Elu { alpha: 0.5 }),
    ];
    for (name, expected) in cases {
        assert_eq!(name.parse::<Activation>().unwrap(), expected, "{name}");
    }
}

#[test]
fn unknown_name_lists_valid_ones() {
    for bad in [
        "relu7",
        "",
        "relu(0.5)",
        "leaky_relu(abc)",
        "leaky_relu(0.2",
    ] {
        let error = bad.parse::<Activation>().unwrap_err();
        assert!(
            matches!(error, ModelError::UnknownActivation { .. }),
            "{bad}"
        );
        let message = error.to_string();
        assert!(message.contains(&format!("'{bad}'")), "{message}");
        assert!(
            message.contains("gelu_tanh") && message.contains("silu"),
            "{message}"
        );
    }
}

#[test]
fn serialises_as_its_name_and_round_trips() {
    let mut all = Activation::all().to_vec();
    all.push(Activation::LeakyRelu { slope: 0.2 });
    for activation in all {
        let json = serde_json::to_string(&activation).unwrap();
        assert_eq!(json, format!("\"{activation}\""));
        assert_eq!(
            serde_json::from_str::<Activation>(&json).unwrap(),
            activation
        );
    }
    assert_eq!(
        serde_json::to_string(&Activation::LeakyRelu { slope: 0.2 }).unwrap(),
        "\"leaky_relu(0.2)\""
    );
    assert!(serde_json::from_str::<Activation>("\"nope\"").is_err());
}
