"""Evaluates the differential corpus with real Spark, for tests/integration/spark_diff.rs.

Usage: spark_eval.py CORPUS.toml FIXTURES_DIR OUT.jsonl

Starts one local[1] Spark session and runs every case of the corpus as the
job Sluice replaces runs it: `spark.read.schema(schema).json(path)` (the
fixture's inferred schema when the case has none), `.where(cond)`,
`.selectExpr(key + " as key", value + " as value")`, with the case's
`spark.sql.session.timeZone` and `spark.sql.caseSensitive`, and ANSI mode on.
Key and value are serialized as Spark's Kafka sink does: a string becomes its
UTF-8 bytes, binary stays as it is; any other type is cast to a string first
(the sink itself would refuse it; the cast is what its user writes).

Speed: each fixture is read (and its schema inferred) once per way of reading
it, which is the only Spark job a case group costs; the rows are then held in
the driver as a local relation, so each case's query is analyzed and
evaluated on the driver (Spark's ConvertToLocalRelation rule) without a job.
A query that fails at run time is rerun on each record alone, again over a
one-row local relation, to tell which records fail. Only FAILFAST reads, whose
failure is in the reader, read each record alone with a job of its own.

Writes one JSON object per case, in corpus order:
  {"id", "status": "ok", "rows": [[key_hex|null, value_hex|null], ...],
   "key_type", "value_type"}
  {"id", "status": "rejected", "error"}   the query does not analyze
  {"id", "status": "failed", "error", "records": [...]?}   it fails at run time
For a failed case on a small fixture, "records" holds each record's own
outcome (["emit", key_hex, value_hex], ["drop"] or ["error", text]).
"""

import json
import os
import sys
import time
import tomllib

from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import BinaryType, StringType

# Fixtures up to this many records get per-record outcomes when a query fails.
PER_RECORD_LIMIT = 12


def hexed(value):
    if value is None:
        return None
    if isinstance(value, str):
        value = value.encode("utf-8")
    return bytes(value).hex()


def first_line(error):
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class Fixture:
    """One fixture read one way: its schema and its rows as local relations."""

    def __init__(self, spark, rows, schema):
        self.spark = spark
        self.schema = schema
        self.rows = rows  # a java.util.List[Row]

    def frame(self, rows=None):
        """A DataFrame over these rows (all, or a java list of some), held in the driver."""
        jdf = self.spark._jsparkSession.createDataFrame(rows if rows is not None else self.rows, self.schema)
        return DataFrame(jdf, self.spark)

    def each_row(self):
        jvm = self.spark._jvm
        for i in range(self.rows.size()):
            yield jvm.java.util.Collections.singletonList(self.rows.get(i))


class Evaluator:
    def __init__(self, spark, corpus, fixtures_dir):
        self.spark = spark
        self.schemas = corpus.get("schemas", {})
        self.fixtures_dir = fixtures_dir
        self.inferred = {}
        self.fixtures = {}

    def path(self, fixture):
        return os.path.join(self.fixtures_dir, fixture + ".json")

    def lines(self, case):
        with open(self.path(case.get("fixture", "invoices")), encoding="utf-8") as f:
            return [line for line in f.read().splitlines() if line.strip()]

    def schema_of(self, case):
        """The case's DDL schema, or the fixture's inferred one (inferred once)."""
        name = case.get("schema")
        if name is not None:
            return self.schemas[name]
        fixture = case.get("fixture", "invoices")
        if fixture not in self.inferred:
            self.inferred[fixture] = self.spark.read.json(self.path(fixture)).schema
        return self.inferred[fixture]

    def configure(self, case):
        conf = self.spark.conf
        conf.set("spark.sql.session.timeZone", case.get("timezone", "UTC"))
        conf.set("spark.sql.caseSensitive", "true" if case.get("case_sensitive") else "false")

    def reader(self, case):
        reader = self.spark.read.schema(self.schema_of(case))
        if "mode" in case:
            reader = reader.option("mode", case["mode"])
        return reader

    def settings(self, case):
        return (case.get("fixture", "invoices"), case.get("schema"), case.get("mode"),
                case.get("timezone", "UTC"), bool(case.get("case_sensitive")))

    def fixture(self, case):
        """The fixture read as the case reads it: one job per way of reading."""
        settings = self.settings(case)
        if settings not in self.fixtures:
            df = self.reader(case).json(self.path(case.get("fixture", "invoices")))
            self.fixtures[settings] = Fixture(self.spark, df._jdf.collectAsList(), df._jdf.schema())
        return self.fixtures[settings]

    def query(self, case, df):
        """The case's query over `df`: (DataFrame of key/value for the sink, key type, value type)."""
        if "where" in case:
            df = df.where(case["where"])
        exprs = ["(%s) AS key" % case["key"] if "key" in case else "CAST(NULL AS STRING) AS key",
                 "(%s) AS value" % case.get("value", "to_json(struct(*))")]
        df = df.selectExpr(*exprs)
        types = {f.name: f.dataType for f in df.schema.fields}
        casts = [c if isinstance(types[c], (StringType, BinaryType)) else "CAST(%s AS STRING) AS %s" % (c, c)
                 for c in ("key", "value")]
        return df.selectExpr(*casts), types["key"].simpleString(), types["value"].simpleString()

    def run(self, case):
        self.configure(case)
        try:
            fixture = self.fixture(case)
        except AnalysisException as e:
            return {"status": "rejected", "error": first_line(e)}
        except Exception as e:  # the reader itself fails (FAILFAST)
            return self.failed(case, e, None)
        try:
            df, key_type, value_type = self.query(case, fixture.frame())
        except AnalysisException as e:
            return {"status": "rejected", "error": first_line(e)}
        try:
            rows = [[hexed(r["key"]), hexed(r["value"])] for r in df.collect()]
        except Exception as e:  # a run-time error of the query (ANSI mode)
            return self.failed(case, e, fixture)
        return {"status": "ok", "rows": rows, "key_type": key_type, "value_type": value_type}

    def failed(self, case, error, fixture):
        result = {"status": "failed", "error": first_line(error)}
        lines = self.lines(case)
        if len(lines) <= PER_RECORD_LIMIT:
            result["records"] = self.per_record(case, fixture, lines)
        return result

    def per_record(self, case, fixture, lines):
        """Each record's outcome alone: over one-row local relations, or, when
        the reader failed, read alone."""
        if fixture is not None:
            frames = (fixture.frame(row) for row in fixture.each_row())
        else:
            frames = (self.reader(case).json(self.spark.sparkContext.parallelize([line], 1)) for line in lines)
        outcomes = []
        for df in frames:
            try:
                rows = self.query(case, df)[0].collect()
            except Exception as e:
                outcomes.append(["error", first_line(e)])
                continue
            outcomes.append(["emit", hexed(rows[0]["key"]), hexed(rows[0]["value"])] if rows else ["drop"])
        return outcomes


def main():
    corpus_path, fixtures_dir, out_path = sys.argv[1:4]
    with open(corpus_path, "rb") as f:
        corpus = tomllib.load(f)
    spark = (SparkSession.builder.master("local[1]").appName("sluice-spark-diff")
             .config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false")
             .config("spark.sql.ansi.enabled", "true")
             .config("spark.sql.shuffle.partitions", "1")
             .config("spark.driver.host", "127.0.0.1")
             .config("spark.driver.bindAddress", "127.0.0.1")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    try:
        evaluator = Evaluator(spark, corpus, fixtures_dir)
        started = time.monotonic()
        with open(out_path, "w", encoding="utf-8") as out:
            for case in corpus["case"]:
                out.write(json.dumps({"id": case["id"], **evaluator.run(case)}) + "\n")
        print("evaluated %d cases in %.1f s" % (len(corpus["case"]), time.monotonic() - started), file=sys.stderr)
    finally:
        spark.stop()


if __name__ == "__main__":
    main()
