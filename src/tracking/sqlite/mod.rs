//! MLflow's own default store: `sqlite:///mlflow.db` in the working folder (MLflow >= 3.7), the
//! database a bare `mlflow ui` and `mlflow.search_runs()` open with no flag and no environment
//! variable. Written in the schema of the pinned MLflow (3.17.2, Alembic revision
//! `dc11669786a5`, `mlflow-3.17.2.sql` dumped from a database MLflow created), with artifacts as
//! MLflow lays them out beside it: `mlruns/<experiment>/<run>/artifacts` and
//! `mlruns/<experiment>/models/<model id>/artifacts`.
//!
//! A database of another revision is refused with what to do, never written: MLflow itself
//! refuses a database whose revision is not its own, so writing into one would corrupt it for
//! the MLflow that made it.

use super::registry::{Place, Registry, RunModel, VersionRecord};
use super::{
    Batch, Evidence, Experiment, ModelDone, ModelHandle, NewModel, NewRun, NewVersion, RunHandle, RunStatus, Store,
    TrackingError,
};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};

/// The schema churn creates a database with, and the revision it reads and writes.
const SCHEMA: &str = include_str!("mlflow-3.17.2.sql");
pub const REVISION: &str = "dc11669786a5";
const MLFLOW_VERSION: &str = "3.17.2";

pub struct SqliteStore {
    db: PathBuf,
    /// Where artifacts go: `mlruns` beside the database, as MLflow's default `./mlruns`.
    artifact_root: PathBuf,
    conn: Connection,
}

fn err(db: &Path) -> impl Fn(rusqlite::Error) -> TrackingError + '_ {
    move |e| TrackingError::Store { path: db.to_path_buf(), message: e.to_string() }
}

impl SqliteStore {
    /// Opens the database, creating it (and MLflow's Default experiment) when absent. A new
    /// database is built under a temporary name and renamed into place: a process killed while
    /// creating it leaves no database, never one without its tables.
    pub fn open(db: &Path) -> Result<SqliteStore, TrackingError> {
        let dir = match db.parent().filter(|p| !p.as_os_str().is_empty()) {
            Some(parent) => {
                std::fs::create_dir_all(parent).map_err(TrackingError::io(parent))?;
                parent
            }
            None => Path::new("."),
        };
        if !db.exists() {
            let name = db.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
            for left in crate::atomic::remove_leftovers(db) {
                eprintln!("note: removed {left}, a database an interrupted run was creating");
            }
            let part = crate::atomic::builder(&format!(".{name}.part-"), false)
                .tempfile_in(dir)
                .map_err(TrackingError::io(dir))?
                .into_temp_path();
            {
                let new = SqliteStore::connect(&part)?;
                let root = std::path::absolute(db).map_err(TrackingError::io(db))?;
                let artifacts = root.parent().map(|p| p.join("mlruns").join("0")).unwrap_or_default();
                let now = super::now_ms() as i64;
                new.conn.execute_batch(SCHEMA).map_err(err(&new.db))?;
                new.conn
                    .execute(
                        "INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time, workspace) VALUES (0, 'Default', ?1, 'active', ?2, ?2, 'default')",
                        params![artifacts.display().to_string(), now],
                    )
                    .map_err(err(&new.db))?;
            }
            // Another process may have created it meanwhile: its database wins, ours goes.
            if !db.exists() {
                part.persist(db).map_err(|e| TrackingError::io(db)(e.error))?;
            }
        }
        let store = SqliteStore::connect(db)?;
        store.check_revision()?;
        Ok(store)
    }

    /// Opens an existing database for reading, without creating anything.
    pub fn existing(db: &Path) -> Result<SqliteStore, TrackingError> {
        if !db.is_file() {
            return Err(TrackingError::NotFound(format!("there is no MLflow database at {}", db.display())));
        }
        let store = SqliteStore::connect(db)?;
        store.check_revision()?;
        Ok(store)
    }

    fn connect(db: &Path) -> Result<SqliteStore, TrackingError> {
        let conn = Connection::open(db).map_err(err(db))?;
        // MLflow's UI or server may hold the database for a moment.
        conn.busy_timeout(std::time::Duration::from_secs(30)).map_err(err(db))?;
        let db = std::path::absolute(db).map_err(TrackingError::io(db))?;
        let artifact_root = db.parent().map(|p| p.join("mlruns")).unwrap_or_else(|| PathBuf::from("mlruns"));
        Ok(SqliteStore { db, artifact_root, conn })
    }

    fn check_revision(&self) -> Result<(), TrackingError> {
        let found: Option<String> =
            self.conn.query_row("SELECT version_num FROM alembic_version", [], |r| r.get(0)).optional().map_err(
                |e| TrackingError::Store {
                    path: self.db.clone(),
                    message: format!("not an MLflow tracking database ({e})"),
                },
            )?;
        match found.as_deref() {
            Some(REVISION) => Ok(()),
            other => Err(TrackingError::Store {
                path: self.db.clone(),
                message: format!(
                    "the MLflow database has schema revision {}, and churn reads and writes MLflow {MLFLOW_VERSION}'s ({REVISION}), so it leaves the file untouched. \
                     A database from an older MLflow: upgrade it once with `mlflow db upgrade sqlite:///{}`. \
                     From a newer MLflow: serve it with `mlflow server --backend-store-uri sqlite:///{}` and give churn --tracking-uri http://127.0.0.1:5000",
                    other.unwrap_or("(none)"),
                    self.db.display(),
                    self.db.display()
                ),
            }),
        }
    }

    pub fn path(&self) -> &Path {
        &self.db
    }

    fn e(&self) -> impl Fn(rusqlite::Error) -> TrackingError + '_ {
        err(&self.db)
    }

    fn run_artifacts_of(&self, run: &RunHandle) -> Result<PathBuf, TrackingError> {
        self.artifact_folder("SELECT artifact_uri FROM runs WHERE run_uuid = ?1", &run.id)
    }

    fn model_artifacts_of(&self, model: &ModelHandle) -> Result<PathBuf, TrackingError> {
        self.artifact_folder("SELECT artifact_location FROM logged_models WHERE model_id = ?1", &model.id)
    }

    /// The artifact folder a query of one id answers.
    fn artifact_folder(&self, query: &str, id: &str) -> Result<PathBuf, TrackingError> {
        let location: String = self.conn.query_row(query, [id], |r| r.get(0)).map_err(self.e())?;
        Ok(super::filestore::local_path(&location))
    }
}

/// Writes a file below an artifact folder, refusing paths that climb out of it.
fn put_file(dir: &Path, rel: &str, bytes: &[u8]) -> Result<(), TrackingError> {
    if rel.split('/').any(|p| p.is_empty() || p == "." || p == "..") {
        return Err(TrackingError::NotFound(format!("invalid artifact path {rel:?}")));
    }
    let p = dir.join(rel);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).map_err(TrackingError::io(parent))?;
    }
    std::fs::write(&p, bytes).map_err(TrackingError::io(&p))
}

/// MLflow keeps a NaN metric as 0 with `is_nan` set.
fn metric_value(v: f64) -> (f64, bool) {
    if v.is_nan() {
        (0.0, true)
    } else {
        (v, false)
    }
}

impl Store for SqliteStore {
    fn describe(&self) -> String {
        format!("sqlite:///{}", self.db.display())
    }

    fn experiment(&mut self, name: &str) -> Result<Experiment, TrackingError> {
        let found: Option<(i64, String)> = self
            .conn
            .query_row(
                "SELECT experiment_id, lifecycle_stage FROM experiments WHERE name = ?1 AND workspace = 'default'",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(self.e())?;
        match found {
            Some((id, stage)) if stage == "active" => return Ok(Experiment { id: id.to_string(), name: name.into() }),
            Some(_) => {
                return Err(TrackingError::Store {
                    path: self.db.clone(),
                    message: format!("experiment '{name}' was deleted: restore it (mlflow experiments restore) or choose another --experiment"),
                })
            }
            None => {}
        }
        let now = super::now_ms() as i64;
        let tx = self.conn.transaction().map_err(err(&self.db))?;
        tx.execute(
            "INSERT INTO experiments (name, artifact_location, lifecycle_stage, creation_time, last_update_time, workspace) VALUES (?1, NULL, 'active', ?2, ?2, 'default')",
            params![name, now],
        )
        .map_err(err(&self.db))?;
        let id = tx.last_insert_rowid();
        tx.execute(
            "UPDATE experiments SET artifact_location = ?1 WHERE experiment_id = ?2",
            params![self.artifact_root.join(id.to_string()).display().to_string(), id],
        )
        .map_err(err(&self.db))?;
        tx.execute(
            "INSERT INTO experiment_tags (key, value, experiment_id) VALUES ('mlflow.note.content', 'Churn models trained by `churn train`.', ?1)",
            [id],
        )
        .map_err(err(&self.db))?;
        tx.commit().map_err(err(&self.db))?;
        Ok(Experiment { id: id.to_string(), name: name.to_string() })
    }

    fn create_run(&mut self, exp: &Experiment, new: &NewRun) -> Result<RunHandle, TrackingError> {
        let NewRun { name, user, start_ms, tags } = *new;
        let run = RunHandle { id: uuid::Uuid::new_v4().simple().to_string(), experiment_id: exp.id.clone() };
        let location: String = self
            .conn
            .query_row("SELECT artifact_location FROM experiments WHERE experiment_id = ?1", [&exp.id], |r| r.get(0))
            .map_err(self.e())?;
        let artifacts = super::filestore::local_path(&location).join(&run.id).join("artifacts");
        std::fs::create_dir_all(&artifacts).map_err(TrackingError::io(&artifacts))?;
        let tx = self.conn.transaction().map_err(err(&self.db))?;
        tx.execute(
            "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, status, start_time, end_time, source_version, lifecycle_stage, artifact_uri, experiment_id, deleted_time) \
             VALUES (?1, ?2, 'LOCAL', '', '', ?3, 'RUNNING', ?4, NULL, '', 'active', ?5, ?6, NULL)",
            params![run.id, name, user, start_ms as i64, artifacts.display().to_string(), exp.id.parse::<i64>().unwrap_or(0)],
        )
        .map_err(err(&self.db))?;
        for (k, v) in tags {
            tx.execute("INSERT OR REPLACE INTO tags (key, value, run_uuid) VALUES (?1, ?2, ?3)", params![k, v, run.id])
                .map_err(err(&self.db))?;
        }
        tx.commit().map_err(err(&self.db))?;
        Ok(run)
    }

    fn log_batch(&mut self, run: &RunHandle, batch: &Batch) -> Result<(), TrackingError> {
        let Batch { params: params_, metrics, tags } = *batch;
        let db = self.db.clone();
        let tx = self.conn.transaction().map_err(err(&db))?;
        for (k, v) in params_ {
            let old: Option<String> = tx
                .query_row("SELECT value FROM params WHERE key = ?1 AND run_uuid = ?2", params![k, run.id], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(err(&db))?;
            match old {
                Some(old) if &old != v => {
                    return Err(TrackingError::Store {
                        path: db.clone(),
                        message: format!("param {k} already logged as {old:?}; changing params is not allowed"),
                    })
                }
                Some(_) => {}
                None => {
                    tx.execute("INSERT INTO params (key, value, run_uuid) VALUES (?1, ?2, ?3)", params![k, v, run.id])
                        .map_err(err(&db))?;
                }
            }
        }
        for m in metrics {
            let (value, is_nan) = metric_value(m.value);
            tx.execute(
                "INSERT OR IGNORE INTO metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![m.key, value, m.timestamp as i64, run.id, m.step, is_nan],
            )
            .map_err(err(&db))?;
            // The latest point per key is what get_run and search_runs read: the highest
            // (step, timestamp, value), as MLflow keeps it.
            tx.execute(
                "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                 ON CONFLICT(key, run_uuid) DO UPDATE SET value = excluded.value, timestamp = excluded.timestamp, step = excluded.step, is_nan = excluded.is_nan \
                 WHERE (excluded.step, excluded.timestamp, excluded.value) >= (latest_metrics.step, latest_metrics.timestamp, latest_metrics.value)",
                params![m.key, value, m.timestamp as i64, m.step, is_nan, run.id],
            )
            .map_err(err(&db))?;
        }
        for (k, v) in tags {
            tx.execute("INSERT OR REPLACE INTO tags (key, value, run_uuid) VALUES (?1, ?2, ?3)", params![k, v, run.id])
                .map_err(err(&db))?;
        }
        tx.commit().map_err(err(&db))
    }

    fn log_artifact(&mut self, run: &RunHandle, rel: &str, bytes: &[u8]) -> Result<(), TrackingError> {
        put_file(&self.run_artifacts_of(run)?, rel, bytes)
    }

    fn create_logged_model(&mut self, run: &RunHandle, new: &NewModel) -> Result<ModelHandle, TrackingError> {
        let NewModel { name, params: params_, now_ms } = *new;
        let model = ModelHandle {
            id: format!("m-{}", uuid::Uuid::new_v4().simple()),
            experiment_id: run.experiment_id.clone(),
        };
        let location: String = self
            .conn
            .query_row(
                "SELECT artifact_location FROM experiments WHERE experiment_id = ?1",
                [&run.experiment_id],
                |r| r.get(0),
            )
            .map_err(self.e())?;
        let artifacts = super::filestore::local_path(&location).join("models").join(&model.id).join("artifacts");
        std::fs::create_dir_all(&artifacts).map_err(TrackingError::io(&artifacts))?;
        let exp: i64 = run.experiment_id.parse().unwrap_or(0);
        let db = self.db.clone();
        let tx = self.conn.transaction().map_err(err(&db))?;
        tx.execute(
            "INSERT INTO logged_models (model_id, experiment_id, name, artifact_location, creation_timestamp_ms, last_updated_timestamp_ms, status, lifecycle_stage, model_type, source_run_id, status_message) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?5, 1, 'active', NULL, ?6, NULL)",
            params![model.id, exp, name, artifacts.display().to_string(), now_ms as i64, run.id],
        )
        .map_err(err(&db))?;
        for (k, v) in params_ {
            tx.execute(
                "INSERT OR REPLACE INTO logged_model_params (model_id, experiment_id, param_key, param_value) VALUES (?1, ?2, ?3, ?4)",
                params![model.id, exp, k, v],
            )
            .map_err(err(&db))?;
        }
        for (k, v) in [("mlflow.source.name", "churn train"), ("mlflow.source.type", "LOCAL")] {
            tx.execute(
                "INSERT OR REPLACE INTO logged_model_tags (model_id, experiment_id, tag_key, tag_value) VALUES (?1, ?2, ?3, ?4)",
                params![model.id, exp, k, v],
            )
            .map_err(err(&db))?;
        }
        tx.commit().map_err(err(&db))?;
        Ok(model)
    }

    fn log_model_artifact(&mut self, model: &ModelHandle, rel: &str, bytes: &[u8]) -> Result<(), TrackingError> {
        put_file(&self.model_artifacts_of(model)?, rel, bytes)
    }

    fn model_artifact_location(&self, model: &ModelHandle) -> String {
        self.model_artifacts_of(model).map(|p| p.display().to_string()).unwrap_or_default()
    }

    fn finish_logged_model(&mut self, model: &ModelHandle, done: &ModelDone) -> Result<(), TrackingError> {
        let ModelDone { run, metrics, ready, now_ms } = *done;
        let exp: i64 = model.experiment_id.parse().unwrap_or(0);
        let db = self.db.clone();
        let tx = self.conn.transaction().map_err(err(&db))?;
        tx.execute(
            "UPDATE logged_models SET status = ?1, last_updated_timestamp_ms = ?2 WHERE model_id = ?3",
            params![if ready { 2 } else { 3 }, now_ms as i64, model.id],
        )
        .map_err(err(&db))?;
        for m in metrics {
            tx.execute(
                "INSERT OR REPLACE INTO logged_model_metrics (model_id, metric_name, metric_timestamp_ms, metric_step, metric_value, experiment_id, run_id, dataset_uuid, dataset_name, dataset_digest) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL, NULL, NULL)",
                params![model.id, m.key, m.timestamp as i64, m.step, m.value, exp, run.id],
            )
            .map_err(err(&db))?;
        }
        tx.execute(
            "INSERT INTO inputs (input_uuid, source_type, source_id, destination_type, destination_id, step) VALUES (?1, 'RUN_OUTPUT', ?2, 'MODEL_OUTPUT', ?3, 0)",
            params![uuid::Uuid::new_v4().simple().to_string(), run.id, model.id],
        )
        .map_err(err(&db))?;
        tx.commit().map_err(err(&db))
    }

    fn end_run(&mut self, run: &RunHandle, status: RunStatus, end_ms: u64) -> Result<(), TrackingError> {
        let status = match status {
            RunStatus::Finished => "FINISHED",
            RunStatus::Failed => "FAILED",
        };
        self.conn
            .execute(
                "UPDATE runs SET status = ?1, end_time = ?2 WHERE run_uuid = ?3",
                params![status, end_ms as i64, run.id],
            )
            .map(|_| ())
            .map_err(self.e())
    }

    fn register(&mut self, new: &NewVersion) -> Result<String, TrackingError> {
        let NewVersion { name, model, run } = *new;
        let (user, now_ms) = (super::current_user(), super::now_ms());
        let storage = self.model_artifact_location(model);
        let exp: i64 = model.experiment_id.parse().unwrap_or(0);
        let db = self.db.clone();
        let tx = self.conn.transaction().map_err(err(&db))?;
        tx.execute(
            "INSERT OR IGNORE INTO registered_models (name, creation_time, last_updated_time, description, workspace) VALUES (?1, ?2, ?2, NULL, 'default')",
            params![name, now_ms as i64],
        )
        .map_err(err(&db))?;
        let version: i64 = tx
            .query_row(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM model_versions WHERE name = ?1 AND workspace = 'default'",
                [name],
                |r| r.get(0),
            )
            .map_err(err(&db))?;
        tx.execute(
            "INSERT INTO model_versions (name, version, creation_time, last_updated_time, description, user_id, current_stage, source, run_id, status, status_message, run_link, storage_location, workspace) \
             VALUES (?1, ?2, ?3, ?3, NULL, ?4, 'None', ?5, ?6, 'READY', NULL, NULL, ?7, 'default')",
            params![name, version, now_ms as i64, user, format!("models:/{}", model.id), run.id, storage],
        )
        .map_err(err(&db))?;
        tx.execute(
            "UPDATE registered_models SET last_updated_time = ?1 WHERE name = ?2 AND workspace = 'default'",
            params![now_ms as i64, name],
        )
        .map_err(err(&db))?;
        tx.execute(
            "INSERT OR REPLACE INTO logged_model_tags (model_id, experiment_id, tag_key, tag_value) VALUES (?1, ?2, 'mlflow.modelVersions', ?3)",
            params![model.id, exp, serde_json::json!([{"name": name, "version": version}]).to_string()],
        )
        .map_err(err(&db))?;
        tx.commit().map_err(err(&db))?;
        Ok(version.to_string())
    }

    fn set_alias(&mut self, name: &str, alias: &str, version: &str) -> Result<(), TrackingError> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO registered_model_aliases (alias, version, name, workspace) VALUES (?1, ?2, ?3, 'default')",
                params![alias, version.parse::<i64>().unwrap_or(0), name],
            )
            .map(|_| ())
            .map_err(self.e())
    }

    fn set_version_evidence(&mut self, name: &str, version: &str, evidence: &Evidence) -> Result<(), TrackingError> {
        let Evidence { tags, description } = *evidence;
        let v = version.parse::<i64>().unwrap_or(0);
        let db = self.db.clone();
        let tx = self.conn.transaction().map_err(err(&db))?;
        let found: i64 = tx
            .query_row(
                "SELECT COUNT(*) FROM model_versions WHERE name = ?1 AND version = ?2 AND workspace = 'default'",
                params![name, v],
                |r| r.get(0),
            )
            .map_err(err(&db))?;
        if found == 0 {
            return Err(TrackingError::NotFound(format!("model {name} has no version {version} in {}", db.display())));
        }
        for (k, value) in tags {
            tx.execute(
                "INSERT OR REPLACE INTO model_version_tags (key, value, name, version, workspace) VALUES (?1, ?2, ?3, ?4, 'default')",
                params![k, value, name, v],
            )
            .map_err(err(&db))?;
        }
        if let Some(d) = description {
            tx.execute(
                "UPDATE model_versions SET description = ?1, last_updated_time = ?2 WHERE name = ?3 AND version = ?4 AND workspace = 'default'",
                params![d, crate::tracking::now_ms() as i64, name, v],
            )
            .map_err(err(&db))?;
        }
        tx.commit().map_err(err(&db))
    }
}

impl Registry for SqliteStore {
    fn where_(&self) -> String {
        format!("the MLflow database {}", self.db.display())
    }

    fn run_artifacts(&self, run_id: &str) -> Result<Option<Place>, TrackingError> {
        let uri: Option<String> = self
            .conn
            .query_row(
                "SELECT artifact_uri FROM runs WHERE run_uuid = ?1 AND lifecycle_stage = 'active'",
                [run_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.e())?;
        Ok(uri.map(|u| Place::of(&u)))
    }

    fn run_models(&self, run_id: &str, _: Option<&str>) -> Result<Vec<RunModel>, TrackingError> {
        let mut st = self
            .conn
            .prepare("SELECT model_id, name, artifact_location FROM logged_models WHERE source_run_id = ?1 AND lifecycle_stage = 'active' ORDER BY creation_timestamp_ms")
            .map_err(self.e())?;
        let rows = st
            .query_map([run_id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))
            .map_err(self.e())?;
        rows.map(|r| r.map(|(a, b, c)| (a, b, Place::of(&c))).map_err(self.e())).collect()
    }

    fn logged_model(&self, id: &str) -> Result<Option<Place>, TrackingError> {
        let loc: Option<String> = self
            .conn
            .query_row("SELECT artifact_location FROM logged_models WHERE model_id = ?1", [id], |r| r.get(0))
            .optional()
            .map_err(self.e())?;
        Ok(loc.map(|l| Place::of(&l)))
    }

    fn registered_models(&self) -> Result<Vec<String>, TrackingError> {
        let mut st = self
            .conn
            .prepare("SELECT name FROM registered_models WHERE workspace = 'default' ORDER BY name")
            .map_err(self.e())?;
        let rows = st.query_map([], |r| r.get(0)).map_err(self.e())?;
        rows.collect::<Result<_, _>>().map_err(self.e())
    }

    fn versions(&self, name: &str) -> Result<Vec<u64>, TrackingError> {
        let mut st = self
            .conn
            .prepare("SELECT version FROM model_versions WHERE name = ?1 AND workspace = 'default' AND current_stage != 'Deleted_Internal' ORDER BY version")
            .map_err(self.e())?;
        let rows = st.query_map([name], |r| r.get::<_, i64>(0)).map_err(self.e())?;
        rows.map(|r| r.map(|v| v as u64).map_err(self.e())).collect()
    }

    fn aliases(&self, name: &str) -> Result<Vec<(String, String)>, TrackingError> {
        let mut st = self
            .conn
            .prepare("SELECT alias, version FROM registered_model_aliases WHERE name = ?1 AND workspace = 'default' ORDER BY alias")
            .map_err(self.e())?;
        let rows = st
            .query_map([name], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?.to_string())))
            .map_err(self.e())?;
        rows.collect::<Result<_, _>>().map_err(self.e())
    }

    fn version(&self, name: &str, version: &str) -> Result<VersionRecord, TrackingError> {
        self.conn
            .query_row(
                "SELECT source, run_id, storage_location FROM model_versions WHERE name = ?1 AND version = ?2 AND workspace = 'default'",
                params![name, version.parse::<i64>().unwrap_or(-1)],
                |r| {
                    Ok(VersionRecord {
                        source: r.get::<_, Option<String>>(0)?.unwrap_or_default(),
                        run_id: r.get::<_, Option<String>>(1)?.filter(|id| !id.is_empty()),
                        storage: r.get::<_, Option<String>>(2)?.map(|l| Place::of(&l)),
                    })
                },
            )
            .map_err(self.e())
    }

    fn inventory(&self) -> Result<Vec<String>, TrackingError> {
        let mut out = Vec::new();
        let mut st = self
            .conn
            .prepare(
                "SELECT experiment_id, name FROM experiments WHERE lifecycle_stage = 'active' ORDER BY experiment_id",
            )
            .map_err(self.e())?;
        let exps: Vec<(i64, String)> = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(self.e())?
            .collect::<Result<_, _>>()
            .map_err(self.e())?;
        for (id, name) in exps {
            let mut st = self
                .conn
                .prepare("SELECT run_uuid, name, status FROM runs WHERE experiment_id = ?1 AND lifecycle_stage = 'active' ORDER BY start_time DESC")
                .map_err(self.e())?;
            let runs: Vec<String> = st
                .query_map([id], |r| {
                    Ok(format!(
                        "{} ({}, {})",
                        r.get::<_, String>(0)?,
                        r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                        r.get::<_, String>(2)?
                    ))
                })
                .map_err(self.e())?
                .collect::<Result<_, _>>()
                .map_err(self.e())?;
            let latest: Vec<String> = runs.iter().take(5).cloned().collect();
            out.push(format!(
                "experiment '{name}' ({id}): {} run(s){}",
                runs.len(),
                if latest.is_empty() { String::new() } else { format!(", latest: {}", latest.join("; ")) }
            ));
        }
        Ok(out)
    }
}
