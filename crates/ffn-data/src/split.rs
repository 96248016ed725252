//! Seeded train/valid/test splits, stratified by class for classification.

use serde::{Deserialize, Serialize};

use crate::{DataError, SplitMix64};

/// Fractions of the rows for each split and the seed that decides which rows go where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitConfig {
    /// Fraction for training.
    pub train: f64,
    /// Fraction for validation (may be zero).
    pub valid: f64,
    /// Fraction for testing (may be zero).
    pub test: f64,
    /// Seed of the shuffle.
    pub seed: u64,
}

impl Default for SplitConfig {
    /// 70 % train, 15 % valid, 15 % test, seed 0.
    fn default() -> Self {
        Self {
            train: 0.7,
            valid: 0.15,
            test: 0.15,
            seed: 0,
        }
    }
}

/// Row indices of each split: disjoint, and together every row exactly once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Split {
    /// Training rows.
    pub train: Vec<usize>,
    /// Validation rows.
    pub valid: Vec<usize>,
    /// Test rows.
    pub test: Vec<usize>,
}

impl Split {
    /// A row index that appears twice (within one part or in two), if any: a saved split that
    /// would evaluate a training row as held out.
    pub fn repeated_row(&self) -> Option<usize> {
        let mut seen = std::collections::HashSet::new();
        self.train
            .iter()
            .chain(&self.valid)
            .chain(&self.test)
            .copied()
            .find(|&row| !seen.insert(row))
    }
}

impl SplitConfig {
    /// Splits `rows` rows; with `classes` (one class index per row) each class's share of every
    /// split is kept to within one row of its share of the whole.
    pub fn split(&self, rows: usize, classes: Option<&[usize]>) -> Result<Split, DataError> {
        self.validate()?;
        let n_valid = (rows as f64 * self.valid).round() as usize;
        let n_test = (rows as f64 * self.test).round() as usize;
        let needs = |fraction: f64, count: usize, name: &str| {
            if fraction > 0.0 && count == 0 {
                Err(format!("the {name} fraction {fraction} gets no row"))
            } else {
                Ok(())
            }
        };
        needs(self.valid, n_valid, "valid")
            .and_then(|()| needs(self.test, n_test, "test"))
            .and_then(|()| {
                if n_valid + n_test >= rows {
                    Err("no row is left for training".to_string())
                } else {
                    Ok(())
                }
            })
            .map_err(|reason| DataError::TooFewRows { rows, reason })?;

        let groups: Vec<Vec<usize>> = match classes {
            Some(classes) => {
                let n_classes = classes.iter().max().map_or(0, |&m| m + 1);
                let mut groups = vec![Vec::new(); n_classes];
                for (row, &class) in classes.iter().enumerate() {
                    groups[class].push(row);
                }
                groups.retain(|g| !g.is_empty());
                groups
            }
            None => vec![(0..rows).collect()],
        };
        let mut rng = SplitMix64::new(self.seed);
        let mut groups = groups;
        for group in &mut groups {
            rng.shuffle(group);
        }
        let sizes: Vec<usize> = groups.iter().map(Vec::len).collect();
        let counts = apportion(&sizes, [n_valid, n_test, rows - n_valid - n_test]);

        let mut split = Split {
            train: Vec::new(),
            valid: Vec::new(),
            test: Vec::new(),
        };
        for (group, [v, t, _]) in groups.iter().zip(counts) {
            split.valid.extend_from_slice(&group[..v]);
            split.test.extend_from_slice(&group[v..v + t]);
            split.train.extend_from_slice(&group[v + t..]);
        }
        for part in [&mut split.train, &mut split.valid, &mut split.test] {
            rng.shuffle(part);
        }
        Ok(split)
    }

    fn validate(&self) -> Result<(), DataError> {
        let fractions = [self.train, self.valid, self.test];
        let invalid = |reason: String| Err(DataError::InvalidSplit { reason });
        if fractions.iter().any(|f| !f.is_finite() || *f < 0.0) {
            return invalid(format!(
                "fractions must be finite and non-negative, got train {} valid {} test {}",
                self.train, self.valid, self.test
            ));
        }
        if self.train <= 0.0 {
            return invalid("the train fraction must be positive".into());
        }
        let sum: f64 = fractions.iter().sum();
        if (sum - 1.0).abs() > 1e-6 {
            return invalid(format!("fractions must sum to 1, got {sum}"));
        }
        Ok(())
    }
}

/// Splits each group's rows among the three parts so that every group's count in every part is
/// the floor or the ceiling of its exact proportional share, every group is used up and every
/// part gets exactly its total. Starting from the floors, the remaining rows of each part go to
/// the groups with the most rows still unassigned (Ryser's construction, which always succeeds
/// here because the margins agree).
fn apportion(sizes: &[usize], totals: [usize; 3]) -> Vec<[usize; 3]> {
    let rows: usize = sizes.iter().sum();
    let exact = |g: usize, part: usize| sizes[g] as f64 * totals[part] as f64 / rows as f64;
    let mut counts: Vec<[usize; 3]> = (0..sizes.len())
        .map(|g| [0, 1, 2].map(|part| exact(g, part).floor() as usize))
        .collect();
    let mut left: Vec<usize> = sizes
        .iter()
        .zip(&counts)
        .map(|(size, c)| size - c.iter().sum::<usize>())
        .collect();
    for part in 0..3 {
        let given: usize = counts.iter().map(|c| c[part]).sum();
        let mut order: Vec<usize> = (0..sizes.len()).collect();
        order.sort_by(|&a, &b| {
            let frac = |g: usize| exact(g, part) - exact(g, part).floor();
            left[b]
                .cmp(&left[a])
                .then(frac(b).total_cmp(&frac(a)))
                .then(a.cmp(&b))
        });
        let chosen: Vec<usize> = order
            .into_iter()
            .filter(|&g| left[g] > 0)
            .take(totals[part].saturating_sub(given))
            .collect();
        for g in chosen {
            counts[g][part] += 1;
            left[g] -= 1;
        }
    }
    counts
}
