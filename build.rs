//! Makes the XGBoost library invisible to users: with the `train` feature, fetches the pinned
//! libxgboost (scripts/fetch-xgboost.sh) when it is missing and bakes its folder into the
//! binary's RUNPATH, so `churn` runs without LD_LIBRARY_PATH. `$ORIGIN/lib` is searched too, for
//! a binary shipped with the library beside it.
use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=scripts/fetch-xgboost.sh");
    println!("cargo:rerun-if-env-changed=XGBOOST_LIB_DIR");
    if env::var_os("CARGO_FEATURE_TRAIN").is_none() {
        return;
    }
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let lib_dir =
        env::var_os("XGBOOST_LIB_DIR").map(PathBuf::from).unwrap_or_else(|| root.join(".xgboost/xgboost/lib"));
    if !lib_dir.join("libxgboost.so").exists() {
        // The wheel layout is <dest>/xgboost/lib, so dest is two levels up from the lib folder.
        let dest = lib_dir.parent().and_then(|p| p.parent()).unwrap_or(&root).to_path_buf();
        let status = Command::new("bash").arg(root.join("scripts/fetch-xgboost.sh")).arg(&dest).status();
        match status {
            Ok(s) if s.success() => {}
            _ => panic!(
                "libxgboost.so is missing from {} and could not be fetched.\n\
                 Run: bash scripts/fetch-xgboost.sh {}",
                lib_dir.display(),
                dest.display()
            ),
        }
    }
    println!("cargo:rerun-if-changed={}", lib_dir.join("libxgboost.so").display());
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib_dir.display());
    println!("cargo:rustc-link-arg=-Wl,-rpath,$ORIGIN/lib");
}
