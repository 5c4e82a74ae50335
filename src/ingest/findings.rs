//! What reading a labelled table finds besides its rows, counted as the rows stream by so that
//! no finding needs the table resident: blanks and missing-value tokens by field, rows identical
//! to an earlier one, duplicate customer ids (an error), and fields that alone separate the
//! target (leakage?). Everything but the duplicate searches merges across the parts of a table
//! read apart (the workers of a distributed job), so every worker reports the same findings.
//!
//! Rows and ids are told apart by 128-bit hashes (two independent 64-bit ones), so that the
//! search needs 24 bytes a row instead of the row: two different rows share a hash with a
//! probability far below one in 10^20 for any table that fits on a disk.

use super::{DataError, Location, Warning, WarningCounter};
use crate::schema::separation::Separation;
use crate::schema::Schema;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A 128-bit hash of a row's values or of an id.
type Key = [u64; 2];

/// Streams words into two independent 64-bit hashes.
struct Hash2(u64, u64);

impl Hash2 {
    fn new() -> Hash2 {
        Hash2(0x9e37_79b9_7f4a_7c15, 0xc2b2_ae3d_27d4_eb4f)
    }

    #[inline]
    fn word(&mut self, w: u64) {
        self.0 = mix(self.0 ^ w).wrapping_mul(0xff51_afd7_ed55_8ccd);
        self.1 =
            mix(self.1.rotate_left(29) ^ w.wrapping_mul(0x9e37_79b9_7f4a_7c15)).wrapping_add(0x1656_67b1_9e37_79f9);
    }

    fn bytes(&mut self, b: &[u8]) {
        for chunk in b.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.word(u64::from_le_bytes(w));
        }
        self.word(b.len() as u64);
    }

    fn finish(&self) -> Key {
        [mix(self.0), mix(self.1 ^ 0x2545_f491_4f6c_dd1d)]
    }
}

/// splitmix64's finaliser: every input bit moves every output bit.
#[inline]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The findings that merge across parts of a table: counted warnings and each field's
/// separation of the target.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Findings {
    pub warnings: WarningCounter,
    pub separations: Vec<Separation>,
    pub rows: usize,
}

impl Findings {
    pub fn new(schema: &Schema) -> Findings {
        Findings {
            warnings: WarningCounter::default(),
            separations: schema.fields.iter().map(|f| Separation::new(f.is_categorical())).collect(),
            rows: 0,
        }
    }

    /// One valid row's values and label, for the leakage screen.
    #[inline]
    pub fn row(&mut self, values: &[f64], label: u8) {
        for (s, &v) in self.separations.iter_mut().zip(values) {
            s.add(v, label == 1);
        }
        self.rows += 1;
    }

    /// Adds another part's findings (a later part's examples count after this part's).
    pub fn merge(&mut self, other: Findings) {
        self.warnings.merge(other.warnings);
        for (mine, theirs) in self.separations.iter_mut().zip(other.separations) {
            mine.merge(theirs);
        }
        self.rows += other.rows;
    }

    /// The warnings of the whole table: the counted ones, then a LEAKAGE? warning for every
    /// field that alone separates the target almost perfectly.
    pub fn into_warnings(self, schema: &Schema) -> Vec<Warning> {
        let mut warnings = self.warnings;
        for (field, s) in schema.fields.iter().zip(&self.separations) {
            if let Some(auc) = s.auc().filter(|&a| a >= crate::schema::infer::LEAKAGE_AUC) {
                warnings.add_n(
                    "LEAKAGE? the field alone separates the target (add it to `ignore` in the schema unless it is known before the customer leaves)",
                    Some(&field.name),
                    self.rows,
                    format!("ROC AUC {auc:.3} on its own"),
                );
            }
        }
        warnings.into_warnings()
    }
}

/// Rows identical to an earlier one, and customer ids seen twice, found as the rows stream by.
#[derive(Default)]
pub struct Repeats {
    rows: FxHashMap<Key, Location>,
    ids: FxHashMap<Key, Location>,
    repeated_rows: usize,
    row_example: Option<(Location, Location)>,
    repeated_ids: usize,
    first_id: Option<(String, Location, Location)>,
}

impl Repeats {
    pub fn with_capacity(rows: usize, ids: bool) -> Repeats {
        Repeats {
            rows: FxHashMap::with_capacity_and_hasher(rows, Default::default()),
            ids: FxHashMap::with_capacity_and_hasher(if ids { rows } else { 0 }, Default::default()),
            ..Repeats::default()
        }
    }

    /// One valid row: its values (the id left out) and its id ("" without one).
    #[inline]
    pub fn row(&mut self, values: &[f64], id: &str, at: Location) {
        let mut h = Hash2::new();
        values.iter().for_each(|v| h.word(v.to_bits()));
        match self.rows.entry(h.finish()) {
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(at);
            }
            std::collections::hash_map::Entry::Occupied(e) => {
                self.repeated_rows += 1;
                self.row_example.get_or_insert((at, *e.get()));
            }
        }
        if id.is_empty() {
            return;
        }
        let mut h = Hash2::new();
        h.bytes(id.as_bytes());
        match self.ids.entry(h.finish()) {
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(at);
            }
            std::collections::hash_map::Entry::Occupied(e) => {
                self.repeated_ids += 1;
                if self.first_id.is_none() {
                    self.first_id = Some((id.to_string(), *e.get(), at));
                }
            }
        }
    }

    /// The repeated rows as a counted warning, or the first duplicate id as an error.
    pub fn finish(
        self,
        path: &Path,
        id_column: Option<&str>,
        has_ids: bool,
        warnings: &mut WarningCounter,
    ) -> Result<(), DataError> {
        if let (Some((id, first, second)), Some(column)) = (self.first_id, id_column) {
            return Err(DataError::DuplicateIds {
                path: path.to_path_buf(),
                column: column.to_string(),
                id,
                first,
                second,
                total: self.repeated_ids,
            });
        }
        let kind =
            if has_ids { "row identical to an earlier one but for the id" } else { "row identical to an earlier one" };
        if let Some((later, earlier)) = self.row_example {
            warnings.add_n(kind, None, self.repeated_rows, format!("{later} repeats {earlier}"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_rows_are_counted_with_the_first_repeat_as_example() {
        // Rows a b a c b a (two fields; NaN equals NaN, 0.0 and -0.0 differ as stored).
        let (a, b, c) = ([1.0, f64::NAN], [2.0, 0.0], [2.0, -0.0]);
        let mut r = Repeats::default();
        for (i, row) in [a, b, a, c, b, a].iter().enumerate() {
            r.row(row, "", Location::Line(i as u64 + 2));
        }
        let mut w = WarningCounter::default();
        r.finish(Path::new("t.csv"), None, false, &mut w).unwrap();
        let warnings = w.into_warnings();
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].kind, "row identical to an earlier one");
        assert_eq!(warnings[0].count, 3);
        assert_eq!(warnings[0].example, "line 4 repeats line 2");

        let mut r = Repeats::default();
        for (i, row) in [a, b, c].iter().enumerate() {
            r.row(row, &format!("id{i}"), Location::Line(i as u64 + 2));
        }
        let mut w = WarningCounter::default();
        r.finish(Path::new("t.csv"), Some("id"), true, &mut w).unwrap();
        assert!(w.into_warnings().is_empty(), "no repeats, no warning");
    }

    #[test]
    fn a_duplicate_id_is_an_error_naming_both_lines() {
        let mut r = Repeats::default();
        for (i, id) in ["a", "b", "a", "b", "a"].iter().enumerate() {
            r.row(&[i as f64], id, Location::Line(i as u64 + 2));
        }
        let err = r.finish(Path::new("t.csv"), Some("customerID"), true, &mut WarningCounter::default()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("\"a\"") && msg.contains("line 2") && msg.contains("line 4"), "{msg}");
        assert!(msg.contains("3 duplicate ids"), "{msg}");
    }

    #[test]
    fn hashes_of_close_inputs_differ() {
        let key = |w: &[u64]| {
            let mut h = Hash2::new();
            w.iter().for_each(|&x| h.word(x));
            h.finish()
        };
        let mut seen = std::collections::HashSet::new();
        for i in 0..100_000u64 {
            assert!(seen.insert(key(&[i, 0])));
            assert!(seen.insert(key(&[0, i + 1])));
        }
    }
}
