//! Times XGBoost training through churn's wrapper on a numeric CSV (features..., label), for the
//! side-by-side benchmark with Python's XGBClassifier.fit on the same matrix and parameters.
//! usage: xgb_fit FILE.csv ROUNDS THREADS REPEATS name=value...

use churn::training::xgboost::{fit, FitOptions, Matrix};
use churn::training::BoostParams;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (file, rounds, threads, repeats) =
        (&args[1], args[2].parse().unwrap(), args[3].parse().unwrap(), args[4].parse().unwrap());
    let params = BoostParams::default().with_overrides(&args[5..]).expect("valid parameters");
    let mut r = csv::Reader::from_path(file).expect("the CSV opens");
    let n_cols = r.headers().unwrap().len();
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for rec in r.records() {
        let rec = rec.unwrap();
        for v in rec.iter().take(n_cols - 1) {
            x.push(v.parse::<f32>().unwrap());
        }
        y.push(rec[n_cols - 1].parse::<f64>().unwrap() as u8);
    }
    let base = y.iter().map(|&v| v as f64).sum::<f64>() / y.len() as f64;
    let mut times = Vec::new();
    for _ in 0..repeats {
        let opts = FitOptions {
            params: &params,
            max_rounds: rounds,
            early_stopping: None,
            seed: 42,
            threads,
            base_score: base,
            feature_names: None,
            track_train_curve: false,
        };
        let t = Instant::now();
        fit(&Matrix { x: &x, y: &y, n_features: n_cols - 1 }, None, &opts, |_| {}).expect("the fit runs");
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    println!(
        "{{\"fit_seconds_min\": {}, \"fit_seconds_median\": {}, \"rows\": {}, \"features\": {}}}",
        times[0],
        times[times.len() / 2],
        y.len(),
        n_cols - 1
    );
}
