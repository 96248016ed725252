//! Size limits on what ffn reads, so that an endless or huge input (a device such as
//! `/dev/zero`, a decompression bomb) ends in an error naming the limit instead of exhausting
//! memory. The defaults are generous; `FFN_MAX_INPUT_BYTES` and `FFN_MAX_LINE_BYTES` set them.

use std::io::Read;
use std::path::Path;

use crate::DataError;

/// Largest input file, after decompression, by default: 256 MiB (a CSV held as cells takes
/// several times its size in memory).
pub const DEFAULT_MAX_INPUT_BYTES: u64 = 256 << 20;
/// Longest line of a CSV file by default: 1 MiB.
pub const DEFAULT_MAX_LINE_BYTES: u64 = 1 << 20;

/// The limits that apply to one read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputLimits {
    /// Largest file, in bytes (decompressed, for `.gz`).
    pub file_bytes: u64,
    /// Longest CSV line, in bytes.
    pub line_bytes: u64,
}

impl Default for InputLimits {
    fn default() -> Self {
        Self {
            file_bytes: DEFAULT_MAX_INPUT_BYTES,
            line_bytes: DEFAULT_MAX_LINE_BYTES,
        }
    }
}

const FILE_VARIABLE: &str = "FFN_MAX_INPUT_BYTES";
const LINE_VARIABLE: &str = "FFN_MAX_LINE_BYTES";

impl InputLimits {
    /// The defaults, overridden by `FFN_MAX_INPUT_BYTES` and `FFN_MAX_LINE_BYTES` when they hold
    /// a positive integer.
    pub fn from_env() -> Self {
        let var = |name: &str, default: u64| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .filter(|&v| v > 0)
                .unwrap_or(default)
        };
        Self {
            file_bytes: var(FILE_VARIABLE, DEFAULT_MAX_INPUT_BYTES),
            line_bytes: var(LINE_VARIABLE, DEFAULT_MAX_LINE_BYTES),
        }
    }

    /// Reads all of `reader` (the contents of `path`), failing as soon as the whole passes
    /// `file_bytes` or, for line-oriented files (`lines`), one line passes `line_bytes`.
    pub fn read(
        &self,
        path: &Path,
        mut reader: impl Read,
        lines: bool,
    ) -> Result<Vec<u8>, DataError> {
        let too_large = |what: String, limit: u64, variable: &'static str| DataError::TooLarge {
            path: path.to_path_buf(),
            what,
            limit,
            variable,
        };
        let mut bytes = Vec::new();
        let mut chunk = vec![0u8; 1 << 16];
        let (mut line, mut line_start) = (1u64, 0usize);
        loop {
            let n = match reader.read(&mut chunk) {
                Ok(0) => return Ok(bytes),
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(DataError::Io {
                        path: path.to_path_buf(),
                        reason: e.to_string(),
                    });
                }
            };
            if (bytes.len() + n) as u64 > self.file_bytes {
                return Err(too_large(
                    "the input".into(),
                    self.file_bytes,
                    FILE_VARIABLE,
                ));
            }
            let start = bytes.len();
            bytes.extend_from_slice(&chunk[..n]);
            if lines {
                let ends = (start..bytes.len()).filter(|&i| bytes[i] == b'\n');
                for end in ends.chain([bytes.len()]) {
                    if (end - line_start) as u64 > self.line_bytes {
                        return Err(too_large(
                            format!("line {line}"),
                            self.line_bytes,
                            LINE_VARIABLE,
                        ));
                    }
                    if end < bytes.len() {
                        line += 1;
                        line_start = end + 1;
                    }
                }
            }
        }
    }
}
