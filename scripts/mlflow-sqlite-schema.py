"""Prints the SQLite schema of MLflow's tracking database, as the pinned MLflow creates it.

churn writes `mlflow.db` (MLflow's default store) itself; the schema it creates a new database
with, src/tracking/sqlite/mlflow-<version>.sql, is this script's output, committed. The
integration tests run it again and fail when it differs (a new pin needs a new file).

usage: python scripts/mlflow-sqlite-schema.py > src/tracking/sqlite/mlflow-3.17.2.sql
(run with the test environment's Python: .venv-test/bin/python, MLflow 3.17.2)
"""
import os
import sqlite3
import sys
import tempfile

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
import mlflow  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

with tempfile.TemporaryDirectory() as d:
    db = os.path.join(d, "mlflow.db")
    # Opening the store runs every Alembic migration to the head revision.
    MlflowClient(tracking_uri=f"sqlite:///{db}").search_experiments()
    con = sqlite3.connect(db)
    rows = con.execute(
        "SELECT type, sql FROM sqlite_master WHERE sql IS NOT NULL "
        "ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 ELSE 2 END, rowid"
    ).fetchall()
    (revision,) = con.execute("SELECT version_num FROM alembic_version").fetchone()
    out = sys.stdout
    out.write(f"-- MLflow {mlflow.__version__} tracking database schema (Alembic revision {revision}),\n")
    out.write("-- dumped by scripts/mlflow-sqlite-schema.py from a database MLflow created.\n")
    for _, sql in rows:
        out.write(sql.strip() + ";\n")
    out.write(f"INSERT INTO alembic_version (version_num) VALUES ('{revision}');\n")
    for (name, desc) in con.execute("SELECT name, description FROM workspaces"):
        out.write(f"INSERT INTO workspaces (name, description) VALUES ('{name}', '{desc}');\n")
