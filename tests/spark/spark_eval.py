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

Writes one JSON object per case, in corpus order:
  {"id", "status": "ok", "rows": [[key_hex|null, value_hex|null], ...],
   "key_type", "value_type"}
  {"id", "status": "rejected", "error"}   the query does not analyze
  {"id", "status": "failed", "error", "records": [...]?}   it fails at run time
For a failed case on a small fixture, "records" holds each record's own
outcome (["emit", key_hex, value_hex], ["drop"] or ["error", text]), found by
running the query on that record alone with the fixture's schema.
"""

import json
import os
import sys
import time
import tomllib

from pyspark.errors import AnalysisException
from pyspark.sql import SparkSession
from pyspark.sql.types import BinaryType, StringType

# Fixtures up to this many records get per-record outcomes when a query fails.
# Each such record is a job of its own, so keep it to the hand-made fixtures.
PER_RECORD_LIMIT = 12
# Cases evaluated together in one job (see Evaluator.run_all).
GROUP_SIZE = 40


def hexed(value):
    if value is None:
        return None
    if isinstance(value, str):
        value = value.encode("utf-8")
    return bytes(value).hex()


def first_line(error):
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class Evaluator:
    def __init__(self, spark, corpus, fixtures_dir):
        self.spark = spark
        self.schemas = corpus.get("schemas", {})
        self.fixtures_dir = fixtures_dir
        self.inferred = {}
        self.frames = {}

    def path(self, fixture):
        return os.path.join(self.fixtures_dir, fixture + ".json")

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

    def frame(self, case):
        """The fixture read as the case reads it, parsed once per read setting."""
        fixture = case.get("fixture", "invoices")
        settings = self.settings(case)
        if settings not in self.frames:
            self.frames[settings] = self.reader(case).json(self.path(fixture)).cache()
        return self.frames[settings]

    def query(self, case, df):
        if "where" in case:
            df = df.where(case["where"])
        exprs = ["(%s) AS key" % case["key"] if "key" in case else "CAST(NULL AS STRING) AS key",
                 "(%s) AS value" % case.get("value", "to_json(struct(*))")]
        df = df.selectExpr(*exprs)
        types = {f.name: f.dataType for f in df.schema.fields}
        casts = [c if isinstance(types[c], (StringType, BinaryType)) else "CAST(%s AS STRING) AS %s" % (c, c)
                 for c in ("key", "value")]
        return df.selectExpr(*casts), types["key"].simpleString(), types["value"].simpleString()

    def settings(self, case):
        return (case.get("fixture", "invoices"), case.get("schema"), case.get("mode"),
                case.get("timezone", "UTC"), bool(case.get("case_sensitive")))

    def run_all(self, cases):
        """Answers by case id. Cases that read the fixture the same way run
        together as one job, each case's keep/key/value as its own columns
        (key and value under CASE WHEN, so they are only evaluated for kept
        records, as after a filter); a job that fails reruns its cases one
        in halves down to single cases, so one failing case cannot hide the
        others' answers."""
        groups = {}
        for case in cases:
            groups.setdefault(self.settings(case), []).append(case)
        answers = {}
        for group in groups.values():
            for start in range(0, len(group), GROUP_SIZE):
                answers.update(self.run_group(group[start:start + GROUP_SIZE]))
        return answers

    def run_group(self, cases):
        self.configure(cases[0])
        answers, columns, planned = {}, [], []
        try:
            frame = self.frame(cases[0])
        except AnalysisException as e:
            return {c["id"]: {"status": "rejected", "error": first_line(e)} for c in cases}
        for case in cases:
            try:
                _, key_type, value_type = self.query(case, frame)
            except AnalysisException as e:
                answers[case["id"]] = {"status": "rejected", "error": first_line(e)}
                continue
            n = len(planned)
            cond = "(%s)" % case["where"] if "where" in case else "TRUE"
            key, value = self.typed(case, key_type, value_type)
            columns += ["%s AS w%d" % (cond, n), "CASE WHEN %s THEN %s END AS k%d" % (cond, key, n),
                        "CASE WHEN %s THEN %s END AS v%d" % (cond, value, n)]
            planned.append((case, key_type, value_type))
        if not planned:
            return answers
        try:
            rows = frame.selectExpr(*columns).collect()
        except Exception:  # a run-time error in one of them: halve the group
            if len(planned) == 1:
                answers[planned[0][0]["id"]] = self.run(planned[0][0])
                return answers
            half = len(planned) // 2
            answers.update(self.run_group([c for c, _, _ in planned[:half]]))
            answers.update(self.run_group([c for c, _, _ in planned[half:]]))
            return answers
        for n, (case, key_type, value_type) in enumerate(planned):
            kept = [[hexed(r["k%d" % n]), hexed(r["v%d" % n])] for r in rows if r["w%d" % n] is True]
            answers[case["id"]] = {"status": "ok", "rows": kept, "key_type": key_type, "value_type": value_type}
        return answers

    def typed(self, case, key_type, value_type):
        """The key and value expressions, cast to string when the sink needs it."""
        key = "(%s)" % case["key"] if "key" in case else "CAST(NULL AS STRING)"
        value = "(%s)" % case.get("value", "to_json(struct(*))")
        if key_type not in ("string", "binary"):
            key = "CAST(%s AS STRING)" % key
        if value_type not in ("string", "binary"):
            value = "CAST(%s AS STRING)" % value
        return key, value

    def run(self, case):
        self.configure(case)
        try:
            df, key_type, value_type = self.query(case, self.frame(case))
        except AnalysisException as e:
            return {"status": "rejected", "error": first_line(e)}
        try:
            rows = [[hexed(r["key"]), hexed(r["value"])] for r in df.collect()]
        except Exception as e:  # a run-time error of the query (ANSI mode, FAILFAST)
            result = {"status": "failed", "error": first_line(e)}
            records = self.per_record(case)
            if records is not None:
                result["records"] = records
            return result
        return {"status": "ok", "rows": rows, "key_type": key_type, "value_type": value_type}

    def per_record(self, case):
        with open(self.path(case.get("fixture", "invoices")), encoding="utf-8") as f:
            lines = [line for line in f.read().splitlines() if line.strip()]
        if len(lines) > PER_RECORD_LIMIT:
            return None
        outcomes = []
        for line in lines:
            df = self.reader(case).json(self.spark.sparkContext.parallelize([line], 1))
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
        with open(out_path, "w", encoding="utf-8") as out:
            started = time.monotonic()
            answers = evaluator.run_all(corpus["case"])
            print("evaluated %d cases in %.1f s" % (len(answers), time.monotonic() - started), file=sys.stderr)
            for case in corpus["case"]:
                out.write(json.dumps({"id": case["id"], **answers[case["id"]]}) + "\n")
    finally:
        spark.stop()


if __name__ == "__main__":
    main()
