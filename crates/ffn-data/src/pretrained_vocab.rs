//! The tokenizer of a pretrained model, built from the vocabulary its model file carries (a
//! GGUF file's `tokenizer.ggml.*` keys) into Hugging Face's `tokenizers` pipeline: byte-level
//! BPE over the file's tokens and merges, its control tokens as special added tokens. This is
//! the pipeline `transformers` builds from the same file.

use std::str::FromStr;

use serde_json::{Value, json};

use crate::{DataError, Tokenizer};

/// llama.cpp's token types (`tokenizer.ggml.token_type`).
const TOKEN_CONTROL: i64 = 3;
const TOKEN_USER_DEFINED: i64 = 4;

/// A pretrained tokenizer's vocabulary as a model file describes it.
#[derive(Debug, Clone)]
pub struct PretrainedVocab {
    /// The tokenizer model (`tokenizer.ggml.model`); `gpt2` (byte-level BPE) is supported.
    pub model: String,
    /// Token strings by id, in the byte-to-character mapping of byte-level BPE.
    pub tokens: Vec<String>,
    /// Token types by id (1 normal, 3 control, 4 user-defined, ...); empty: all normal.
    pub token_types: Vec<i64>,
    /// Merges by priority, each `"left right"`.
    pub merges: Vec<String>,
    /// Whether a space is put before the text (`tokenizer.ggml.add_space_prefix`).
    pub add_space_prefix: bool,
}

impl Tokenizer {
    /// The tokenizer of `vocab`. Fails on another tokenizer model, on types that do not match
    /// the tokens, or on merges that are not two tokens.
    pub fn from_pretrained_vocab(vocab: &PretrainedVocab) -> Result<Self, DataError> {
        let bad = |reason: String| DataError::Tokenizer(reason);
        if vocab.model != "gpt2" {
            return Err(bad(format!(
                "tokenizer model '{}' is not supported; 'gpt2' (byte-level BPE) is",
                vocab.model
            )));
        }
        if !vocab.token_types.is_empty() && vocab.token_types.len() != vocab.tokens.len() {
            return Err(bad(format!(
                "the vocabulary has {} tokens but {} token types",
                vocab.tokens.len(),
                vocab.token_types.len()
            )));
        }
        let ids: serde_json::Map<String, Value> = vocab
            .tokens
            .iter()
            .enumerate()
            .map(|(id, token)| (token.clone(), json!(id)))
            .collect();
        if ids.len() != vocab.tokens.len() {
            return Err(bad("the vocabulary lists a token twice".into()));
        }
        let merges = vocab
            .merges
            .iter()
            .map(|merge| match merge.split_once(' ') {
                Some((left, right)) if !right.contains(' ') => Ok(json!([left, right])),
                _ => Err(bad(format!("merge '{merge}' is not two tokens"))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let added: Vec<Value> = vocab
            .token_types
            .iter()
            .enumerate()
            .filter(|&(_, &ty)| ty == TOKEN_CONTROL || ty == TOKEN_USER_DEFINED)
            .map(|(id, &ty)| {
                json!({
                    "id": id,
                    "content": vocab.tokens[id],
                    "single_word": false,
                    "lstrip": false,
                    "rstrip": false,
                    "normalized": false,
                    "special": ty == TOKEN_CONTROL,
                })
            })
            .collect();
        let byte_level = |prefix: bool| {
            json!({
                "type": "ByteLevel",
                "add_prefix_space": prefix,
                "trim_offsets": true,
                "use_regex": true,
            })
        };
        let pipeline = json!({
            "version": "1.0",
            "truncation": null,
            "padding": null,
            "added_tokens": added,
            "normalizer": null,
            "pre_tokenizer": byte_level(vocab.add_space_prefix),
            "post_processor": null,
            "decoder": byte_level(true),
            "model": {
                "type": "BPE",
                "dropout": null,
                "unk_token": null,
                "continuing_subword_prefix": "",
                "end_of_word_suffix": "",
                "fuse_unk": false,
                "byte_fallback": false,
                "ignore_merges": false,
                "vocab": ids,
                "merges": merges,
            },
        });
        let tokenizer = tokenizers::Tokenizer::from_str(&pipeline.to_string())
            .map_err(|e| bad(format!("cannot build the pretrained tokenizer: {e}")))?;
        Ok(Self::Bpe(Box::new(tokenizer)))
    }

    /// The id of `token` in the vocabulary (special tokens included), if it has one.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        match self {
            Self::Bpe(bpe) => bpe.token_to_id(token),
            Self::Char(chars) => {
                let mut it = token.chars();
                match (it.next(), it.next()) {
                    (Some(c), None) => chars.binary_search(&c).ok().map(|i| i as u32),
                    _ => None,
                }
            }
            Self::Byte => None,
        }
    }
}
