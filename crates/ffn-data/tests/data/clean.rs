//! Text from files made safe to show, and the size limits of reads.

use std::path::Path;

use ffn_data::{DataError, InputLimits, escape_controls, shorten};

#[test]
fn control_characters_are_escaped_and_long_values_cut() {
    assert_eq!(escape_controls("plain €", false), "plain €");
    assert_eq!(
        escape_controls("a\u{1b}[2J\tb\nc\u{7f}\u{9b}", false),
        "a\\u{1b}[2J\\tb\\nc\\u{7f}\\u{9b}"
    );
    assert_eq!(escape_controls("one\ntwo\r", true), "one\ntwo\\r");
    assert_eq!(shorten("short"), "short");
    let long = "é".repeat(100);
    assert_eq!(
        shorten(&long),
        format!("{}… (40 more bytes)", "é".repeat(80))
    );
}

#[test]
fn reads_stop_at_the_file_and_line_limits() {
    let limits = InputLimits {
        file_bytes: 100,
        line_bytes: 10,
    };
    let path = Path::new("f.csv");
    let read = |bytes: &[u8], lines: bool| limits.read(path, bytes, lines);
    assert_eq!(read(b"a,b\n1,2\n", true).unwrap(), b"a,b\n1,2\n");
    let error = read(b"a,b\n1,2\n12345678901\n", true).unwrap_err();
    assert!(
        matches!(&error, DataError::TooLarge { what, limit: 10, .. } if what == "line 3"),
        "{error}"
    );
    // The same bytes are one text, not lines, when read as such.
    assert!(read(b"a,b\n1,2\n12345678901\n", false).is_ok());
    let error = read(&[b'x'; 101], false).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("the input is larger than the limit of 100 bytes")
    );
}
