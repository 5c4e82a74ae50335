//! Stratified splits: the held-out split of `churn train`, and the repeated k-fold of
//! `churn evaluate` and of tuning. Each class is shuffled on its own and dealt round-robin, so
//! every fold gets the churn rate of the whole.

use crate::random::Rng;

/// Fold number (0..k) for every row.
pub fn stratified_folds(labels: &[u8], k: usize, rng: &mut Rng) -> Vec<usize> {
    let mut fold = vec![0usize; labels.len()];
    let mut offset = 0;
    for class in [0u8, 1u8] {
        let mut idx: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
        rng.shuffle(&mut idx);
        for (pos, &i) in idx.iter().enumerate() {
            fold[i] = (pos + offset) % k;
        }
        // Continue the deal where the first class stopped, so fold sizes differ by at most one.
        offset = (offset + idx.len()) % k;
    }
    fold
}

/// (train rows, test rows) for each of the k folds of a fold assignment.
pub fn folds_of(fold: &[usize], k: usize) -> Vec<(Vec<usize>, Vec<usize>)> {
    (0..k)
        .map(|f| {
            let test: Vec<usize> = (0..fold.len()).filter(|&i| fold[i] == f).collect();
            let train: Vec<usize> = (0..fold.len()).filter(|&i| fold[i] != f).collect();
            (train, test)
        })
        .collect()
}

/// Fold number of every row for each of `repeats` independent shuffles: the assignment of
/// `churn evaluate` (also written by its `--folds-out` for cross-stack comparisons).
pub fn repeated_fold_ids(labels: &[u8], k: usize, repeats: usize, seed: u64) -> Vec<Vec<usize>> {
    (0..repeats).map(|r| stratified_folds(labels, k, &mut Rng::stream(seed, 1_000 + r as u64))).collect()
}

/// Repeated stratified k-fold: `repeats` independent shuffles of `k` folds.
pub fn repeated_kfold(labels: &[u8], k: usize, repeats: usize, seed: u64) -> Vec<(Vec<usize>, Vec<usize>)> {
    repeated_fold_ids(labels, k, repeats, seed).iter().flat_map(|fold| folds_of(fold, k)).collect()
}

/// A stratified (train, test) split with `test_fraction` of each class in the test part.
pub fn train_test(labels: &[u8], test_fraction: f64, rng: &mut Rng) -> (Vec<usize>, Vec<usize>) {
    let mut train = Vec::new();
    let mut test = Vec::new();
    for class in [0u8, 1u8] {
        let mut idx: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
        rng.shuffle(&mut idx);
        let n_test = (idx.len() as f64 * test_fraction).round() as usize;
        test.extend_from_slice(&idx[..n_test]);
        train.extend_from_slice(&idx[n_test..]);
    }
    train.sort_unstable();
    test.sort_unstable();
    (train, test)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(n: usize, pos_every: usize) -> Vec<u8> {
        (0..n).map(|i| (i % pos_every == 0) as u8).collect()
    }

    #[test]
    fn folds_partition_rows_and_keep_the_class_ratio() {
        let y = labels(1003, 4);
        let folds = folds_of(&stratified_folds(&y, 5, &mut Rng::new(0)), 5);
        let mut seen = vec![0; y.len()];
        for (train, test) in &folds {
            assert_eq!(train.len() + test.len(), y.len());
            for &i in test {
                seen[i] += 1;
            }
            let pos = test.iter().filter(|&&i| y[i] == 1).count() as f64 / test.len() as f64;
            assert!((pos - 0.25).abs() < 0.01, "{pos}");
            assert!((200..=201).contains(&test.len()), "{}", test.len());
        }
        assert!(seen.iter().all(|&s| s == 1));
    }

    #[test]
    fn repeats_differ_and_are_reproducible() {
        let y = labels(100, 3);
        let a = repeated_kfold(&y, 5, 2, 0);
        assert_eq!(a.len(), 10);
        assert_ne!(a[0].1, a[5].1);
        assert_eq!(a, repeated_kfold(&y, 5, 2, 0));
    }

    #[test]
    fn train_test_is_stratified() {
        let y = labels(1000, 4);
        let (train, test) = train_test(&y, 0.2, &mut Rng::new(1));
        assert_eq!(test.len(), 200);
        assert_eq!(train.len(), 800);
        assert_eq!(test.iter().filter(|&&i| y[i] == 1).count(), 50);
    }
}
