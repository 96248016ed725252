//! Run directories holding a Transformer FFN block imported from a Hugging Face checkpoint:
//! `block.json` (where it came from and its config) and `model.bpk` (its weights).

use std::path::{Path, PathBuf};

use burn::prelude::*;
use ffn_data::CsvTable;
use ffn_model::{HfLayout, SafeTensors, TransformerFfn, TransformerFfnConfig, import_hf_ffn};
use serde::{Deserialize, Serialize};

use crate::{RunDir, TrainError};

/// What `block.json` records about an imported block.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BlockInfo {
    /// The checkpoint it was read from (a `.safetensors` file, an index or a directory).
    pub source: PathBuf,
    /// Key layout of that file.
    pub layout: HfLayout,
    /// Transformer layer number.
    pub layer: usize,
    /// Model prefix found before the layout's keys (e.g. `bert.`).
    pub prefix: String,
    /// Every key read.
    pub keys: Vec<String>,
    /// The block's configuration.
    pub config: TransformerFfnConfig,
}

/// An imported block read back from its run directory.
#[derive(Debug, Clone)]
pub struct ImportedBlock {
    /// Its directory.
    pub run: RunDir,
    /// Its description.
    pub info: BlockInfo,
}

impl ImportedBlock {
    /// Imports layer `layer` of the `layout` checkpoint `safetensors` (a file, a sharded
    /// checkpoint's index or their directory; with the Hugging Face `config.json` when given)
    /// into a new run directory `out`. Only that layer's tensors are read.
    pub fn import(
        safetensors: &Path,
        layout: HfLayout,
        layer: usize,
        hf_config: Option<&Path>,
        out: &Path,
    ) -> Result<Self, TrainError> {
        let run = RunDir::new(out);
        run.ensure_vacant()?;
        let hf: Option<serde_json::Value> = hf_config
            .map(|path| super::dir::read_json_file(path, "Hugging Face config"))
            .transpose()?;
        let file = SafeTensors::open(safetensors)?;
        let imported = import_hf_ffn(&file, layout, layer, hf.as_ref(), &Device::flex())?;
        let info = BlockInfo {
            source: safetensors.to_path_buf(),
            layout,
            layer,
            prefix: imported.prefix,
            keys: imported.keys,
            config: imported.config,
        };
        run.create()?;
        run.save_weights(&imported.block, &run.model())?;
        run.write_json(&run.block(), &info)?;
        Ok(Self { run, info })
    }

    /// Reads the imported block in `dir`.
    pub fn open(dir: &Path) -> Result<Self, TrainError> {
        let run = RunDir::new(dir);
        let info = run.read_json(&run.block())?;
        Ok(Self { run, info })
    }

    /// The block with its weights on `device`.
    pub fn block(&self, device: &Device) -> Result<TransformerFfn, TrainError> {
        let block = self.info.config.init(device)?;
        self.run.load_weights(block, &self.run.model())
    }

    /// Runs the block over every row of `input` (a CSV with a header and `d_model` numeric
    /// columns); returns the output rows.
    pub fn predict_file(&self, input: &Path, device: &Device) -> Result<Vec<Vec<f32>>, TrainError> {
        let table = CsvTable::read(input)?;
        let width = self.info.config.d_model;
        if table.headers.len() != width {
            return Err(TrainError::Run {
                path: input.to_path_buf(),
                reason: format!(
                    "has {} columns; this block takes rows of d_model = {width} values",
                    table.headers.len()
                ),
            });
        }
        let mut values = Vec::with_capacity(table.rows.len() * width);
        for row in 0..table.rows.len() {
            for column in 0..width {
                values.push(table.number(row, column)? as f32);
            }
        }
        let block = self.block(device)?;
        let outputs =
            crate::tabular::forward_rows(|x| block.forward(x), &values, width, width, device)?;
        Ok(outputs.chunks(width).map(<[f32]>::to_vec).collect())
    }
}
