"""Reads a registered model back with Python's MLflow client: where its aliases point and each
version's tags and description, as JSON.

    python tests/mlflow/check_registry.py TRACKING_URI NAME ALIAS...
"""
import json
import sys

from mlflow import MlflowClient


def main():
    uri, name, aliases = sys.argv[1], sys.argv[2], sys.argv[3:]
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    out = {"aliases": {}, "versions": {}}
    for a in aliases:
        out["aliases"][a] = client.get_model_version_by_alias(name, a).version
    for v in client.search_model_versions(f"name='{name}'"):
        full = client.get_model_version(name, v.version)
        out["versions"][full.version] = {"tags": dict(full.tags), "description": full.description or ""}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
