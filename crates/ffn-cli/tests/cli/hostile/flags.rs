//! Flags and outputs: sizes that overflow or exceed memory, bounded counts, flags that do not
//! apply, `--json` failures as one JSON object, output targets that cannot be written, and
//! checkpoints to import whose shapes are empty or overflow.

use std::fs::File;
use std::path::Path;

use super::Expect::{Fails, FailsJson};
use super::{Case, nothing, write};

/// A safetensors file of F32 zeros with the given tensors, built by hand: an 8-byte header
/// length, the JSON header, the data.
fn safetensors(dir: &Path, name: &str, tensors: &[(&str, [u64; 2])]) {
    let mut header = serde_json::Map::new();
    let mut offset = 0u64;
    for (key, shape) in tensors {
        let len = shape[0].saturating_mul(shape[1]).saturating_mul(4);
        let end = offset.saturating_add(len);
        header.insert(
            key.to_string(),
            serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [offset, end]}),
        );
        offset = end;
    }
    let header = serde_json::Value::Object(header).to_string();
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.resize(bytes.len() + offset.min(1 << 16) as usize, 0);
    std::fs::write(dir.join(name), bytes).unwrap();
}

fn llama_layer(dir: &Path, name: &str, d_model: u64, d_ff: u64) {
    let prefix = "model.layers.0";
    safetensors(
        dir,
        name,
        &[
            (&format!("{prefix}.mlp.gate_proj.weight"), [d_ff, d_model]),
            (&format!("{prefix}.mlp.up_proj.weight"), [d_ff, d_model]),
            (&format!("{prefix}.mlp.down_proj.weight"), [d_model, d_ff]),
            (
                &format!("{prefix}.post_attention_layernorm.weight"),
                [d_model, 1],
            ),
        ],
    );
}

fn directory_named_out(dir: &Path) -> Option<File> {
    std::fs::create_dir(dir.join("out.csv")).unwrap();
    None
}

pub fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "a hidden size near usize::MAX",
            setup: nothing,
            args: &[
                "train",
                "--dataset",
                "data.csv",
                "--hidden",
                "4611686018427387904",
                "--out",
                "n",
            ],
            env: &[],
            expect: Fails("parameters: training needs about"),
        },
        Case {
            name: "hidden layers larger than memory",
            setup: nothing,
            args: &[
                "train",
                "--dataset",
                "data.csv",
                "--hidden",
                "1000000,1000000",
                "--out",
                "n",
            ],
            env: &[],
            expect: Fails("of memory available; choose smaller layers"),
        },
        Case {
            name: "a LoRA rank near usize::MAX",
            setup: nothing,
            args: &[
                "finetune",
                "--from",
                "run",
                "--dataset",
                "data.csv",
                "--lora-rank",
                "4611686018427387904",
                "--out",
                "n",
            ],
            env: &[],
            expect: Fails("larger than the largest supported size, 16777216"),
        },
        Case {
            name: "a LoRA rank above the layer's sides",
            setup: nothing,
            args: &[
                "finetune",
                "--from",
                "run",
                "--dataset",
                "data.csv",
                "--lora-rank",
                "1000",
                "--out",
                "n",
            ],
            env: &[],
            expect: Fails("rank 1000 is more than the larger side"),
        },
        Case {
            name: "bench --rounds u64::MAX",
            setup: nothing,
            args: &["bench", "--rounds", "18446744073709551615"],
            env: &[],
            expect: Fails("invalid value '18446744073709551615' for '--rounds <ROUNDS>'"),
        },
        Case {
            name: "bench --rounds past its bound",
            setup: nothing,
            args: &["bench", "--rounds", "20000"],
            env: &[],
            expect: Fails("20000 is not in 1..=10000"),
        },
        Case {
            name: "bench --iters 0",
            setup: nothing,
            args: &["bench", "--iters", "0"],
            env: &[],
            expect: Fails("0 is not in 1..=1000000"),
        },
        Case {
            name: "a batch size past u64",
            setup: nothing,
            args: &[
                "train",
                "--dataset",
                "data.csv",
                "--batch-size",
                "99999999999999999999999",
                "--out",
                "n",
            ],
            env: &[],
            expect: Fails("invalid value '99999999999999999999999' for '--batch-size"),
        },
        Case {
            name: "an infinite learning rate",
            setup: nothing,
            args: &[
                "train",
                "--dataset",
                "data.csv",
                "--lr",
                "inf",
                "--out",
                "n",
            ],
            env: &[],
            expect: Fails("lr must be a positive number"),
        },
        Case {
            name: "dropout of 1.5",
            setup: nothing,
            args: &[
                "train",
                "--dataset",
                "data.csv",
                "--dropout",
                "1.5",
                "--out",
                "n",
            ],
            env: &[],
            expect: Fails("dropout"),
        },
        Case {
            name: "--device with a CPU backend",
            setup: nothing,
            args: &[
                "train",
                "--dataset",
                "data.csv",
                "--backend",
                "flex",
                "--device",
                "1",
                "--out",
                "n",
            ],
            env: &[],
            expect: Fails(
                "device 1 names a wgpu adapter, but the flex backend computes on the CPU",
            ),
        },
        Case {
            name: "--backend on a command that does not compute",
            setup: nothing,
            args: &["info", "--run", "run", "--backend", "wgpu"],
            env: &[],
            expect: Fails("unexpected argument '--backend'"),
        },
        Case {
            name: "--json on a missing dataset",
            setup: nothing,
            args: &["train", "--dataset", "missing.csv", "--out", "n", "--json"],
            env: &[],
            expect: FailsJson("missing.csv", "data"),
        },
        Case {
            name: "--json on a missing run",
            setup: nothing,
            args: &["eval", "--run", "nowhere", "--json"],
            env: &[],
            expect: FailsJson("no such run directory", "run"),
        },
        Case {
            name: "--json on a corrupt weight file",
            setup: |dir| {
                super::flip_byte(dir, "run/model.bpk");
                None
            },
            args: &["predict", "--run", "run", "--input", "data.csv", "--json"],
            env: &[],
            expect: FailsJson("SHA-256 differs", "run"),
        },
        Case {
            name: "--json on a flag value clap rejects",
            setup: nothing,
            args: &[
                "train",
                "--dataset",
                "data.csv",
                "--hidden",
                "abc",
                "--json",
            ],
            env: &[],
            expect: FailsJson("invalid value 'abc' for '--hidden <SIZES>'", "usage"),
        },
        Case {
            name: "--json on a bad setting",
            setup: nothing,
            args: &[
                "train",
                "--dataset",
                "data.csv",
                "--epochs",
                "0",
                "--out",
                "n",
                "--json",
            ],
            env: &[],
            expect: FailsJson("epochs must be at least 1", "config"),
        },
        Case {
            name: "predictions to a full device",
            setup: nothing,
            args: &[
                "predict",
                "--run",
                "run",
                "--input",
                "data.csv",
                "--output",
                "/dev/full",
            ],
            env: &[],
            expect: Fails("No space left on device"),
        },
        Case {
            name: "predictions to a directory",
            setup: directory_named_out,
            args: &[
                "predict", "--run", "run", "--input", "data.csv", "--output", "out.csv",
            ],
            env: &[],
            expect: Fails("it is a directory"),
        },
        Case {
            name: "--force over the filesystem root",
            setup: nothing,
            args: &["train", "--dataset", "data.csv", "--out", "/", "--force"],
            env: &[],
            expect: Fails("which no run writes; --force replaces run directories only"),
        },
        Case {
            name: "a missing config file",
            setup: nothing,
            args: &["train", "--config", "missing.json", "--out", "n"],
            env: &[],
            expect: Fails("missing.json"),
        },
        Case {
            name: "a config whose epochs is text",
            setup: |dir| {
                write(dir, "c.json", r#"{"epochs": "many"}"#);
                None
            },
            args: &["train", "--config", "c.json", "--out", "n"],
            env: &[],
            expect: Fails("invalid config JSON"),
        },
        Case {
            name: "a language model of zero steps",
            setup: nothing,
            args: &["lm", "train", "--steps", "0", "--out", "lm"],
            env: &[],
            expect: Fails("steps must be at least 1"),
        },
        Case {
            name: "an import whose header is garbage",
            setup: |dir| {
                write(dir, "g.safetensors", "\u{ff}\u{fe}not a checkpoint at all");
                None
            },
            args: &[
                "import",
                "--safetensors",
                "g.safetensors",
                "--layout",
                "llama",
                "--out",
                "blk",
            ],
            env: &[],
            expect: Fails("g.safetensors"),
        },
        Case {
            name: "an import with an empty dimension",
            setup: |dir| {
                llama_layer(dir, "z.safetensors", 4, 0);
                None
            },
            args: &[
                "import",
                "--safetensors",
                "z.safetensors",
                "--layout",
                "llama",
                "--out",
                "blk",
            ],
            env: &[],
            expect: Fails("each side of a projection must be 1 to 16777216"),
        },
        Case {
            name: "an import whose shape overflows",
            setup: |dir| {
                llama_layer(dir, "o.safetensors", 1 << 40, 1 << 40);
                None
            },
            args: &[
                "import",
                "--safetensors",
                "o.safetensors",
                "--layout",
                "llama",
                "--out",
                "blk",
            ],
            env: &[],
            expect: Fails("o.safetensors"),
        },
        Case {
            name: "a sweep given --ffn",
            setup: nothing,
            args: &["lm", "sweep", "--ffn", "gelu", "--out", "s"],
            env: &[],
            expect: Fails("--ffn and --seed belong to the sweep: use --variants and --seeds"),
        },
        Case {
            name: "a sweep of an unknown variant",
            setup: nothing,
            args: &["lm", "sweep", "--variants", "gelu,swish", "--out", "s"],
            env: &[],
            expect: Fails("invalid value 'swish' for '--variants <VARIANTS>'"),
        },
        Case {
            name: "a report of a missing run",
            setup: nothing,
            args: &["report", "--run", "nowhere"],
            env: &[],
            expect: Fails("nowhere"),
        },
    ]
}
