//! Text that comes from files (labels, column names, cell values) made safe to show: control
//! characters escaped, so that a terminal never interprets an escape sequence and an SVG stays
//! well-formed XML, and long values cut so that one cell cannot flood a message.

use std::borrow::Cow;
use std::fmt::Write;

/// Characters of a value kept by [`shorten`].
pub const SHOWN_CHARS: usize = 80;

/// `text` with every control character (C0, DEL and C1) written as an escape such as `\u{1b}`;
/// line feeds stay when `keep_newlines` (multi-line output) and are escaped otherwise.
pub fn escape_controls(text: &str, keep_newlines: bool) -> Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() && !(keep_newlines && c == '\n');
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' if !keep_newlines => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if unsafe_char(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// `value` for a message: control characters escaped, and cut to [`SHOWN_CHARS`] characters
/// with the length of the rest noted.
pub fn shorten(value: &str) -> String {
    let escaped = escape_controls(value, false);
    match escaped.char_indices().nth(SHOWN_CHARS) {
        None => escaped.into_owned(),
        Some((cut, _)) => format!("{}… ({} more bytes)", &escaped[..cut], escaped.len() - cut),
    }
}
