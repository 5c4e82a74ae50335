//! The training-data profile saved in every bundle, and the population stability index (PSI)
//! the server reports for recent requests against it.
//!
//! Numeric fields get decile bins of the training values, categorical fields one bin per level;
//! every field has a last bin for missing values. PSI = sum (a - e) * ln(a / e) over bins, with
//! shares floored at 1e-4 so an empty bin does not make it infinite. The usual reading: below
//! 0.1 stable, 0.1 to 0.25 worth watching, above 0.25 investigate.

use crate::schema::{FieldKind, Schema};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub rows: usize,
    pub fields: Vec<FieldProfile>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldProfile {
    pub name: String,
    pub categorical: bool,
    /// Upper edges of the numeric bins (a value goes to the first bin whose edge is >= it; the
    /// last numeric bin is open). Empty for categorical fields.
    pub edges: Vec<f64>,
    /// A label per bin, the missing bin last.
    pub bins: Vec<String>,
    /// Share of training rows per bin (sums to 1).
    pub expected: Vec<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

const FLOOR: f64 = 1e-4;

impl Profile {
    pub fn fit(schema: &Schema, values: &[f64]) -> Profile {
        let d = schema.fields.len();
        let n = values.len() / d.max(1);
        let fields = schema
            .fields
            .iter()
            .enumerate()
            .map(|(k, field)| {
                let column: Vec<f64> = (0..n).map(|i| values[i * d + k]).collect();
                let present: Vec<f64> = column.iter().copied().filter(|v| !v.is_nan()).collect();
                let (edges, mut bins, mean, min, max) = match &field.kind {
                    FieldKind::Categorical(c) => (Vec::new(), c.values.clone(), None, None, None),
                    FieldKind::Numeric(_) | FieldKind::Date(_) => {
                        let mut sorted = present.clone();
                        sorted.sort_by(f64::total_cmp);
                        let mut edges: Vec<f64> = Vec::new();
                        for q in 1..10 {
                            if sorted.is_empty() {
                                break;
                            }
                            let e = sorted[(q * (sorted.len() - 1)) / 10];
                            if edges.last() != Some(&e) {
                                edges.push(e);
                            }
                        }
                        let mut labels: Vec<String> = Vec::new();
                        let mut lo = f64::NEG_INFINITY;
                        for &e in &edges {
                            labels.push(if lo.is_finite() { format!("({lo}, {e}]") } else { format!("<= {e}") });
                            lo = e;
                        }
                        labels.push(if lo.is_finite() { format!("> {lo}") } else { "all".into() });
                        let mean = (!present.is_empty()).then(|| present.iter().sum::<f64>() / present.len() as f64);
                        (edges, labels, mean, sorted.first().copied(), sorted.last().copied())
                    }
                };
                bins.push("missing".into());
                let mut fp = FieldProfile {
                    name: field.name.clone(),
                    categorical: field.is_categorical(),
                    edges,
                    bins,
                    expected: Vec::new(),
                    mean,
                    min,
                    max,
                };
                let mut counts = vec![0u64; fp.bins.len()];
                for &v in &column {
                    counts[fp.bin_of(v)] += 1;
                }
                fp.expected = counts.iter().map(|&c| c as f64 / n.max(1) as f64).collect();
                fp
            })
            .collect();
        Profile { rows: n, fields }
    }
}

impl Profile {
    /// Replaces the shares with these bin counts (per field, per bin), counted over rows the
    /// edges were not all taken from.
    pub fn recount(&mut self, counts: &[Vec<u64>]) {
        for (f, c) in self.fields.iter_mut().zip(counts) {
            let total: u64 = c.iter().sum();
            f.expected = c.iter().map(|&n| n as f64 / total.max(1) as f64).collect();
            self.rows = total as usize;
        }
    }

    /// Checks a profile read from a bundle against the schema it should describe: one field per
    /// schema field, in order, each with at least the missing bin, shares for every bin, and
    /// numeric edges in order. A profile that fails is refused when the model loads.
    pub fn validate(&self, schema: &Schema) -> Result<(), String> {
        if self.fields.len() != schema.fields.len() {
            return Err(format!("{} fields where the schema has {}", self.fields.len(), schema.fields.len()));
        }
        for (f, field) in self.fields.iter().zip(&schema.fields) {
            let at = |m: String| format!("field `{}`: {m}", f.name);
            if f.name != field.name {
                return Err(format!("field `{}` where the schema has `{}`", f.name, field.name));
            }
            if f.bins.is_empty() || f.expected.len() != f.bins.len() {
                return Err(at(format!("{} bins and {} shares", f.bins.len(), f.expected.len())));
            }
            if f.categorical != field.is_categorical() {
                return Err(at("categorical in one and not the other".into()));
            }
            if f.categorical && f.bins.len() != field.levels().len() + 1 {
                return Err(at(format!("{} bins for {} levels (+1 missing)", f.bins.len(), field.levels().len())));
            }
            if !f.categorical && f.bins.len() != f.edges.len() + 2 {
                return Err(at(format!("{} bins for {} edges", f.bins.len(), f.edges.len())));
            }
            if f.edges.iter().any(|e| !e.is_finite()) || f.edges.windows(2).any(|w| w[0] >= w[1]) {
                return Err(at("bin edges out of order".into()));
            }
            if f.expected.iter().any(|e| !e.is_finite() || *e < 0.0) {
                return Err(at("a share that is not a number from 0".into()));
            }
        }
        Ok(())
    }
}

/// The last `capacity` customers seen by a server, as bins of one profile: the drift the
/// server reports is PSI of this window against the profile. A window belongs to the model
/// whose profile sized it, and is replaced with it.
#[derive(Debug)]
pub struct Window {
    bins: Vec<u16>,
    fields: usize,
    next: usize,
    filled: usize,
    capacity: usize,
    counts: Vec<Vec<u64>>,
}

impl Window {
    pub fn new(profile: &Profile, capacity: usize) -> Window {
        Window {
            bins: vec![0; capacity * profile.fields.len()],
            fields: profile.fields.len(),
            next: 0,
            filled: 0,
            capacity: capacity.max(1),
            counts: profile.fields.iter().map(|f| vec![0; f.bins.len()]).collect(),
        }
    }

    /// Adds customers' validated values (one per profile field).
    pub fn observe<'a>(&mut self, profile: &Profile, rows: impl Iterator<Item = &'a [f64]>) {
        for values in rows {
            let slot = self.next * self.fields;
            for (k, f) in profile.fields.iter().enumerate() {
                let b = f.bin_of(values[k]);
                if self.filled == self.capacity {
                    let old = self.bins[slot + k] as usize;
                    self.counts[k][old] -= 1;
                }
                self.bins[slot + k] = b as u16;
                self.counts[k][b] += 1;
            }
            self.next = (self.next + 1) % self.capacity;
            self.filled = (self.filled + 1).min(self.capacity);
        }
    }

    /// Customers in the window.
    pub fn len(&self) -> usize {
        self.filled
    }

    pub fn is_empty(&self) -> bool {
        self.filled == 0
    }

    /// PSI per field: (field, psi); fields without observations are left out.
    pub fn psi(&self, profile: &Profile) -> Vec<(String, f64)> {
        profile.fields.iter().zip(&self.counts).filter_map(|(f, c)| f.psi(c).map(|p| (f.name.clone(), p))).collect()
    }
}

impl FieldProfile {
    /// Bin of a validated value (a number, or a level index for categorical fields).
    #[inline]
    pub fn bin_of(&self, v: f64) -> usize {
        let missing = self.bins.len() - 1;
        if v.is_nan() {
            return missing;
        }
        if self.categorical {
            return (v as usize).min(missing - 1);
        }
        self.edges.iter().position(|&e| v <= e).unwrap_or(self.edges.len())
    }

    /// PSI of observed bin counts against the training shares; None without observations.
    pub fn psi(&self, counts: &[u64]) -> Option<f64> {
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        Some(
            self.expected
                .iter()
                .zip(counts)
                .map(|(&e, &c)| {
                    let a = (c as f64 / total as f64).max(FLOOR);
                    let e = e.max(FLOOR);
                    (a - e) * (a / e).ln()
                })
                .sum(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_distribution_has_small_psi_and_a_shift_has_large_psi() {
        let s = Schema::telco();
        let d = s.fields.len();
        let mut values = Vec::new();
        for i in 0..1000 {
            let mut r = s.default_values();
            r[s.field_index("tenure").unwrap()] = (i % 72) as f64;
            r[s.field_index("Contract").unwrap()] = (i % 3) as f64;
            values.extend(r);
        }
        let p = Profile::fit(&s, &values);
        assert_eq!(p.rows, 1000);
        let tenure = &p.fields[s.field_index("tenure").unwrap()];
        let mut same = vec![0u64; tenure.bins.len()];
        let mut shifted = vec![0u64; tenure.bins.len()];
        for i in 0..1000 {
            same[tenure.bin_of(values[i * d + s.field_index("tenure").unwrap()])] += 1;
            shifted[tenure.bin_of(70.0)] += 1;
        }
        assert!(tenure.psi(&same).unwrap() < 0.01);
        assert!(tenure.psi(&shifted).unwrap() > 1.0);
        let contract = &p.fields[s.field_index("Contract").unwrap()];
        assert_eq!(contract.bins, vec!["Month-to-month", "One year", "Two year", "missing"]);
        assert!((contract.expected[0] - 0.334).abs() < 0.01);
        assert_eq!(tenure.bin_of(f64::NAN), tenure.bins.len() - 1);
        assert!(p.validate(&s).is_ok());
        let mut window = Window::new(&p, 100);
        window.observe(&p, values.chunks(d).take(250));
        assert_eq!(window.len(), 100);
        assert!(window.psi(&p).iter().all(|(_, psi)| psi.is_finite()));
    }

    #[test]
    fn a_profile_that_does_not_fit_its_schema_is_refused() {
        let s = Schema::telco();
        let p = Profile::fit(&s, &s.default_values());
        let mut empty = p.clone();
        empty.fields[4].bins.clear();
        empty.fields[4].expected.clear();
        assert!(empty.validate(&s).unwrap_err().contains("0 bins"));
        let mut short = p.clone();
        short.fields.pop();
        assert!(short.validate(&s).is_err());
        let mut unordered = p;
        let k = s.field_index("tenure").unwrap();
        unordered.fields[k].edges = vec![5.0, 1.0];
        unordered.fields[k].bins = vec!["a".into(), "b".into(), "c".into(), "missing".into()];
        unordered.fields[k].expected = vec![0.25; 4];
        assert!(unordered.validate(&s).unwrap_err().contains("out of order"));
    }
}
