//! Model URIs, as MLflow spells them: a local folder, `runs:/<run_id>/<path>`,
//! `models:/<name>/<version>`, `models:/<name>/latest`, `models:/<name>@<alias>` and
//! `models:/m-<id>`, resolved against MLflow's database, a file store or a server by the one
//! registry ([`super::registry`]).

use super::filestore::{local_path, FileStore};
use super::registry::resolve_in;
use super::rest::RestStore;
use super::sqlite::SqliteStore;
use super::{TrackingError, TrackingUri};
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq)]
pub enum ModelUri {
    Path(PathBuf),
    Run { run_id: String, path: String },
    Version { name: String, version: String },
    Latest { name: String },
    Alias { name: String, alias: String },
    LoggedModel { id: String },
}

pub use crate::bundle::Resolved;

impl ModelUri {
    pub fn parse(s: &str) -> Result<ModelUri, TrackingError> {
        let bad = |why: &str| TrackingError::NotFound(format!("model URI {s:?} is malformed: {why}"));
        if let Some(rest) = s.strip_prefix("runs:/") {
            let rest = rest.trim_start_matches('/');
            let (run_id, path) = rest.split_once('/').ok_or_else(|| bad("expected runs:/<run_id>/<artifact path>"))?;
            if run_id.is_empty() || path.is_empty() {
                return Err(bad("expected runs:/<run_id>/<artifact path>"));
            }
            return Ok(ModelUri::Run { run_id: run_id.to_string(), path: path.trim_end_matches('/').to_string() });
        }
        if let Some(rest) = s.strip_prefix("models:/") {
            let rest = rest.trim_start_matches('/').trim_end_matches('/');
            if rest.starts_with("m-") && !rest.contains('/') && !rest.contains('@') {
                return Ok(ModelUri::LoggedModel { id: rest.to_string() });
            }
            if let Some((name, alias)) = rest.split_once('@') {
                if name.is_empty() || alias.is_empty() {
                    return Err(bad("expected models:/<name>@<alias>"));
                }
                return Ok(ModelUri::Alias { name: name.to_string(), alias: alias.to_string() });
            }
            let (name, version) = rest
                .rsplit_once('/')
                .ok_or_else(|| bad("expected models:/<name>/<version>, models:/<name>@<alias> or models:/m-<id>"))?;
            if version.eq_ignore_ascii_case("latest") {
                return Ok(ModelUri::Latest { name: name.to_string() });
            }
            if name.is_empty() || version.parse::<u64>().is_err() {
                return Err(bad(
                    "the version must be a number or `latest` (stages are deprecated in MLflow; use an alias)",
                ));
            }
            return Ok(ModelUri::Version { name: name.to_string(), version: version.to_string() });
        }
        if s.contains("://") && !s.starts_with("file://") {
            return Err(bad("churn reads local folders, file://, runs:/ and models:/ URIs"));
        }
        Ok(ModelUri::Path(local_path(s)))
    }
}

/// Resolves a model URI against the given tracking store (only read, never created).
pub fn resolve(raw: &str, tracking: &TrackingUri) -> Result<Resolved, TrackingError> {
    let uri = ModelUri::parse(raw)?;
    let mut r = match (&uri, tracking) {
        (ModelUri::Path(p), _) => {
            if !p.is_dir() {
                return Err(TrackingError::NotFound(format!(
                    "no model folder at {} ({}); give a bundle folder written by `churn train`, or an MLflow URI such as runs:/<run_id>/model or models:/<name>@<alias>",
                    p.display(),
                    if p.exists() { "it is a file" } else { "it does not exist" }
                )));
            }
            return Ok(Resolved::local(p, raw));
        }
        (_, TrackingUri::File(root)) => {
            let store = FileStore::existing(root).map_err(|_| {
                TrackingError::NotFound(format!(
                    "cannot resolve {raw}: there is no MLflow file store at {} (set --tracking-uri or MLFLOW_TRACKING_URI to the store or server that holds the model)",
                    root.display()
                ))
            })?;
            resolve_in(&store, &uri)?
        }
        (_, TrackingUri::Sqlite(db)) => {
            let store = SqliteStore::existing(db).map_err(|e| match e {
                TrackingError::NotFound(_) => TrackingError::NotFound(format!(
                    "cannot resolve {raw}: there is no MLflow database at {} (MLflow's default store in this folder; set --tracking-uri or MLFLOW_TRACKING_URI to the store or server that holds the model)",
                    db.display()
                )),
                other => other,
            })?;
            resolve_in(&store, &uri)?
        }
        (_, TrackingUri::Server(url)) => resolve_in(&RestStore::from_env(url), &uri)?,
    };
    r.uri = raw.to_string();
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_mlflow_form() {
        assert_eq!(
            ModelUri::parse("runs:/abc/model").unwrap(),
            ModelUri::Run { run_id: "abc".into(), path: "model".into() }
        );
        assert_eq!(
            ModelUri::parse("models:/churn/3").unwrap(),
            ModelUri::Version { name: "churn".into(), version: "3".into() }
        );
        assert_eq!(
            ModelUri::parse("models:/churn@champion").unwrap(),
            ModelUri::Alias { name: "churn".into(), alias: "champion".into() }
        );
        assert_eq!(ModelUri::parse("models:/m-0123abcd").unwrap(), ModelUri::LoggedModel { id: "m-0123abcd".into() });
        assert_eq!(ModelUri::parse("models:/churn/latest").unwrap(), ModelUri::Latest { name: "churn".into() });
        assert_eq!(ModelUri::parse("file:///tmp/x").unwrap(), ModelUri::Path("/tmp/x".into()));
        assert_eq!(ModelUri::parse("bundle").unwrap(), ModelUri::Path("bundle".into()));
        assert!(ModelUri::parse("runs:/abc").is_err());
        assert!(ModelUri::parse("models:/churn/Production").is_err());
        assert!(ModelUri::parse("s3://bucket/model").is_err());
    }
}
