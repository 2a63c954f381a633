#!/usr/bin/env python3
"""The key/time/value job written for mrjob, as its users write a job (bench/peers.py runs it).

Per (hour, type, country): the count of events, and the exact sum, min, max and mean of
`amount` where there is one; printed in reducer.py's output format, sorted like it, so the
output can be compared with the generator's truth byte for byte. It knows the benchmark's
data (ISO times in UTC with a Z), as bench/naive_mapper.py does.

    peer_mrjob.py -r inline|local [--combine] --no-conf INPUT...

Without --combine, every record goes from the mappers through mrjob's sort to the reducers;
with it, a combiner adds up each map task's records first. Runs in the venv that bench/peers.py
makes for mrjob (mrjob is a benchmark dependency only).
"""
import json
from decimal import Context, Decimal

from mrjob.job import MRJob
from mrjob.protocol import RawValueProtocol
from mrjob.step import MRStep

MEAN = Context(prec=15)  # the reducer's mean: 15 significant digits, half-even


def plain(number):
    """A decimal as reducer.py prints it: no exponent, no trailing zeros."""
    return "0" if number.is_zero() else format(number.normalize(Context(prec=60)), "f")


def merge(totals, more):
    """Add one partial [count, n, sum, min, max] (amounts as text, JSON-friendly) to another."""
    count, n, total, low, high = totals
    more_count, more_n, more_total, more_low, more_high = more
    if not more_n:
        return [count + more_count, n, total, low, high]
    if not n:
        return [count + more_count, more_n, more_total, more_low, more_high]
    return [count + more_count, n + more_n, str(Decimal(total) + Decimal(more_total)),
            str(min(Decimal(low), Decimal(more_low))), str(max(Decimal(high), Decimal(more_high)))]


def add_up(partials):
    totals = [0, 0, None, None, None]
    for partial in partials:
        totals = merge(totals, partial)
    return totals


class KeyTimeValue(MRJob):
    OUTPUT_PROTOCOL = RawValueProtocol

    def configure_args(self):
        super(KeyTimeValue, self).configure_args()
        self.add_passthru_arg("--combine", action="store_true", help="add up each map task's records first")

    def steps(self):
        return [MRStep(mapper=self.mapper, combiner=self.combiner if self.options.combine else None,
                       reducer=self.reducer)]

    def mapper(self, _, line):
        record = json.loads(line, parse_float=Decimal)
        amount = record.get("amount")
        key = [record["time"][:13] + ":00", record["type"], record["geo"]["country"]]
        if amount is None:
            yield key, [1, 0, None, None, None]
        else:
            text = str(Decimal(amount))  # a number, or now and then a numeric string
            yield key, [1, 1, text, text, text]

    def combiner(self, key, partials):
        yield key, add_up(partials)

    def reducer(self, key, partials):
        count, n, total, low, high = add_up(partials)
        if not n:
            columns = [str(count), "0", "", "", ""]
        else:
            mean = MEAN.divide(Decimal(total), Decimal(n))
            columns = [str(count)] + [plain(Decimal(x)) for x in (total, low, high)] + [plain(mean)]
        yield None, "\t".join(key + columns)

    def run_job(self):
        """Run the job as MRJob.run_job does, then print its lines sorted by their bytes
        (the order of the truth; the groups come out of mrjob in its own order)."""
        with self.make_runner() as runner:
            runner.run()
            lines = [value.rstrip("\r\n") for _, value in self.parse_output(runner.cat_output())]
        lines.sort(key=lambda line: line.encode("utf-8"))
        self.stdout.write("".join(line + "\n" for line in lines).encode("utf-8"))
        self.stdout.flush()


if __name__ == "__main__":
    KeyTimeValue.run()
