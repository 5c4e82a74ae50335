//! What the final model's margin is made of, chosen on the search's out-of-fold margins: the
//! chosen set as it is, the chosen set recalibrated (Platt scaling: `a + b * margin`), or a
//! stack of every fully scored set (a logistic regression on their margins with non-negative
//! weights). Each is a weighted sum of tree-model margins plus a constant, so the final model
//! stays one tree model (`xgboost::blend`).
//!
//! Each candidate is judged by cross-fitting on the search's own k folds (fitted on k-1 folds'
//! out-of-fold margins, applied to the k-th); a more complex one is taken when its
//! cross-fitted log loss is lower. (Asking it to win by one standard error of the per-row
//! difference as well kept too many useful recalibrations out: Bank churners 0.0681 against
//! 0.0678, README.)

use serde::{Deserialize, Serialize};

/// `intercept + sum(weights[j] * margin_j)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Blend {
    pub intercept: f64,
    pub weights: Vec<f64>,
}

impl Blend {
    pub fn margin(&self, columns: &[Vec<f64>], row: usize) -> f64 {
        self.intercept + self.weights.iter().zip(columns).map(|(w, c)| w * c[row]).sum::<f64>()
    }
}

/// Shrinks the weights a little towards 0: the sets' margins are strongly correlated, and the
/// penalty keeps the Newton system well posed without moving a useful weight.
const RIDGE: f64 = 1.0;

pub(crate) fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Log loss of one row at margin `z`: log(1 + e^-z) for a churner, log(1 + e^z) otherwise,
/// without overflow.
pub(crate) fn row_loss(z: f64, label: u8) -> f64 {
    let s = if label == 1 { -z } else { z };
    s.max(0.0) + (-s.abs()).exp().ln_1p()
}

fn log_loss_of(columns: &[Vec<f64>], y: &[u8], rows: &[usize], blend: &Blend) -> f64 {
    rows.iter().map(|&r| row_loss(blend.margin(columns, r), y[r])).sum()
}

fn objective(columns: &[Vec<f64>], y: &[u8], rows: &[usize], blend: &Blend) -> f64 {
    log_loss_of(columns, y, rows, blend) + 0.5 * RIDGE * blend.weights.iter().map(|w| w * w).sum::<f64>()
}

/// Solves `a x = b` for a small symmetric positive definite `a` (Gaussian elimination with
/// partial pivoting); None when singular.
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let n = b.len();
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        let (upper, lower) = a.split_at_mut(col + 1);
        let pivot_row = &upper[col];
        for (offset, row) in lower.iter_mut().enumerate() {
            let f = row[col] / pivot_row[col];
            for (v, p) in row[col..].iter_mut().zip(&pivot_row[col..]) {
                *v -= f * p;
            }
            b[col + 1 + offset] -= f * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let s: f64 = (row + 1..n).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - s) / a[row][row];
    }
    Some(x)
}

/// Gradient of the objective in (intercept, weights...), for the rows given.
fn gradient(columns: &[Vec<f64>], y: &[u8], rows: &[usize], blend: &Blend) -> Vec<f64> {
    let k = columns.len();
    let mut g = vec![0.0; k + 1];
    for &r in rows {
        let e = sigmoid(blend.margin(columns, r)) - y[r] as f64;
        g[0] += e;
        for j in 0..k {
            g[j + 1] += e * columns[j][r];
        }
    }
    for j in 0..k {
        g[j + 1] += RIDGE * blend.weights[j];
    }
    g
}

/// Newton's method on the intercept and the free weights (the others held at 0), with step
/// halving so that every step lowers the objective.
fn newton(columns: &[Vec<f64>], y: &[u8], rows: &[usize], free: &[usize], blend: &mut Blend) {
    let dim = free.len() + 1;
    let mut current = objective(columns, y, rows, blend);
    for _ in 0..100 {
        let g_all = gradient(columns, y, rows, blend);
        let g: Vec<f64> = std::iter::once(g_all[0]).chain(free.iter().map(|&j| g_all[j + 1])).collect();
        let mut h = vec![vec![0.0; dim]; dim];
        let mut x = vec![1.0; dim];
        for &r in rows {
            let p = sigmoid(blend.margin(columns, r));
            let w = p * (1.0 - p);
            for (i, &j) in free.iter().enumerate() {
                x[i + 1] = columns[j][r];
            }
            for (row, &xa) in h.iter_mut().zip(&x) {
                for (v, &xb) in row.iter_mut().zip(&x) {
                    *v += w * xa * xb;
                }
            }
        }
        for (i, row) in h.iter_mut().enumerate().skip(1) {
            row[i] += RIDGE;
        }
        let Some(step) = solve(h, g) else { return };
        let mut t = 1.0;
        loop {
            let mut next = blend.clone();
            next.intercept -= t * step[0];
            for (i, &j) in free.iter().enumerate() {
                next.weights[j] -= t * step[i + 1];
            }
            let value = objective(columns, y, rows, &next);
            if value <= current {
                let gain = current - value;
                *blend = next;
                current = value;
                if gain < 1e-10 * rows.len() as f64 {
                    return;
                }
                break;
            }
            t /= 2.0;
            if t < 1e-8 {
                return;
            }
        }
    }
}

/// The blend of lowest penalised log loss on `rows` with every weight >= 0 (an active-set
/// method: a weight that wants to go negative is fixed at 0; a fixed one whose gradient points
/// into the feasible side is freed again).
pub fn fit(columns: &[Vec<f64>], y: &[u8], rows: &[usize]) -> Blend {
    let k = columns.len();
    let mut blend = Blend { intercept: 0.0, weights: vec![0.0; k] };
    let mut free: Vec<usize> = (0..k).collect();
    for _ in 0..4 * k + 4 {
        newton(columns, y, rows, &free, &mut blend);
        if let Some(worst) = free
            .iter()
            .copied()
            .filter(|&j| blend.weights[j] < 0.0)
            .min_by(|&a, &b| blend.weights[a].total_cmp(&blend.weights[b]))
        {
            // Back to the feasible side along the last move, then fix the offender at 0.
            for w in &mut blend.weights {
                *w = w.max(0.0);
            }
            free.retain(|&j| j != worst);
            continue;
        }
        let g = gradient(columns, y, rows, &blend);
        match (0..k).filter(|j| !free.contains(j)).min_by(|&a, &b| g[a + 1].total_cmp(&g[b + 1])) {
            Some(j) if g[j + 1] < -1e-6 * rows.len() as f64 => free.push(j),
            _ => break,
        }
    }
    blend
}

/// Margins of blends fitted on the other folds, for each fold's rows: out-of-fold predictions
/// of the blend, comparable to a single set's out-of-fold ones.
pub fn cross_fitted(columns: &[Vec<f64>], y: &[u8], fold_of: &[u8], folds: usize) -> Vec<f64> {
    let mut out = vec![0.0; y.len()];
    for f in 0..folds {
        let train: Vec<usize> = (0..y.len()).filter(|&r| fold_of[r] as usize != f).collect();
        let blend = fit(columns, y, &train);
        for r in (0..y.len()).filter(|&r| fold_of[r] as usize == f) {
            out[r] = blend.margin(columns, r);
        }
    }
    out
}

/// How far the final margin may go beyond the chosen set: `--blend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum BlendLimit {
    /// The chosen set's model as fitted.
    None,
    /// At most the chosen set recalibrated (no extra trees to fit, serve or explain).
    Recalibrate,
    /// Any of the three, stacks included.
    #[default]
    Stack,
}

impl BlendLimit {
    pub fn as_str(self) -> &'static str {
        match self {
            BlendLimit::None => "none",
            BlendLimit::Recalibrate => "recalibrate",
            BlendLimit::Stack => "stack",
        }
    }
}

/// How the final model's margin is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlendKind {
    /// The chosen set's model as fitted.
    Plain,
    /// The chosen set's margin rescaled and shifted.
    Recalibrated,
    /// Several sets' margins, weighted, plus a constant.
    Stacked,
}

pub struct Choice {
    pub kind: BlendKind,
    /// Over all columns (zero weight: not used).
    pub blend: Blend,
    /// Cross-fitted margins of the choice, one per row (the chosen column itself when plain).
    pub margins: Vec<f64>,
    /// Mean out-of-fold log loss of the chosen column as it is, and of the choice.
    pub log_loss_before: f64,
    pub log_loss_after: f64,
}

fn row_losses(margins: &[f64], y: &[u8]) -> Vec<f64> {
    margins.iter().zip(y).map(|(&z, &label)| row_loss(z, label)).collect()
}

/// Whether `candidate` (per-row losses) is lower on the whole than `incumbent`. The losses are
/// cross-fitted, so a blend's own fitting does not flatter it; the search's selection of the
/// sets does a little, which the candidates share.
fn better(candidate: &[f64], incumbent: &[f64]) -> bool {
    candidate.iter().sum::<f64>() < incumbent.iter().sum::<f64>()
}

/// Chooses how the final margin is made from the out-of-fold margins of the fully scored sets
/// (`columns`; `chosen` is the search's choice among them). `may_stack` is false when the
/// search chose the default set (the stumps, or the user's `--param` set), outright or by its
/// one-standard-error rule: a set kept for being simple, or asked for, is not mixed with others.
pub fn choose(
    columns: &[Vec<f64>],
    chosen: usize,
    limit: BlendLimit,
    may_stack: bool,
    y: &[u8],
    fold_of: &[u8],
    folds: usize,
) -> Choice {
    let n = y.len();
    let mean = |losses: &[f64]| losses.iter().sum::<f64>() / n as f64;
    let plain_losses = row_losses(&columns[chosen], y);
    let before = mean(&plain_losses);
    let all_rows: Vec<usize> = (0..n).collect();
    let mut best = Choice {
        kind: BlendKind::Plain,
        blend: Blend {
            intercept: 0.0,
            weights: (0..columns.len()).map(|j| if j == chosen { 1.0 } else { 0.0 }).collect(),
        },
        margins: columns[chosen].clone(),
        log_loss_before: before,
        log_loss_after: before,
    };
    let mut best_losses = plain_losses;
    if limit == BlendLimit::None {
        return best;
    }

    let single = std::slice::from_ref(&columns[chosen]);
    let recalibrated = cross_fitted(single, y, fold_of, folds);
    let losses = row_losses(&recalibrated, y);
    let fitted = fit(single, y, &all_rows);
    // A weight of 0 would drop the chosen set for a constant: never better than the set itself
    // on a table with any signal, and no model to serve.
    if fitted.weights[0] > 0.0 && better(&losses, &best_losses) {
        let mut weights = vec![0.0; columns.len()];
        weights[chosen] = fitted.weights[0];
        best = Choice {
            kind: BlendKind::Recalibrated,
            blend: Blend { intercept: fitted.intercept, weights },
            margins: recalibrated,
            log_loss_before: before,
            log_loss_after: mean(&losses),
        };
        best_losses = losses;
    }

    if limit == BlendLimit::Stack && may_stack && columns.len() > 1 {
        let stacked = cross_fitted(columns, y, fold_of, folds);
        let losses = row_losses(&stacked, y);
        let blend = fit(columns, y, &all_rows);
        // The chosen set stays in any stack: the model's parameters, rounds and learning
        // curves are reported as the chosen set's (and a stack without it is a different
        // choice than the search made, on the same out-of-fold evidence).
        if blend.weights[chosen] > 0.0 && better(&losses, &best_losses) {
            // A stack that puts all its weight on one set is that set recalibrated.
            let used = blend.weights.iter().filter(|&&w| w > 0.0).count();
            best = Choice {
                kind: if used > 1 { BlendKind::Stacked } else { BlendKind::Recalibrated },
                blend,
                margins: stacked,
                log_loss_before: before,
                log_loss_after: mean(&losses),
            };
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::Rng;

    /// Labels drawn from `sigmoid(2 * a)`; `b` is noise. Columns: a, b, a scaled down.
    fn table(n: usize) -> (Vec<Vec<f64>>, Vec<u8>) {
        let mut rng = Rng::stream(5, 1);
        let a: Vec<f64> = (0..n).map(|_| rng.uniform() * 4.0 - 2.0).collect();
        let b: Vec<f64> = (0..n).map(|_| rng.uniform() * 4.0 - 2.0).collect();
        let y: Vec<u8> = a.iter().map(|&v| u8::from(rng.uniform() < sigmoid(2.0 * v))).collect();
        (vec![a.clone(), b, a.iter().map(|v| v * 0.5).collect()], y)
    }

    #[test]
    fn recovers_the_scale_of_an_under_confident_margin() {
        let (columns, y) = table(20_000);
        let rows: Vec<usize> = (0..y.len()).collect();
        let blend = fit(&columns[..1], &y, &rows);
        assert!((blend.weights[0] - 2.0).abs() < 0.15, "{blend:?}");
        assert!(blend.intercept.abs() < 0.1, "{blend:?}");
    }

    #[test]
    fn weights_stay_non_negative_and_noise_gets_none() {
        let (mut columns, y) = table(20_000);
        // A column that predicts the opposite: its unconstrained weight would be negative.
        columns.push(columns[0].iter().map(|v| -v).collect());
        let rows: Vec<usize> = (0..y.len()).collect();
        let blend = fit(&columns, &y, &rows);
        assert!(blend.weights.iter().all(|&w| w >= 0.0), "{blend:?}");
        assert!(blend.weights[1] < 0.05 && blend.weights[3] == 0.0, "{blend:?}");
        // a and a/2 carry the same information: together they make up the scale of 2.
        let scale = blend.weights[0] + 0.5 * blend.weights[2];
        assert!((scale - 2.0).abs() < 0.15, "{blend:?}");
    }

    #[test]
    fn the_cross_fitted_loss_beats_a_miscalibrated_column_and_not_the_truth() {
        let (columns, y) = table(20_000);
        let fold_of: Vec<u8> = (0..y.len()).map(|r| (r % 5) as u8).collect();
        let mean = |m: &[f64]| row_losses(m, &y).iter().sum::<f64>() / y.len() as f64;
        let blended = mean(&cross_fitted(&columns[..1], &y, &fold_of, 5));
        let raw = mean(&columns[0]);
        let truth = mean(&columns[0].iter().map(|v| 2.0 * v).collect::<Vec<_>>());
        assert!(blended < raw - 0.01, "{blended} vs {raw}");
        assert!(blended > truth - 0.005, "{blended} vs {truth}");
    }
}

#[cfg(test)]
mod choice_tests {
    use super::*;
    use crate::random::Rng;

    /// Labels from `sigmoid(a + b)`: column 0 knows only `a`, column 1 only `b`.
    fn two_halves(n: usize) -> (Vec<Vec<f64>>, Vec<u8>, Vec<u8>) {
        let mut rng = Rng::stream(9, 2);
        let a: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        let b: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        let y = a.iter().zip(&b).map(|(x, z)| u8::from(rng.uniform() < sigmoid(x + z))).collect();
        (vec![a, b], y, (0..n).map(|r| (r % 5) as u8).collect())
    }

    #[test]
    fn a_calibrated_column_stays_plain() {
        let (mut columns, y, fold_of) = two_halves(20_000);
        // The exact margin: nothing to recalibrate, nothing to stack.
        columns[0] = columns[0].iter().zip(&columns[1]).map(|(a, b)| a + b).collect();
        let c = choose(&columns[..1], 0, BlendLimit::Stack, true, &y, &fold_of, 5);
        assert_eq!(c.kind, BlendKind::Plain);
        assert_eq!(c.blend.weights, vec![1.0]);
        assert_eq!(c.log_loss_after, c.log_loss_before);
    }

    #[test]
    fn a_shrunken_column_is_recalibrated() {
        let (columns, y, fold_of) = two_halves(20_000);
        let exact: Vec<f64> = columns[0].iter().zip(&columns[1]).map(|(a, b)| 0.5 * (a + b) - 0.3).collect();
        let c = choose(std::slice::from_ref(&exact), 0, BlendLimit::Stack, true, &y, &fold_of, 5);
        assert_eq!(c.kind, BlendKind::Recalibrated);
        assert!((c.blend.weights[0] - 2.0).abs() < 0.15 && (c.blend.intercept - 0.6).abs() < 0.1, "{:?}", c.blend);
        assert!(c.log_loss_after < c.log_loss_before);
        let off = choose(&[exact], 0, BlendLimit::None, true, &y, &fold_of, 5);
        assert_eq!((off.kind, off.blend.weights[0], off.blend.intercept), (BlendKind::Plain, 1.0, 0.0));
    }

    #[test]
    fn a_column_against_the_labels_is_never_replaced_by_a_constant() {
        let (columns, y, fold_of) = two_halves(5_000);
        // Predicts the opposite: the best non-negative weight is 0, which would leave no model.
        let backwards: Vec<f64> = columns[0].iter().map(|v| -v).collect();
        for folds in [2, 5] {
            let fold_of: Vec<u8> = fold_of.iter().map(|f| f % folds as u8).collect();
            let c = choose(&[backwards.clone(), columns[1].clone()], 0, BlendLimit::Stack, true, &y, &fold_of, folds);
            assert_eq!(c.kind, BlendKind::Plain, "{:?}", c.blend);
            assert_eq!(c.blend.weights, vec![1.0, 0.0]);
        }
    }

    #[test]
    fn complementary_sets_are_stacked_unless_the_default_was_kept_for_simplicity() {
        let (columns, y, fold_of) = two_halves(20_000);
        let c = choose(&columns, 0, BlendLimit::Stack, true, &y, &fold_of, 5);
        assert_eq!(c.kind, BlendKind::Stacked);
        assert!(c.blend.weights.iter().all(|&w| (w - 1.0).abs() < 0.1), "{:?}", c.blend);
        let kept = choose(&columns, 0, BlendLimit::Stack, false, &y, &fold_of, 5);
        assert_ne!(kept.kind, BlendKind::Stacked);
        assert_eq!(kept.blend.weights[1], 0.0);
        let limited = choose(&columns, 0, BlendLimit::Recalibrate, true, &y, &fold_of, 5);
        assert_ne!(limited.kind, BlendKind::Stacked);
        assert_eq!(limited.blend.weights[1], 0.0);
    }
}
