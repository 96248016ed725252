//! A run described in label/value rows, built once here: `ffn info` prints them as text, the
//! report renders them as an HTML table.

use burn::module::Module;
use serde::Serialize;

use crate::{Artifact, LmRun, Network, SavedRun, Summary};

/// A run in rows of `(label, value)`, in display order.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunDescription {
    /// The rows.
    pub rows: Vec<(String, String)>,
}

impl RunDescription {
    fn push(&mut self, label: &str, value: impl Into<String>) {
        self.rows.push((label.to_string(), value.into()));
    }

    /// The description of what `artifact` holds; `network` (its loaded model, when it could be
    /// loaded) adds the named layers and the parameter count.
    pub fn of(artifact: &Artifact, network: Option<&Network>) -> Self {
        let mut rows = Self::default();
        match artifact {
            Artifact::Block(block) => {
                let info = &block.info;
                rows.push(
                    "run",
                    format!("{} (imported block)", block.run.root().display()),
                );
                rows.push(
                    "source",
                    format!(
                        "{} layer {} ({} layout, prefix '{}')",
                        info.source.display(),
                        info.layer,
                        info.layout,
                        info.prefix
                    ),
                );
                rows.push("block", info.config.describe());
                rows.push_parameters(None, network);
            }
            Artifact::Trained(run) => rows.trained(run, network),
            Artifact::Lm(lm) => rows.language_model(lm),
        }
        rows
    }

    fn trained(&mut self, run: &SavedRun, network: Option<&Network>) {
        let config = &run.config;
        let pre = &run.preprocessor;
        self.push("run", run.run.root().display().to_string());
        self.push(
            "dataset",
            format!(
                "{} (target '{}', {})",
                shown_path(&config.dataset).display(),
                pre.target_name,
                pre.task
            ),
        );
        self.push(
            "rows",
            format!(
                "{} train / {} valid / {} test",
                run.split.train.len(),
                run.split.valid.len(),
                run.split.test.len()
            ),
        );
        if let Some(labels) = &pre.labels {
            self.push("classes", labels.classes().join(", "));
        }
        if let Some(block) = &config.model.block {
            self.push("block", block.describe());
        }
        let widths: Vec<String> = std::iter::once(pre.feature_names.len())
            .chain(config.model.hidden.iter().copied())
            .chain(std::iter::once(pre.n_outputs()))
            .map(|w| w.to_string())
            .collect();
        self.push(
            "model",
            format!(
                "MLP {} ({}, dropout {})",
                widths.join(" → "),
                config.model.activation,
                config.model.dropout
            ),
        );
        if let Some(network) = network {
            let names: Vec<String> = network
                .layer_names()
                .iter()
                .enumerate()
                .map(|(i, n)| format!("{i}={n}"))
                .collect();
            self.push("layers", names.join(", "));
        }
        if let Some(spec) = &config.finetune {
            let lora = spec.lora.as_ref().map_or("no LoRA".to_string(), |l| {
                format!("LoRA rank {} alpha {}", l.config.rank, l.config.alpha)
            });
            self.push(
                "fine-tuned",
                format!(
                    "from {}, {}{}, frozen [{}]",
                    spec.from.display(),
                    lora,
                    if spec.new_head { ", new head" } else { "" },
                    spec.freeze.join(", ")
                ),
            );
        }
        self.push(
            "training",
            format!(
                "{}, lr {}, batch {}, up to {} epochs, schedule {}, seed {}",
                compact_json(&config.optimizer),
                config.lr,
                config.batch_size,
                config.epochs,
                compact_json(&config.schedule),
                config.seed
            ),
        );
        self.push_parameters(run.summary.as_ref(), network);
        match &run.summary {
            Some(summary) => {
                self.push(
                    "trained",
                    format!(
                        "{} on {}, {:.1}s",
                        summary.epochs_text(),
                        summary.backend,
                        summary.train_seconds
                    ),
                );
                for (name, metrics) in [("valid", &summary.valid), ("test", &summary.test)] {
                    if let Some(metrics) = metrics {
                        self.push(name, metrics.describe());
                    }
                }
            }
            None => self.push(
                "trained",
                format!(
                    "not finished (resume with `ffn train --resume {}`)",
                    run.run.root().display()
                ),
            ),
        }
    }

    fn language_model(&mut self, lm: &LmRun) {
        let config = &lm.config;
        let m = &config.model;
        self.push(
            "run",
            format!("{} (language model)", lm.run.root().display()),
        );
        self.push(
            "text",
            format!(
                "{} ({} tokenizer, {} ids)",
                config.text.display(),
                lm.tokenizer.kind(),
                lm.tokenizer.vocab_size()
            ),
        );
        self.push(
            "model",
            format!(
                "{} layers, {} heads{}, d_model {}, FFN {} d_ff {}, {} positions, block {}{}",
                m.layers,
                m.heads,
                m.kv_heads
                    .map_or(String::new(), |kv| format!(" ({kv} key/value)")),
                m.d_model,
                m.ffn,
                m.d_ff,
                m.positions,
                m.block,
                if m.tied_head { ", tied head" } else { "" }
            ),
        );
        if lm.run.lm_finetune().exists()
            && let Ok(finetune) = lm.run.read_json::<crate::LmFinetune>(&lm.run.lm_finetune())
        {
            let how = match &finetune.lora {
                Some(lora) => format!(
                    "LoRA rank {} alpha {} on {}",
                    lora.rank, lora.alpha, finetune.lora_targets
                ),
                None => format!("frozen [{}]", finetune.freeze.join(", ")),
            };
            let source = match &finetune.gguf {
                Some(gguf) => format!("{} (pretrained)", gguf.display()),
                None => finetune.from.display().to_string(),
            };
            self.push("fine-tuned", format!("from {source}, {how}"));
        }
        self.push(
            "training",
            format!(
                "{}, lr {}, schedule {}, batch {} × {} tokens, {} steps, seed {}",
                compact_json(&config.optimizer),
                config.lr,
                compact_json(&config.schedule),
                config.batch,
                m.block,
                config.steps,
                config.seed
            ),
        );
        match &lm.summary {
            Some(s) => {
                self.push(
                    "parameters",
                    format!(
                        "{} ({} trainable, {:.2} %)",
                        s.params,
                        s.trainable_params,
                        100.0 * s.trainable_fraction
                    ),
                );
                self.push(
                    "trained",
                    format!(
                        "{} steps on {}, {:.1}s ({:.0} tokens/s)",
                        s.steps, s.backend, s.train_seconds, s.tokens_per_second
                    ),
                );
                self.push("train", s.train.describe());
                self.push("valid", s.valid.describe());
            }
            None => self.push(
                "trained",
                format!(
                    "not finished (resume with `ffn lm train --resume {}`)",
                    lm.run.root().display()
                ),
            ),
        }
    }

    /// The parameter count: the summary's (with the trainable share) after training, else the
    /// loaded network's.
    fn push_parameters(&mut self, summary: Option<&Summary>, network: Option<&Network>) {
        let parameters = match (summary, network) {
            (Some(s), _) => format!(
                "{} ({} trainable, {:.2} %)",
                s.params,
                s.trainable_params,
                100.0 * s.trainable_fraction
            ),
            (None, Some(network)) => network.num_params().to_string(),
            (None, None) => return,
        };
        self.push("parameters", parameters);
    }

    /// The rows as aligned text lines, `label:` padded to a common width.
    pub fn text_lines(&self) -> Vec<String> {
        let width = self
            .rows
            .iter()
            .map(|(l, _)| l.chars().count())
            .max()
            .unwrap_or(0)
            + 2;
        self.rows
            .iter()
            .map(|(label, value)| {
                let label = format!("{label}:");
                format!("{label:<width$}{value}")
            })
            .collect()
    }
}

impl Summary {
    /// `40 epochs (kept epoch 31, stopped early)`.
    pub fn epochs_text(&self) -> String {
        format!(
            "{} epochs (kept epoch {}{})",
            self.epochs_run,
            self.best_epoch,
            if self.stopped_early {
                ", stopped early"
            } else {
                ""
            }
        )
    }

    /// `264 (21.42 % of the network with its adapters)`, when only part of the network trained.
    pub fn trainable_text(&self) -> Option<String> {
        (self.trainable_fraction < 1.0).then(|| {
            format!(
                "{} ({:.2}% of the network with its adapters)",
                self.trainable_params,
                100.0 * self.trainable_fraction
            )
        })
    }
}

/// One-line JSON of a config value, as it appears in `config.json`.
fn compact_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// `path` relative to the working directory when it lies under it (paths are stored absolute).
fn shown_path(path: &std::path::Path) -> &std::path::Path {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok())
        .unwrap_or(path)
}
