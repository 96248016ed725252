//! Property tests of every parser of what ffn reads: CSV tables (and the dataset, preprocessing
//! and encoding built on them), training and language-model configs, safetensors headers and
//! run files (preprocessor, tokenizer). Each gets 10,000 inputs, random bytes or a valid input
//! with a few bytes replaced, inserted or deleted, and must return a value or an error: a panic
//! fails the test with the input that caused it.

use std::path::Path;

use ffn_data::{CsvTable, Dataset, LoadOptions, Preprocessor, Text, Tokenizer, TokenizerKind};
use ffn_model::{HostTensor, SafeTensors};
use ffn_train::{LmConfig, TrainConfig};
use proptest::prelude::*;

const CASES: u32 = 10_000;

const CSV: &[u8] = b"a,b,label\n1,2,x\n3.5,-4e3,y\n0,1e-3,x\n\"q,1\",2,y\n7,8,x\n";
/// A CSV that loads: the seed of the files derived from a dataset.
const VALID_CSV: &[u8] = b"a,b,label\n1,2,x\n3.5,-4e3,y\n0,1e-3,x\n7,8,y\n";

/// `seed` with one to eight bytes replaced, inserted or deleted.
fn mutated(seed: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let edit = (any::<prop::sample::Index>(), any::<u8>(), 0u8..3);
    prop::collection::vec(edit, 1..8).prop_map(move |edits| {
        let mut bytes = seed.clone();
        for (at, byte, op) in edits {
            match op {
                0 if !bytes.is_empty() => {
                    let i = at.index(bytes.len());
                    bytes[i] = byte;
                }
                1 => bytes.insert(at.index(bytes.len() + 1), byte),
                _ if !bytes.is_empty() => {
                    bytes.remove(at.index(bytes.len()));
                }
                _ => {}
            }
        }
        bytes
    })
}

/// Random bytes or a mutation of `seed`, evenly.
fn inputs(seed: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![prop::collection::vec(any::<u8>(), 0..256), mutated(seed)]
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// A CSV through everything that reads one: the table, the dataset, preprocessing, encoding.
fn read_csv(bytes: &[u8], no_header: bool) {
    let Ok(table) = CsvTable::parse_with(Path::new("f.csv"), bytes, no_header) else {
        return;
    };
    let options = LoadOptions {
        no_header,
        ..LoadOptions::default()
    };
    let Ok(dataset) = Dataset::from_table(table, &options) else {
        return;
    };
    let rows: Vec<usize> = (0..dataset.len()).collect();
    if let Ok(preprocessor) = Preprocessor::fit(&dataset, &rows) {
        let _ = preprocessor.encode(&dataset, &rows);
    }
}

fn safetensors_seed() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let tensor = |shape: Vec<usize>| HostTensor {
        values: vec![0.5; shape.iter().product()],
        shape,
    };
    let tensors = [
        ("w".to_string(), tensor(vec![2, 3])),
        ("b".to_string(), tensor(vec![3])),
    ];
    ffn_model::write_safetensors(&path, &tensors, Default::default()).unwrap();
    std::fs::read(path).unwrap()
}

fn preprocessor_seed() -> Vec<u8> {
    let table = CsvTable::parse(Path::new("f.csv"), VALID_CSV).unwrap();
    let dataset = Dataset::from_table(table, &LoadOptions::default()).unwrap();
    let rows: Vec<usize> = (0..dataset.len()).collect();
    serde_json::to_vec(&Preprocessor::fit(&dataset, &rows).unwrap()).unwrap()
}

fn tokenizer_seed() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.txt");
    std::fs::write(&path, "to be, or not to be: that is the question").unwrap();
    let text = Text::read(&path).unwrap();
    let tokenizer = Tokenizer::train(TokenizerKind::Char, &text).unwrap();
    serde_json::to_vec(&tokenizer.to_json().unwrap()).unwrap()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn csv_tables_never_panic(bytes in inputs(CSV.to_vec()), no_header in any::<bool>()) {
        read_csv(&bytes, no_header);
    }

    #[test]
    fn train_configs_never_panic(
        bytes in inputs(serde_json::to_vec_pretty(&TrainConfig::default()).unwrap())
    ) {
        if let Ok(config) = serde_json::from_slice::<TrainConfig>(&bytes) {
            let _ = config.validate();
            let _ = config.load_options();
        }
    }

    #[test]
    fn language_model_configs_never_panic(
        bytes in inputs(serde_json::to_vec_pretty(&LmConfig::default()).unwrap())
    ) {
        if let Ok(config) = serde_json::from_slice::<LmConfig>(&bytes) {
            let _ = config.validate();
            let _ = config.model.approx_parameters(1 << 20);
        }
    }

    #[test]
    fn safetensors_headers_never_panic(bytes in inputs(safetensors_seed())) {
        if let Ok(file) = SafeTensors::from_bytes(Path::new("m.safetensors"), bytes) {
            let names: Vec<String> = file.names().map(str::to_string).collect();
            for name in names {
                let _ = file.shape(&name);
                let _ = file.tensor(&name);
            }
        }
    }

    #[test]
    fn preprocessor_files_never_panic(bytes in inputs(preprocessor_seed())) {
        if let Ok(preprocessor) = serde_json::from_slice::<Preprocessor>(&bytes)
            && preprocessor.check().is_ok()
        {
            let table = CsvTable::parse(Path::new("f.csv"), VALID_CSV).unwrap();
            let dataset = Dataset::from_table(table, &LoadOptions::default()).unwrap();
            let _ = preprocessor.encode(&dataset, &[0, 1, 2]);
        }
    }

    #[test]
    fn tokenizer_files_never_panic(bytes in inputs(tokenizer_seed())) {
        if let Ok(value) = serde_json::from_slice::<serde_json::Value>(&bytes)
            && let Ok(tokenizer) = Tokenizer::from_json(&value)
        {
            let _ = tokenizer.encode("to be or not");
        }
    }
}
