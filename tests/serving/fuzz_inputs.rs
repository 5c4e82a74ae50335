//! Every loader and request parser refuses bad input with a message, never a panic.
//!
//! A mutation fuzzer with a fixed seed: valid inputs from `tests/fuzz/corpus/<target>/` (model
//! files in JSON and UBJ, MLmodel, pipeline.json, profile.json, schema TOML, request bodies)
//! are cut, spliced, bit-flipped and stuffed with bytes parsers trip on, and each variant goes
//! through the real entry point under `catch_unwind`. Any input that panics is written to
//! `target/fuzz-crashes/<target>/` and fails the test; such inputs are then kept in the corpus
//! as regressions. `CHURN_FUZZ_ROUNDS` sets the rounds per target (CI runs the default).

use churn::bundle;
use churn::drift::Profile;
use churn::features::Pipeline;
use churn::forest::Forest;
use churn::ingest::{body, mlflow, Gate};
use churn::schema::Schema;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A small, fast, seeded generator (xorshift64*): the same rounds on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const TRICKY: &[&[u8]] = &[
    b"\"",
    b"[",
    b"{",
    b"]",
    b"}",
    b",",
    b":",
    b"\\",
    b"\n",
    b"\r\n",
    b"\0",
    b"NaN",
    b"-1",
    b"1e308",
    b"9999999999",
    b"[[[[[[[[[[[[[[[[[[[[[[[[[[",
    b"\xff\xfe",
    b"'",
    b"=",
    b"[[field]]",
    b"U",
    b"Z",
    b"$",
    b"#",
    b"l",
    b"L",
    b"d",
];

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut v = seeds[rng.below(seeds.len())].clone();
    for _ in 0..1 + rng.below(4) {
        let len = v.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                v[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                v[i] = rng.next() as u8;
            }
            2 if len > 1 => {
                let a = rng.below(len);
                let b = (a + 1 + rng.below(64)).min(len);
                v.drain(a..b);
            }
            3 => {
                let i = rng.below(len + 1);
                let t = TRICKY[rng.below(TRICKY.len())];
                v.splice(i..i, t.iter().copied());
            }
            4 if len > 1 => {
                let a = rng.below(len);
                let b = (a + 1 + rng.below(256)).min(len);
                let chunk = v[a..b].to_vec();
                let at = rng.below(len);
                v.splice(at..at, chunk);
            }
            5 if len > 0 => v.truncate(rng.below(len)),
            _ => {
                let other = &seeds[rng.below(seeds.len())];
                if !other.is_empty() {
                    let a = rng.below(other.len());
                    let at = rng.below(len + 1);
                    v.splice(at..at, other[a..].iter().take(128).copied());
                }
            }
        }
    }
    v
}

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = root().join("tests/fuzz/corpus").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    let seeds: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
    seeds
}

fn rounds() -> usize {
    std::env::var("CHURN_FUZZ_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(3000)
}

/// Runs `check` on every seed and `rounds()` mutants; fails with the inputs that panicked.
fn fuzz(target: &str, check: impl Fn(&[u8])) {
    let seeds = corpus(target);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ target.len() as u64);
    let mut crashes = Vec::new();
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let inputs = seeds.iter().cloned().chain((0..rounds()).map(|_| mutate(&mut rng, &seeds)));
    for input in inputs {
        if catch_unwind(AssertUnwindSafe(|| check(&input))).is_err() {
            crashes.push(input);
        }
    }
    std::panic::set_hook(prev);
    if !crashes.is_empty() {
        let dir = root().join("target/fuzz-crashes").join(target);
        std::fs::create_dir_all(&dir).unwrap();
        for (i, c) in crashes.iter().enumerate() {
            std::fs::write(dir.join(format!("crash-{i}")), c).unwrap();
        }
        panic!("{target}: {} inputs panicked (written to {})", crashes.len(), dir.display());
    }
}

#[test]
fn model_files_json_and_ubj() {
    fuzz("model", |b| {
        let _ = Forest::from_bytes(b);
    });
}

#[test]
fn mlmodel_files() {
    fuzz("mlmodel", |b| {
        let _ = bundle::mlmodel::parse(&String::from_utf8_lossy(b));
    });
}

#[test]
fn pipeline_json() {
    fuzz("pipeline", |b| {
        if let Ok(p) = serde_json::from_slice::<Pipeline>(b) {
            if p.validate().is_ok() {
                // A pipeline that validates must encode any row of its schema.
                let row = p.schema.default_values();
                let mut out = vec![0f32; p.n_features()];
                p.encode(&row, &mut out);
            }
        }
    });
}

#[test]
fn profile_json() {
    let schema = Schema::telco();
    fuzz("profile", |b| {
        if let Ok(p) = serde_json::from_slice::<Profile>(b) {
            if p.validate(&schema).is_ok() {
                let mut w = churn::drift::Window::new(&p, 10);
                let row = schema.default_values();
                w.observe(&p, std::iter::once(row.as_slice()));
                let _ = w.psi(&p);
            }
        }
    });
}

#[test]
fn schema_toml() {
    fuzz("schema", |b| {
        if let Ok(s) = Schema::from_toml(&String::from_utf8_lossy(b), "fuzz") {
            let _ = Pipeline::fit(&s, &s.default_values(), &[1]);
        }
    });
}

#[test]
fn request_bodies_json_csv_and_mlflow() {
    let gate = Gate::new(Schema::telco());
    let columns = Gate::new(Schema::for_columns(&["a".into(), "b".into()]));
    fuzz("bodies", |b| {
        let _ = body::json(&gate, b, 100);
        let _ = body::csv(&gate, bytes::Bytes::copy_from_slice(b), 100);
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(b) {
            if let Ok(records) = mlflow::json_records(v, &["a".into(), "b".into()]) {
                let _ = mlflow::rows(Some(&gate), &columns, mlflow::Records::Json(records), 100);
            }
        }
        let _ = mlflow::rows(Some(&gate), &columns, mlflow::Records::Csv(bytes::Bytes::copy_from_slice(b)), 100);
    });
}

/// A whole bundle folder with one mutated file: `bundle::open` answers, never panics.
#[test]
fn bundle_folders() {
    let fixture = root().join("tests/fixtures/model");
    let files =
        ["churn/pipeline.json", "churn/profile.json", "churn/metadata.json", "churn/evaluation.json", "MLmodel"];
    let mut rng = Rng(42);
    let d = tempfile::tempdir().unwrap();
    let copy = d.path().join("model");
    let cp = std::process::Command::new("cp").arg("-r").arg(&fixture).arg(&copy).status().unwrap();
    assert!(cp.success());
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut crashes = Vec::new();
    for round in 0..rounds() / 10 {
        let f = files[round % files.len()];
        let original = std::fs::read(fixture.join(f)).unwrap();
        let mutant = mutate(&mut rng, std::slice::from_ref(&original));
        std::fs::write(copy.join(f), &mutant).unwrap();
        if catch_unwind(AssertUnwindSafe(|| {
            bundle::open(&copy).map(|m| churn::scoring::Scorer::new(m, bundle::Resolved::local(&copy, "fuzz")))
        }))
        .is_err()
        {
            crashes.push((f, mutant));
        }
        std::fs::write(copy.join(f), &original).unwrap();
    }
    std::panic::set_hook(prev);
    assert!(crashes.is_empty(), "bundle::open panicked on {} mutated files, e.g. {}", crashes.len(), crashes[0].0);
}
