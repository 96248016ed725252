//! Reading a CSV (or `.csv.gz`) file into header and string cells, with line numbers kept for
//! error messages.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::DataError;

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
    /// Reads `path` (gzip-compressed when it ends in `.gz`); fails on an unreadable, empty,
    /// header-only, malformed or ragged file and on duplicate column names.
    pub fn read(path: &Path) -> Result<Self, DataError> {
        let io = |e: std::io::Error| DataError::Io {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let raw = std::fs::read(path).map_err(io)?;
        let bytes = if path.extension().is_some_and(|e| e == "gz") {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(raw.as_slice())
                .read_to_end(&mut out)
                .map_err(io)?;
            out
        } else {
            raw
        };
        Self::parse(path, &bytes)
    }

    /// Parses CSV bytes; `path` is used in error messages only.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Self, DataError> {
        let path_buf = path.to_path_buf();
        let malformed = |e: csv::Error| DataError::Malformed {
            path: path_buf.clone(),
            line: e.position().map_or(0, |p| p.line()),
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
        let headers: Vec<String> = header.iter().map(str::to_string).collect();
        check_unique(path, &headers)?;
        let (mut rows, mut lines) = (Vec::new(), Vec::new());
        for record in records {
            let record = record.map_err(malformed)?;
            if is_blank(&record) {
                continue;
            }
            let line = record.position().map_or(0, |p| p.line());
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
                value.clone(),
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
