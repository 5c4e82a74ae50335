//! A forest of stumps (depth-1 trees, churn's default model) is additive: the margin is a sum of
//! one step function per feature. Folding all of a feature's stumps into one sorted list of cut
//! points turns ~400 stump visits per row into ~30 short searches, for prediction and TreeSHAP
//! alike.
//!
//! XGBoost adds the trees one by one in float32; here each step's value is summed in float64 once
//! at load, so results agree with XGBoost's to float32 rounding (tests hold them within 1e-6).

/// One split of a stump forest (or a stump of a deeper one), with what it adds on either side.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stump {
    pub feature: u32,
    pub threshold: f32,
    pub left: f32,
    pub right: f32,
    pub default_left: bool,
    /// TreeSHAP of the split feature when the row goes left / right.
    pub phi_left: f32,
    pub phi_right: f32,
    /// The tree's expected value (its share of the bias).
    pub mean: f32,
}

impl Stump {
    /// Whether the row goes left, as XGBoost sends it (missing values the default way).
    #[inline]
    pub fn goes_left(&self, x: &[f32]) -> bool {
        let v = x[self.feature as usize];
        if v.is_nan() {
            self.default_left
        } else {
            v < self.threshold
        }
    }
}

/// One feature's step function: `len` cut points from `cuts[start..]`, `len + 1` interval values
/// from `margins[start + slot..]` / `phis[...]`.
#[derive(Debug, Clone, Copy)]
struct Steps {
    feature: u32,
    cut_start: u32,
    len: u32,
    value_start: u32,
    nan_margin: f64,
    nan_phi: f64,
}

#[derive(Debug, Clone)]
pub(crate) struct Additive {
    steps: Vec<Steps>,
    cuts: Vec<f32>,
    margins: Vec<f64>,
    phis: Vec<f64>,
    /// Base margin plus every lone leaf: what the margin is before any feature is looked at.
    constant: f64,
    /// The bias term of the contributions: base margin plus every tree's expected value.
    bias: f64,
}

/// One tree of a stump forest: a split, or a lone leaf that every row lands on.
pub(crate) enum Part {
    Split(Stump),
    Leaf { value: f32, mean: f32 },
}

impl Additive {
    pub fn new(parts: &[Part], base_margin: f32) -> Additive {
        let mut constant = base_margin as f64;
        let mut bias = base_margin as f64;
        let mut by_feature: std::collections::BTreeMap<u32, Vec<Stump>> = Default::default();
        for p in parts {
            match p {
                Part::Leaf { value, mean } => {
                    constant += *value as f64;
                    bias += *mean as f64;
                }
                Part::Split(s) => {
                    bias += s.mean as f64;
                    by_feature.entry(s.feature).or_default().push(*s);
                }
            }
        }
        let mut out =
            Additive { steps: Vec::new(), cuts: Vec::new(), margins: Vec::new(), phis: Vec::new(), constant, bias };
        for (feature, stumps) in by_feature {
            let mut cuts: Vec<f32> = stumps.iter().map(|s| s.threshold).collect();
            cuts.sort_by(f32::total_cmp);
            cuts.dedup();
            let (cut_start, value_start) = (out.cuts.len() as u32, out.margins.len() as u32);
            // Interval k holds the values v with cuts[k-1] <= v < cuts[k]; a stump sends them
            // left exactly when v < its threshold, i.e. when its threshold is cuts[j] with j >= k.
            for k in 0..=cuts.len() {
                let (mut m, mut phi) = (0f64, 0f64);
                for s in &stumps {
                    let left = cuts.partition_point(|&c| c < s.threshold) >= k;
                    m += if left { s.left } else { s.right } as f64;
                    phi += if left { s.phi_left } else { s.phi_right } as f64;
                }
                out.margins.push(m);
                out.phis.push(phi);
            }
            let nan_margin = stumps.iter().map(|s| if s.default_left { s.left } else { s.right } as f64).sum();
            let nan_phi = stumps.iter().map(|s| if s.default_left { s.phi_left } else { s.phi_right } as f64).sum();
            out.steps.push(Steps { feature, cut_start, len: cuts.len() as u32, value_start, nan_margin, nan_phi });
            out.cuts.extend(cuts);
        }
        out
    }

    /// Which value of `s` applies to `v`, or None for missing.
    #[inline]
    fn slot(&self, s: &Steps, v: f32) -> Option<usize> {
        if v.is_nan() {
            return None;
        }
        let cuts = &self.cuts[s.cut_start as usize..(s.cut_start + s.len) as usize];
        // Short lists (the usual case: a handful of cuts) are cheaper to count without branches.
        let k =
            if cuts.len() <= 32 { cuts.iter().filter(|&&c| c <= v).count() } else { cuts.partition_point(|&c| c <= v) };
        Some(s.value_start as usize + k)
    }

    #[inline]
    pub fn margin(&self, x: &[f32]) -> f32 {
        let mut m = self.constant;
        for s in &self.steps {
            m += match self.slot(s, x[s.feature as usize]) {
                Some(i) => self.margins[i],
                None => s.nan_margin,
            };
        }
        m as f32
    }

    /// TreeSHAP contributions (`out` is zeroed, with the bias slot last), and the margin,
    /// `margin(x)` bit for bit: one search per feature serves both.
    pub fn contributions_and_margin(&self, x: &[f32], out: &mut [f32]) -> f32 {
        let mut m = self.constant;
        for s in &self.steps {
            let (phi, margin) = match self.slot(s, x[s.feature as usize]) {
                Some(i) => (self.phis[i], self.margins[i]),
                None => (s.nan_phi, s.nan_margin),
            };
            out[s.feature as usize] = phi as f32;
            m += margin;
        }
        let bias = out.len() - 1;
        out[bias] = self.bias as f32;
        m as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stump(feature: u32, threshold: f32, left: f32, right: f32, default_left: bool) -> Part {
        // Equal covers: the mean is halfway, and each side's phi is its distance from it.
        let mean = (left + right) / 2.0;
        Part::Split(Stump {
            feature,
            threshold,
            left,
            right,
            default_left,
            phi_left: left - mean,
            phi_right: right - mean,
            mean,
        })
    }

    /// The folded table against visiting the stumps one by one, on every interval edge.
    #[test]
    fn matches_stump_by_stump_sums_at_every_cut() {
        let parts = vec![
            stump(0, 1.0, 0.5, -0.5, true),
            stump(0, 3.0, 0.25, -0.25, false),
            stump(1, 2.0, -1.0, 1.0, false),
            stump(0, 1.0, 0.125, -0.125, false),
            Part::Leaf { value: 0.75, mean: 0.75 },
        ];
        let table = Additive::new(&parts, -1.0);
        let direct = |x: &[f32]| -> f64 {
            let mut m = -1.0f64;
            for p in &parts {
                m += match p {
                    Part::Leaf { value, .. } => *value as f64,
                    Part::Split(s) => {
                        let v = x[s.feature as usize];
                        let left = if v.is_nan() { s.default_left } else { v < s.threshold };
                        (if left { s.left } else { s.right }) as f64
                    }
                };
            }
            m
        };
        for a in [f32::NEG_INFINITY, 0.0, 0.999, 1.0, 2.0, 3.0, 7.0, f32::INFINITY, f32::NAN] {
            for b in [1.0, 2.0, f32::NAN] {
                let x = [a, b];
                assert_eq!(table.margin(&x) as f64, direct(&x) as f32 as f64, "x = {x:?}");
                let mut phi = [0f32; 3];
                let margin = table.contributions_and_margin(&x, &mut phi);
                assert_eq!(margin.to_bits(), table.margin(&x).to_bits(), "x = {x:?}");
                // Contributions add up to the margin (SHAP's local accuracy).
                let total: f64 = phi.iter().map(|&p| p as f64).sum();
                assert!((total - direct(&x)).abs() < 1e-6, "x = {x:?}: {phi:?} sums to {total}");
            }
        }
    }
}
