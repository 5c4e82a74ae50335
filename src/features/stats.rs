//! What the pipeline learns from the training rows, counted batch by batch: the rows need never
//! be resident together, and the counts of a distributed job's workers add up to the whole
//! table's, so every worker fits the same pipeline.
//!
//! Per categorical field of up to `MANY_LEVELS` levels: each level's row count and a 128-bit
//! fingerprint of the set of rows holding it (the XOR of a hash of each row's number), and the
//! same for the rows where the field is missing. Two indicators are twins (or complements) when
//! their fingerprints say their row sets are equal, which is what comparing the rows bit by bit
//! said: XOR fingerprints of different sets agree with probability 2^-128. Per many-level field:
//! rows and churners per level in each search fold, for the churn rate (of all folds for new
//! rows, of the other folds for a training row).

use super::{level_counts_rates, MANY_LEVELS};
use crate::schema::{FieldKind, Schema};
use serde::{Deserialize, Serialize};

/// A set of rows, as the XOR of its rows' hashes.
pub type Fingerprint = [u64; 2];

/// The hash of row number `row` (globally unique: a worker's rows carry its rank in the high bits).
#[inline]
pub fn row_hash(row: u64) -> Fingerprint {
    [mix(row ^ 0x243f_6a88_85a3_08d3), mix(row.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x1319_8a2e_0370_7344)]
}

#[inline]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn xor(a: &mut Fingerprint, b: Fingerprint) {
    a[0] ^= b[0];
    a[1] ^= b[1];
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FieldStats {
    Numeric,
    /// Per level: rows holding it and their fingerprint; then the missing rows'.
    Levels {
        ones: Vec<u64>,
        sets: Vec<Fingerprint>,
        missing: u64,
        missing_set: Fingerprint,
    },
    /// Per search fold and level: rows and churners; per fold: all rows and churners (missing
    /// values included, as the overall rate counts them).
    ManyLevels {
        count: Vec<Vec<u64>>,
        positive: Vec<Vec<u64>>,
        rows: Vec<u64>,
        churners: Vec<u64>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipelineStats {
    pub folds: usize,
    pub rows: u64,
    /// Fingerprint of every training row.
    pub all: Fingerprint,
    pub fields: Vec<FieldStats>,
}

impl PipelineStats {
    /// Empty counts for `schema`'s fields over `folds` search folds.
    pub fn new(schema: &Schema, folds: usize) -> PipelineStats {
        let folds = folds.max(1);
        let fields = schema
            .fields
            .iter()
            .map(|f| match &f.kind {
                FieldKind::Categorical(spec) if spec.values.len() > MANY_LEVELS => {
                    let levels = spec.values.len();
                    FieldStats::ManyLevels {
                        count: vec![vec![0; levels]; folds],
                        positive: vec![vec![0; levels]; folds],
                        rows: vec![0; folds],
                        churners: vec![0; folds],
                    }
                }
                FieldKind::Categorical(spec) => {
                    let levels = spec.values.len();
                    FieldStats::Levels {
                        ones: vec![0; levels],
                        sets: vec![[0; 2]; levels],
                        missing: 0,
                        missing_set: [0; 2],
                    }
                }
                FieldKind::Numeric(_) | FieldKind::Date(_) => FieldStats::Numeric,
            })
            .collect();
        PipelineStats { folds, rows: 0, all: [0; 2], fields }
    }

    /// One training row: its values, label, search fold and global row number.
    #[inline]
    pub fn add(&mut self, values: &[f64], label: u8, fold: usize, row: u64) {
        let h = row_hash(row);
        self.rows += 1;
        xor(&mut self.all, h);
        for (stats, &v) in self.fields.iter_mut().zip(values) {
            match stats {
                FieldStats::Numeric => {}
                FieldStats::Levels { ones, sets, missing, missing_set } => {
                    if v.is_nan() {
                        *missing += 1;
                        xor(missing_set, h);
                    } else if let Some(n) = ones.get_mut(v as usize) {
                        *n += 1;
                        xor(&mut sets[v as usize], h);
                    }
                }
                FieldStats::ManyLevels { count, positive, rows, churners } => {
                    rows[fold] += 1;
                    churners[fold] += label as u64;
                    if !v.is_nan() {
                        count[fold][v as usize] += 1;
                        positive[fold][v as usize] += label as u64;
                    }
                }
            }
        }
    }

    /// Adds another part's counts (a batch counted apart, another worker's rows).
    pub fn merge(&mut self, other: &PipelineStats) {
        self.rows += other.rows;
        xor(&mut self.all, other.all);
        for (mine, theirs) in self.fields.iter_mut().zip(&other.fields) {
            match (mine, theirs) {
                (
                    FieldStats::Levels { ones, sets, missing, missing_set },
                    FieldStats::Levels { ones: o, sets: s, missing: m, missing_set: ms },
                ) => {
                    ones.iter_mut().zip(o).for_each(|(a, b)| *a += b);
                    sets.iter_mut().zip(s).for_each(|(a, b)| xor(a, *b));
                    *missing += m;
                    xor(missing_set, *ms);
                }
                (
                    FieldStats::ManyLevels { count, positive, rows, churners },
                    FieldStats::ManyLevels { count: c, positive: p, rows: r, churners: ch },
                ) => {
                    for (a, b) in count.iter_mut().flatten().zip(c.iter().flatten()) {
                        *a += b;
                    }
                    for (a, b) in positive.iter_mut().flatten().zip(p.iter().flatten()) {
                        *a += b;
                    }
                    rows.iter_mut().zip(r).for_each(|(a, b)| *a += b);
                    churners.iter_mut().zip(ch).for_each(|(a, b)| *a += b);
                }
                _ => {}
            }
        }
    }
}

/// A many-level field's shrunk churn rates from the counts of the folds `keep` accepts.
pub(super) fn rates_of(stats: &FieldStats, keep: impl Fn(usize) -> bool) -> Option<Vec<f32>> {
    let FieldStats::ManyLevels { count, positive, rows, churners } = stats else { return None };
    let levels = count.first().map_or(0, Vec::len);
    let (mut c, mut p) = (vec![0f64; levels], vec![0f64; levels]);
    let (mut all, mut all_pos) = (0f64, 0f64);
    for f in (0..count.len()).filter(|&f| keep(f)) {
        for l in 0..levels {
            c[l] += count[f][l] as f64;
            p[l] += positive[f][l] as f64;
        }
        all += rows[f] as f64;
        all_pos += churners[f] as f64;
    }
    Some(level_counts_rates(&c, &p, all, all_pos))
}

/// The level rates of each search fold's training rows: a training row is encoded with its
/// level's rate over the *other* folds, so no row's feature holds its own label.
#[derive(Debug, Clone, PartialEq)]
pub struct FoldRates {
    /// (model column, rates per fold)
    pub columns: Vec<(usize, Vec<Vec<f32>>)>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::Pipeline;

    /// A telco-shaped schema with a many-level field, and rows in which some indicators are
    /// twins of others.
    fn table(n: usize) -> (Schema, Vec<f64>, Vec<u8>, Vec<usize>) {
        let areas: Vec<String> = (0..30).map(|i| format!("\"A{i}\"")).collect();
        let text = format!(
            "name = \"t\"\n[target]\ncolumn = \"y\"\npositive = \"1\"\nnegative = \"0\"\n\
             [[field]]\nname = \"net\"\nkind = \"categorical\"\nvalues = [\"dsl\", \"fiber\", \"none\"]\nblank = \"missing\"\n\
             [[field]]\nname = \"tv\"\nkind = \"categorical\"\nvalues = [\"yes\", \"no\", \"no net\"]\nblank = \"missing\"\n\
             [[field]]\nname = \"area\"\nkind = \"categorical\"\nvalues = [{}]\n\
             [[field]]\nname = \"x\"\nkind = \"numeric\"\n",
            areas.join(", ")
        );
        let schema = Schema::from_toml(&text, "test").unwrap();
        let (mut values, mut labels, mut folds) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..n {
            // Both blank in the same rows, and "no net" exactly where net is "none": a twin the
            // pipeline drops.
            let net = if i % 50 == 0 { f64::NAN } else { (i * 7 % 3) as f64 };
            let tv = if net.is_nan() {
                f64::NAN
            } else if net == 2.0 {
                2.0
            } else {
                (i % 2) as f64
            };
            values.extend([net, tv, (i * 13 % 30) as f64, i as f64]);
            labels.push(((i * 31 % 7) < 2) as u8);
            folds.push(i % 5);
        }
        (schema, values, labels, folds)
    }

    #[test]
    fn counts_merged_from_parts_fit_the_pipeline_of_the_whole() {
        let (schema, values, labels, folds) = table(2000);
        let d = schema.fields.len();
        let mut whole = PipelineStats::new(&schema, 5);
        let mut parts = [PipelineStats::new(&schema, 5), PipelineStats::new(&schema, 5)];
        for (i, row) in values.chunks(d).enumerate() {
            whole.add(row, labels[i], folds[i], i as u64);
            parts[i % 2].add(row, labels[i], folds[i], i as u64);
        }
        let [mut a, b] = parts;
        a.merge(&b);
        assert_eq!(a, whole);
        let p = Pipeline::fit_from(&schema, &a);
        assert_eq!(p, Pipeline::fit_from(&schema, &whole));
        assert_eq!(p.fold_rates(&a), p.fold_rates(&whole));
        // The twin was found from the fingerprints alone.
        let names = p.feature_names();
        assert!(names.contains(&"net_none".to_string()), "{names:?}");
        assert!(!names.contains(&"tv_no net".to_string()), "{names:?}");
        assert_eq!(p, Pipeline::fit(&schema, &values, &labels));
    }
}
