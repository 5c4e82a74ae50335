//! train -> load -> predict: the served scorer equals XGBoost's own predictions and
//! contributions on the same booster.

use crate::support::*;
use churn::features::Pipeline;
use churn::ingest::Dataset;
use churn::schema::Schema;
use churn::training::rows::Roles;
use churn::training::xgboost;
use churn::training::{train, BoostParams, TrainOptions};

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn check(params: BoostParams, rows: u64) {
    check_seeds(params, rows, 1);
}

fn check_seeds(params: BoostParams, rows: u64, seeds: usize) {
    let d = tmp();
    let data = Dataset::load(&synth(d.path(), rows, 11), &Schema::telco()).unwrap();
    let opts =
        TrainOptions { trials: 0, threads: 1, base_params: params, seeds: Some(seeds), ..TrainOptions::default() };
    let roles = Roles::new(&data.labels, None, opts.folds, opts.seed);
    let trained = train(&data, &roles, &opts, &churn::progress::Silent).unwrap();
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

#[test]
fn depth_four_and_depth_eight_trees_match_xgboost() {
    check(BoostParams { max_depth: 4, eta: 0.1, colsample_bynode: 0.8, ..BoostParams::default() }, 3000);
    check(BoostParams { max_depth: 8, eta: 0.1, min_child_weight: 0.5, ..BoostParams::default() }, 3000);
}

#[test]
fn averaged_seeds_match_xgboost() {
    let p = BoostParams { max_depth: 4, eta: 0.1, subsample: 0.7, colsample_bynode: 0.7, ..BoostParams::default() };
    check_seeds(p, 3000, 3);
    check_seeds(BoostParams::default(), 3000, 2);
}

/// The averaged model's margin is the mean of the single fits' margins, and its trees are theirs.
#[test]
fn averaged_model_is_the_mean_of_its_fits() {
    use churn::training::xgboost::average;
    let d = tmp();
    let (data, x, m) = encoded(d.path(), 5);
    let params = BoostParams { max_depth: 3, subsample: 0.6, colsample_bynode: 0.6, ..BoostParams::default() };
    let boosters: Vec<_> = (0..3).map(|seed| fit_booster(&data, &x, &params, 40, seed)).collect();
    let forests: Vec<_> =
        boosters.iter().map(|b| churn::forest::Forest::from_bytes(&xgboost::to_ubj(b).unwrap()).unwrap()).collect();
    assert!(
        forests[0].n_trees() == 40 && forests[0].predict(&x[..m]) != forests[1].predict(&x[..m]),
        "seeds must differ"
    );
    let merged = average(boosters).unwrap();
    let forest = churn::forest::Forest::from_bytes(&xgboost::to_ubj(&merged).unwrap()).unwrap();
    assert_eq!(forest.n_trees(), 120);
    let theirs = xgboost::predict(&merged, &x, data.len()).unwrap();
    for (i, row) in x.chunks(m).enumerate() {
        let mean = forests.iter().map(|f| f.margin(row)).sum::<f32>() / 3.0;
        assert!((forest.margin(row) - mean).abs() < 1e-5, "row {i}: {} vs mean {mean}", forest.margin(row));
        assert!((theirs[i] - churn::forest::sigmoid(mean)).abs() < 1e-6, "row {i}: XGBoost disagrees");
    }
}

/// After a search the final model is the chosen set at half its rate, with twice 1.2x its
/// cross-validated rounds (capped by twice `max_rounds`), averaged over three seeds.
#[test]
fn the_final_fit_after_a_search_is_slower_longer_and_averaged() {
    let d = tmp();
    let data = Dataset::load(&synth(d.path(), 2000, 3), &Schema::telco()).unwrap();
    for max_rounds in [5000, 20] {
        let opts = TrainOptions { trials: 3, threads: 2, max_rounds, time_budget: None, ..TrainOptions::default() };
        let roles = Roles::new(&data.labels, None, opts.folds, opts.seed);
        let trained = train(&data, &roles, &opts, &churn::progress::Silent).unwrap();
        let chosen = &trained.trials[trained.chosen_trial];
        assert_eq!(trained.params, BoostParams { eta: chosen.params.eta / 2.0, ..chosen.params.clone() });
        let cv = (chosen.rounds as f64 * 1.2).round() as usize;
        assert_eq!(trained.rounds, 2 * cv.min(max_rounds), "cv rounds {} / cap {max_rounds}", chosen.rounds);
        assert_eq!(trained.seeds, 3);
        // A stacked model holds every member's averaged fits.
        let trees = trained.blend.as_ref().map_or(trained.rounds, |b| b.members.iter().map(|m| m.rounds).sum());
        assert_eq!(trained.forest.n_trees(), trees * 3);
        if let Some(b) = &trained.blend {
            assert_eq!(b.members[0].trial, trained.chosen_trial + 1, "the chosen set leads the blend");
            assert!(b.oof_log_loss_after < b.oof_log_loss_before);
        }
        let eta = trained.xgboost_params.iter().find(|(k, _)| k == "eta").map(|(_, v)| v.parse::<f64>().unwrap());
        assert_eq!(eta, Some(chosen.params.eta / 2.0), "the tracked eta is the final fit's");
    }
}

/// A blend of fits of different parameter sets is one XGBoost model whose margin is the
/// intercept plus the weighted margins of its members (the base score moved to match), read
/// the same by XGBoost, by its contributions and by the served forest.
#[test]
fn a_blend_is_the_weighted_margin_of_its_members_plus_the_intercept() {
    use churn::training::xgboost::blend;
    let d = tmp();
    let (data, x, m) = encoded(d.path(), 6);
    let members = [
        (fit_booster(&data, &x, &BoostParams::default(), 30, 1), 0.7),
        (fit_booster(&data, &x, &BoostParams::shallow_interactions(), 20, 1), 0.45),
        (fit_booster(&data, &x, &BoostParams::interactions(), 10, 1), 0.2),
    ];
    let forests: Vec<_> =
        members.iter().map(|(b, _)| churn::forest::Forest::from_bytes(&xgboost::to_ubj(b).unwrap()).unwrap()).collect();
    let intercept = 0.25;
    let merged = blend(members.into_iter().collect(), intercept).unwrap();
    let forest = churn::forest::Forest::from_bytes(&xgboost::to_ubj(&merged).unwrap()).unwrap();
    assert_eq!(forest.n_trees(), 60);
    let theirs = xgboost::predict(&merged, &x, data.len()).unwrap();
    let contributions = xgboost::contributions(&merged, &x, data.len()).unwrap();
    let mut ours = vec![0f32; m + 1];
    let mut scratch = churn::forest::shap::Scratch::default();
    for (i, row) in x.chunks(m).enumerate() {
        forest.contributions(row, &mut ours, &mut scratch);
        let d = max_diff(&ours, &contributions[i * (m + 1)..(i + 1) * (m + 1)]);
        assert!(d <= 1e-6, "row {i}: the stack's contributions differ from XGBoost's by {d}");
        let expected = intercept as f32
            + 0.7 * forests[0].margin(row)
            + 0.45 * forests[1].margin(row)
            + 0.2 * forests[2].margin(row);
        assert!((forest.margin(row) - expected).abs() < 1e-4, "row {i}: {} vs {expected}", forest.margin(row));
        assert!((theirs[i] - churn::forest::sigmoid(expected)).abs() < 1e-5, "row {i}: XGBoost disagrees");
        let total: f32 = contributions[i * (m + 1)..(i + 1) * (m + 1)].iter().sum();
        assert!((total - expected).abs() < 1e-4, "row {i}: contributions sum to {total}, margin {expected}");
    }
}

/// 2,000 synthetic customers, validated and encoded: the dataset, its model inputs, their width.
fn encoded(dir: &std::path::Path, seed: u64) -> (Dataset, Vec<f32>, usize) {
    let data = Dataset::load(&synth(dir, 2000, seed), &Schema::telco()).unwrap();
    let pipeline = Pipeline::fit(&data.schema, &data.values, &data.labels);
    let x = pipeline.encode_rows(&data.values);
    let m = pipeline.n_features();
    (data, x, m)
}

/// One plain XGBoost fit of `params` for `rounds` rounds on all rows.
fn fit_booster(data: &Dataset, x: &[f32], params: &BoostParams, rounds: usize, seed: u64) -> xgboost::Booster {
    use churn::training::xgboost::{fit, FitOptions, Matrix};
    let opts = FitOptions {
        params,
        max_rounds: rounds,
        early_stopping: None,
        seed,
        threads: 1,
        base_score: data.positive_rate(),
        feature_names: None,
        track_train_curve: false,
    };
    let m = x.len() / data.len();
    fit(&Matrix { x, y: &data.labels, n_features: m }, None, &opts, |_| {}).unwrap().booster
}
