//! Prints the outer fold of every row of a labelled table, one line per repeat, exactly as
//! `churn evaluate` assigns them: lets bench/fold_noise.py score another stack on churn's folds.
//! usage: cv_folds FILE [--schema FILE] [--folds K] [--repeats R] [--seed S]

use churn::evaluation::split;
use churn::ingest::Dataset;
use churn::schema::Schema;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| args.iter().position(|a| a == name).map(|i| args[i + 1].clone());
    let num = |name: &str, default: u64| flag(name).map_or(default, |v| v.parse().expect("a whole number"));
    let schema_path = flag("--schema").map(std::path::PathBuf::from);
    let schema = Schema::load_or_default(schema_path.as_deref()).unwrap_or_else(|e| panic!("{e}"));
    let data = Dataset::load(std::path::Path::new(&args[1]), &schema).unwrap_or_else(|e| panic!("{e}"));
    let (k, repeats, seed) = (num("--folds", 5) as usize, num("--repeats", 3) as usize, num("--seed", 0));
    for folds in split::repeated_fold_ids(&data.labels, k, repeats, seed) {
        println!("{}", folds.iter().map(|f| f.to_string()).collect::<Vec<_>>().join(","));
    }
}
