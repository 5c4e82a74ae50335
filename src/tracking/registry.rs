//! One model registry: the questions resolving a model URI asks of a store, answered alike by
//! MLflow's database, a file store and a server, and the resolution written once on them, with
//! one set of messages. A URI that resolves to nothing says what was looked for, where, and what
//! exists there.

use super::uri::{ModelUri, Resolved};
use super::TrackingError;
use std::path::PathBuf;

/// Where a store keeps a folder of artifacts: on this machine, or behind a server's
/// `mlflow-artifacts` proxy (fetched into churn's cache when a model is taken from it).
#[derive(Debug, Clone, PartialEq)]
pub enum Place {
    Here(PathBuf),
    Served(String),
}

impl Place {
    /// An artifact location as a store records it: `file:` URIs and plain paths are here; any
    /// other scheme (`mlflow-artifacts:/1/…`, MLflow's default) is served.
    pub fn of(location: &str) -> Place {
        let scheme = location.split_once(':').map(|(s, _)| s).filter(|s| {
            // One letter is a drive, not a scheme.
            s.len() > 1 && s.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        });
        match scheme {
            Some(s) if !s.eq_ignore_ascii_case("file") => Place::Served(location.trim_end_matches('/').to_string()),
            _ => Place::Here(super::filestore::local_path(location)),
        }
    }

    fn below(&self, path: &str) -> Place {
        match self {
            Place::Here(dir) => Place::Here(dir.join(path)),
            Place::Served(uri) => Place::Served(format!("{uri}/{path}")),
        }
    }
}

/// What a registry knows of one model version.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionRecord {
    /// The URI the version was created from (`models:/m-…` or `runs:/…`).
    pub source: String,
    pub run_id: Option<String>,
    /// Where the version's files are, when the registry keeps them apart from the source.
    pub storage: Option<Place>,
}

/// A logged model of a run: (model id, name, artifact folder).
pub type RunModel = (String, String, Place);

/// The questions a model URI asks of a store.
pub trait Registry {
    /// "the MLflow database ./mlflow.db", for messages.
    fn where_(&self) -> String;
    /// The artifact folder of an active run, or `None` when there is no such run.
    fn run_artifacts(&self, run_id: &str) -> Result<Option<Place>, TrackingError>;
    /// A run's logged models; a store may return only those called `name` when one is given
    /// (a server searches by name, as MLflow's own client does).
    fn run_models(&self, run_id: &str, name: Option<&str>) -> Result<Vec<RunModel>, TrackingError>;
    fn logged_model(&self, id: &str) -> Result<Option<Place>, TrackingError>;
    fn registered_models(&self) -> Result<Vec<String>, TrackingError>;
    fn is_registered(&self, name: &str) -> Result<bool, TrackingError> {
        Ok(self.registered_models()?.iter().any(|n| n == name))
    }
    /// Versions of a registered model, ascending.
    fn versions(&self, name: &str) -> Result<Vec<u64>, TrackingError>;
    /// (alias, version) pairs.
    fn aliases(&self, name: &str) -> Result<Vec<(String, String)>, TrackingError>;
    fn version(&self, name: &str, version: &str) -> Result<VersionRecord, TrackingError>;
    /// One line per experiment with its latest runs, for "what is there".
    fn inventory(&self) -> Result<Vec<String>, TrackingError>;
    /// The names of the files and folders directly in a place (none when it does not exist).
    fn listing(&self, place: &Place) -> Result<Vec<String>, TrackingError> {
        match place {
            Place::Here(dir) => Ok(names_in(dir)),
            Place::Served(uri) => Err(unreachable_place(self, uri)),
        }
    }
    /// The place as a folder on this machine.
    fn fetch(&self, place: &Place) -> Result<PathBuf, TrackingError> {
        match place {
            Place::Here(dir) => Ok(dir.clone()),
            Place::Served(uri) => Err(unreachable_place(self, uri)),
        }
    }
}

/// The names in a folder here (none when it does not exist).
pub fn names_in(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().to_string()).collect())
        .unwrap_or_default()
}

fn unreachable_place<R: Registry + ?Sized>(store: &R, uri: &str) -> TrackingError {
    TrackingError::NotFound(format!("{} keeps artifacts at {uri}, which only its server can reach", store.where_()))
}

fn listing(items: &[String], none: &str) -> String {
    if items.is_empty() {
        none.to_string()
    } else {
        items.join(", ")
    }
}

fn holds_model(store: &dyn Registry, place: &Place) -> Result<bool, TrackingError> {
    Ok(store.listing(place)?.iter().any(|name| crate::bundle::is_model_file(name)))
}

/// Resolves a model URI in a store: the folder of model files it points at, and what it is.
pub fn resolve_in(store: &dyn Registry, uri: &ModelUri) -> Result<Resolved, TrackingError> {
    let root = store.where_();
    match uri {
        ModelUri::Path(p) => Ok(Resolved::local(p, &p.display().to_string())),
        ModelUri::LoggedModel { id } => {
            let place = store
                .logged_model(id)?
                .ok_or_else(|| TrackingError::NotFound(format!("no logged model {id} in {root}")))?;
            Ok(Resolved::logged_model(store.fetch(&place)?, id))
        }
        ModelUri::Run { run_id, path } => run_model(store, run_id, path),
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

/// `runs:/<run_id>/<path>`: the run's artifacts at `path`, or (MLflow 3) the logged model of
/// the run named `path`.
fn run_model(store: &dyn Registry, run_id: &str, path: &str) -> Result<Resolved, TrackingError> {
    let root = store.where_();
    let Some(artifacts) = store.run_artifacts(run_id)? else {
        return Err(TrackingError::NotFound(format!(
            "run {run_id} not found in {root}. What is there: {}",
            listing(&store.inventory()?, "no experiments")
        )));
    };
    let of_run = |dir: PathBuf, model_id: Option<String>| Resolved {
        dir,
        uri: format!("runs:/{run_id}/{path}"),
        name: None,
        version: None,
        run_id: Some(run_id.to_string()),
        model_id,
    };
    let candidate = artifacts.below(path);
    if holds_model(store, &candidate)? {
        return Ok(of_run(store.fetch(&candidate)?, None));
    }
    let named = store.run_models(run_id, Some(path))?;
    if let Some((id, _, place)) = named.iter().find(|(_, name, _)| name == path) {
        return Ok(of_run(store.fetch(place)?, Some(id.clone())));
    }
    let mine: Vec<String> = store.run_models(run_id, None)?.iter().map(|m| format!("{} ({})", m.1, m.0)).collect();
    Err(TrackingError::NotFound(format!(
        "run {run_id} has no model at '{path}' in {root}: its artifacts are [{}] and its logged models [{}]",
        store.listing(&artifacts)?.join(", "),
        mine.join(", ")
    )))
}

fn registered(store: &dyn Registry, name: &str) -> Result<(), TrackingError> {
    if store.is_registered(name)? {
        return Ok(());
    }
    Err(TrackingError::NotFound(format!(
        "no registered model '{name}' in {} (registered models: {})",
        store.where_(),
        listing(&store.registered_models()?, "none")
    )))
}

fn version_dir(store: &dyn Registry, name: &str, version: &str) -> Result<Resolved, TrackingError> {
    let record = store.version(name, version)?;
    let via = match ModelUri::parse(&record.source) {
        Ok(uri @ (ModelUri::LoggedModel { .. } | ModelUri::Run { .. })) => Some(resolve_in(store, &uri)),
        _ => None,
    };
    let mut r = match via {
        Some(Ok(r)) => r,
        other => match &record.storage {
            Some(place) if holds_model(store, place)? => Resolved::local(&store.fetch(place)?, &record.source),
            _ => {
                return Err(match other {
                    Some(Err(e)) => e,
                    _ => TrackingError::NotFound(format!(
                        "version {version} of '{name}' points at {}, which holds no model",
                        record.source
                    )),
                })
            }
        },
    };
    r.name = Some(name.to_string());
    r.version = Some(version.to_string());
    r.uri = format!("models:/{name}/{version}");
    r.run_id = r.run_id.or(record.run_id);
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// A registry in memory: one run with a logged model, one registered model of two versions.
    struct Memory {
        dir: tempfile::TempDir,
        aliases: BTreeMap<String, String>,
    }

    impl Memory {
        fn new() -> Memory {
            let dir = tempfile::tempdir().unwrap();
            for folder in ["run/artifacts/report", "models/m-1", "models/m-2"] {
                std::fs::create_dir_all(dir.path().join(folder)).unwrap();
            }
            for model in ["models/m-1", "models/m-2"] {
                std::fs::write(dir.path().join(model).join(crate::bundle::MLMODEL_FILE), "flavors: {}\n").unwrap();
            }
            Memory { dir, aliases: BTreeMap::from([("champion".to_string(), "2".to_string())]) }
        }
        fn at(&self, rel: &str) -> Place {
            Place::Here(self.dir.path().join(rel))
        }
    }

    impl Registry for Memory {
        fn where_(&self) -> String {
            "memory".into()
        }
        fn run_artifacts(&self, run_id: &str) -> Result<Option<Place>, TrackingError> {
            Ok((run_id == "r1").then(|| self.at("run/artifacts")))
        }
        fn run_models(&self, run_id: &str, _: Option<&str>) -> Result<Vec<RunModel>, TrackingError> {
            Ok(if run_id == "r1" { vec![("m-1".into(), "model".into(), self.at("models/m-1"))] } else { vec![] })
        }
        fn logged_model(&self, id: &str) -> Result<Option<Place>, TrackingError> {
            Ok(["m-1", "m-2"].contains(&id).then(|| self.at(&format!("models/{id}"))))
        }
        fn registered_models(&self) -> Result<Vec<String>, TrackingError> {
            Ok(vec!["churn".into()])
        }
        fn versions(&self, _: &str) -> Result<Vec<u64>, TrackingError> {
            Ok(vec![1, 2])
        }
        fn aliases(&self, _: &str) -> Result<Vec<(String, String)>, TrackingError> {
            Ok(self.aliases.iter().map(|(a, v)| (a.clone(), v.clone())).collect())
        }
        fn version(&self, _: &str, version: &str) -> Result<VersionRecord, TrackingError> {
            Ok(VersionRecord { source: format!("models:/m-{version}"), run_id: Some("r1".into()), storage: None })
        }
        fn inventory(&self) -> Result<Vec<String>, TrackingError> {
            Ok(vec!["experiment 'churn' (1): 1 run(s)".into()])
        }
    }

    fn resolved(uri: &str) -> Result<Resolved, String> {
        resolve_in(&Memory::new(), &ModelUri::parse(uri).unwrap()).map_err(|e| e.to_string())
    }

    #[test]
    fn every_uri_form_finds_its_model() {
        let r = resolved("runs:/r1/model").unwrap();
        assert_eq!((r.model_id.as_deref(), r.run_id.as_deref()), (Some("m-1"), Some("r1")));
        let r = resolved("models:/churn@champion").unwrap();
        assert_eq!((r.version.as_deref(), r.uri.as_str()), (Some("2"), "models:/churn@champion"));
        assert!(r.dir.ends_with("models/m-2"));
        assert_eq!(resolved("models:/churn/latest").unwrap().version.as_deref(), Some("2"));
        assert_eq!(resolved("models:/churn/1").unwrap().run_id.as_deref(), Some("r1"));
        assert!(resolved("models:/m-1").unwrap().dir.ends_with("models/m-1"));
    }

    #[test]
    fn what_is_missing_is_named_with_what_exists() {
        let e = resolved("runs:/r2/model").unwrap_err();
        assert!(e.contains("run r2 not found in memory") && e.contains("experiment 'churn'"), "{e}");
        let e = resolved("runs:/r1/other").unwrap_err();
        assert!(e.contains("no model at 'other'") && e.contains("[report]") && e.contains("model (m-1)"), "{e}");
        let e = resolved("models:/churn@silver").unwrap_err();
        assert!(e.contains("no alias 'silver'") && e.contains("@champion -> 2") && e.contains("versions: 1, 2"), "{e}");
        let e = resolved("models:/churn/7").unwrap_err();
        assert!(e.contains("no version 7") && e.contains("versions: 1, 2"), "{e}");
        let e = resolved("models:/other/1").unwrap_err();
        assert!(e.contains("no registered model 'other'") && e.contains("registered models: churn"), "{e}");
        assert!(resolved("models:/m-9").unwrap_err().contains("no logged model m-9"));
    }

    #[test]
    fn places_keep_local_and_served_apart() {
        assert_eq!(Place::of("file:///tmp/a"), Place::Here("/tmp/a".into()));
        assert_eq!(Place::of("mlflow-artifacts:/1/x/"), Place::Served("mlflow-artifacts:/1/x".into()));
        assert_eq!(
            Place::of("mlflow-artifacts://host:5000/1/x"),
            Place::Served("mlflow-artifacts://host:5000/1/x".into())
        );
        assert_eq!(Place::of("file:/tmp/a"), Place::Here("/tmp/a".into()));
        assert_eq!(Place::of("mlruns/1/r/artifacts"), Place::Here("mlruns/1/r/artifacts".into()));
        assert_eq!(
            Place::of("mlflow-artifacts:/1/x").below("model"),
            Place::Served("mlflow-artifacts:/1/x/model".into())
        );
    }
}
