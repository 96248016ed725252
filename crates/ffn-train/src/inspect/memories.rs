//! The FFN neurons of a language model as key-value memories (Geva et al. 2021, 2022): the
//! contexts in a text on which a neuron's key fires most, the tokens its value vector promotes
//! through the unembedding, and how many neurons never fire.

use burn::prelude::*;
use ffn_data::{Tokenizer, escape_controls};
use ffn_model::{CausalLm, TransformerFfn};
use serde::{Deserialize, Serialize};

use super::tally::UnitTally;
use crate::TrainError;
use crate::tabular::to_f32;

/// Tokens of context shown before a firing token.
const BEFORE: usize = 24;
/// Tokens shown after it.
const AFTER: usize = 6;

/// One place in the text where a neuron fired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NeuronContext {
    /// The neuron's coefficient there (`act(gate)·up`, or the activation).
    pub value: f64,
    /// The firing token's index in the inspected tokens.
    pub position: usize,
    /// Text before the token, from the start of the window the model saw (controls escaped).
    pub before: String,
    /// The firing token.
    pub token: String,
    /// Text after it.
    pub after: String,
}

/// A token a neuron's value vector pushes up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromotedToken {
    /// Its text (controls escaped).
    pub token: String,
    /// Its id.
    pub id: usize,
    /// `W_down[i] · W_U` for it.
    pub logit: f64,
}

/// One FFN neuron of the inspected layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Neuron {
    /// Its index in the layer.
    pub neuron: usize,
    /// Share of the tokens on which it is active.
    pub active_fraction: f64,
    /// Active on no token.
    pub dead: bool,
    /// The contexts where its coefficient is largest, largest first.
    pub contexts: Vec<NeuronContext>,
    /// The tokens its value vector promotes most, most first.
    pub promoted: Vec<PromotedToken>,
}

/// What the FFN layers of a language model do over a text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LmInspection {
    /// Where the tokens came from.
    pub text: String,
    /// Tokens inspected.
    pub tokens: usize,
    /// Share of dead neurons in each block's FFN.
    pub dead_fractions: Vec<f64>,
    /// The block whose neurons are listed.
    pub layer: usize,
    /// Its activation.
    pub activation: String,
    /// Its neurons, in index order.
    pub neurons: Vec<Neuron>,
}

/// Tallies of every dense block's FFN activity, and of the experts every mixture block's
/// router chose, over the windows `[batch, seq]` run through [`Self::forward`].
#[derive(Debug, Clone, Default)]
pub(crate) struct FfnActivityTally {
    tallies: Vec<UnitTally>,
    /// Per mixture block, the token choices each expert computed.
    experts: Vec<Vec<usize>>,
}

impl FfnActivityTally {
    /// Runs `model` on `tokens` `[batch, seq]`, adds what its blocks did, and returns the
    /// logits with the coefficients `[batch, seq, d_ff]` of each dense block.
    pub fn forward(
        &mut self,
        model: &CausalLm,
        tokens: Tensor<2, Int>,
    ) -> Result<(Tensor<3>, Vec<Tensor<3>>), TrainError> {
        let (logits, activity, routers) = model.forward_probed(tokens)?;
        if self.tallies.is_empty() && self.experts.is_empty() {
            self.tallies = model
                .blocks
                .iter()
                .filter_map(|b| b.ffn.dense())
                .map(|ffn| UnitTally::new(ffn.d_ff(), ffn.activation))
                .collect();
            self.experts = routers
                .iter()
                .map(|r| vec![0; r.tokens_per_expert.len()])
                .collect();
        }
        for (counts, router) in self.experts.iter_mut().zip(&routers) {
            for (count, n) in counts.iter_mut().zip(&router.tokens_per_expert) {
                *count += n;
            }
        }
        let mut hidden = Vec::with_capacity(activity.len());
        for (tally, layer) in self.tallies.iter_mut().zip(activity) {
            let [b, t, d] = layer.activation.dims();
            tally.add(layer.activation.reshape([b * t, d]))?;
            hidden.push(layer.hidden);
        }
        Ok((logits, hidden))
    }

    /// Share of dead neurons per dense block; `None` when the model has no dense block.
    pub fn dead_fractions(&self) -> Option<Vec<f64>> {
        (!self.tallies.is_empty())
            .then(|| self.tallies.iter().map(UnitTally::dead_fraction).collect())
    }

    /// Token choices per expert of each mixture block; `None` when the model has none.
    pub fn expert_tokens(&self) -> Option<Vec<Vec<usize>>> {
        (!self.experts.is_empty()).then(|| self.experts.clone())
    }
}

/// The neurons of block `layer` of `model` over `tokens` (cut into windows of the model's
/// context, `batch` at a time): `top` contexts and promoted tokens each;
/// `progress(done, total)` in tokens.
#[allow(clippy::too_many_arguments)]
pub(crate) fn neuron_memories(
    model: &CausalLm,
    tokenizer: &Tokenizer,
    tokens: &[u32],
    text: String,
    layer: usize,
    top: usize,
    batch: usize,
    device: &Device,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<LmInspection, TrainError> {
    let mixture = || {
        TrainError::InvalidConfig(
            "this model has mixture-of-experts blocks; inspect lists the neurons of models whose \
             blocks are all dense"
                .into(),
        )
    };
    if model.blocks.iter().any(|b| b.ffn.dense().is_none()) {
        return Err(mixture());
    }
    let ffn = model.blocks[layer].ffn.dense().ok_or_else(mixture)?;
    let (d_ff, activation) = (ffn.d_ff(), ffn.activation);
    let block = model.block_size().min(tokens.len()).max(1);
    let mut tally = FfnActivityTally::default();
    // Per neuron: (value, position) of the largest coefficients, largest first.
    let mut best: Vec<Vec<(f32, usize)>> = vec![Vec::new(); d_ff];
    let windows: Vec<usize> = (0..tokens.len()).step_by(block).collect();
    for group in windows.chunks(batch.max(1)) {
        // Windows of one pass share a length: a short last window goes alone.
        let (full, short): (Vec<usize>, Vec<usize>) = group
            .iter()
            .partition(|&&start| start + block <= tokens.len());
        for starts in [full, short] {
            if starts.is_empty() {
                continue;
            }
            let len = (tokens.len() - starts[0]).min(block);
            let ids: Vec<i64> = starts
                .iter()
                .flat_map(|&s| tokens[s..s + len].iter().map(|&t| i64::from(t)))
                .collect();
            let ids =
                Tensor::<2, Int>::from_data(TensorData::new(ids, [starts.len(), len]), device);
            let (_, hidden) = tally.forward(model, ids)?;
            let positions = starts.len() * len;
            let k = top.min(positions);
            let columns = hidden[layer].clone().reshape([positions, d_ff]).transpose();
            let (values, indices) = columns.topk_with_indices(k, 1);
            let values = to_f32(values)?;
            let indices = host_indices(indices)?;
            for (neuron, kept) in best.iter_mut().enumerate() {
                for j in 0..k {
                    let flat = indices[neuron * k + j] as usize;
                    let position = starts[flat / len] + flat % len;
                    kept.push((values[neuron * k + j], position));
                }
                kept.sort_by(|a, b| b.0.total_cmp(&a.0));
                kept.truncate(top);
            }
            progress(starts.last().map_or(0, |&s| s + len), tokens.len());
        }
    }
    let promoted = promoted_tokens(model, ffn, top, tokenizer)?;
    let layer_tally = &tally.tallies[layer];
    let active = layer_tally.active_fractions();
    let show = |ids: &[u32]| -> Result<String, TrainError> {
        Ok(escape_controls(&tokenizer.decode(ids)?, false).into_owned())
    };
    let neurons = best
        .into_iter()
        .zip(promoted)
        .enumerate()
        .map(|(neuron, (kept, promoted))| {
            let contexts = kept
                .into_iter()
                .map(|(value, position)| {
                    let window = position - position % block;
                    let from = position.saturating_sub(BEFORE).max(window);
                    let to = (position + 1 + AFTER).min(tokens.len());
                    Ok(NeuronContext {
                        value: f64::from(value),
                        position,
                        before: show(&tokens[from..position])?,
                        token: show(&tokens[position..=position])?,
                        after: show(&tokens[position + 1..to])?,
                    })
                })
                .collect::<Result<_, TrainError>>()?;
            Ok(Neuron {
                neuron,
                active_fraction: active[neuron],
                dead: active[neuron] == 0.0,
                contexts,
                promoted,
            })
        })
        .collect::<Result<_, TrainError>>()?;
    Ok(LmInspection {
        text,
        tokens: tokens.len(),
        dead_fractions: tally.dead_fractions().unwrap_or_default(),
        layer,
        activation: activation.to_string(),
        neurons,
    })
}

/// Per neuron of the dense block `ffn` of `model`, the `top` tokens of `W_down[i] · W_U`
/// (value vector through the unembedding).
fn promoted_tokens(
    model: &CausalLm,
    ffn: &TransformerFfn,
    top: usize,
    tokenizer: &Tokenizer,
) -> Result<Vec<Vec<PromotedToken>>, TrainError> {
    let down = ffn.down.clone().merge_lora().linear.weight.val();
    let logits = down.matmul(model.unembedding());
    let [d_ff, vocab] = logits.dims();
    let k = top.min(vocab);
    let (values, indices) = logits.topk_with_indices(k, 1);
    let values = to_f32(values)?;
    let indices = host_indices(indices)?;
    (0..d_ff)
        .map(|neuron| {
            (0..k)
                .map(|j| {
                    let id = indices[neuron * k + j] as usize;
                    let text = match u32::try_from(id) {
                        Ok(id) if id < tokenizer.vocab_size() as u32 => {
                            tokenizer.decode(&[id]).unwrap_or_default()
                        }
                        _ => String::new(),
                    };
                    Ok(PromotedToken {
                        token: escape_controls(&text, false).into_owned(),
                        id,
                        logit: f64::from(values[neuron * k + j]),
                    })
                })
                .collect()
        })
        .collect()
}

/// The values of an index tensor on the host.
fn host_indices(t: Tensor<2, Int>) -> Result<Vec<i64>, TrainError> {
    t.into_data()
        .convert::<i64>()
        .try_into_vec::<i64>()
        .map_err(|e| TrainError::Device(format!("cannot read indices: {e:?}")))
}
