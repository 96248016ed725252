//! The GGUF reader against files written by llama.cpp's `gguf` Python package and the values
//! its dequantisers give (`fixtures/make_gguf_fixtures.py`); damaged files give errors.

use std::path::{Path, PathBuf};

use ffn_model::{GgmlType, Gguf, GgufValue, ModelError, gguf_llama_config, load_gguf_llama};
use serde_json::Value;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gguf/types.gguf")
}

#[test]
fn every_supported_type_dequantizes_as_the_gguf_package_does() {
    let file = Gguf::open(&fixture()).unwrap();
    assert_eq!(file.version(), 3);
    let reference: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture().with_extension("json")).unwrap())
            .unwrap();
    let tensors = reference["tensors"].as_object().unwrap();
    assert_eq!(tensors.len(), 5);
    for (name, expected) in tensors {
        let tensor = file.tensor(name).unwrap();
        let shape: Vec<usize> = serde_json::from_value(expected["shape"].clone()).unwrap();
        assert_eq!(tensor.shape, shape, "{name}");
        let values: Vec<f32> = serde_json::from_value(expected["values"].clone()).unwrap();
        assert_eq!(tensor.values.len(), values.len(), "{name}");
        for (i, (got, want)) in tensor.values.iter().zip(&values).enumerate() {
            // Same arithmetic in f32 (the package computes d·q + m in f32 too).
            assert!(
                (got - want).abs() <= 1e-6 * want.abs().max(1.0),
                "{name}[{i}]: {got} vs {want}"
            );
        }
    }
    assert_eq!(file.tensors()["q4_1"].dtype, GgmlType::Q4_1);
    assert_eq!(file.tensors()["q8_0"].dtype, GgmlType::Q8_0);
}

#[test]
fn metadata_of_every_value_type_reads_back() {
    let file = Gguf::open(&fixture()).unwrap();
    assert_eq!(file.string("general.architecture").unwrap(), "gpt2");
    assert_eq!(file.usize("test.u32").unwrap(), 4_000_000_000);
    assert_eq!(file.usize("test.u64").unwrap(), 1 << 40);
    assert_eq!(file.get("test.i32"), Some(&GgufValue::Signed(-7)));
    assert_eq!(file.float("test.f32").unwrap(), 0.25);
    assert_eq!(file.float("test.f64").unwrap(), -1.5);
    assert_eq!(file.get("test.bool"), Some(&GgufValue::Bool(true)));
    assert_eq!(file.string("test.string").unwrap(), "héllo 🤗");
    assert_eq!(file.strings("test.strings").unwrap(), ["a", "b c", ""]);
    assert_eq!(file.integers("test.ints").unwrap(), [1, -2, 3]);
    let err = file.usize("test.i32").unwrap_err().to_string();
    assert!(
        err.contains("'test.i32' should be a non-negative integer"),
        "{err}"
    );
    let err = file.string("test.missing").unwrap_err().to_string();
    assert!(err.contains("'test.missing' is missing"), "{err}");
}

#[test]
fn an_unsupported_type_and_another_architecture_are_named() {
    let file = Gguf::open(&fixture()).unwrap();
    let err = file.tensor("q5_1").unwrap_err().to_string();
    assert!(
        err.contains("'q5_1' is stored as Q5_1") && err.contains("Q8_0, Q4_1"),
        "{err}"
    );
    let err = gguf_llama_config(&file, None).unwrap_err().to_string();
    assert!(err.contains("architecture is 'gpt2'"), "{err}");
    assert!(matches!(
        file.tensor("absent"),
        Err(ModelError::MissingWeight { .. })
    ));
}

#[test]
fn damaged_files_give_errors_not_panics() {
    let bytes = std::fs::read(fixture()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let open = |name: &str, data: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, data).unwrap();
        Gguf::open(&path).unwrap_err().to_string()
    };
    // Truncated anywhere: inside the tensor data, inside the tables, inside the header.
    // (The last tensor ends at byte 1176; the file is padded to 1184.)
    for cut in [1175, 1100, 700, 300, 40, 10, 3] {
        let err = open("cut.gguf", &bytes[..cut]);
        assert!(
            err.contains("truncated") || err.contains("not a GGUF file"),
            "cut at {cut}: {err}"
        );
    }
    let err = open("csv.gguf", b"a,b\n1,2\n");
    assert!(err.contains("not a GGUF file"), "{err}");
    let mut version = bytes.clone();
    version[4] = 9;
    assert!(open("v9.gguf", &version).contains("GGUF version 9 is not supported"));
    // A string length far past the end of the file (the first key's length field).
    let mut length = bytes.clone();
    length[24..32].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(open("len.gguf", &length).contains("string length 18446744073709551615 runs past"));
    let err = Gguf::open(&dir.path().join("absent.gguf"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot open"), "{err}");
}

#[test]
fn metadata_that_does_not_fit_the_tensors_is_named_before_anything_is_allocated() {
    let path = fixture().with_file_name("llama_wrong_sizes.gguf");
    let file = Gguf::open(&path).unwrap();
    // The metadata claims a 2^20-wide model; its embedding is 8 wide.
    let err = load_gguf_llama(&file, None, &crate::flex())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("'token_embd.weight' has shape [4, 8], expected [4, 1048576]"),
        "{err}"
    );
}
