//! Times one customer's exact reasons (TreeSHAP contributions) on one thread, row after row,
//! with the served algorithm and with the recursive one XGBoost used before 3.3, on a bundle and
//! a CSV of its customers; checks that both agree within 1e-6.
//! usage: explain_speed BUNDLE FILE.csv [ROWS]

use churn::ingest::Dataset;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let model = churn::bundle::open(std::path::Path::new(&args[1])).expect("the bundle opens");
    let pipeline = model.pipeline().expect("a churn bundle");
    let rows: usize = args.get(3).map_or(1000, |r| r.parse().expect("a row count"));
    let data = Dataset::load(std::path::Path::new(&args[2]), &pipeline.schema).expect("the table loads");
    let m = pipeline.n_features();
    let x = pipeline.encode_rows(&data.values);
    let x = &x[..rows.min(data.len()) * m];
    let f = &model.forest;
    let mut scratch = churn::forest::shap::Scratch::default();
    let (mut a, mut b) = (vec![0f32; m + 1], vec![0f32; m + 1]);
    let mut worst = 0f32;
    for row in x.chunks(m) {
        f.contributions(row, &mut a, &mut scratch);
        f.contributions_by_recursion(row, &mut b, &mut scratch);
        worst = a.iter().zip(&b).map(|(p, q)| (p - q).abs()).fold(worst, f32::max);
    }
    let time = |served: bool, scratch: &mut churn::forest::shap::Scratch, out: &mut [f32]| {
        let mut best = f64::INFINITY;
        for _ in 0..5 {
            let t = Instant::now();
            for row in x.chunks(m) {
                if served {
                    f.contributions(row, out, scratch);
                } else {
                    f.contributions_by_recursion(row, out, scratch);
                }
            }
            best = best.min(t.elapsed().as_secs_f64() / (x.len() / m) as f64);
        }
        best * 1e6
    };
    let served = time(true, &mut scratch, &mut a);
    let recursive = time(false, &mut scratch, &mut b);
    println!(
        "{{\"trees\": {}, \"max_depth\": {}, \"rows\": {}, \"served_us\": {served:.1}, \"recursive_us\": {recursive:.1}, \"speedup\": {:.2}, \"max_abs_difference\": {worst:e}}}",
        f.n_trees(),
        f.max_depth(),
        x.len() / m,
        recursive / served
    );
}
