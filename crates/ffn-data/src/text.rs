//! Text for language models: a file read and tokenized, split by position into training and
//! validation tokens, and seeded random windows of `block + 1` tokens as batches.

use std::path::{Path, PathBuf};

use burn::prelude::*;

use crate::{DataError, Encoded, SplitMix64, Tokenizer};

/// A text file's bytes, refusing a file that is empty or white space only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text {
    path: PathBuf,
    bytes: Vec<u8>,
}

impl Text {
    /// Reads `path`.
    pub fn read(path: &Path) -> Result<Self, DataError> {
        let file = std::fs::File::open(path).map_err(|e| DataError::Io {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let bytes = crate::InputLimits::from_env().read(path, file, false)?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(DataError::EmptyText {
                path: path.to_path_buf(),
            });
        }
        Ok(Self {
            path: path.to_path_buf(),
            bytes,
        })
    }

    /// The text as UTF-8; fails naming the offset of the first byte that does not decode.
    pub fn as_str(&self) -> Result<&str, DataError> {
        std::str::from_utf8(&self.bytes).map_err(|e| DataError::NotUtf8 {
            path: self.path.clone(),
            offset: e.valid_up_to(),
        })
    }

    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Characters of the text (bytes that do not decode count as one each).
    pub fn characters(&self) -> usize {
        String::from_utf8_lossy(&self.bytes).chars().count()
    }
}

/// A tokenized text cut by position: the first part trains, the rest validates.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenSplit {
    /// Tokens of the training part.
    pub train: Vec<u32>,
    /// Tokens of the validation part.
    pub valid: Vec<u32>,
    /// Characters per token over the whole text (1 for the `char` tokenizer), to turn a loss per
    /// token into bits per character.
    pub chars_per_token: f64,
}

impl TokenSplit {
    /// Encodes `text` and keeps the last `valid_fraction` of its tokens for validation.
    pub fn new(
        text: &Text,
        tokenizer: &Tokenizer,
        valid_fraction: f64,
    ) -> Result<(Self, Encoded), DataError> {
        let encoded = tokenizer.encode_text(text)?;
        let n = encoded.ids.len();
        let cut = n - (n as f64 * valid_fraction).round() as usize;
        let split = Self {
            train: encoded.ids[..cut].to_vec(),
            valid: encoded.ids[cut..].to_vec(),
            chars_per_token: text.characters() as f64 / n.max(1) as f64,
        };
        Ok((split, encoded))
    }
}

/// Inputs `[batch, block]` and next-token targets `[batch, block]` of random windows.
#[derive(Debug, Clone)]
pub struct TokenBatch {
    /// Token ids.
    pub inputs: Tensor<2, Int>,
    /// The id following each input position.
    pub targets: Tensor<2, Int>,
}

impl TokenBatch {
    /// Number of windows.
    pub fn len(&self) -> usize {
        self.inputs.dims()[0]
    }

    /// Whether the batch has no windows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Windows `rows` of the batch, on `device`: one device's share of a batch split across
    /// devices.
    pub fn rows(&self, rows: std::ops::Range<usize>, device: &Device) -> TokenBatch {
        TokenBatch {
            inputs: self
                .inputs
                .clone()
                .narrow(0, rows.start, rows.len())
                .to_device(device),
            targets: self
                .targets
                .clone()
                .narrow(0, rows.start, rows.len())
                .to_device(device),
        }
    }
}

/// Random windows of `block + 1` consecutive tokens of one part of a text.
#[derive(Debug, Clone, Copy)]
pub struct Windows<'a> {
    tokens: &'a [u32],
    block: usize,
    batch: usize,
}

impl<'a> Windows<'a> {
    /// Windows of `block + 1` of `tokens`, `batch` at a time; fails when the tokens are too few
    /// for one window (`what` names them in the error).
    pub fn new(
        tokens: &'a [u32],
        block: usize,
        batch: usize,
        what: &str,
    ) -> Result<Self, DataError> {
        if block == 0 || batch == 0 {
            return Err(DataError::Tokenizer(
                "the block and the batch need at least one token each".into(),
            ));
        }
        if tokens.len() <= block {
            return Err(DataError::TextTooShort {
                what: what.to_string(),
                tokens: tokens.len(),
                needed: block + 1,
            });
        }
        Ok(Self {
            tokens,
            block,
            batch,
        })
    }

    /// A batch of windows whose starts `rng` draws uniformly from `0..len - block`, on `device`.
    pub fn sample(&self, rng: &mut SplitMix64, device: &Device) -> TokenBatch {
        let (block, batch) = (self.block, self.batch);
        let mut inputs = Vec::with_capacity(batch * block);
        let mut targets = Vec::with_capacity(batch * block);
        for _ in 0..batch {
            let start = rng.below(self.tokens.len() - block);
            let window = &self.tokens[start..start + block + 1];
            inputs.extend(window[..block].iter().map(|&t| i64::from(t)));
            targets.extend(window[1..].iter().map(|&t| i64::from(t)));
        }
        let tensor =
            |ids: Vec<i64>| Tensor::from_data(TensorData::new(ids, [batch, block]), device);
        TokenBatch {
            inputs: tensor(inputs),
            targets: tensor(targets),
        }
    }

    /// Tokens per window.
    pub fn block(&self) -> usize {
        self.block
    }
}
