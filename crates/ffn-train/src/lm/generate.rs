//! Text generation from a language model: greedy or sampled (temperature, top-k, top-p) next
//! tokens, with a key/value cache so each new token costs one position, not the whole context.

use burn::prelude::*;
use ffn_data::SplitMix64;
use ffn_model::{CausalLm, KvCache};
use serde::{Deserialize, Serialize};

use crate::TrainError;

/// How the next token is chosen from the logits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sampling {
    /// Divides the logits; 0 is greedy (the most likely token).
    pub temperature: f64,
    /// Keep only the `k` most likely tokens.
    pub top_k: Option<usize>,
    /// Keep the most likely tokens whose probabilities sum to at least `p` (nucleus sampling).
    pub top_p: Option<f64>,
    /// Seed of the draws.
    pub seed: u64,
    /// Generation ends after this token (a chat model's end-of-turn token), if given.
    #[serde(default)]
    pub stop: Option<u32>,
}

impl Sampling {
    /// Greedy decoding.
    pub fn greedy() -> Self {
        Self {
            temperature: 0.0,
            top_k: None,
            top_p: None,
            seed: 0,
            stop: None,
        }
    }

    /// Checks the ranges: temperature ≥ 0, k ≥ 1, p in (0, 1].
    pub fn validate(&self) -> Result<(), TrainError> {
        let bad = |msg: String| Err(TrainError::InvalidConfig(msg));
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return bad(format!(
                "temperature must be >= 0, got {}",
                self.temperature
            ));
        }
        if self.top_k == Some(0) {
            return bad("top-k must be at least 1".into());
        }
        if let Some(p) = self.top_p
            && !(p > 0.0 && p <= 1.0)
        {
            return bad(format!("top-p must be in (0, 1], got {p}"));
        }
        Ok(())
    }
}

/// Generates `count` tokens after `prompt` (fewer when `sampling.stop` comes) (at most the model's context; callers crop longer
/// prompts), calling `on_token` with each as it comes. With `cached`, positions already seen are
/// kept in a key/value cache while the context fits the model's block; past it, and without
/// `cached`, every step recomputes the last `block` tokens (the window the model was trained on).
pub fn generate(
    model: &CausalLm,
    prompt: &[u32],
    count: usize,
    sampling: &Sampling,
    cached: bool,
    device: &Device,
    on_token: &mut dyn FnMut(u32) -> Result<(), TrainError>,
) -> Result<Vec<u32>, TrainError> {
    sampling.validate()?;
    let block = model.block_size();
    if prompt.is_empty() || prompt.len() > block {
        return Err(TrainError::InvalidConfig(format!(
            "the prompt has {} tokens; it needs 1 to {block} (the model's context)",
            prompt.len()
        )));
    }
    let mut rng = SplitMix64::new(sampling.seed);
    let mut tokens = prompt.to_vec();
    let mut cache = KvCache::default();
    let mut fresh = prompt.to_vec();
    for _ in 0..count {
        let logits = if cached && tokens.len() <= block {
            model.next_token_logits(ids(&fresh, device), Some(&mut cache))?
        } else {
            model.next_token_logits(
                ids(&tokens[tokens.len().saturating_sub(block)..], device),
                None,
            )?
        };
        let next = choose(&host_logits(logits)?, sampling, &mut rng);
        tokens.push(next);
        fresh = vec![next];
        on_token(next)?;
        if sampling.stop == Some(next) {
            break;
        }
    }
    Ok(tokens.split_off(prompt.len()))
}

/// `[1, len]` token ids on `device`.
fn ids(tokens: &[u32], device: &Device) -> Tensor<2, Int> {
    let values: Vec<i64> = tokens.iter().map(|&t| i64::from(t)).collect();
    Tensor::from_data(TensorData::new(values, [1, tokens.len()]), device)
}

/// The logits `[1, vocab]` on the host.
fn host_logits(logits: Tensor<2>) -> Result<Vec<f32>, TrainError> {
    logits
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| TrainError::Device(format!("cannot read the logits: {e:?}")))
}

/// The next token by `sampling` from `logits`.
pub fn choose(logits: &[f32], sampling: &Sampling, rng: &mut SplitMix64) -> u32 {
    let argmax = || {
        logits
            .iter()
            .enumerate()
            .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
                if v > best.1 { (i, v) } else { best }
            })
            .0 as u32
    };
    if sampling.temperature == 0.0 {
        return argmax();
    }
    // Candidates by decreasing logit; keep the top k, then the nucleus.
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
    order.truncate(sampling.top_k.unwrap_or(order.len()).max(1));
    let top = f64::from(logits[order[0]]);
    let weights: Vec<f64> = order
        .iter()
        .map(|&i| ((f64::from(logits[i]) - top) / sampling.temperature).exp())
        .collect();
    let total: f64 = weights.iter().sum();
    let mut kept = weights.len();
    if let Some(p) = sampling.top_p {
        let mut cumulative = 0.0;
        for (n, w) in weights.iter().enumerate() {
            cumulative += w / total;
            if cumulative >= p {
                kept = n + 1;
                break;
            }
        }
    }
    let total: f64 = weights[..kept].iter().sum();
    let mut draw = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * total;
    for (n, w) in weights[..kept].iter().enumerate() {
        if draw < *w {
            return order[n] as u32;
        }
        draw -= w;
    }
    order[kept - 1] as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_takes_the_largest_logit_and_top_k_one_is_greedy() {
        let logits = [0.1, 2.0, -1.0, 1.9];
        let mut rng = SplitMix64::new(3);
        assert_eq!(choose(&logits, &Sampling::greedy(), &mut rng), 1);
        let top1 = Sampling {
            temperature: 5.0,
            top_k: Some(1),
            ..Sampling::greedy()
        };
        for _ in 0..20 {
            assert_eq!(choose(&logits, &top1, &mut rng), 1);
        }
    }

    /// Draw frequencies follow softmax(logits / T) within sampling error; top-p keeps exactly
    /// the smallest set reaching p.
    #[test]
    fn sampled_frequencies_follow_the_tempered_softmax() {
        let logits = [0.0f32, 1.0, 2.0];
        let sampling = Sampling {
            temperature: 2.0,
            top_k: None,
            top_p: None,
            seed: 0,
            stop: None,
        };
        let weights: Vec<f64> = logits.iter().map(|&l| (f64::from(l) / 2.0).exp()).collect();
        let total: f64 = weights.iter().sum();
        let mut rng = SplitMix64::new(11);
        let mut counts = [0usize; 3];
        let draws = 60_000;
        for _ in 0..draws {
            counts[choose(&logits, &sampling, &mut rng) as usize] += 1;
        }
        for (i, count) in counts.iter().enumerate() {
            let expected = weights[i] / total;
            let got = *count as f64 / draws as f64;
            assert!(
                (got - expected).abs() < 0.01,
                "token {i}: {got} vs {expected}"
            );
        }
        // Probabilities at T = 2: 0.186, 0.307, 0.506. p = 0.6 keeps tokens 2 and 1 only.
        let nucleus = Sampling {
            top_p: Some(0.6),
            ..sampling
        };
        let mut seen = [false; 3];
        for _ in 0..2000 {
            seen[choose(&logits, &nucleus, &mut rng) as usize] = true;
        }
        assert_eq!(seen, [false, true, true]);
    }
}
