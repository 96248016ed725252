//! Naming layers in freeze and LoRA specs: paths, `*` patterns, indices, `body`, `head`, `all`.

use crate::params::glob_matches;
use crate::{Network, TrainError};

/// The layers as `ffn info` lists them: `0=mlp.hidden.0, 1=mlp.output`.
pub(crate) fn listing(network: &Network) -> String {
    network
        .layer_names()
        .iter()
        .enumerate()
        .map(|(i, n)| format!("{i}={n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The layer paths `items` select; fails naming an item that matches nothing.
pub fn select_layers(items: &[String], network: &Network) -> Result<Vec<String>, TrainError> {
    let layers = network.layers();
    let mlp = format!("{}.", Network::MLP);
    let mut selected = Vec::new();
    for item in items.iter().map(|i| i.trim()).filter(|i| !i.is_empty()) {
        let matched: Vec<&String> = match item {
            "body" => layers.iter().filter(|l| !l.head).map(|l| &l.name).collect(),
            "head" => layers.iter().filter(|l| l.head).map(|l| &l.name).collect(),
            "all" => layers.iter().map(|l| &l.name).collect(),
            _ => match item.parse::<usize>() {
                Ok(index) => layers.get(index).map(|l| &l.name).into_iter().collect(),
                Err(_) => layers
                    .iter()
                    .map(|l| &l.name)
                    .filter(|n| {
                        glob_matches(item, n)
                            || n.strip_prefix(&mlp).is_some_and(|s| glob_matches(item, s))
                    })
                    .collect(),
            },
        };
        if matched.is_empty() {
            return Err(TrainError::InvalidConfig(format!(
                "layer '{item}' matches no layer; layers: {}; also body, head, all",
                listing(network)
            )));
        }
        selected.extend(matched.into_iter().cloned());
    }
    selected.sort();
    selected.dedup();
    Ok(selected)
}
