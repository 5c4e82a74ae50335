//! Model URIs, as MLflow spells them, resolved to a folder of model files:
//! a local folder, `runs:/<run_id>/<path>`, `models:/<name>/<version>`, `models:/<name>/latest`,
//! `models:/<name>@<alias>` and `models:/m-<id>`, against MLflow's database, a file store or a
//! server. A URI that resolves to nothing says what was looked for, where, and what exists there.

use super::filestore::{local_path, FileStore};
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

/// What resolving a model URI needs to ask a store on this machine (MLflow's database or a file
/// store); the server answers the same questions over REST (`rest.rs`).
pub trait LocalRegistry {
    /// "the MLflow database ./mlflow.db", for messages.
    fn where_(&self) -> String;
    /// The artifact folder of an active run.
    fn run_artifacts(&self, run_id: &str) -> Result<Option<PathBuf>, TrackingError>;
    /// A run's logged models: (model id, name, artifact folder).
    fn run_models(&self, run_id: &str) -> Result<Vec<(String, String, PathBuf)>, TrackingError>;
    fn logged_model(&self, id: &str) -> Result<Option<PathBuf>, TrackingError>;
    fn registered_models(&self) -> Result<Vec<String>, TrackingError>;
    /// Versions of a registered model, ascending.
    fn versions(&self, name: &str) -> Result<Vec<u64>, TrackingError>;
    /// (alias, version) pairs.
    fn aliases(&self, name: &str) -> Result<Vec<(String, String)>, TrackingError>;
    /// (source, storage location) of a version.
    fn version_source(&self, name: &str, version: &str) -> Result<(String, Option<String>), TrackingError>;
    /// One line per experiment with its latest runs, for "what is there".
    fn inventory(&self) -> Result<Vec<String>, TrackingError>;
}

/// Resolves a model URI against the given tracking store (only read, never created).
pub fn resolve(raw: &str, tracking: &TrackingUri) -> Result<Resolved, TrackingError> {
    let uri = ModelUri::parse(raw)?;
    match &uri {
        ModelUri::Path(p) => {
            if !p.is_dir() {
                return Err(TrackingError::NotFound(format!(
                    "no model folder at {} ({}); give a bundle folder written by `churn train`, or an MLflow URI such as runs:/<run_id>/model or models:/<name>@<alias>",
                    p.display(),
                    if p.exists() { "it is a file" } else { "it does not exist" }
                )));
            }
            Ok(Resolved::local(p, raw))
        }
        _ => match tracking {
            TrackingUri::File(root) => {
                let store = FileStore::existing(root).map_err(|_| {
                    TrackingError::NotFound(format!(
                        "cannot resolve {raw}: there is no MLflow file store at {} (set --tracking-uri or MLFLOW_TRACKING_URI to the store or server that holds the model)",
                        root.display()
                    ))
                })?;
                let mut r = resolve_local(&store, &uri)?;
                r.uri = raw.to_string();
                Ok(r)
            }
            TrackingUri::Sqlite(db) => {
                let store = SqliteStore::existing(db).map_err(|e| match e {
                    TrackingError::NotFound(_) => TrackingError::NotFound(format!(
                        "cannot resolve {raw}: there is no MLflow database at {} (MLflow's default store in this folder; set --tracking-uri or MLFLOW_TRACKING_URI to the store or server that holds the model)",
                        db.display()
                    )),
                    other => other,
                })?;
                let mut r = resolve_local(&store, &uri)?;
                r.uri = raw.to_string();
                Ok(r)
            }
            TrackingUri::Server(url) => {
                let store = super::rest::RestStore::from_env(url);
                let mut r = super::Store::resolve(&store, &uri)?;
                r.uri = raw.to_string();
                Ok(r)
            }
        },
    }
}

fn listing(items: &[String], none: &str) -> String {
    if items.is_empty() {
        none.to_string()
    } else {
        items.join(", ")
    }
}

pub fn resolve_local(store: &dyn LocalRegistry, uri: &ModelUri) -> Result<Resolved, TrackingError> {
    let root = store.where_();
    match uri {
        ModelUri::Path(p) => Ok(Resolved::local(p, &p.display().to_string())),
        ModelUri::LoggedModel { id } => {
            let dir = store
                .logged_model(id)?
                .ok_or_else(|| TrackingError::NotFound(format!("no logged model {id} in {root}")))?;
            Ok(Resolved::logged_model(dir, id))
        }
        ModelUri::Run { run_id, path } => {
            let Some(artifacts) = store.run_artifacts(run_id)? else {
                return Err(TrackingError::NotFound(format!(
                    "run {run_id} not found in {root}. What is there: {}",
                    listing(&store.inventory()?, "no experiments")
                )));
            };
            let candidate = artifacts.join(path);
            if crate::bundle::holds_model(&candidate) {
                return Ok(Resolved {
                    dir: candidate,
                    uri: String::new(),
                    name: None,
                    version: None,
                    run_id: Some(run_id.clone()),
                    model_id: None,
                });
            }
            // An MLflow 3 run keeps its model as a logged model named after the path.
            let models = store.run_models(run_id)?;
            if let Some((id, _, dir)) = models.iter().find(|(_, name, _)| name == path) {
                return Ok(Resolved {
                    dir: dir.clone(),
                    uri: String::new(),
                    name: None,
                    version: None,
                    run_id: Some(run_id.clone()),
                    model_id: Some(id.clone()),
                });
            }
            let files: Vec<String> = std::fs::read_dir(&artifacts)
                .map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().to_string()).collect())
                .unwrap_or_default();
            let mine: Vec<String> = models.iter().map(|m| format!("{} ({})", m.1, m.0)).collect();
            Err(TrackingError::NotFound(format!(
                "run {run_id} has no model at '{path}' in {root}: its artifacts are [{}] and its logged models [{}]",
                files.join(", "),
                mine.join(", ")
            )))
        }
        ModelUri::Alias { name, alias } => {
            registered(store, name)?;
            let aliases = store.aliases(name)?;
            let versions = store.versions(name)?;
            let listed = || listing(&versions.iter().map(u64::to_string).collect::<Vec<_>>(), "none");
            let version = aliases.iter().find(|(a, _)| a == alias).map(|(_, v)| v.clone()).ok_or_else(|| {
                let have: Vec<String> = aliases.iter().map(|(a, v)| format!("@{a} -> {v}")).collect();
                TrackingError::NotFound(format!(
                    "registered model '{name}' has no alias '{alias}' in {root} (aliases: {}; versions: {})",
                    listing(&have, "none"),
                    listed()
                ))
            })?;
            if !versions.iter().any(|v| v.to_string() == version) {
                return Err(TrackingError::NotFound(format!(
                    "alias '{alias}' of registered model '{name}' points at version {version}, which does not exist in {root} (versions: {})",
                    listed()
                )));
            }
            let mut r = version_dir(store, name, &version)?;
            r.uri = format!("models:/{name}@{alias}");
            Ok(r)
        }
        ModelUri::Latest { name } => {
            registered(store, name)?;
            let v = store.versions(name)?.last().copied().ok_or_else(|| {
                TrackingError::NotFound(format!("registered model '{name}' has no versions in {root}"))
            })?;
            version_dir(store, name, &v.to_string())
        }
        ModelUri::Version { name, version } => {
            registered(store, name)?;
            let versions = store.versions(name)?;
            if !versions.iter().any(|v| v.to_string() == *version) {
                return Err(TrackingError::NotFound(format!(
                    "registered model '{name}' has no version {version} in {root} (versions: {})",
                    listing(&versions.iter().map(u64::to_string).collect::<Vec<_>>(), "none")
                )));
            }
            version_dir(store, name, version)
        }
    }
}

fn registered(store: &dyn LocalRegistry, name: &str) -> Result<(), TrackingError> {
    let names = store.registered_models()?;
    if names.iter().any(|n| n == name) {
        Ok(())
    } else {
        Err(TrackingError::NotFound(format!(
            "no registered model '{name}' in {} (registered models: {})",
            store.where_(),
            listing(&names, "none")
        )))
    }
}

fn version_dir(store: &dyn LocalRegistry, name: &str, version: &str) -> Result<Resolved, TrackingError> {
    let (source, storage) = store.version_source(name, version)?;
    let via = match ModelUri::parse(&source) {
        Ok(uri @ (ModelUri::LoggedModel { .. } | ModelUri::Run { .. })) => Some(resolve_local(store, &uri)),
        _ => None,
    };
    let mut r = match via {
        Some(Ok(r)) => r,
        other => {
            let dir = storage.map(|s| local_path(&s)).filter(|d| crate::bundle::holds_model(d));
            match dir {
                Some(dir) => Resolved::local(&dir, &source),
                None => {
                    return Err(match other {
                        Some(Err(e)) => e,
                        _ => TrackingError::NotFound(format!(
                            "version {version} of '{name}' points at {source}, which holds no model"
                        )),
                    })
                }
            }
        }
    };
    r.name = Some(name.to_string());
    r.version = Some(version.to_string());
    r.uri = format!("models:/{name}/{version}");
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
