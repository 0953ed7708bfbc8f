#!/usr/bin/env python3
"""Import floe's Superset dashboard (the flat files beside this script) into a running Superset.

The files are Superset's dashboard export format kept flat, so that the directory can be mounted as one ConfigMap
(whose keys cannot contain '/'): metadata.yaml, database.yaml, dataset-*.yaml, chart-*.yaml, dashboard.yaml. This
script assembles them into the ZIP layout Superset's import endpoints read (metadata.yaml, databases/, datasets/,
charts/, dashboards/ under one root folder), points the database at --trino-uri, logs in and imports.

It imports four bundles, each with overwrite: the database, the datasets, the charts, then the dashboard. The
dashboard endpoint alone would create everything, but it never overwrites a database, dataset or chart that exists,
so a changed Trino address or chart would not reach a Superset that has an older import.

Only the standard library and PyYAML (which Superset itself depends on) are used, so the script runs with the
Python of Superset's own virtualenv or image.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import io
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zipfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = "floe_dashboard"
DEFAULT_CATALOG = "floe"

# Import order and the metadata type each endpoint accepts (ImportModelsCommand checks metadata.yaml's type).
STAGES = [
    ("database", "Database"),
    ("dataset", "SqlaTable"),
    ("chart", "Slice"),
    ("dashboard", "Dashboard"),
]


class ImportFailure(Exception):
    """A failure with a message meant for the person running the script."""


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="import_dashboard.py",
        description=(
            "Assemble floe's Superset dashboard from the flat files in --dir into Superset's import ZIP, point its "
            "database at --trino-uri and import it (database, datasets, charts, dashboard, each with overwrite) "
            "through Superset's REST API."
        ),
        epilog=(
            "Examples:\n"
            "  SUPERSET_PASSWORD=admin python3 import_dashboard.py --url http://127.0.0.1:8088 --username admin \\\n"
            "      --trino-uri trino://superset@trino:8080/floe\n"
            "  python3 import_dashboard.py --trino-uri trino://superset@trino:8080 --catalog lake --zip-out floe.zip"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--url", default=os.environ.get("SUPERSET_URL"), help="Superset's base URL ($SUPERSET_URL)")
    parser.add_argument("--username", default=os.environ.get("SUPERSET_USERNAME", "admin"), help="default: admin")
    parser.add_argument(
        "--password",
        default=os.environ.get("SUPERSET_PASSWORD"),
        help="the user's password; better passed as $SUPERSET_PASSWORD than on the command line",
    )
    parser.add_argument(
        "--trino-uri",
        required=True,
        help="Trino's SQLAlchemy URI as Superset reaches it: trino://user@host:port[/catalog]",
    )
    parser.add_argument(
        "--catalog",
        help=f"the Trino catalog floe's tables are in (default: the URI's path, else {DEFAULT_CATALOG})",
    )
    parser.add_argument("--dir", type=Path, default=HERE, help="where the flat files are (default: beside this script)")
    parser.add_argument("--zip-out", type=Path, help="also write the assembled dashboard ZIP here")
    parser.add_argument("--no-import", action="store_true", help="only assemble (and write --zip-out); no Superset")
    parser.add_argument("--timeout", type=float, default=120, help="seconds per HTTP request (default: 120)")
    args = parser.parse_args(argv)
    if not args.no_import:
        if not args.url:
            parser.error("--url (or $SUPERSET_URL) is required unless --no-import")
        if not args.password:
            parser.error("--password (or $SUPERSET_PASSWORD) is required unless --no-import")
    return args


def trino_uri(uri: str, catalog: str | None) -> str:
    """The URI with its catalog as the path; refuses anything but trino:// and a catalog given twice differently."""
    parts = urllib.parse.urlsplit(uri)
    if parts.scheme != "trino":
        raise ImportFailure(f"--trino-uri must start with trino:// (got {uri!r})")
    if not parts.hostname:
        raise ImportFailure(f"--trino-uri names no host: {uri!r}")
    path = parts.path.strip("/")
    in_uri = path.split("/")[0] if path else None
    if in_uri and catalog and in_uri != catalog:
        raise ImportFailure(f"--trino-uri names catalog {in_uri!r} but --catalog says {catalog!r}")
    chosen = catalog or in_uri or DEFAULT_CATALOG
    rest = path.split("/")[1:] if path else []
    return urllib.parse.urlunsplit(
        (parts.scheme, parts.netloc, "/" + "/".join([chosen, *rest]), parts.query, parts.fragment)
    )


def yaml_module() -> Any:
    """PyYAML, imported when first needed so that --help works with any Python."""
    try:
        import yaml  # pylint: disable=import-outside-toplevel
    except ImportError as err:
        raise ImportFailure("PyYAML is missing: run this with the Python of Superset's virtualenv or image") from err
    return yaml


def load(path: Path) -> dict[str, Any]:
    yaml = yaml_module()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ImportFailure(f"{path}: not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise ImportFailure(f"{path}: expected a mapping at the top level")
    return data


def need_uuid(path: Path, data: dict[str, Any], key: str = "uuid") -> str:
    value = data.get(key)
    try:
        return str(uuid.UUID(str(value)))
    except ValueError as err:
        raise ImportFailure(f"{path}: {key} is missing or not a UUID ({value!r})") from err


def chart_uuids(position: dict[str, Any]) -> list[str]:
    return [
        str(node["meta"]["uuid"])
        for node in position.values()
        if isinstance(node, dict) and node.get("type") == "CHART" and "uuid" in node.get("meta", {})
    ]


def assemble(directory: Path, uri: str) -> dict[str, dict[str, Any]]:
    """The bundle's files by their path inside the ZIP root, checked for dangling references."""
    if not directory.is_dir():
        raise ImportFailure(f"{directory} is not a directory")
    files: dict[str, dict[str, Any]] = {}
    for required in ("metadata.yaml", "database.yaml", "dashboard.yaml"):
        if not (directory / required).is_file():
            raise ImportFailure(f"{directory / required} is missing")
    database = load(directory / "database.yaml")
    database_uuid = need_uuid(directory / "database.yaml", database)
    database["sqlalchemy_uri"] = uri
    database_name = str(database.get("database_name") or "floe-trino")
    files[f"databases/{database_name}.yaml"] = database

    datasets: dict[str, str] = {}
    for path in sorted(directory.glob("dataset-*.yaml")):
        dataset = load(path)
        datasets[need_uuid(path, dataset)] = path.name
        if need_uuid(path, dataset, "database_uuid") != database_uuid:
            raise ImportFailure(f"{path}: database_uuid is not database.yaml's uuid {database_uuid}")
        files[f"datasets/{database_name}/{dataset['table_name']}.yaml"] = dataset
    charts: dict[str, str] = {}
    for path in sorted(directory.glob("chart-*.yaml")):
        chart = load(path)
        charts[need_uuid(path, chart)] = path.name
        if need_uuid(path, chart, "dataset_uuid") not in datasets:
            raise ImportFailure(f"{path}: dataset_uuid {chart.get('dataset_uuid')} is none of the dataset-*.yaml files")
        files[f"charts/{path.stem[len('chart-'):]}.yaml"] = chart
    dashboard_path = directory / "dashboard.yaml"
    dashboard = load(dashboard_path)
    need_uuid(dashboard_path, dashboard)
    placed = chart_uuids(dashboard.get("position") or {})
    missing = sorted(set(placed) - set(charts))
    if missing:
        raise ImportFailure(f"{dashboard_path}: position places charts that no chart-*.yaml defines: {missing}")
    unplaced = sorted(name for chart_uuid, name in charts.items() if chart_uuid not in placed)
    if unplaced:
        raise ImportFailure(f"{dashboard_path}: these charts are not placed on the dashboard: {unplaced}")
    files["dashboards/floe.yaml"] = dashboard
    files["metadata.yaml"] = load(directory / "metadata.yaml")
    return files


def zip_bundle(files: dict[str, dict[str, Any]], metadata_type: str, prefixes: tuple[str, ...]) -> bytes:
    """A ZIP of metadata.yaml (with `type` set) and the files under `prefixes`."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            if name == "metadata.yaml":
                content = {**content, "type": metadata_type}
            elif not name.startswith(prefixes):
                continue
            text = yaml_module().safe_dump(content, sort_keys=False, allow_unicode=True, width=1_000_000)
            archive.writestr(f"{ROOT}/{name}", text)
    return buffer.getvalue()


class Superset:
    """A logged-in session: the JWT for the API, the session cookie and CSRF token for its state-changing calls."""

    def __init__(self, url: str, timeout: float) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        self.headers: dict[str, str] = {"Accept": "application/json", "Referer": self.url + "/"}

    def request(self, method: str, path: str, body: bytes | None = None, content_type: str | None = None) -> Any:
        headers = dict(self.headers)
        if content_type:
            headers["Content-Type"] = content_type
        req = urllib.request.Request(self.url + path, data=body, method=method, headers=headers)
        try:
            with self.opener.open(req, timeout=self.timeout) as response:
                text = response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as err:
            detail = err.read().decode("utf-8", "replace")
            raise ImportFailure(f"{method} {path}: Superset answered {err.code}: {explain(detail)}") from err
        except (urllib.error.URLError, OSError) as err:
            raise ImportFailure(f"{method} {path}: cannot reach Superset at {self.url}: {err}") from err
        try:
            return json.loads(text) if text else None
        except json.JSONDecodeError as err:
            raise ImportFailure(f"{method} {path}: Superset answered something other than JSON: {text[:300]}") from err

    def login(self, username: str, password: str) -> None:
        body = json.dumps({"username": username, "password": password, "provider": "db", "refresh": False})
        answer = self.request("POST", "/api/v1/security/login", body.encode(), "application/json")
        token = (answer or {}).get("access_token")
        if not token:
            raise ImportFailure(f"login as {username!r} returned no access token: {answer}")
        self.headers["Authorization"] = f"Bearer {token}"
        csrf = (self.request("GET", "/api/v1/security/csrf_token/") or {}).get("result")
        if not csrf:
            raise ImportFailure("Superset returned no CSRF token")
        self.headers["X-CSRFToken"] = csrf

    def import_bundle(self, kind: str, bundle: bytes) -> None:
        boundary = f"----floe{uuid.uuid4().hex}"
        parts = [
            (b'Content-Disposition: form-data; name="formData"; filename="floe_dashboard.zip"\r\n'
             b"Content-Type: application/zip\r\n\r\n" + bundle),
            b'Content-Disposition: form-data; name="overwrite"\r\n\r\ntrue',
        ]
        body = b"".join(f"--{boundary}\r\n".encode() + part + b"\r\n" for part in parts) + f"--{boundary}--\r\n".encode()
        answer = self.request("POST", f"/api/v1/{kind}/import/", body, f"multipart/form-data; boundary={boundary}")
        if (answer or {}).get("message") != "OK":
            raise ImportFailure(f"importing the {kind} bundle: unexpected answer {answer}")


def explain(detail: str) -> str:
    """Superset's error body, reduced to its messages (import errors nest them per file)."""
    try:
        parsed = json.loads(detail)
    except json.JSONDecodeError:
        return detail[:500]
    messages: list[str] = []

    def walk(value: Any, where: str) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                if key not in ("issue_codes", "error_type", "level"):
                    walk(inner, f"{where}.{key}" if where else str(key))
        elif isinstance(value, list):
            for inner in value:
                walk(inner, where)
        elif isinstance(value, str):
            messages.append(f"{where}: {value}")

    walk(parsed, "")
    return "; ".join(messages)[:2000] if messages else detail[:500]


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        uri = trino_uri(args.trino_uri, args.catalog)
        files = assemble(args.dir, uri)
        counts = {prefix: sum(1 for name in files if name.startswith(prefix)) for prefix in ("datasets/", "charts/")}
        print(f"assembled {counts['datasets/']} datasets and {counts['charts/']} charts over {redact(uri)}")
        if args.zip_out:
            args.zip_out.write_bytes(zip_bundle(files, "Dashboard", ("databases/", "datasets/", "charts/", "dashboards/")))
            print(f"wrote {args.zip_out}")
        if args.no_import:
            return 0
        superset = Superset(args.url, args.timeout)
        superset.login(args.username, args.password)
        # Each bundle carries what its objects refer to: the charts' bundle holds their datasets and database too.
        for stage, (kind, metadata_type) in enumerate(STAGES):
            prefixes = tuple(f"{name}s/" for name, _ in STAGES[: stage + 1])
            superset.import_bundle(kind, zip_bundle(files, metadata_type, prefixes))
            print(f"imported the {kind} bundle")
        dashboard = files["dashboards/floe.yaml"]
        slug = dashboard.get("slug")
        found = superset.request("GET", f"/api/v1/dashboard/{slug}") if slug else None
        result = (found or {}).get("result") or {}
        charts = superset.request("GET", f"/api/v1/dashboard/{result.get('id', slug)}/charts") if result else None
        print(
            f"dashboard {dashboard.get('dashboard_title')!r} (id {result.get('id')}) with "
            f"{len((charts or {}).get('result') or [])} charts: {superset.url}{result.get('url', '')}"
        )
        return 0
    except ImportFailure as err:
        print(f"import_dashboard.py: {err}", file=sys.stderr)
        return 1


def redact(uri: str) -> str:
    parts = urllib.parse.urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
