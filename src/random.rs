//! A small, fast, seedable generator (xoshiro256**, seeded through splitmix64).
//!
//! Kept in-tree rather than taken from a crate so that `churn synth --seed S` produces the same
//! customers forever, whatever a dependency upgrade would change in its streams.

/// The streams of one training or comparison, by what they draw: each part of a job takes its
/// own so that changing one (more trials, another split) never shifts another. The numbers
/// are the ones the first releases used, kept so that results stay reproducible.
pub mod streams {
    /// The stratified held-out split of `churn train`.
    pub const HELD_OUT: u64 = 3;
    /// The early-stopping split of `--trials 0`.
    pub const EARLY_STOPPING: u64 = 7;
    /// The tuning folds (and the level rates computed out of fold).
    pub const FOLDS: u64 = 11;
    /// The search's random parameter draws.
    pub const SEARCH: u64 = 13;
    /// The paired bootstrap of `churn challenge`.
    pub const BOOTSTRAP: u64 = 17;
    /// The held-out rows dealt into the search folds for the refit on every row.
    pub const REFIT_FOLDS: u64 = 19;
}

pub struct Rng {
    s: [u64; 4],
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        let mut sm = seed;
        Rng { s: [splitmix64(&mut sm), splitmix64(&mut sm), splitmix64(&mut sm), splitmix64(&mut sm)] }
    }

    /// An independent stream for one part of a larger job (a chunk of rows, a fold, a trial).
    pub fn stream(seed: u64, index: u64) -> Rng {
        let mut sm = seed ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03);
        let mixed = splitmix64(&mut sm);
        Rng::new(mixed ^ seed.rotate_left(17))
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1).
    #[inline]
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    #[inline]
    pub fn chance(&mut self, p: f64) -> bool {
        self.uniform() < p
    }

    /// Uniform index in [0, n) (n > 0).
    #[inline]
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }

    /// Uniform integer in [lo, hi].
    #[inline]
    pub fn int_in(&mut self, lo: u32, hi: u32) -> u32 {
        lo + (((self.next_u64() >> 32) * (hi - lo + 1) as u64) >> 32) as u32
    }

    /// Index drawn from unnormalised weights.
    #[inline]
    pub fn pick(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut u = self.uniform() * total;
        for (i, w) in weights.iter().enumerate() {
            if u < *w {
                return i;
            }
            u -= w;
        }
        weights.len() - 1
    }

    /// Standard normal (Box-Muller; one of the pair is dropped for simplicity).
    #[inline]
    pub fn normal(&mut self) -> f64 {
        let u1 = self.uniform().max(f64::MIN_POSITIVE);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Fisher-Yates shuffle.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = ((self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64) * (i + 1) as f64) as usize;
            v.swap(i, j.min(i));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream() {
        let a: Vec<u64> = (0..5)
            .map({
                let mut r = Rng::new(7);
                move |_| r.next_u64()
            })
            .collect();
        let b: Vec<u64> = (0..5)
            .map({
                let mut r = Rng::new(7);
                move |_| r.next_u64()
            })
            .collect();
        assert_eq!(a, b);
        assert_ne!(Rng::stream(7, 0).next_u64(), Rng::stream(7, 1).next_u64());
    }

    #[test]
    fn uniform_and_ints_stay_in_range() {
        let mut r = Rng::new(1);
        for _ in 0..10_000 {
            let u = r.uniform();
            assert!((0.0..1.0).contains(&u));
            let k = r.int_in(3, 9);
            assert!((3..=9).contains(&k));
        }
    }
}
