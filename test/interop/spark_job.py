"""Runs Spark SQL against floe's tables through Iceberg's NessieCatalog, as another engine would.

Input (stdin): {"jars": [...], "catalog": {"uri", "ref", "warehouse", "properties"?}, "catalogs"?: {name: ref},
"steps": [sql, ...], "output": path}.
Every step runs in one local Spark session with the Iceberg SQL extensions (for CALL procedures), the catalog `nessie`
on the given ref and one more catalog per entry of "catalogs" on another ref; "properties" (Iceberg catalog properties,
e.g. io-impl and s3.endpoint for an S3 warehouse) apply to each.
Output (written to "output", as Spark's launcher shares stdout): a JSON array, per step, of {"columns", "rows"} or {"error"}; a step that fails does not stop the
next. Values made JSON: timestamps as ISO-8601 UTC with microseconds, bytes as base64, maps as objects, and integers
exact (Python's json writes ints of any size).
"""
import base64
import datetime
import decimal
import json
import sys

from pyspark.sql import Row, SparkSession


def plain(value):
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return value.strftime('%Y-%m-%dT%H:%M:%S.%fZ')
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode('ascii')
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, Row):
        return {k: plain(v) for k, v in value.asDict().items()}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def session(request):
    catalog = request['catalog']
    builder = (
        SparkSession.builder.master('local[2]')
        .appName('floe-interop')
        .config('spark.jars', ','.join(request['jars']))
        .config('spark.sql.extensions', 'org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions')
        # timestamps print in UTC, as floe scan does; the driver binds to the loopback only
        .config('spark.sql.session.timeZone', 'UTC')
        .config('spark.driver.host', '127.0.0.1')
        .config('spark.driver.bindAddress', '127.0.0.1')
        .config('spark.ui.enabled', 'false')
        .config('spark.ui.showConsoleProgress', 'false')
        .config('spark.sql.shuffle.partitions', '2')
    )
    refs = {'nessie': catalog['ref'], **request.get('catalogs', {})}
    for name, ref in refs.items():
        prefix = f'spark.sql.catalog.{name}'
        builder = (
            builder.config(prefix, 'org.apache.iceberg.spark.SparkCatalog')
            .config(f'{prefix}.catalog-impl', 'org.apache.iceberg.nessie.NessieCatalog')
            .config(f'{prefix}.uri', catalog['uri'])
            .config(f'{prefix}.ref', ref)
            .config(f'{prefix}.warehouse', catalog['warehouse'])
        )
        for key, value in catalog.get('properties', {}).items():
            builder = builder.config(f'{prefix}.{key}', value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel('ERROR')
    return spark


def run(spark, sql):
    try:
        frame = spark.sql(sql)
        return {'columns': frame.columns, 'rows': [plain(row.asDict(recursive=False)) for row in frame.collect()]}
    except Exception as err:  # noqa: BLE001 - the error is the step's result
        return {'error': str(err)}


def main():
    request = json.load(sys.stdin)
    spark = session(request)
    try:
        results = [run(spark, sql) for sql in request['steps']]
    finally:
        spark.stop()
    with open(request['output'], 'w', encoding='utf-8') as out:
        json.dump(results, out)


if __name__ == '__main__':
    main()
