//! The autodiff side of this crate's kernels, written once: a kernel gives its forward on the
//! inner backend, which inputs its backward needs, and the input gradients; [`record`] runs the
//! forward under autodiff and registers that backward.

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend};

/// The input gradients of an `N`-input kernel: given the inputs it kept (`Some` where
/// [`Derivative::keep`] asked for them), the output gradient, and which inputs want a
/// gradient, it returns a gradient for each of those (`None` elsewhere).
pub(crate) type InputGradients<B, const N: usize> =
    fn([Option<FloatTensor<B>>; N], FloatTensor<B>, [bool; N]) -> [Option<FloatTensor<B>>; N];

/// How a kernel differentiates.
pub(crate) struct Derivative<B: Backend, const N: usize> {
    /// Which inputs the backward reads, given which inputs want a gradient (a product needs each
    /// operand only for the other's gradient).
    pub keep: fn([bool; N]) -> [bool; N],
    /// The input gradients.
    pub gradients: InputGradients<B, N>,
}

/// The registered backward step of one kernel call.
struct Step<B: Backend, const N: usize> {
    gradients: InputGradients<B, N>,
}

impl<B: Backend, const N: usize> std::fmt::Debug for Step<B, N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("kernel backward step")
    }
}

impl<B: Backend, const N: usize> Backward<B, N> for Step<B, N> {
    /// The checkpointed inputs.
    type State = [Option<NodeId>; N];

    fn backward(
        self,
        ops: Ops<Self::State, N>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let grad = grads.consume::<B>(&ops.node);
        let kept = ops
            .state
            .map(|id| id.map(|id| checkpointer.retrieve_node_output::<FloatTensor<B>>(id)));
        let wanted = ops.parents.each_ref().map(Option::is_some);
        let input_grads = (self.gradients)(kept, grad, wanted);
        for (parent, input_grad) in ops.parents.into_iter().zip(input_grads) {
            if let (Some(parent), Some(input_grad)) = (parent, input_grad) {
                grads.register::<B>(parent.id, input_grad);
            }
        }
    }
}

/// `forward(inputs)` on the inner backend, recorded on the autodiff graph with `derivative` as
/// its backward when any input is tracked.
pub(crate) fn record<B: Backend, C: CheckpointStrategy, const N: usize>(
    inputs: [FloatTensor<Autodiff<B, C>>; N],
    derivative: Derivative<B, N>,
    forward: impl FnOnce([FloatTensor<B>; N]) -> FloatTensor<B>,
) -> FloatTensor<Autodiff<B, C>> {
    let tracked = inputs.each_ref().map(|input| input.is_tracked());
    let step = Step {
        gradients: derivative.gradients,
    };
    match step
        .prepare::<C>(inputs.each_ref().map(|input| input.node()))
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(mut prep) => {
            let keep = (derivative.keep)(tracked);
            let mut state = [None; N];
            for ((slot, input), keep) in state.iter_mut().zip(&inputs).zip(keep) {
                if keep {
                    *slot = Some(prep.checkpoint(input));
                }
            }
            prep.finish(state, forward(inputs.map(|input| input.into_primitive())))
        }
        OpsKind::UnTracked(prep) => {
            prep.finish(forward(inputs.map(|input| input.into_primitive())))
        }
    }
}
