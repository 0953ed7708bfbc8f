"""Reads Iceberg tables written by floe with PyIceberg, as another engine would.

Input (stdin): a JSON array of {"metadata_location", "snapshot_id"?, "columns"?, "order_by"?}.
Output (stdout): a JSON array, per input, of {"format_version", "snapshot_id", "count", "columns", "rows"} where rows
are the scanned rows (the given columns, sorted by order_by), values made JSON: timestamps as ISO-8601 UTC with
microseconds, bytes as base64, and integers exact (Python's json writes ints of any size).
"""
import base64
import datetime
import decimal
import json
import sys

from pyiceberg.table import StaticTable


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
    table = StaticTable.from_metadata(request['metadata_location'])
    snapshot_id = request.get('snapshot_id')
    scan = table.scan(snapshot_id=int(snapshot_id)) if snapshot_id is not None else table.scan()
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
        'count': arrow.num_rows,
        'columns': arrow.column_names,
        'rows': rows,
    }


def main():
    requests = json.load(sys.stdin)
    json.dump([read(r) for r in requests], sys.stdout)


if __name__ == '__main__':
    main()
