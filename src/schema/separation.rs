//! How well one field alone ranks the target: the leakage screen of the schema draft and of
//! training. Counted as rows stream by, in memory that does not grow with the table, and merged
//! across batches, files or the workers of a distributed job.
//!
//! The answer is ROC AUC folded so that 0.5 is no signal and 1 a perfect one, the larger of two
//! readings: whether a value is there at all (a closing date, or a churn reason, blank for every
//! customer who stayed, gives the answer away whatever its values), and the values themselves.
//! Numbers rank by value (missing ones left out); categories, given as level codes, rank by
//! their level's target rate, and only when every level is seen 30 times or more (rare levels
//! separate by chance).
//!
//! Numbers are counted per distinct value, exactly, up to [`MAX_GROUPS`] distinct values; beyond
//! that, neighbouring values are merged by dropping the low bits of their order-preserving bit
//! pattern (a group then spans under one part in 2^40 of a value at first, wider as needed), and
//! values in one group count as ties. A leak separates by far more than that blurs.

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

/// Distinct values counted one by one before neighbours are merged.
pub const MAX_GROUPS: usize = 1 << 16;

/// Rows of a level below which a categorical field's value reading is not trusted.
const MIN_LEVEL_ROWS: u64 = 30;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Separation {
    categorical: bool,
    /// (positives, negatives) of rows without a value and with one.
    blank: (u64, u64),
    present: (u64, u64),
    /// Bits dropped from a number's ordered bit pattern to form its group (0: exact).
    shift: u32,
    /// A number's group (its ordered bits >> shift) -> (positives, negatives).
    groups: FxHashMap<u64, (u64, u64)>,
    /// A category's (positives, negatives) by level code: a code indexes, no hashing per row.
    levels: Vec<(u64, u64)>,
}

/// A float's bits, reordered so that integer order is numeric order.
fn ordered_bits(v: f64) -> u64 {
    let b = v.to_bits();
    if b >> 63 == 1 {
        !b
    } else {
        b | (1 << 63)
    }
}

impl Separation {
    pub fn new(categorical: bool) -> Separation {
        Separation { categorical, ..Separation::default() }
    }

    /// One row: the field's value (a level code for categories, NaN when missing) and whether
    /// the customer left.
    #[inline]
    pub fn add(&mut self, v: f64, positive: bool) {
        let slot = if v.is_nan() { &mut self.blank } else { &mut self.present };
        if positive {
            slot.0 += 1
        } else {
            slot.1 += 1
        }
        if v.is_nan() {
            return;
        }
        if self.categorical {
            let code = v as usize;
            if code >= self.levels.len() {
                self.levels.resize(code + 1, (0, 0));
            }
            let e = &mut self.levels[code];
            if positive {
                e.0 += 1
            } else {
                e.1 += 1
            }
            return;
        }
        let e = self.groups.entry(ordered_bits(v) >> self.shift).or_default();
        if positive {
            e.0 += 1
        } else {
            e.1 += 1
        }
        if self.groups.len() > MAX_GROUPS {
            self.coarsen(self.shift + 1);
        }
    }

    /// Merges groups until at most [`MAX_GROUPS`] remain, from `shift` bits dropped on.
    fn coarsen(&mut self, mut shift: u32) {
        loop {
            let by = shift - self.shift;
            let mut merged: FxHashMap<u64, (u64, u64)> = FxHashMap::default();
            for (&k, &(p, n)) in &self.groups {
                let e = merged.entry(k >> by).or_default();
                e.0 += p;
                e.1 += n;
            }
            self.groups = merged;
            self.shift = shift;
            if self.groups.len() <= MAX_GROUPS || shift >= 63 {
                return;
            }
            shift += 1;
        }
    }

    /// Adds another part's counts (another batch, file or worker) of the same field.
    pub fn merge(&mut self, mut other: Separation) {
        if other.shift > self.shift {
            self.coarsen(other.shift);
        } else if self.shift > other.shift {
            other.coarsen(self.shift);
        }
        self.blank = (self.blank.0 + other.blank.0, self.blank.1 + other.blank.1);
        self.present = (self.present.0 + other.present.0, self.present.1 + other.present.1);
        if self.levels.len() < other.levels.len() {
            self.levels.resize(other.levels.len(), (0, 0));
        }
        for (mine, theirs) in self.levels.iter_mut().zip(&other.levels) {
            mine.0 += theirs.0;
            mine.1 += theirs.1;
        }
        for (k, (p, n)) in other.groups {
            let e = self.groups.entry(k).or_default();
            e.0 += p;
            e.1 += n;
        }
        if self.groups.len() > MAX_GROUPS && !self.categorical {
            self.coarsen(self.shift + 1);
        }
    }

    /// The folded ROC AUC, or None when one class is absent (or, for categories, a level is
    /// rare and nothing is blank-versus-present either).
    pub fn auc(&self) -> Option<f64> {
        let two_sided = |auc: f64| auc.max(1.0 - auc);
        let flags = vec![(1.0, self.blank.0, self.blank.1), (0.0, self.present.0, self.present.1)];
        let by_missing = grouped_auc(flags).map(two_sided);
        let by_value = if self.categorical {
            // A missing value is a level of its own here; levels never seen are no level.
            let mut levels: Vec<(u64, u64)> = self.levels.iter().copied().filter(|&(p, n)| p + n > 0).collect();
            if self.blank.0 + self.blank.1 > 0 {
                levels.push(self.blank);
            }
            if levels.iter().any(|(p, n)| p + n < MIN_LEVEL_ROWS) {
                None
            } else {
                grouped_auc(levels.into_iter().map(|(p, n)| (p as f64 / (p + n) as f64, p, n)).collect()).map(two_sided)
            }
        } else {
            // Ranked by the groups' order (their keys exceed what a float holds exactly).
            let mut keys: Vec<(&u64, &(u64, u64))> = self.groups.iter().collect();
            keys.sort_unstable_by_key(|(k, _)| **k);
            grouped_auc(keys.iter().enumerate().map(|(i, (_, &(p, n)))| (i as f64, p, n)).collect()).map(two_sided)
        };
        match (by_value, by_missing) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }
}

/// ROC AUC of a score that takes few values, from (score, positives, negatives) per value: the
/// pairs a positive wins, ties counted half.
fn grouped_auc(mut groups: Vec<(f64, u64, u64)>) -> Option<f64> {
    let pos: u64 = groups.iter().map(|g| g.1).sum();
    let neg: u64 = groups.iter().map(|g| g.2).sum();
    if pos == 0 || neg == 0 {
        return None;
    }
    groups.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (mut wins, mut neg_below) = (0.0, 0u64);
    let mut i = 0;
    while i < groups.len() {
        let (mut p, mut n) = (0, 0);
        let mut j = i;
        while j < groups.len() && groups[j].0 == groups[i].0 {
            p += groups[j].1;
            n += groups[j].2;
            j += 1;
        }
        wins += p as f64 * (neg_below as f64 + n as f64 / 2.0);
        neg_below += n;
        i = j;
    }
    Some(wins / (pos as f64 * neg as f64))
}

/// The separation of (value, positive) pairs held in memory.
pub fn separation(pairs: &[(f64, bool)], categorical: bool) -> Option<f64> {
    let mut s = Separation::new(categorical);
    for &(v, y) in pairs {
        s.add(v, y);
    }
    s.auc()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ROC AUC by ranks, ties sharing their rank: the exact reading to compare with.
    fn exact_auc(pairs: &[(f64, bool)]) -> f64 {
        let mut s = pairs.to_vec();
        s.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (mut rank_pos, mut pos, mut i) = (0.0, 0u64, 0);
        while i < s.len() {
            let j = i + s[i..].iter().take_while(|p| p.0 == s[i].0).count();
            let mid = (i + j + 1) as f64 / 2.0;
            let p = s[i..j].iter().filter(|p| p.1).count() as u64;
            rank_pos += mid * p as f64;
            pos += p;
            i = j;
        }
        let neg = s.len() as u64 - pos;
        let auc = (rank_pos - (pos * (pos + 1)) as f64 / 2.0) / (pos as f64 * neg as f64);
        auc.max(1.0 - auc)
    }

    #[test]
    fn numbers_are_exact_up_to_the_group_limit_and_close_beyond_it() {
        let field = |n: u64| -> Vec<(f64, bool)> {
            (0..n)
                .map(|i| {
                    let v = (i as f64 * 0.618_034).fract() * 1000.0;
                    (v, (i * 2_654_435_761 % 1000) as f64 / 1000.0 < 0.3 + 0.0002 * v)
                })
                .collect()
        };
        let small = field(20_000);
        assert!((separation(&small, false).unwrap() - exact_auc(&small)).abs() < 1e-12);
        let large = field(200_000);
        let mut s = Separation::new(false);
        large.iter().for_each(|&(v, y)| s.add(v, y));
        assert!(s.groups.len() <= MAX_GROUPS && s.shift > 0);
        assert!((s.auc().unwrap() - exact_auc(&large)).abs() < 1e-3, "{:?}", s.auc());
        // A leak stays a leak whatever the merge.
        let leak: Vec<(f64, bool)> = large.iter().map(|&(v, _)| (v, v > 600.0)).collect();
        assert!((separation(&leak, false).unwrap() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn parts_merge_to_the_whole() {
        let pairs: Vec<(f64, bool)> =
            (0..5000).map(|i| (if i % 7 == 0 { f64::NAN } else { (i % 97) as f64 }, i % 3 == 0)).collect();
        let whole = separation(&pairs, false);
        let mut a = Separation::new(false);
        let mut b = Separation::new(false);
        for (i, &(v, y)) in pairs.iter().enumerate() {
            if i % 2 == 0 {
                a.add(v, y)
            } else {
                b.add(v, y)
            }
        }
        a.merge(b);
        assert_eq!(a.auc(), whole);
    }
}
