#!/usr/bin/env python3
"""The key/time/value job written for Spark (PySpark DataFrames, local mode), as bench/peers.py runs it.

Reads the tree's newline-delimited JSON with an explicit schema (only the fields the job uses;
`amount` as a decimal of two places, which Spark also reads from a numeric string), groups by
(hour, type, country) and computes the count of events and the exact sum, min and max of
`amount`; the driver then formats the mean (15 significant digits, half-even, as reducer.py)
and prints the rows sorted by their bytes, so the output can be compared with the generator's
truth byte for byte. It knows the benchmark's data (ISO times in UTC with a Z).

    peer_spark.py MASTER DATA_DIR        e.g.  peer_spark.py 'local[*]' ~/.cache/firehose-mr-bench/...

Runs in the venv that bench/peers.py makes for PySpark (a benchmark dependency only).
"""
import sys
from decimal import Context, Decimal

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DecimalType, StringType, StructField, StructType

SCHEMA = StructType([
    StructField("time", StringType()),
    StructField("type", StringType()),
    StructField("geo", StructType([StructField("country", StringType())])),
    StructField("amount", DecimalType(18, 2)),
])
MEAN = Context(prec=15)


def plain(number):
    """A decimal as reducer.py prints it: no exponent, no trailing zeros."""
    return "0" if number.is_zero() else format(number.normalize(Context(prec=60)), "f")


def output_line(row):
    key = [row["hour"], row["type"], row["country"], str(row["count"])]
    if not row["n"]:
        return "\t".join(key + ["0", "", "", ""])
    mean = MEAN.divide(Decimal(row["total"]), Decimal(row["n"]))
    return "\t".join(key + [plain(Decimal(row[c])) for c in ("total", "low", "high")] + [plain(mean)])


def key_time_value(spark, data_dir):
    """The job's rows, collected to the driver (about a thousand groups)."""
    events = spark.read.schema(SCHEMA).option("recursiveFileLookup", "true").json(data_dir)
    hourly = events.select(F.concat(F.substring("time", 1, 13), F.lit(":00")).alias("hour"), "type",
                           F.col("geo.country").alias("country"), "amount")
    groups = hourly.groupBy("hour", "type", "country").agg(
        F.count(F.lit(1)).alias("count"), F.count("amount").alias("n"), F.sum("amount").alias("total"),
        F.min("amount").alias("low"), F.max("amount").alias("high"))
    return groups.collect()


def main(argv):
    master, data_dir = argv
    spark = (SparkSession.builder.master(master).appName("firehose-mr bench key/time/value")
             .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
             .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    gateway = spark.sparkContext._gateway
    try:
        lines = sorted((output_line(row) for row in key_time_value(spark, data_dir)),
                       key=lambda line: line.encode("utf-8"))
    finally:
        spark.stop()
        wait_for_the_jvm(gateway)
    sys.stdout.write("".join(line + "\n" for line in lines))
    return 0


def wait_for_the_jvm(gateway):
    """The JVM is this process's child: close its stdin (it exits on EOF) and reap it, so that
    its CPU time and peak memory are counted in this process's rusage, as they should be."""
    proc = getattr(gateway, "proc", None)
    if proc is None:
        return
    gateway.shutdown()
    if proc.stdin is not None:
        proc.stdin.close()
    proc.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
