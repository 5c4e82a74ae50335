//! churn: a customer-churn system for telecom operators in one binary.
//!
//! Layers, each importing only the ones above it in this list (checked by `layers` below):
//! 1. foundations: `schema` (the TOML schema, one value's validation), `random` (seeded
//!    streams), `atomic` (whole-or-absent writes), `cache`, `heap`, `http_client`, `parallel`,
//!    `progress`;
//! 2. `table` (CSV and Parquet cells in and out), `features` (the one feature pipeline),
//!    `evaluation` (metrics, splits, thresholds, tables), `drift` (training profile, PSI);
//! 3. `ingest` (the one gate every row passes), `forest` (the pure-Rust XGBoost scorer, exact
//!    TreeSHAP, reasons), `synth` (the calibrated Telco generator);
//! 4. `bundle`: the model bundle's on-disk format and file names, MLflow's model files;
//! 5. `scoring`: a loaded model scoring customers, one or a whole file;
//! 6. `training` (XGBoost, tuning, the training service), `tracking` (MLflow's stores, REST
//!    client, model URIs), `report` (the training report), `monitoring` (did predictions come
//!    true: realized metrics, drift, a verdict);
//! 7. `server`: the HTTP API and the web UI (transport only);
//! 8. `cli`: the `churn` command line, thin callers of the above.
//!
//! No function of the library runs past clippy's `too_many_lines` (100): a function a reader holds
//! in mind. CI's clippy runs with `-D warnings`, so this holds.
#![warn(clippy::too_many_lines)]

pub mod atomic;
pub mod bundle;
pub mod cache;
pub mod cli;
pub mod drift;
pub mod evaluation;
pub mod features;
pub mod forest;
pub mod heap;
pub mod http_client;
pub mod ingest;
pub mod monitoring;
pub mod parallel;
pub mod progress;
pub mod random;
#[cfg(feature = "report")]
pub mod report;
pub mod schema;
pub mod scoring;
pub mod server;
pub mod synth;
pub mod table;
pub mod tracking;
pub mod training;

/// The layers point one way: a module imports only modules of a lower layer, so the core knows
/// nothing of training, MLflow, reports, HTTP or the command line, and no two modules depend on
/// each other. Checked on the source itself.
#[cfg(test)]
mod layers {
    const LAYERS: &[&[&str]] = &[
        &["atomic", "cache", "heap", "http_client", "parallel", "progress", "random", "schema"],
        &["table", "drift", "evaluation", "features"],
        &["ingest", "forest", "synth"],
        &["bundle"],
        &["scoring"],
        &["training", "tracking", "report", "monitoring"],
        &["server"],
        &["cli"],
    ];

    fn layer(m: &str) -> Option<usize> {
        LAYERS.iter().position(|l| l.contains(&m))
    }

    /// Top-level modules named by `crate::` paths in a file's code (comments left out).
    fn imports(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for line in text.lines() {
            let code = line.split("//").next().unwrap_or("");
            let mut rest = code;
            while let Some(i) = rest.find("crate::") {
                rest = &rest[i + "crate::".len()..];
                if let Some(group) = rest.strip_prefix('{') {
                    let end = group.find('}').unwrap_or(group.len());
                    for item in group[..end].split(',') {
                        out.push(item.trim().split("::").next().unwrap_or("").to_string());
                    }
                } else {
                    out.push(rest.split(|c: char| !(c.is_alphanumeric() || c == '_')).next().unwrap_or("").to_string());
                }
            }
        }
        out.retain(|m| !m.is_empty());
        out
    }

    fn files(path: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        if path.is_dir() {
            for e in std::fs::read_dir(path).unwrap().flatten() {
                files(&e.path(), out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path.to_path_buf());
        }
    }

    #[test]
    fn modules_import_only_lower_layers() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut problems = Vec::new();
        for entry in std::fs::read_dir(&src).unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().trim_end_matches(".rs").to_string();
            if name == "lib" || name == "main" {
                continue;
            }
            let own = layer(&name).unwrap_or_else(|| panic!("module `{name}` has no layer in LAYERS"));
            let mut fs = Vec::new();
            files(&entry.path(), &mut fs);
            for f in fs {
                for m in imports(&std::fs::read_to_string(&f).unwrap()) {
                    if m == name {
                        continue;
                    }
                    match layer(&m) {
                        Some(l) if l < own => {}
                        _ => problems.push(format!("{} (layer {own}) imports crate::{m}", f.display())),
                    }
                }
            }
        }
        assert!(problems.is_empty(), "imports against the layers:\n{}", problems.join("\n"));
    }
}
