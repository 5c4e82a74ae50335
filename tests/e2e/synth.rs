use crate::support::*;
use churn::ingest::Dataset;
use churn::schema::Schema;

/// The header line of the published IBM Telco file.
const IBM_HEADER: &str = "customerID,gender,SeniorCitizen,Partner,Dependents,tenure,PhoneService,MultipleLines,InternetService,OnlineSecurity,OnlineBackup,DeviceProtection,TechSupport,StreamingTV,StreamingMovies,Contract,PaperlessBilling,PaymentMethod,MonthlyCharges,TotalCharges,Churn";

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
    assert_eq!(header, IBM_HEADER, "the IBM file's 21 columns in its order");
    // The IBM quirk: a blank TotalCharges for customers with tenure 0, counted as a warning.
    let blanks =
        data.warnings.iter().find(|w| w.column.as_deref() == Some("TotalCharges")).expect("blank TotalCharges");
    assert!(blanks.count > 20, "{blanks:?}");
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
