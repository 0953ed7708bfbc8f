"""Reads Iceberg tables written by floe with PyIceberg, as another engine would.

Input (stdin): a JSON array of requests. A table is opened either by its metadata file, {"metadata_location"}, or
through an Iceberg REST catalog (PyIceberg's RestCatalog), {"catalog": {"uri", "warehouse"?, "ref"?}, "table":
"namespace.name"} where `ref` is a Nessie branch (the catalog's URI then ends in /<ref>, as Nessie serves it); either
with "snapshot_id"?, "row_filter"? (PyIceberg's filter syntax), "columns"?, "order_by"?. {"catalog": {...}, "list": true} lists the catalog instead.
Output (stdout): a JSON array, per input, of {"format_version", "snapshot_id", "metadata_location", "count",
"spec_ids", "default_spec" ([field id, transform] per field), "file_spec_ids" (of the files the scan planned), "columns",
"rows"} where rows are the scanned rows (the given columns, sorted by order_by), values made JSON:
timestamps as ISO-8601 UTC with microseconds, bytes as base64, and integers exact (Python's json writes ints of any
size); or, for a listing, {"namespaces": [[level, ...]], "tables": [[level, ..., name]]}.
"""
import base64
import datetime
import decimal
import json
import sys
from urllib.parse import quote

from pyiceberg.catalog.rest import RestCatalog
from pyiceberg.table import StaticTable

_catalogs = {}


def rest_catalog(options):
    uri = options['uri'].rstrip('/')
    if options.get('ref'):
        uri += '/' + quote(options['ref'], safe='')
    properties = {'uri': uri}
    if options.get('warehouse'):
        properties['warehouse'] = options['warehouse']
    key = json.dumps(properties, sort_keys=True)
    if key not in _catalogs:
        _catalogs[key] = RestCatalog('floe', **properties)
    return _catalogs[key]


def list_catalog(catalog):
    namespaces = []
    pending = list(catalog.list_namespaces())
    while pending:
        namespace = pending.pop(0)
        namespaces.append(list(namespace))
        pending.extend(catalog.list_namespaces(namespace))
    tables = [list(t) for ns in namespaces for t in catalog.list_tables(tuple(ns))]
    return {'namespaces': namespaces, 'tables': tables}


def plain(value):
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
            return value.strftime('%Y-%m-%dT%H:%M:%S.%fZ')
        return value.strftime('%Y-%m-%dT%H:%M:%S.%f')
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode('ascii')
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        # maps come back from Arrow as lists of (key, value) tuples
        return [plain(v) for v in value]
    if isinstance(value, tuple):
        return [plain(v) for v in value]
    return value


def read(request):
    if 'catalog' in request:
        catalog = rest_catalog(request['catalog'])
        if request.get('list'):
            return list_catalog(catalog)
        table = catalog.load_table(request['table'])
    else:
        table = StaticTable.from_metadata(request['metadata_location'])
    snapshot_id = request.get('snapshot_id')
    options = {}
    if snapshot_id is not None:
        options['snapshot_id'] = int(snapshot_id)
    if request.get('row_filter'):
        options['row_filter'] = request['row_filter']
    scan = table.scan(**options)
    files = [task.file for task in scan.plan_files()]
    arrow = scan.to_arrow()
    columns = request.get('columns') or arrow.column_names
    order_by = request.get('order_by')
    if order_by:
        arrow = arrow.sort_by([(order_by, 'ascending')])
    rows = [{name: plain(row[name]) for name in columns} for row in arrow.select(columns).to_pylist()]
    snapshot = table.snapshot_by_id(int(snapshot_id)) if snapshot_id is not None else table.current_snapshot()
    return {
        'format_version': table.metadata.format_version,
        'snapshot_id': snapshot.snapshot_id if snapshot else None,
        'metadata_location': table.metadata_location,
        'count': arrow.num_rows,
        'spec_ids': sorted(spec.spec_id for spec in table.metadata.partition_specs),
        'default_spec': [[f.field_id, str(f.transform)] for f in table.spec().fields],
        'file_spec_ids': sorted(f.spec_id for f in files),
        'columns': arrow.column_names,
        'rows': rows,
    }


def main():
    requests = json.load(sys.stdin)
    json.dump([read(r) for r in requests], sys.stdout)


if __name__ == '__main__':
    main()
