//! How many threads work runs on, and independent jobs (folds, trials) run on that many rayon
//! threads with their results in order.

use rayon::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The user's `--threads`, once a command has read it; 0: not given.
static CHOSEN: AtomicUsize = AtomicUsize::new(0);

/// Runs `f` on every item with `threads` threads; results keep the items' order.
pub fn map<T, R, F>(items: Vec<T>, threads: usize, f: F) -> Vec<R>
where
    T: Send,
    R: Send,
    F: Fn(T) -> R + Sync + Send,
{
    if threads <= 1 || items.len() <= 1 {
        return items.into_iter().map(f).collect();
    }
    match rayon::ThreadPoolBuilder::new().num_threads(threads.min(items.len())).build() {
        Ok(pool) => pool.install(|| items.into_par_iter().map(f).collect()),
        // No threads to be had (a limit on processes): the same work, one job after another.
        Err(_) => items.into_iter().map(f).collect(),
    }
}

/// How many threads to use when the user did not say: the cores this process may use (the
/// standard library reads the cgroup's CPU quota, so a container limited to 2 CPUs on a 64-core
/// host gets 2).
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// Makes a command's `--threads` the thread count of work that takes no options of its own
/// (the leakage screen while a table is read), so `--threads 1` means one thread throughout.
pub fn choose_threads(threads: usize) {
    CHOSEN.store(threads.max(1), Ordering::Relaxed);
}

/// The user's `--threads` when a command has set it ([`choose_threads`]), else [`default_threads`].
pub fn chosen_threads() -> usize {
    match CHOSEN.load(Ordering::Relaxed) {
        0 => default_threads(),
        n => n,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_chosen_thread_count_is_what_later_work_uses() {
        // Tests share the process: only this test sets it, and any count is valid elsewhere.
        super::choose_threads(3);
        assert_eq!(super::chosen_threads(), 3);
        super::choose_threads(0);
        assert_eq!(super::chosen_threads(), 1, "at least one thread");
    }

    #[test]
    fn keeps_order_on_many_threads() {
        let out = super::map((0..100).collect(), 4, |x: i32| x * 2);
        assert_eq!(out, (0..100).map(|x| x * 2).collect::<Vec<_>>());
    }
}
