//! Typed errors of the data crate; each names the file, and the line and column where one applies.

use std::path::PathBuf;

/// Everything that can go wrong while loading, splitting or encoding a dataset.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file could not be opened or read.
    #[error("cannot read {path}: {reason}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        reason: String,
    },
    /// The file holds no bytes (or only blank lines).
    #[error("{path} is empty: expected a header row followed by data rows")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The file has a header but no data rows.
    #[error("{path} has a header row but no data rows")]
    NoRows {
        /// The file.
        path: PathBuf,
    },
    /// The CSV syntax is broken (for example an unterminated quote or invalid UTF-8).
    #[error("{path}, line {line}: malformed CSV: {reason}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// What the CSV reader reported.
        reason: String,
    },
    /// Two header cells carry the same name.
    #[error("{path}, line 1: duplicate column name '{name}' (columns {first} and {second})")]
    DuplicateColumn {
        /// The file.
        path: PathBuf,
        /// The repeated name.
        name: String,
        /// 1-based index of its first occurrence.
        first: usize,
        /// 1-based index of the repeat.
        second: usize,
    },
    /// A data row with another number of cells than the header.
    #[error("{path}, line {line}: expected {expected} fields like the header, found {found}")]
    RaggedRow {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// Number of header columns.
        expected: usize,
        /// Number of cells in the row.
        found: usize,
    },
    /// A feature cell that is not a number.
    #[error("{path}, line {line}, column '{column}': expected a number, found '{value}'")]
    NotNumeric {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// Column name.
        column: String,
        /// The cell's text.
        value: String,
    },
    /// A NaN or infinite cell; the models need finite inputs.
    #[error(
        "{path}, line {line}, column '{column}': '{value}' is not a finite number; \
         remove or impute the row"
    )]
    NonFinite {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// Column name.
        column: String,
        /// The cell's text.
        value: String,
    },
    /// A value whose standardised form does not fit a 32-bit float.
    #[error(
        "{path}, line {line}, column '{column}': {value:e} is far outside the values the model was \
         fitted on (standardised, it overflows 32-bit floats); check the value and its units"
    )]
    Unrepresentable {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// Column name.
        column: String,
        /// The value.
        value: f64,
    },
    /// A column whose mean or spread overflows, so it cannot be standardised.
    #[error(
        "{path}, column '{column}': the values are too large to standardise (their spread \
         overflows 64-bit floats); rescale the column"
    )]
    Unscalable {
        /// The file.
        path: PathBuf,
        /// Column name.
        column: String,
    },
    /// A row index beyond the dataset (a split made for a longer file).
    #[error(
        "{path}: row {row} of the run's split is beyond its {rows} rows; the file changed \
         since training"
    )]
    RowOutOfRange {
        /// The file.
        path: PathBuf,
        /// 0-based row index.
        row: usize,
        /// Rows in the file.
        rows: usize,
    },
    /// A first line whose every field is a number.
    #[error(
        "{path}, line {line}: the first line looks like data, not a header (its fields are \
         numbers); add a header row or pass --no-header"
    )]
    NumericHeader {
        /// The file.
        path: PathBuf,
        /// Its line.
        line: u64,
    },
    /// A file separated by something other than commas.
    #[error(
        "{path}: the header is one column holding '{delimiter}': the file seems to be \
         '{delimiter}'-separated; ffn reads comma-separated values (convert it, e.g. with \
         `tr '{delimiter}' ','` when no field holds a comma)"
    )]
    OtherDelimiter {
        /// The file.
        path: PathBuf,
        /// The delimiter found, escaped.
        delimiter: String,
    },
    /// An input larger than its limit.
    #[error(
        "{path}: {what} is larger than the limit of {limit} bytes; raise it with {variable} \
         if the file is right"
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// What exceeded the limit ("the file", "line 3").
        what: String,
        /// The limit.
        limit: u64,
        /// The environment variable that sets it.
        variable: &'static str,
    },
    /// A column named in `features` or `drop` that the file does not have.
    #[error("{path}: no column '{column}'; expected {columns}")]
    UnknownColumn {
        /// The file.
        path: PathBuf,
        /// The name asked for.
        column: String,
        /// What was expected (the file's columns).
        columns: String,
    },
    /// Classification asked for a target with about as many values as rows.
    #[error(
        "{path}: target '{target}' has {classes} distinct values in {rows} rows, too many for \
         classes; use --task regression, or choose another --target"
    )]
    TooManyClasses {
        /// The file.
        path: PathBuf,
        /// The target column.
        target: String,
        /// Its distinct values.
        classes: usize,
        /// Rows.
        rows: usize,
    },
    /// The requested target column is not in the header.
    #[error("{path}: no target column '{target}'; the columns are: {columns}")]
    MissingTarget {
        /// The file.
        path: PathBuf,
        /// The requested name.
        target: String,
        /// The header, comma-separated.
        columns: String,
    },
    /// A feature column the model was trained on is missing from the file.
    #[error("{path}: missing feature column '{column}'; the model was trained on: {expected}")]
    MissingFeature {
        /// The file.
        path: PathBuf,
        /// The missing column.
        column: String,
        /// The trained feature names, comma-separated.
        expected: String,
    },
    /// The dataset's feature columns differ from those the preprocessing was fitted on.
    #[error("{path}: feature columns [{found}] do not match the trained ones [{expected}]")]
    FeatureMismatch {
        /// The file.
        path: PathBuf,
        /// The trained feature names.
        expected: String,
        /// The file's feature names.
        found: String,
    },
    /// A classification target with only one class.
    #[error(
        "{path}: target '{target}' has a single class '{class}'; classification needs two or more"
    )]
    SingleClass {
        /// The file.
        path: PathBuf,
        /// Target column.
        target: String,
        /// The only class present.
        class: String,
    },
    /// A regression target cell that is not a finite number.
    #[error(
        "{path}, line {line}, column '{column}': regression target '{value}' is not a finite number"
    )]
    BadTarget {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// Target column.
        column: String,
        /// The cell's text.
        value: String,
    },
    /// A class label that the trained label map does not know.
    #[error(
        "{path}, line {line}: class '{label}' was not seen in training; known classes: {known}"
    )]
    UnknownLabel {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// The label.
        label: String,
        /// Known labels, comma-separated.
        known: String,
    },
    /// Split fractions that are negative, not finite or do not sum to one.
    #[error("invalid split: {reason}")]
    InvalidSplit {
        /// What is wrong.
        reason: String,
    },
    /// Too few rows for the requested split.
    #[error("{rows} rows are too few for the split: {reason}")]
    TooFewRows {
        /// Rows available.
        rows: usize,
        /// What the split needs.
        reason: String,
    },
    /// A batch size of zero.
    #[error("batch size must be at least 1")]
    ZeroBatchSize,
    /// A text that is not UTF-8, where the tokenizer needs characters.
    #[error(
        "{path} is not UTF-8 text: the byte at offset {offset} does not decode; convert it to \
         UTF-8, or use --tokenizer byte"
    )]
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// Offset of the first byte that does not decode.
        offset: usize,
    },
    /// A text with nothing but white space.
    #[error("{path} holds no text (it is empty or white space only)")]
    EmptyText {
        /// The file.
        path: PathBuf,
    },
    /// Too few tokens for one window of the model's context.
    #[error(
        "{what} has {tokens} tokens, too few for one window of {needed} (the block and the \
         token after it): give a longer text or a smaller --block"
    )]
    TextTooShort {
        /// Which tokens (e.g. "the validation part").
        what: String,
        /// Tokens there are.
        tokens: usize,
        /// Tokens one window needs.
        needed: usize,
    },
    /// A tokenizer that cannot be built, used or read back.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
}
