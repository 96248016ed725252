//! Texts and tokenizers: the shipped texts are what their README says, every tokenizer round-
//! trips and is saved and read back unchanged, windows are next-token pairs, and bad texts are
//! clear errors.

use std::io::Write;

use burn::prelude::*;
use ffn_data::{DataError, SplitMix64, Text, TokenSplit, Tokenizer, TokenizerKind, Windows};
use sha2::{Digest, Sha256};

use crate::datasets;

fn text_file(bytes: &[u8]) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(bytes).unwrap();
    file
}

#[test]
fn shipped_texts_are_the_ones_the_readme_describes() {
    let readme = std::fs::read_to_string(datasets().join("README.md")).unwrap();
    for (name, bytes, distinct) in [
        ("shakespeare.txt", 1_159_526, 78),
        ("austen.txt", 684_767, 75),
    ] {
        let data = std::fs::read(datasets().join(name)).unwrap();
        assert_eq!(data.len(), bytes, "{name}");
        let digest = format!("{:x}", Sha256::digest(&data));
        assert!(
            readme.contains(&digest),
            "{name}: {digest} not in datasets/README.md"
        );
        let text = Text::read(&datasets().join(name)).unwrap();
        let chars = Tokenizer::train(TokenizerKind::Char, &text).unwrap();
        assert_eq!(
            chars.vocab_size(),
            distinct + 1,
            "{name}: characters plus the unknown id"
        );
    }
}

#[test]
fn char_tokenizer_round_trips_and_counts_unknown_characters() {
    let text = Text::read(text_file("to be, or not to be".as_bytes()).path()).unwrap();
    let tokenizer = Tokenizer::train(TokenizerKind::Char, &text).unwrap();
    // Sorted characters: ' ', ',', 'b', 'e', 'n', 'o', 'r', 't' and the unknown id 8.
    assert_eq!(tokenizer.vocab_size(), 9);
    let encoded = tokenizer.encode("to be").unwrap();
    assert_eq!(encoded.ids, [7, 5, 0, 2, 3]);
    assert_eq!(tokenizer.decode(&encoded.ids).unwrap(), "to be");
    let odd = tokenizer.encode("beé!é").unwrap();
    assert_eq!(odd.ids, [2, 3, 8, 8, 8]);
    assert_eq!(
        odd.unknown.into_iter().collect::<Vec<_>>(),
        [('!', 1), ('é', 2)]
    );
    assert_eq!(tokenizer.decode(&[2, 8]).unwrap(), "b\u{fffd}");
    let saved = Tokenizer::from_json(&tokenizer.to_json().unwrap()).unwrap();
    assert_eq!(
        saved.encode("not to be").unwrap(),
        tokenizer.encode("not to be").unwrap()
    );
}

#[test]
fn byte_tokenizer_takes_any_bytes() {
    let file = text_file(&[0x61, 0xff, 0x0a, 0x62]);
    let text = Text::read(file.path()).unwrap();
    let tokenizer = Tokenizer::train(TokenizerKind::Byte, &text).unwrap();
    assert_eq!(
        tokenizer.encode_text(&text).unwrap().ids,
        [0x61, 0xff, 0x0a, 0x62]
    );
    assert_eq!(tokenizer.vocab_size(), 256);
    // The other tokenizers need characters: the error names the byte offset.
    let error = Tokenizer::train(TokenizerKind::Char, &text).unwrap_err();
    assert!(
        matches!(error, DataError::NotUtf8 { offset: 1, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("offset 1"), "{error}");
}

#[test]
fn bpe_learns_merges_and_round_trips_any_text() {
    let text = Text::read(&datasets().join("shakespeare.txt")).unwrap();
    let excerpt: String = text.as_str().unwrap().chars().take(60_000).collect();
    let file = text_file(excerpt.as_bytes());
    let tokenizer = Tokenizer::train(
        TokenizerKind::Bpe { vocab: 400 },
        &Text::read(file.path()).unwrap(),
    )
    .unwrap();
    assert!(tokenizer.vocab_size() > 256 && tokenizer.vocab_size() <= 400);
    let sample =
        "KING RICHARD III:\nNow is the winter of our discontent — café, naïve, 🐍 \t  tabs.";
    let encoded = tokenizer.encode(sample).unwrap();
    assert_eq!(tokenizer.decode(&encoded.ids).unwrap(), sample);
    assert!(
        encoded.unknown.is_empty(),
        "byte-level BPE knows every byte"
    );
    let plain = tokenizer
        .encode("the king and the queen")
        .unwrap()
        .ids
        .len();
    assert!(
        plain < "the king and the queen".len(),
        "merges shorten common text: {plain}"
    );
    let saved = Tokenizer::from_json(&tokenizer.to_json().unwrap()).unwrap();
    assert_eq!(saved.encode(sample).unwrap(), encoded);
    assert_eq!(saved.kind(), tokenizer.kind());
}

#[test]
fn tokenizer_names_parse_and_bad_ones_are_errors() {
    assert_eq!(
        "char".parse::<TokenizerKind>().unwrap(),
        TokenizerKind::Char
    );
    assert_eq!(
        "BYTE".parse::<TokenizerKind>().unwrap(),
        TokenizerKind::Byte
    );
    assert_eq!(
        "bpe:1024".parse::<TokenizerKind>().unwrap(),
        TokenizerKind::Bpe { vocab: 1024 }
    );
    for bad in ["words", "bpe", "bpe:100", "bpe:x"] {
        let error = bad.parse::<TokenizerKind>().unwrap_err().to_string();
        assert!(
            error.contains("char, byte, bpe:N") || error.contains("above 256"),
            "{bad}: {error}"
        );
    }
}

#[test]
fn bad_texts_are_clear_errors() {
    for bytes in [&b""[..], b" \n\t\n"] {
        let error = Text::read(text_file(bytes).path()).unwrap_err().to_string();
        assert!(error.contains("holds no text"), "{error}");
    }
    let error = Text::read(std::path::Path::new("no/such/text.txt"))
        .unwrap_err()
        .to_string();
    assert!(error.contains("no/such/text.txt"), "{error}");
    let tokens: Vec<u32> = (0..10).collect();
    let error = Windows::new(&tokens, 10, 2, "the validation part")
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("the validation part has 10 tokens, too few for one window of 11"),
        "{error}"
    );
}

/// Windows are `block` inputs and the `block` tokens after them, starts drawn from the seed.
#[test]
fn windows_pair_each_token_with_the_next_and_are_seeded() {
    let tokens: Vec<u32> = (0..100).collect();
    let windows = Windows::new(&tokens, 8, 5, "tokens").unwrap();
    let device = Device::flex();
    let batch = windows.sample(&mut SplitMix64::new(4), &device);
    let inputs = batch
        .inputs
        .into_data()
        .convert::<i64>()
        .try_to_vec::<i64>()
        .unwrap();
    let targets = batch
        .targets
        .into_data()
        .convert::<i64>()
        .try_to_vec::<i64>()
        .unwrap();
    assert_eq!(inputs.len(), 40);
    for (window, (x, y)) in inputs.chunks(8).zip(targets.chunks(8)).enumerate() {
        assert!(x[0] + 8 < 100, "window {window} starts in range");
        for i in 0..8 {
            assert_eq!(x[i], x[0] + i as i64);
            assert_eq!(y[i], x[i] + 1);
        }
    }
    let again = windows.sample(&mut SplitMix64::new(4), &device);
    assert_eq!(
        again
            .inputs
            .into_data()
            .convert::<i64>()
            .try_to_vec::<i64>()
            .unwrap(),
        inputs
    );
}

#[test]
fn split_keeps_the_last_part_for_validation() {
    let file = text_file("abcdefghij".as_bytes());
    let text = Text::read(file.path()).unwrap();
    let tokenizer = Tokenizer::train(TokenizerKind::Char, &text).unwrap();
    let (split, _) = TokenSplit::new(&text, &tokenizer, 0.1).unwrap();
    assert_eq!(split.train, [0, 1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(split.valid, [9]);
    assert_eq!(split.chars_per_token, 1.0);
}
