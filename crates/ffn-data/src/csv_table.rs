//! Reading a CSV (or `.csv.gz`) file into header and string cells, with line numbers kept for
//! error messages, within size limits.

use std::path::{Path, PathBuf};

use crate::{DataError, InputLimits};

/// A CSV file as text cells: the header, then rows of exactly as many cells.
#[derive(Debug, Clone)]
pub struct CsvTable {
    /// The file it was read from.
    pub path: PathBuf,
    /// Column names from the header row, trimmed.
    pub headers: Vec<String>,
    /// Data rows, each with `headers.len()` trimmed cells.
    pub rows: Vec<Vec<String>>,
    /// 1-based line number of each data row in the file.
    pub lines: Vec<u64>,
}

impl CsvTable {
    /// Reads `path` (gzip-compressed when it ends in `.gz`) with a header row; see
    /// [`Self::read_with`].
    pub fn read(path: &Path) -> Result<Self, DataError> {
        Self::read_with(path, false)
    }

    /// Reads `path` (gzip-compressed when it ends in `.gz`), within [`InputLimits::from_env`]
    /// (the decompressed size counts); fails on an unreadable, empty, header-only, malformed
    /// or ragged file and on duplicate column names. With `no_header` the first line is data
    /// and the columns are named `x0`, `x1`, ...
    pub fn read_with(path: &Path, no_header: bool) -> Result<Self, DataError> {
        let file = std::fs::File::open(path).map_err(|e| DataError::Io {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let limits = InputLimits::from_env();
        let bytes = match path.extension().is_some_and(|e| e == "gz") {
            true => limits.read(path, flate2::read::GzDecoder::new(file), true)?,
            false => limits.read(path, file, true)?,
        };
        Self::parse_with(path, &bytes, no_header)
    }

    /// Parses CSV bytes with a header row; `path` is used in error messages only.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Self, DataError> {
        Self::parse_with(path, bytes, false)
    }

    /// Parses CSV bytes, the first line being data when `no_header`; `path` is used in error
    /// messages only.
    pub fn parse_with(path: &Path, bytes: &[u8], no_header: bool) -> Result<Self, DataError> {
        let path_buf = path.to_path_buf();
        // Lines counted from the bytes: the csv crate's own count lags behind on CRLF files.
        let mut lines_seen = LineCounter::new(bytes);
        let malformed = |e: csv::Error| DataError::Malformed {
            path: path_buf.clone(),
            line: e
                .position()
                .map_or(0, |p| LineCounter::new(bytes).line_at(p.byte())),
            reason: e.to_string(),
        };
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(bytes);
        let mut records = reader.records();
        let header = loop {
            match records.next() {
                None => return Err(DataError::Empty { path: path_buf }),
                Some(record) => {
                    let record = record.map_err(malformed)?;
                    if !is_blank(&record) {
                        break record;
                    }
                }
            }
        };
        let headers: Vec<String> = match no_header {
            true => (0..header.len()).map(|i| format!("x{i}")).collect(),
            false => header.iter().map(str::to_string).collect(),
        };
        if !no_header {
            let line = header
                .position()
                .map_or(1, |p| lines_seen.line_at(p.byte()));
            check_header(path, &header, line)?;
        }
        check_unique(path, &headers)?;
        let (mut rows, mut lines) = (Vec::new(), Vec::new());
        let first = no_header.then_some(Ok(header));
        for record in first.into_iter().chain(records) {
            let record = record.map_err(malformed)?;
            if is_blank(&record) {
                continue;
            }
            let line = record
                .position()
                .map_or(0, |p| lines_seen.line_at(p.byte()));
            if record.len() != headers.len() {
                return Err(DataError::RaggedRow {
                    path: path_buf,
                    line,
                    expected: headers.len(),
                    found: record.len(),
                });
            }
            rows.push(record.iter().map(str::to_string).collect());
            lines.push(line);
        }
        if rows.is_empty() {
            return Err(DataError::NoRows { path: path_buf });
        }
        Ok(Self {
            path: path_buf,
            headers,
            rows,
            lines,
        })
    }

    /// Index of the column called `name`, if any.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.headers.iter().position(|h| h == name)
    }

    /// Parses one cell as a finite number, naming line and column on failure.
    pub fn number(&self, row: usize, column: usize) -> Result<f64, DataError> {
        let value = &self.rows[row][column];
        parse_number(value).map_err(|kind| {
            let (path, line, column, value) = (
                self.path.clone(),
                self.lines[row],
                self.headers[column].clone(),
                crate::shorten(value),
            );
            match kind {
                CellError::NotNumeric => DataError::NotNumeric {
                    path,
                    line,
                    column,
                    value,
                },
                CellError::NonFinite => DataError::NonFinite {
                    path,
                    line,
                    column,
                    value,
                },
            }
        })
    }
}

/// Why a cell is not a usable number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CellError {
    /// Not a number at all.
    NotNumeric,
    /// NaN or infinite.
    NonFinite,
}

/// Parses a cell as a finite `f64`.
pub(crate) fn parse_number(cell: &str) -> Result<f64, CellError> {
    match cell.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err(CellError::NonFinite),
        Err(_) => Err(CellError::NotNumeric),
    }
}

fn is_blank(record: &csv::StringRecord) -> bool {
    record.iter().all(str::is_empty)
}

/// 1-based line numbers of byte offsets, counted forwards through the file.
struct LineCounter<'a> {
    bytes: &'a [u8],
    offset: usize,
    line: u64,
}

impl<'a> LineCounter<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            offset: 0,
            line: 1,
        }
    }

    /// The line of a record starting at byte `byte`; offsets must not decrease from one call to
    /// the next. Lines end in `\n`, `\r\n` or a lone `\r`, as the csv reader reads them; on
    /// CRLF files it starts a record at the `\n` that ends the line before.
    fn line_at(&mut self, byte: u64) -> u64 {
        let mut end = (byte as usize).clamp(self.offset, self.bytes.len());
        if self.bytes.get(end) == Some(&b'\n') {
            end += 1;
        }
        let part = &self.bytes[self.offset..end];
        let ends = part
            .iter()
            .enumerate()
            .filter(|&(i, &b)| {
                b == b'\n' || (b == b'\r' && self.bytes.get(self.offset + i + 1) != Some(&b'\n'))
            })
            .count();
        self.line += ends as u64;
        self.offset = end;
        self.line
    }
}

/// Fails on a header that looks like data (every field a number, or a field that is a number
/// with a fraction or an exponent, which no column is called) or like another delimiter's
/// header (one field holding `;`, a tab or `|`).
fn check_header(path: &Path, header: &csv::StringRecord, line: u64) -> Result<(), DataError> {
    let number = |f: &str| f.parse::<f64>().is_ok();
    let fractional = |f: &str| number(f) && f.contains(['.', 'e', 'E']);
    let data_like = header.iter().all(number) || header.iter().any(fractional);
    if data_like {
        return Err(DataError::NumericHeader {
            path: path.to_path_buf(),
            line,
        });
    }
    if header.len() == 1
        && let Some(delimiter) = [';', '\t', '|']
            .into_iter()
            .find(|d| header[0].contains(*d))
    {
        return Err(DataError::OtherDelimiter {
            path: path.to_path_buf(),
            delimiter: delimiter.escape_default().to_string(),
        });
    }
    Ok(())
}

fn check_unique(path: &Path, headers: &[String]) -> Result<(), DataError> {
    for (second, name) in headers.iter().enumerate() {
        if let Some(first) = headers[..second].iter().position(|h| h == name) {
            return Err(DataError::DuplicateColumn {
                path: path.to_path_buf(),
                name: name.clone(),
                first: first + 1,
                second: second + 1,
            });
        }
    }
    Ok(())
}
