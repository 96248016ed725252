//! The float parameters of a module: by dotted path (`mlp.output.linear.weight`, one visitor
//! that tracks paths serves the parameter list and the weights fingerprint), and by id (which
//! parameters train, and their gradients).

use std::collections::HashSet;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::prelude::*;

/// A float parameter of a module.
#[derive(Debug, Clone)]
pub struct ParameterInfo {
    /// Dotted module path, e.g. `mlp.output.linear.bias`.
    pub path: String,
    /// Its id, as the optimiser and gradients know it.
    pub id: ParamId,
    /// Number of values.
    pub numel: usize,
    /// Its shape.
    pub shape: Vec<usize>,
}

/// Every float parameter of `module`, in visiting order.
pub fn parameters<M: Module>(module: &M) -> Vec<ParameterInfo> {
    let mut visitor = Paths::new(Vec::new());
    module.visit(&mut visitor);
    visitor.sink
}

/// Whether the dotted `path` is matched by `pattern` (`*` for any run of characters), or lies
/// below a path it matches (`blocks.*.attn` covers `blocks.0.attn.q.linear.weight`).
pub fn path_matches(pattern: &str, path: &str) -> bool {
    glob_matches(pattern, path)
        || path
            .match_indices('.')
            .any(|(dot, _)| glob_matches(pattern, &path[..dot]))
}

/// Whether `name` matches `pattern`, where `*` stands for any run of characters.
pub(crate) fn glob_matches(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, rest)) => {
            name.starts_with(head)
                && (0..=name.len() - head.len())
                    .any(|skip| glob_matches(rest, &name[head.len() + skip..]))
        }
    }
}

/// The ids of every float parameter of `module`.
pub fn param_ids<M: Module>(module: &M) -> Vec<ParamId> {
    parameters(module).into_iter().map(|p| p.id).collect()
}

/// A fingerprint of `module`'s weights (FNV-1a over every parameter's module path and values),
/// so that an adapter is only applied to the base it was trained on.
pub fn fingerprint<M: Module>(module: &M) -> String {
    let mut visitor = Paths::new(Fnv(0xcbf2_9ce4_8422_2325));
    module.visit(&mut visitor);
    format!("{:016x}", visitor.sink.0)
}

/// What is done with each parameter found, given its path.
trait ParamSink {
    fn param<const D: usize>(&mut self, path: &str, param: &Param<Tensor<D>>);
}

impl ParamSink for Vec<ParameterInfo> {
    fn param<const D: usize>(&mut self, path: &str, param: &Param<Tensor<D>>) {
        self.push(ParameterInfo {
            path: path.to_string(),
            id: param.id,
            numel: param.lazy_shape().num_elements(),
            shape: param.lazy_shape().to_vec(),
        });
    }
}

/// The running FNV-1a hash of paths and values.
struct Fnv(u64);

impl Fnv {
    fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

impl ParamSink for Fnv {
    fn param<const D: usize>(&mut self, path: &str, param: &Param<Tensor<D>>) {
        self.feed(path.as_bytes());
        self.feed(param.val().into_data().as_bytes());
    }
}

/// A module visitor that knows the dotted path of every parameter it visits.
struct Paths<S> {
    path: Vec<String>,
    sink: S,
}

impl<S> Paths<S> {
    fn new(sink: S) -> Self {
        Self {
            path: Vec::new(),
            sink,
        }
    }
}

impl<S: ParamSink> ModuleVisitor for Paths<S> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let path = self.path.join(".");
        self.sink.param(&path, param);
    }
}

/// `module` with exactly the parameters in `trainable` requiring a gradient.
pub fn set_trainable<M: Module>(module: M, trainable: &HashSet<ParamId>) -> M {
    module.map(&mut Trainability { trainable })
}

/// Sets `require_grad` on exactly the parameters in `trainable`.
struct Trainability<'a> {
    trainable: &'a HashSet<ParamId>,
}

impl ModuleMapper for Trainability<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let trains = self.trainable.contains(&param.id);
        param.set_require_grad(trains)
    }
}

/// Moves the gradients of the parameters in `ids` out of `grads` into a new set.
pub fn take_grads<M: Module>(
    module: &M,
    grads: &mut GradientsParams,
    ids: &HashSet<ParamId>,
) -> GradientsParams {
    let mut split = TakeGrads {
        from: grads,
        to: GradientsParams::new(),
        ids,
    };
    module.visit(&mut split);
    split.to
}

/// Moves the gradients of the visited parameters in `ids` from one set to another.
struct TakeGrads<'a> {
    from: &'a mut GradientsParams,
    to: GradientsParams,
    ids: &'a HashSet<ParamId>,
}

impl ModuleVisitor for TakeGrads<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if self.ids.contains(&param.id)
            && let Some(grad) = self.from.remove::<D>(param.id)
        {
            self.to.register(param.id, grad);
        }
    }
}

/// The parameters of `model` that train (those in `trainable`) and all of them, counted in
/// values; fails when nothing would train (everything frozen).
pub(crate) fn trainable_counts<M: Module>(
    model: &M,
    trainable: &HashSet<ParamId>,
) -> Result<(usize, usize), crate::TrainError> {
    let all = parameters(model);
    let counts = (
        all.iter()
            .filter(|p| trainable.contains(&p.id))
            .map(|p| p.numel)
            .sum(),
        all.iter().map(|p| p.numel).sum(),
    );
    if counts.0 == 0 {
        return Err(crate::TrainError::InvalidConfig(
            "nothing would train: the freeze settings leave no trainable parameter; freeze fewer \
             layers, or train LoRA adapters (--lora-rank)"
                .into(),
        ));
    }
    Ok(counts)
}
