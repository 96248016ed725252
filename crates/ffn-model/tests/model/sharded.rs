//! Sharded and memory-mapped checkpoints: a sharded copy of a checkpoint imports exactly like
//! the single file (through its index or its directory), and importing one layer of a checkpoint
//! of more than 1 GB touches only that layer's bytes.

use std::io::Write;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use ffn_model::{HfLayout, HostTensor, INDEX_FILE, SafeTensors, import_hf_ffn, write_safetensors};
use safetensors::Dtype;
use safetensors::tensor::{Metadata, TensorInfo};

use crate::{flex, values};

fn llama_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hf/llama/model.safetensors")
}

/// Writes `model.safetensors.index.json` naming the shard of every tensor.
fn write_index(dir: &Path, shards: &[(&str, Vec<String>)]) -> PathBuf {
    let mut weight_map = serde_json::Map::new();
    for (file, names) in shards {
        for name in names {
            weight_map.insert(name.clone(), (*file).into());
        }
    }
    let index = serde_json::json!({ "metadata": {}, "weight_map": weight_map });
    let path = dir.join(INDEX_FILE);
    std::fs::write(&path, serde_json::to_vec_pretty(&index).unwrap()).unwrap();
    path
}

#[test]
fn sharded_checkpoint_imports_like_the_single_file() {
    let single = SafeTensors::open(&llama_fixture()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Layer 0's tensors and everything else in one shard, layer 1's in the other.
    let (layer1, rest): (Vec<String>, Vec<String>) = single
        .names()
        .map(str::to_string)
        .partition(|name| name.contains("layers.1."));
    for (file, names) in [
        ("model-00001-of-00002.safetensors", &rest),
        ("model-00002-of-00002.safetensors", &layer1),
    ] {
        let tensors: Vec<(String, HostTensor)> = names
            .iter()
            .map(|name| (name.clone(), single.tensor(name).unwrap()))
            .collect();
        write_safetensors(&dir.path().join(file), &tensors, Default::default()).unwrap();
    }
    let index = write_index(
        dir.path(),
        &[
            ("model-00001-of-00002.safetensors", rest.clone()),
            ("model-00002-of-00002.safetensors", layer1.clone()),
        ],
    );
    let x = Tensor::<2>::random(
        [5, 8],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &flex(),
    );
    for layer in [0, 1] {
        let reference = import_hf_ffn(&single, HfLayout::Llama, layer, None, &flex()).unwrap();
        let expected = values(reference.block.forward(x.clone()).unwrap());
        for path in [&index, &dir.path().to_path_buf()] {
            let sharded = SafeTensors::open(path).unwrap();
            assert_eq!(sharded.names().count(), single.names().count());
            let imported = import_hf_ffn(&sharded, HfLayout::Llama, layer, None, &flex()).unwrap();
            assert_eq!(imported.keys, reference.keys);
            let got = values(imported.block.forward(x.clone()).unwrap());
            assert_eq!(got, expected, "layer {layer} through {}", path.display());
        }
    }
    // An index naming a shard that is not there is an error naming the file.
    std::fs::remove_file(dir.path().join("model-00002-of-00002.safetensors")).unwrap();
    let error = SafeTensors::open(&index).unwrap_err().to_string();
    assert!(
        error.contains("model-00002-of-00002.safetensors"),
        "{error}"
    );
}

/// Sizes of the large checkpoint's layers.
const D_MODEL: usize = 64;
const D_FF: usize = 128;
/// Rows of each shard's filler matrix (`[FILLER_ROWS, 1024]` F32: 512 MiB).
const FILLER_ROWS: usize = 131_072;
/// Set in the child process that imports from the large checkpoint.
const CHILD: &str = "FFN_TEST_LARGE_CHECKPOINT";

/// Writes one shard: layer `layer`'s FFN tensors with values, then a `filler` matrix whose
/// bytes are a hole in a sparse file (never written, never read).
fn write_sparse_shard(path: &Path, layer: usize, filler: &str) -> Vec<String> {
    let stem = format!("model.layers.{layer}");
    let small = [
        (
            format!("{stem}.post_attention_layernorm.weight"),
            vec![D_MODEL],
        ),
        (format!("{stem}.mlp.gate_proj.weight"), vec![D_FF, D_MODEL]),
        (format!("{stem}.mlp.up_proj.weight"), vec![D_FF, D_MODEL]),
        (format!("{stem}.mlp.down_proj.weight"), vec![D_MODEL, D_FF]),
    ];
    let mut infos = Vec::new();
    let mut data = Vec::new();
    for (name, shape) in &small {
        let start = data.len();
        let count: usize = shape.iter().product();
        for i in 0..count {
            data.extend_from_slice(&((i % 17) as f32 / 17.0 - 0.5).to_le_bytes());
        }
        infos.push((name.clone(), info(shape.clone(), start, data.len())));
    }
    let filler_bytes = FILLER_ROWS * 1024 * 4;
    infos.push((
        filler.to_string(),
        info(
            vec![FILLER_ROWS, 1024],
            data.len(),
            data.len() + filler_bytes,
        ),
    ));
    let names = infos.iter().map(|(name, _)| name.clone()).collect();
    let mut header = serde_json::to_vec(&Metadata::new(None, infos).unwrap()).unwrap();
    header.resize(header.len().next_multiple_of(8), b' ');
    let mut file = std::fs::File::create(path).unwrap();
    file.write_all(&(header.len() as u64).to_le_bytes())
        .unwrap();
    file.write_all(&header).unwrap();
    file.write_all(&data).unwrap();
    let total = 8 + header.len() + data.len() + filler_bytes;
    file.set_len(total as u64).unwrap();
    names
}

fn info(shape: Vec<usize>, start: usize, end: usize) -> TensorInfo {
    TensorInfo {
        dtype: Dtype::F32,
        shape,
        data_offsets: (start, end),
    }
}

/// The process's peak resident set in MiB (`VmHWM`).
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<f64>()
        .unwrap()
        / 1024.0
}

#[test]
fn one_layer_of_a_large_sharded_checkpoint_stays_small_in_memory() {
    if let Some(index) = std::env::var_os(CHILD) {
        // The child: nothing else runs in this process, so its peak is the import's.
        let file = SafeTensors::open(Path::new(&index)).unwrap();
        let imported = import_hf_ffn(&file, HfLayout::Llama, 1, None, &flex()).unwrap();
        assert_eq!(
            (imported.config.d_model, imported.config.d_ff),
            (D_MODEL, D_FF)
        );
        println!("peak-rss-mib {}", peak_rss_mib());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let shards = [
        (
            "model-00001-of-00002.safetensors",
            0,
            "model.embed_tokens.weight",
        ),
        ("model-00002-of-00002.safetensors", 1, "lm_head.weight"),
    ];
    let mut map = Vec::new();
    let mut bytes = 0;
    for (file, layer, filler) in shards {
        let path = dir.path().join(file);
        map.push((file, write_sparse_shard(&path, layer, filler)));
        bytes += std::fs::metadata(&path).unwrap().len();
    }
    assert!(
        bytes >= 1 << 30,
        "the checkpoint is at least 1 GiB ({bytes} bytes)"
    );
    let index = write_index(dir.path(), &map);
    let test = "sharded::one_layer_of_a_large_sharded_checkpoint_stays_small_in_memory";
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, &index)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let peak: f64 = stdout
        .split("peak-rss-mib ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no peak reported: {stdout}"))
        .parse()
        .unwrap();
    assert!(
        peak < 100.0,
        "peak RSS {peak:.1} MiB importing one layer of {bytes} bytes"
    );
}
