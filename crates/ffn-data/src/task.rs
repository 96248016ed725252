//! The learning task and the class-label map of classification targets.

use serde::{Deserialize, Serialize};

/// What the target column asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[derive(strum::Display, strum::EnumString, strum::VariantNames)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case", ascii_case_insensitive)]
#[strum(parse_err_ty = String, parse_err_fn = unknown_task)]
pub enum Task {
    /// Predict one of a fixed set of classes.
    Classification,
    /// Predict a real value.
    Regression,
}

/// The error of a task name that is not one of [`Task`]'s.
fn unknown_task(name: &str) -> String {
    format!(
        "unknown task '{name}'; valid tasks: {}",
        <Task as strum::VariantNames>::VARIANTS.join(", ")
    )
}

/// Class names in index order: class `i` is `classes[i]`. Integer labels sort numerically,
/// text labels alphabetically, so the same label set always gets the same indices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelMap {
    classes: Vec<String>,
}

impl LabelMap {
    /// The map of the distinct labels in `labels`.
    pub fn from_labels<'a>(labels: impl IntoIterator<Item = &'a str>) -> Self {
        let mut classes: Vec<String> = labels.into_iter().map(str::to_string).collect();
        classes.sort();
        classes.dedup();
        if classes.iter().all(|c| c.parse::<i64>().is_ok()) {
            classes.sort_by_key(|c| c.parse::<i64>().unwrap_or_default());
        }
        Self { classes }
    }

    /// Number of classes.
    pub fn len(&self) -> usize {
        self.classes.len()
    }

    /// Whether there are no classes.
    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
    }

    /// Index of `label`, if known.
    pub fn index(&self, label: &str) -> Option<usize> {
        self.classes.iter().position(|c| c == label)
    }

    /// Name of class `index`, if in range.
    pub fn name(&self, index: usize) -> Option<&str> {
        self.classes.get(index).map(String::as_str)
    }

    /// All class names in index order.
    pub fn classes(&self) -> &[String] {
        &self.classes
    }
}
