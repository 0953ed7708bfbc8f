# Superset configuration of floe's `bi` component, mounted into /app/pythonpath (on the image's PYTHONPATH, where
# Superset imports superset_config from).
import os
import sys

# From Secret floe-superset (knative/README.md, "Trino and Superset"): Superset refuses to start with its default key.
SECRET_KEY = os.environ["SUPERSET_SECRET_KEY"]

# The metadata database: SQLite on the PersistentVolumeClaim superset-home, enough for the single replica of this
# component. In production set SUPERSET_DATABASE_URI to a Postgres database (postgresql+psycopg2://…; install psycopg2
# the way the trino driver is installed below) and raise the replicas.
SQLALCHEMY_DATABASE_URI = os.environ.get("SUPERSET_DATABASE_URI", "sqlite:////app/superset_home/superset.db")

# The image ships no database drivers and its virtualenv is root's: the Deployment's init container installs the
# trino driver into SUPERSET_DRIVERS_DIR. Appended, not prepended, so every package the image has (requests, urllib3…)
# keeps the image's version; SQLAlchemy finds the trino dialect there through its entry point.
_drivers = os.environ.get("SUPERSET_DRIVERS_DIR")
if _drivers and _drivers not in sys.path:
    sys.path.append(_drivers)
