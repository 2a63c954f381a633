#!/usr/bin/env python3
"""The naive baseline's reducer: itertools.groupby over sorted `key<TAB>value` lines.

Counts the lines of each key; for the key/time/value job (value column = an amount or
empty) also the exact sum, min, max and mean (15 significant digits), in the same output
format as reducer.py, so the outputs can be compared.

    naive_reducer.py census | ktv | words
"""
import decimal
import itertools
import sys
from decimal import Decimal

MEAN = decimal.Context(prec=15)


def split(line):
    key, _, value = line.rstrip("\n").rpartition("\t")
    return key, value


def plain(number):
    return "0" if number.is_zero() else format(number.normalize(decimal.Context(prec=60)), "f")


def counts(lines):
    for key, group in itertools.groupby(map(split, lines), key=lambda kv: kv[0]):
        print("%s\t%d" % (key, sum(int(value) for _, value in group)))


def values(lines):
    for key, group in itertools.groupby(map(split, lines), key=lambda kv: kv[0]):
        count, amounts = 0, []
        for _, value in group:
            count += 1
            if value:
                amounts.append(Decimal(value))
        if not amounts:
            print("%s\t%d\t0\t\t\t" % (key, count))
            continue
        total = sum(amounts)
        mean = MEAN.divide(total, Decimal(len(amounts)))
        print("\t".join([key, str(count)] + [plain(x) for x in (total, min(amounts), max(amounts), mean)]))


def main():
    job = sys.argv[1]
    (values if job == "ktv" else counts)(sys.stdin)


if __name__ == "__main__":
    main()
