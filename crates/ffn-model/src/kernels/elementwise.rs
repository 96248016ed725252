//! Element-wise maps over `f32` slices for this crate's CPU kernels: split over the cores with
//! rayon, and each chunk compiled for the widest vector instructions the CPU offers, chosen at
//! run time.

use std::mem::MaybeUninit;

use rayon::prelude::*;

/// Elements per parallel task: large enough that scheduling costs nothing, small enough to spread
/// a `[2048, 2048]` activation over many cores.
const CHUNK: usize = 1 << 14;

/// `f` applied element-wise to `N` equally long slices (callers check the lengths; unequal ones
/// panic), in parallel chunks, each chunk compiled for the widest vector instructions the CPU
/// offers (AVX-512, else AVX2 + FMA, else baseline).
pub(crate) fn map_elements<const N: usize>(
    inputs: [&[f32]; N],
    f: impl Fn([f32; N]) -> f32 + Sync,
) -> Vec<f32> {
    let [out] = map_elements_to(inputs, |x| [f(x)]);
    out
}

/// [`map_elements`] for a map with `M` results per element, each gathered into its own vector
/// (an optimiser's update: parameter and moments in one pass).
pub(crate) fn map_elements_to<const N: usize, const M: usize>(
    inputs: [&[f32]; N],
    f: impl Fn([f32; N]) -> [f32; M] + Sync,
) -> [Vec<f32>; M] {
    let len = inputs.first().map_or(0, |s| s.len());
    assert!(
        inputs.iter().all(|s| s.len() == len),
        "element-wise inputs of unequal lengths"
    );
    let mut outs: [Vec<f32>; M] = std::array::from_fn(|_| Vec::with_capacity(len));
    // The outputs' buffers by address, so that every task can cut its own disjoint window.
    let starts: [usize; M] = std::array::from_fn(|j| outs[j].as_mut_ptr() as usize);
    if len > CHUNK {
        super::warm::keep_warm();
    }
    (0..len.div_ceil(CHUNK)).into_par_iter().for_each(|chunk| {
        let start = chunk * CHUNK;
        let end = len.min(start + CHUNK);
        let window = inputs.map(|s| &s[start..end]);
        // SAFETY: each buffer has capacity `len`; the windows `start..end` of different chunks
        // are disjoint, so every task has the only reference to its elements.
        let slots = starts.map(|base| unsafe {
            std::slice::from_raw_parts_mut((base as *mut MaybeUninit<f32>).add(start), end - start)
        });
        map_chunk(window, slots, &f);
    });
    for out in &mut outs {
        // SAFETY: every slot in `0..len` was written by exactly one chunk above.
        unsafe { out.set_len(len) };
    }
    outs
}

/// One chunk of [`map_elements_to`] with run-time selection of the instruction set.
fn map_chunk<const N: usize, const M: usize, F: Fn([f32; N]) -> [f32; M]>(
    inputs: [&[f32]; N],
    out: [&mut [MaybeUninit<f32>]; M],
    f: &F,
) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F, checked just above.
            return unsafe { map_chunk_avx512(inputs, out, f) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports AVX2 and FMA, checked just above.
            return unsafe { map_chunk_avx2(inputs, out, f) };
        }
    }
    map_chunk_portable(inputs, out, f);
}

/// `f()` compiled for the widest vector instructions the CPU offers (AVX-512, else AVX2 + FMA,
/// else baseline), chosen at run time: `f` is inlined into a function compiled for each set.
/// Mark the closure `#[inline(always)]`: a large one is otherwise called, compiled for the
/// baseline.
pub(crate) fn vectorized<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F, checked just above.
            return unsafe { run_avx512(f) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports AVX2 and FMA, checked just above.
            return unsafe { run_avx2(f) };
        }
    }
    f()
}

/// `f()` compiled for the given x86-64 instruction sets, one function each.
macro_rules! run_for {
    ($($name:ident: $features:literal),* $(,)?) => {$(
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $features)]
        #[inline]
        fn $name<R, F: FnOnce() -> R>(f: F) -> R {
            f()
        }
    )*};
}

run_for!(run_avx512: "avx512f", run_avx2: "avx2,fma");

/// [`map_chunk_portable`] compiled for the given x86-64 instruction sets, one function each.
macro_rules! map_chunk_for {
    ($($name:ident: $features:literal),* $(,)?) => {$(
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $features)]
        fn $name<const N: usize, const M: usize, F: Fn([f32; N]) -> [f32; M]>(
            inputs: [&[f32]; N],
            out: [&mut [MaybeUninit<f32>]; M],
            f: &F,
        ) {
            map_chunk_portable(inputs, out, f);
        }
    )*};
}

map_chunk_for!(map_chunk_avx512: "avx512f", map_chunk_avx2: "avx2,fma");

/// The element loop; inlined into each instruction-set variant so the compiler vectorises it
/// for that set.
#[inline(always)]
fn map_chunk_portable<const N: usize, const M: usize, F: Fn([f32; N]) -> [f32; M]>(
    inputs: [&[f32]; N],
    mut out: [&mut [MaybeUninit<f32>]; M],
    f: &F,
) {
    let len = inputs.first().map_or(0, |s| s.len());
    let inputs = inputs.map(|s| &s[..len]);
    for slots in &mut out {
        assert_eq!(slots.len(), len, "element-wise output of another length");
    }
    for i in 0..len {
        let results = f(std::array::from_fn(|k| inputs[k][i]));
        for (slots, value) in out.iter_mut().zip(results) {
            slots[i].write(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_map_covers_every_element_in_order() {
        let xs: Vec<f32> = (0..3 * CHUNK + 17).map(|i| i as f32).collect();
        let doubled = map_elements([&xs], |[x]| 2.0 * x);
        assert_eq!(doubled.len(), xs.len());
        assert!(doubled.iter().zip(&xs).all(|(d, x)| *d == 2.0 * x));
    }

    #[test]
    fn several_results_land_in_their_own_vectors() {
        let xs: Vec<f32> = (0..2 * CHUNK + 5).map(|i| i as f32).collect();
        let ys: Vec<f32> = xs.iter().map(|x| 0.5 * x).collect();
        let [sum, product, first] = map_elements_to([&xs, &ys], |[x, y]| [x + y, x * y, x]);
        for i in 0..xs.len() {
            assert_eq!(
                (sum[i], product[i], first[i]),
                (xs[i] + ys[i], xs[i] * ys[i], xs[i])
            );
        }
    }
}
