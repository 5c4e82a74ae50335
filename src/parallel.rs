//! How many threads work runs on, and independent jobs (folds, trials) run on that many rayon
//! threads with their results in order.

use rayon::prelude::*;

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

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_order_on_many_threads() {
        let out = super::map((0..100).collect(), 4, |x: i32| x * 2);
        assert_eq!(out, (0..100).map(|x| x * 2).collect::<Vec<_>>());
    }
}
