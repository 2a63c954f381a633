#!/usr/bin/env python3
"""The naive baseline's mapper: what a hand-written Hadoop Streaming mapper usually is.

One json.loads per line and one printed line per record (or per word): `key<TAB>1`, or
`hour<TAB>type<TAB>country<TAB>amount` for the key/time/value job. No aggregation.
It knows the benchmark's data (ISO times in UTC with a Z); it is not a general tool.

    naive_mapper.py census | ktv | words
"""
import json
import re
import sys

WORD = re.compile(r"\w+")


def census(record):
    for name in record:
        print("%s\t1" % name)


def ktv(record):
    hour = record["time"][:13] + ":00"
    amount = record.get("amount")
    print("%s\t%s\t%s\t%s" % (hour, record["type"], record["geo"]["country"], "" if amount is None else amount))


def words(record):
    for word in WORD.findall(record["text"].lower()):
        print("%s\t1" % word)


def main():
    emit = {"census": census, "ktv": ktv, "words": words}[sys.argv[1]]
    for line in sys.stdin:
        emit(json.loads(line))


if __name__ == "__main__":
    main()
