use crate::common::*;
use churn::schema::Schema;
use churn::table::Dataset;

#[test]
fn same_seed_same_bytes_and_other_seed_other_bytes() {
    let d = tmp();
    let a = std::fs::read(synth(d.path(), 5000, 7)).unwrap();
    let b = d.path().join("again.csv");
    run_ok(&["synth", "--rows", "5000", "--seed", "7", "--threads", "1", "--output", s(&b)]);
    assert_eq!(a, std::fs::read(&b).unwrap(), "output must not depend on the thread count");
    assert_ne!(a, std::fs::read(synth(d.path(), 5000, 8)).unwrap());
}

#[test]
fn synthetic_data_loads_under_the_telco_schema_with_the_real_quirks() {
    let d = tmp();
    let path = synth(d.path(), 60_000, 1);
    let data = Dataset::load(&path, &Schema::telco()).expect("synthetic rows are valid Telco rows");
    assert_eq!(data.len(), 60_000);
    let header = std::fs::read_to_string(&path).unwrap().lines().next().unwrap().to_string();
    let real = std::fs::read_to_string(telco_csv()).unwrap();
    assert_eq!(header, real.lines().next().unwrap().trim_end(), "same 21 columns in the same order");
    // The IBM quirk: a blank TotalCharges for customers with tenure 0, counted as a warning.
    let blanks =
        data.warnings.iter().find(|w| w.column.as_deref() == Some("TotalCharges")).expect("blank TotalCharges");
    assert!(blanks.count > 20, "{blanks:?}");
}

#[test]
fn synthetic_statistics_match_the_real_file() {
    let d = tmp();
    let schema = Schema::telco();
    let syn = Dataset::load(&synth(d.path(), 100_000, 3), &schema).unwrap();
    let real = Dataset::load(&telco_csv(), &schema).unwrap();
    let share = |data: &Dataset, field: &str, level: f64| {
        let k = schema.field_index(field).unwrap();
        (0..data.len()).filter(|&i| data.row(i)[k] == level).count() as f64 / data.len() as f64
    };
    let mean = |data: &Dataset, field: &str| {
        let k = schema.field_index(field).unwrap();
        (0..data.len()).map(|i| data.row(i)[k]).sum::<f64>() / data.len() as f64
    };
    let close =
        |what: &str, a: f64, b: f64, tol: f64| assert!((a - b).abs() <= tol, "{what}: synthetic {a:.4} vs real {b:.4}");
    close("churn rate", syn.positive_rate(), real.positive_rate(), 0.015);
    for (field, level) in [
        ("Contract", 0.0),
        ("Contract", 2.0),
        ("InternetService", 1.0),
        ("InternetService", 2.0),
        ("PaymentMethod", 2.0),
        ("SeniorCitizen", 1.0),
        ("PaperlessBilling", 1.0),
    ] {
        close(&format!("{field} level {level}"), share(&syn, field, level), share(&real, field, level), 0.03);
    }
    close("mean tenure", mean(&syn, "tenure"), mean(&real, "tenure"), 1.5);
    close("mean MonthlyCharges", mean(&syn, "MonthlyCharges"), mean(&real, "MonthlyCharges"), 3.0);
    // The main driver: churn is far higher on month-to-month contracts.
    let k = schema.field_index("Contract").unwrap();
    let rate = |data: &Dataset, c: f64| {
        let rows: Vec<usize> = (0..data.len()).filter(|&i| data.row(i)[k] == c).collect();
        rows.iter().filter(|&&i| data.labels[i] == 1).count() as f64 / rows.len() as f64
    };
    close("churn | month-to-month", rate(&syn, 0.0), rate(&real, 0.0), 0.06);
    close("churn | two year", rate(&syn, 2.0), rate(&real, 2.0), 0.03);
}

#[test]
fn parquet_output_reads_back_like_csv() {
    let d = tmp();
    let pq = d.path().join("c.parquet");
    run_ok(&["synth", "--rows", "3000", "--seed", "5", "--output", s(&pq)]);
    let csv = synth(d.path(), 3000, 5);
    let a = Dataset::load(&pq, &Schema::telco()).unwrap();
    let b = Dataset::load(&csv, &Schema::telco()).unwrap();
    assert_eq!(a.ids, b.ids);
    assert_eq!(a.labels, b.labels);
    // Blank TotalCharges load as missing (NaN), so compare bit patterns.
    assert_eq!(a.values.len(), b.values.len());
    let differing = a.values.iter().zip(&b.values).filter(|(x, y)| x.to_bits() != y.to_bits()).count();
    assert_eq!(differing, 0, "cells that differ between Parquet and CSV");
}
