//! Tokenizers of language-model runs, saved with the run: characters of the training text (plus
//! one id for unknown characters), bytes, or byte-level BPE trained with Hugging Face's
//! `tokenizers` crate.

use std::collections::BTreeMap;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use tokenizers::decoders::byte_level::ByteLevel;
use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
use tokenizers::{
    DecoderWrapper, NormalizerWrapper, PostProcessorWrapper, PreTokenizerWrapper, TokenizerBuilder,
};

use crate::{DataError, Text};

/// Which tokenizer a run trains, as `--tokenizer` names it: `char`, `byte` or `bpe:N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TokenizerKind {
    /// One id per distinct character of the training text, plus one for unknown characters.
    Char,
    /// One id per byte value (256).
    Byte,
    /// Byte-level BPE with a vocabulary of `vocab` ids, trained on the training text.
    Bpe {
        /// Vocabulary size, at least 256 + 1.
        vocab: usize,
    },
}

impl FromStr for TokenizerKind {
    type Err = DataError;

    fn from_str(spec: &str) -> Result<Self, DataError> {
        let bad = |reason: &str| DataError::Tokenizer(format!("'{spec}': {reason}"));
        match spec.trim().to_ascii_lowercase().split_once(':') {
            None if spec.trim().eq_ignore_ascii_case("char") => Ok(Self::Char),
            None if spec.trim().eq_ignore_ascii_case("byte") => Ok(Self::Byte),
            Some(("bpe", vocab)) => match vocab.parse::<usize>() {
                Ok(vocab) if vocab > 256 => Ok(Self::Bpe { vocab }),
                _ => Err(bad(
                    "bpe:N needs a vocabulary size N above 256, e.g. bpe:1024",
                )),
            },
            _ => Err(bad("valid tokenizers: char, byte, bpe:N (e.g. bpe:1024)")),
        }
    }
}

impl std::fmt::Display for TokenizerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Char => f.write_str("char"),
            Self::Byte => f.write_str("byte"),
            Self::Bpe { vocab } => write!(f, "bpe:{vocab}"),
        }
    }
}

/// A trained tokenizer.
#[derive(Debug, Clone)]
pub enum Tokenizer {
    /// Characters in sorted order: character `chars[i]` is id `i`; id `chars.len()` is unknown.
    Char(Vec<char>),
    /// Byte `b` is id `b`.
    Byte,
    /// Hugging Face's byte-level BPE.
    Bpe(Box<tokenizers::Tokenizer>),
}

/// Token ids of a text, with the characters the vocabulary lacked and how often each occurred.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// The ids.
    pub ids: Vec<u32>,
    /// Characters outside a `char` vocabulary (encoded as the unknown id), with their counts.
    pub unknown: BTreeMap<char, usize>,
}

/// The form of a tokenizer in a run's `tokenizer.json`.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Saved {
    Char { chars: Vec<String> },
    Byte,
    Bpe { tokenizer: serde_json::Value },
}

impl Tokenizer {
    /// Trains a tokenizer of `kind` on `text` (which must be UTF-8 unless the kind is `byte`).
    pub fn train(kind: TokenizerKind, text: &Text) -> Result<Self, DataError> {
        Ok(match kind {
            TokenizerKind::Char => {
                let mut chars: Vec<char> = text.as_str()?.chars().collect();
                chars.sort_unstable();
                chars.dedup();
                Self::Char(chars)
            }
            TokenizerKind::Byte => Self::Byte,
            TokenizerKind::Bpe { vocab } => Self::Bpe(Box::new(train_bpe(text.as_str()?, vocab)?)),
        })
    }

    /// The ids of a text file: its bytes as they are for the `byte` tokenizer, else its
    /// characters (the file must be UTF-8).
    pub fn encode_text(&self, text: &Text) -> Result<Encoded, DataError> {
        match self {
            Self::Byte => Ok(Encoded {
                ids: text.bytes().iter().map(|&b| u32::from(b)).collect(),
                unknown: BTreeMap::new(),
            }),
            _ => self.encode(text.as_str()?),
        }
    }

    /// The number of ids.
    pub fn vocab_size(&self) -> usize {
        match self {
            Self::Char(chars) => chars.len() + 1,
            Self::Byte => 256,
            Self::Bpe(bpe) => bpe.get_vocab_size(true),
        }
    }

    /// The kind of this tokenizer.
    pub fn kind(&self) -> TokenizerKind {
        match self {
            Self::Char(_) => TokenizerKind::Char,
            Self::Byte => TokenizerKind::Byte,
            Self::Bpe(bpe) => TokenizerKind::Bpe {
                vocab: bpe.get_vocab_size(true),
            },
        }
    }

    /// The ids of `text`; characters outside a `char` vocabulary become the unknown id and are
    /// counted.
    pub fn encode(&self, text: &str) -> Result<Encoded, DataError> {
        let mut unknown = BTreeMap::new();
        let ids = match self {
            Self::Char(chars) => text
                .chars()
                .map(|c| match chars.binary_search(&c) {
                    Ok(id) => id as u32,
                    Err(_) => {
                        *unknown.entry(c).or_insert(0) += 1;
                        chars.len() as u32
                    }
                })
                .collect(),
            Self::Byte => text.bytes().map(u32::from).collect(),
            Self::Bpe(bpe) => bpe
                .encode(text, false)
                .map_err(|e| DataError::Tokenizer(format!("BPE cannot encode the text: {e}")))?
                .get_ids()
                .to_vec(),
        };
        Ok(Encoded { ids, unknown })
    }

    /// The text of `ids` (the unknown id as U+FFFD; byte runs that are not UTF-8 replaced).
    pub fn decode(&self, ids: &[u32]) -> Result<String, DataError> {
        match self {
            Self::Char(chars) => Ok(ids
                .iter()
                .map(|&id| chars.get(id as usize).copied().unwrap_or('\u{fffd}'))
                .collect()),
            Self::Byte => {
                let bytes: Vec<u8> = ids.iter().map(|&id| id.min(255) as u8).collect();
                Ok(String::from_utf8_lossy(&bytes).into_owned())
            }
            Self::Bpe(bpe) => bpe
                .decode(ids, false)
                .map_err(|e| DataError::Tokenizer(format!("BPE cannot decode: {e}"))),
        }
    }

    /// The tokenizer as the JSON of a run's `tokenizer.json`.
    pub fn to_json(&self) -> Result<serde_json::Value, DataError> {
        let saved = match self {
            Self::Char(chars) => Saved::Char {
                chars: chars.iter().map(char::to_string).collect(),
            },
            Self::Byte => Saved::Byte,
            Self::Bpe(bpe) => {
                let text = bpe
                    .to_string(false)
                    .map_err(|e| DataError::Tokenizer(format!("cannot save the BPE: {e}")))?;
                Saved::Bpe {
                    tokenizer: serde_json::from_str(&text)
                        .map_err(|e| DataError::Tokenizer(format!("cannot save the BPE: {e}")))?,
                }
            }
        };
        serde_json::to_value(saved).map_err(|e| DataError::Tokenizer(e.to_string()))
    }

    /// The tokenizer saved by [`Self::to_json`].
    pub fn from_json(value: &serde_json::Value) -> Result<Self, DataError> {
        let corrupt =
            |e: &dyn std::fmt::Display| DataError::Tokenizer(format!("corrupt tokenizer: {e}"));
        let saved: Saved = serde_json::from_value(value.clone()).map_err(|e| corrupt(&e))?;
        Ok(match saved {
            Saved::Char { chars } => {
                let chars: Vec<char> = chars
                    .iter()
                    .map(|s| {
                        let mut it = s.chars();
                        match (it.next(), it.next()) {
                            (Some(c), None) => Ok(c),
                            _ => Err(corrupt(&format!("'{s}' is not one character"))),
                        }
                    })
                    .collect::<Result<_, _>>()?;
                if !chars.is_sorted_by(|a, b| a < b) {
                    return Err(corrupt(&"the characters are not sorted and distinct"));
                }
                Self::Char(chars)
            }
            Saved::Byte => Self::Byte,
            Saved::Bpe { tokenizer } => Self::Bpe(Box::new(
                tokenizers::Tokenizer::from_str(&tokenizer.to_string()).map_err(|e| corrupt(&e))?,
            )),
        })
    }
}

/// Byte-level BPE (GPT-2's scheme: bytes mapped to printable characters, merges learned on the
/// pre-tokenized text) with `vocab` ids.
fn train_bpe(text: &str, vocab: usize) -> Result<tokenizers::Tokenizer, DataError> {
    let failed = |e: tokenizers::Error| DataError::Tokenizer(format!("BPE training failed: {e}"));
    let byte_level = ByteLevel::new(false, true, true);
    let mut trainer = BpeTrainerBuilder::new()
        .vocab_size(vocab)
        .min_frequency(2)
        .show_progress(false)
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build();
    let mut builder = TokenizerBuilder::<
        BPE,
        NormalizerWrapper,
        PreTokenizerWrapper,
        PostProcessorWrapper,
        DecoderWrapper,
    >::new()
    .with_model(BPE::default())
    .with_normalizer(None)
    .with_pre_tokenizer(Some(byte_level.into()))
    .with_post_processor(Some(byte_level.into()))
    .with_decoder(Some(byte_level.into()))
    .build()
    .map_err(failed)?;
    builder
        .train(&mut trainer, text.lines().map(|line| format!("{line}\n")))
        .map_err(failed)?;
    Ok(builder.into())
}
