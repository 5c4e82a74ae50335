//! train -> load -> predict: the served scorer equals XGBoost's own predictions and
//! contributions on the same booster.

use crate::support::*;
use churn::features::Pipeline;
use churn::ingest::Dataset;
use churn::schema::Schema;
use churn::training::xgboost;
use churn::training::{train, BoostParams, TrainOptions};

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn check(params: BoostParams, rows: u64) {
    let d = tmp();
    let data = Dataset::load(&synth(d.path(), rows, 11), &Schema::telco()).unwrap();
    let opts = TrainOptions { trials: 0, threads: 1, base_params: params, ..TrainOptions::default() };
    let trained = train(&data, &opts, None, &churn::progress::Silent).unwrap();
    // Through the bundle on disk, as serve and predict load it.
    let dir = d.path().join("bundle");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("model.ubj"), &trained.model_ubj).unwrap();
    std::fs::create_dir_all(dir.join("churn")).unwrap();
    std::fs::write(dir.join("churn/pipeline.json"), serde_json::to_string(&trained.pipeline).unwrap()).unwrap();
    let model = churn::bundle::open(&dir).unwrap();
    let pipeline: &Pipeline = model.pipeline().unwrap();
    let x = pipeline.encode_rows(&data.values);
    let m = pipeline.n_features();
    let n = data.len();

    let booster = xgboost::from_bytes(&std::fs::read(dir.join("model.ubj")).unwrap()).unwrap();
    let theirs = xgboost::predict(&booster, &x, n).unwrap();
    let ours: Vec<f32> = x.chunks(m).map(|r| model.forest.predict(r)).collect();
    assert!(max_diff(&ours, &theirs) <= 1e-6, "probabilities differ by {}", max_diff(&ours, &theirs));

    let theirs = xgboost::contributions(&booster, &x, n).unwrap();
    let mut ours = vec![0f32; n * (m + 1)];
    let mut scratch = churn::forest::shap::Scratch::default();
    for (row, out) in x.chunks(m).zip(ours.chunks_mut(m + 1)) {
        model.forest.contributions(row, out, &mut scratch);
    }
    assert!(max_diff(&ours, &theirs) <= 1e-6, "contributions differ by {}", max_diff(&ours, &theirs));
}

#[test]
fn stumps_match_xgboost() {
    check(BoostParams::default(), 3000);
}

#[test]
fn deep_trees_with_missing_values_match_xgboost() {
    let p = BoostParams { max_depth: 6, eta: 0.1, colsample_bynode: 0.7, ..BoostParams::default() };
    check(p, 4000);
}
