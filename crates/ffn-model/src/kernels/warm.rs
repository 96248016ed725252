//! Keeping rayon's other threads awake while kernels follow each other closely. A rayon thread
//! that finds no work goes to sleep after a few dozen yields, and the next parallel kernel then
//! waits for a futex wake-up before that thread joins in. A train step launches hundreds of
//! kernels with serial work between them, longer than those yields; on a virtual machine every
//! wake-up also has the host resume the sleeping vCPU.
//!
//! [`keep_warm`], called as a parallel kernel starts, runs one spinning job on each other thread
//! of the pool. That thread runs the pool's work as it comes (through `rayon::yield_now`), so
//! the next kernel's tasks are taken without a wake-up, and stops once no kernel has started for
//! [`WARM_FOR`]: the threads sleep again between runs. OpenMP runtimes do the same (a thread
//! spins for a while before it sleeps). The loop has no `pause` instruction: on a KVM guest a
//! vCPU that executes `pause` in a loop exits to the host (pause-loop exiting), which measured
//! slower than not spinning at all.

use std::cell::Cell;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rayon::Yield;

/// How long a spinning thread waits for the next kernel before it lets itself sleep.
const WARM_FOR: Duration = Duration::from_millis(10);

/// Idle rounds of a spinning thread between two looks at the clock.
const ROUNDS_PER_CLOCK_READ: u32 = 64;

/// Notes that a parallel kernel starts on the current rayon pool (the global one unless inside
/// `ThreadPool::install`), and starts a spinning job on every other thread of that pool that has
/// none. The count of spinning jobs is one for the process, made for the global pool: kernels
/// on several pools at once may leave some of their threads asleep.
pub(super) fn keep_warm() {
    static PROCESS: Warmth = Warmth::new();
    PROCESS.keep_warm();
}

/// The spinning jobs of a pool and when a kernel last started.
struct Warmth {
    /// Spinning jobs now running (or spawned and not yet started).
    spinning: AtomicUsize,
    /// When the last kernel started, in nanoseconds since [`epoch`].
    last_kernel: AtomicU64,
}

thread_local! {
    /// Whether this thread runs a spinning job.
    static SPINS: Cell<bool> = const { Cell::new(false) };
}

impl Warmth {
    const fn new() -> Self {
        Self {
            spinning: AtomicUsize::new(0),
            last_kernel: AtomicU64::new(0),
        }
    }

    /// [`keep_warm`] for the pool these jobs run on.
    fn keep_warm(&'static self) {
        self.last_kernel.store(now(), Ordering::Relaxed);
        let others = rayon::current_num_threads().saturating_sub(1);
        let caller = rayon::current_thread_index();
        let claim = |n: usize| (n < others).then_some(n + 1);
        while self
            .spinning
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, claim)
            .is_ok()
        {
            rayon::spawn(move || {
                // A job spawned from a pool thread may be run by that thread itself, which has
                // its kernel to run instead, or by a thread already spinning (inside its loop).
                if rayon::current_thread_index() != caller && !SPINS.get() {
                    SPINS.set(true);
                    self.spin();
                    SPINS.set(false);
                }
                self.spinning.fetch_sub(1, Ordering::AcqRel);
            });
        }
    }

    /// Runs the pool's work as it comes, until no kernel has started for [`WARM_FOR`].
    fn spin(&self) {
        let limit = u64::try_from(WARM_FOR.as_nanos()).unwrap_or(u64::MAX);
        let mut idle = 0u32;
        loop {
            if rayon::yield_now() == Some(Yield::Executed) {
                idle = 0;
                continue;
            }
            idle = idle.wrapping_add(1);
            if idle.is_multiple_of(ROUNDS_PER_CLOCK_READ)
                && now().saturating_sub(self.last_kernel.load(Ordering::Relaxed)) > limit
            {
                return;
            }
        }
    }
}

/// The instant the kernels' clock counts from.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Nanoseconds since [`epoch`].
fn now() -> u64 {
    u64::try_from(epoch().elapsed().as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How many threads of `pool` are inside a spinning job: a broadcast runs a task on every
    /// thread, which a spinning thread takes from inside its loop.
    fn spinning_threads(pool: &rayon::ThreadPool) -> usize {
        pool.broadcast(|_| SPINS.get())
            .into_iter()
            .filter(|&s| s)
            .count()
    }

    /// Whether `step` returns true within ten seconds, called every millisecond.
    fn eventually(mut step: impl FnMut() -> bool) -> bool {
        (0..10_000).any(|_| {
            std::thread::sleep(Duration::from_millis(1));
            step()
        })
    }

    /// On a pool of three threads, kernels starting one after another keep the two other
    /// threads spinning (never more), and those threads run the tasks given to the pool
    /// meanwhile; with no kernel starting, they stop. On a pool of one thread nothing spins.
    #[test]
    fn other_threads_spin_between_kernels_and_then_stop() {
        let warmth: &'static Warmth = Box::leak(Box::new(Warmth::new()));
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        let mut most = 0;
        let warm = eventually(|| {
            pool.install(|| warmth.keep_warm());
            let spinning = spinning_threads(&pool);
            most = most.max(spinning);
            spinning == 2
        });
        assert!(warm, "two threads spin");
        assert_eq!(most, 2, "no more than the other threads spin");
        assert!(
            eventually(|| spinning_threads(&pool) == 0),
            "the threads stop spinning without kernels"
        );
        assert!(eventually(|| warmth.spinning.load(Ordering::Acquire) == 0));

        let single: &'static Warmth = Box::leak(Box::new(Warmth::new()));
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        pool.install(|| single.keep_warm());
        assert_eq!(single.spinning.load(Ordering::Acquire), 0);
        assert_eq!(spinning_threads(&pool), 0);
    }
}
