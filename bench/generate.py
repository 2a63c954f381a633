#!/usr/bin/env python3
"""Generate a seeded Firehose tree of JSON events, and the exact results of the benchmark jobs.

The tree looks like what Kinesis Data Firehose delivers to S3: `YYYY/MM/DD/HH/<stream>-1-
YYYY-MM-DD-HH-MM-SS-<id>` objects of newline-delimited JSON, here about 455 bytes an event:

    {"id":"…","time":"2026-11-20T14:03:27.123Z","type":"purchase","user":{…},
     "geo":{"country":"DE","region":"BY","city":"München"},"amount":12.30,"currency":"EUR",
     "session":"…","device":{…},"text":"Free text, with words …","tags":[…]}

While writing it, the generator keeps its own account of what each benchmarked job must print
(the "truth"), in reducer.py's output format, so a run's output can be compared byte for byte:

    census.tsv   field <TAB> count                               (the default job)
    ktv.tsv      hour <TAB> type <TAB> country <TAB> count <TAB> sum <TAB> min <TAB> max <TAB> mean
                                                                 (--key type,geo.country --time time --value amount)
    words.tsv    word <TAB> count                                (--words text)

The sums are kept in integer cents, so they are exact; they never go through mapper.py's code.
"""
import argparse
import json
import os
import random
import shutil
import sys
from collections import Counter
from decimal import ROUND_HALF_EVEN, Context, Decimal
from pathlib import Path
from typing import Dict, List, Optional, Tuple

GENERATOR_VERSION = 1  # bump when the data or the truth format changes: old trees are regenerated
STREAM = "bench-events"
DAY = (2026, 11, 20)
FIRST_HOUR = 8
OBJECT_BYTES = 5000000  # the default object size (default_files)
HOURS = 10  # 08:00-17:59 UTC: with 10 types and 10 countries, about a thousand (hour, type, country) groups

# type -> (weight, how often it carries an amount, sign of the amount)
TYPES = {
    "page_view": (30, 0.0, 1), "click": (20, 0.0, 1), "search": (12, 0.0, 1),
    "add_to_cart": (9, 1.0, 1), "purchase": (7, 0.99, 1), "refund": (2, 1.0, -1),
    "signup": (5, 0.02, 1), "login": (8, 0.0, 1), "share": (4, 0.0, 1), "review": (3, 0.05, 1),
}
# country -> (weight, currency, [(region, city), ...])
COUNTRIES = {
    "US": (30, "USD", [("CA", "San Francisco"), ("NY", "New York"), ("TX", "Austin"), ("WA", "Seattle")]),
    "DE": (12, "EUR", [("BY", "München"), ("BE", "Berlin"), ("HH", "Hamburg")]),
    "GB": (10, "GBP", [("ENG", "London"), ("SCT", "Edinburgh")]),
    "FR": (8, "EUR", [("IDF", "Paris"), ("ARA", "Lyon")]),
    "BR": (8, "BRL", [("SP", "São Paulo"), ("RJ", "Rio de Janeiro")]),
    "IN": (10, "INR", [("KA", "Bengaluru"), ("MH", "Mumbai")]),
    "JP": (8, "JPY", [("13", "東京"), ("27", "大阪")]),
    "CA": (5, "CAD", [("ON", "Toronto"), ("QC", "Montréal")]),
    "AU": (5, "AUD", [("NSW", "Sydney"), ("VIC", "Melbourne")]),
    "ES": (4, "EUR", [("MD", "Madrid"), ("CT", "Barcelona")]),
}
DEVICES = [("ios", "17.2"), ("ios", "16.7"), ("android", "14"), ("android", "13"), ("web", "chrome-119"),
           ("web", "firefox-120"), ("web", "safari-17")]
PLANS = ["free", "free", "free", "pro", "team"]
TAGS = ["promo", "mobile", "returning", "beta", "newsletter", "holiday", "ab-test-b", "referral"]
REFERRERS = ["https://www.google.com/", "https://news.ycombinator.com/", "https://t.co/x", "direct"]
NON_ASCII_WORDS = ["café", "naïve", "über", "año", "smörgås", "东京", "crème", "façade", "jalapeño", "résumé"]
PUNCTUATION = ["", "", "", "", "", "", ",", ".", "!", "?", ":", " -", ";", ")"]
MEAN = Context(prec=15, rounding=ROUND_HALF_EVEN)  # the reducer's mean: 15 significant digits
JOBS = ("census", "ktv", "words")


class Truth:
    """The exact results of the benchmark jobs, accumulated record by record."""

    def __init__(self) -> None:
        self.fields = Counter()  # type: Counter
        self.groups = {}  # type: Dict[Tuple[str, str, str], List[Optional[int]]]  # count n sum min max (cents)
        self.words = Counter()  # type: Counter

    def add(self, fields: List[str], key: Tuple[str, str, str], cents: Optional[int], words: List[str]) -> None:
        self.fields.update(fields)
        totals = self.groups.get(key)
        if totals is None:
            totals = self.groups[key] = [0, 0, 0, None, None]
        totals[0] += 1
        if cents is not None:
            totals[1] += 1
            totals[2] += cents
            totals[3] = cents if totals[3] is None else min(totals[3], cents)
            totals[4] = cents if totals[4] is None else max(totals[4], cents)
        self.words.update(words)

    def write(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        write_rows(folder / "census.tsv", [((name,), str(n)) for name, n in self.fields.items()])
        write_rows(folder / "ktv.tsv", [(key, value_columns(t)) for key, t in self.groups.items()])
        write_rows(folder / "words.tsv", [((word,), str(n)) for word, n in self.words.items()])


def value_columns(totals: List[Optional[int]]) -> str:
    """count, sum, min, max, mean as reducer.py prints them (plain decimals, no trailing zeros)."""
    count, n, total, low, high = totals
    if not n:
        return "%d\t0\t\t\t" % count
    mean = MEAN.divide(cents_decimal(total), Decimal(n))
    return "\t".join([str(count), cents_text(total), cents_text(low), cents_text(high), plain(mean)])


def cents_decimal(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


def cents_text(cents: int) -> str:
    """12300 -> 123, 1230 -> 12.3, -5 -> -0.05."""
    sign, whole, frac = "-" if cents < 0 else "", abs(cents) // 100, abs(cents) % 100
    if frac == 0:
        return "%s%d" % (sign, whole)
    return ("%s%d.%02d" % (sign, whole, frac)).rstrip("0")


def plain(number: Decimal) -> str:
    if number.is_zero():
        return "0"
    return format(number.normalize(Context(prec=60)), "f")


def write_rows(path: Path, rows: List[Tuple[Tuple[str, ...], str]]) -> None:
    """Rows sorted by their bytes (key columns never hold a character below TAB, so sorting
    by the key columns, each followed by TAB, is sorting the rows)."""
    rows.sort(key=lambda row: "".join(c + "\t" for c in row[0]).encode("utf-8"))
    with path.open("w", encoding="utf-8", newline="\n") as out:
        for key, value in rows:
            out.write("\t".join(key) + "\t" + value + "\n")


class Events:
    """A seeded stream of events: the random choices, with their weights prepared once."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.types = list(TYPES)
        self.type_weights = cumulative([TYPES[t][0] for t in self.types])
        self.countries = list(COUNTRIES)
        self.country_weights = cumulative([COUNTRIES[c][0] for c in self.countries])
        self.vocabulary = make_vocabulary(self.rng, 4000)
        self.word_weights = cumulative([1.0 / (rank + 3) for rank in range(len(self.vocabulary))])  # Zipf-like
        self.serial = 0

    def event(self, at_ms: int, truth: Truth) -> str:
        """One event (a JSON text) at this time (milliseconds into DAY), accounted in truth."""
        rng = self.rng
        self.serial += 1
        kind = rng.choices(self.types, cum_weights=self.type_weights)[0]
        country = rng.choices(self.countries, cum_weights=self.country_weights)[0]
        _, currency, places = COUNTRIES[country]
        region, city = places[rng.randrange(len(places))]
        user = rng.randrange(1, 2000000)
        os_name, os_version = DEVICES[rng.randrange(len(DEVICES))]
        words = rng.choices(self.vocabulary, cum_weights=self.word_weights, k=rng.randint(7, 23))
        fields = ["id", "time", "type", "user", "geo"]
        parts = [
            '{"id":"evt-%08d-%08x"' % (self.serial, rng.getrandbits(32)),
            '"time":"%s"' % iso_time(at_ms),
            '"type":"%s"' % kind,
            '"user":{"id":%d,"name":"user_%d","plan":"%s","verified":%s}'
            % (user, user, PLANS[user % len(PLANS)], "true" if user % 3 else "false"),
            '"geo":{"country":"%s","region":"%s","city":"%s"}' % (country, region, city),
        ]
        cents = None
        _, with_amount, sign = TYPES[kind]
        if rng.random() < with_amount:
            cents = sign * int(rng.lognormvariate(7.5, 1.1))  # median ~ 18.08, a long tail
            amount = "%s%d.%02d" % ("-" if cents < 0 else "", abs(cents) // 100, abs(cents) % 100)
            if self.serial % 97 == 0:
                amount = '"%s"' % amount  # now and then a numeric string, as real producers send
            parts.append('"amount":%s' % amount)
            parts.append('"currency":"%s"' % currency)
            fields += ["amount", "currency"]
        parts.append('"session":"%012x"' % rng.getrandbits(48))
        parts.append('"device":{"os":"%s","version":"%s","app_build":%d}' % (os_name, os_version, 4000 + user % 97))
        parts.append('"text":%s' % json.dumps(sentence(rng, words), ensure_ascii=False))
        fields += ["session", "device", "text"]
        if rng.random() < 0.4:
            parts.append('"tags":%s' % json.dumps(rng.sample(TAGS, rng.randint(1, 3))))
            fields.append("tags")
        if rng.random() < 0.2:
            parts.append('"referrer":"%s"' % REFERRERS[rng.randrange(len(REFERRERS))])
            fields.append("referrer")
        truth.add(fields, ("%04d-%02d-%02dT%02d:00" % (DAY + (at_ms // 3600000,)), kind, country), cents, words)
        return ",".join(parts) + "}\n"


def cumulative(weights: List[float]) -> List[float]:
    total, out = 0.0, []
    for weight in weights:
        total += weight
        out.append(total)
    return out


def make_vocabulary(rng: random.Random, size: int) -> List[str]:
    """Lower-case pseudo-words (letters only), a few numbers and non-ASCII words; no duplicates."""
    syllables = ["ka", "lo", "mi", "ne", "ro", "sa", "ti", "vu", "da", "pe", "qu", "zo", "bra", "str", "ch",
                 "th", "en", "al", "or", "is", "un", "ex", "ion", "ing", "er", "ly", "ta", "go", "fi", "wu"]
    words = list(NON_ASCII_WORDS) + ["2026", "42", "v2", "x_ray"]
    seen = set(words)
    while len(words) < size:
        word = "".join(rng.choice(syllables) for _ in range(rng.randint(1, 4)))
        if word not in seen:
            seen.add(word)
            words.append(word)
    rng.shuffle(words)
    return words


def sentence(rng: random.Random, words: List[str]) -> str:
    """Free text from these words: capitalised now and then, with punctuation between words
    (never inside one, so the words of the text are exactly these, lower-cased)."""
    out = []
    for index, word in enumerate(words):
        if index == 0 or rng.random() < 0.08:
            word = word.capitalize()
        elif rng.random() < 0.01:
            word = word.upper()
        out.append(word + PUNCTUATION[rng.randrange(len(PUNCTUATION))])
    return " ".join(out)


def iso_time(at_ms: int) -> str:
    seconds, ms = divmod(at_ms, 1000)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (DAY + (hour, minute, second, ms))


def object_path(root: Path, start_ms: int, rng: random.Random) -> Path:
    """YYYY/MM/DD/HH/<stream>-1-YYYY-MM-DD-HH-MM-SS-<uuid> for an object opened at start_ms."""
    seconds = start_ms // 1000
    hour, minute, second = seconds // 3600, seconds // 60 % 60, seconds % 60
    date = "%04d-%02d-%02d" % DAY
    uuid = "%08x-%04x-4%03x-a%03x-%012x" % tuple(rng.getrandbits(b) for b in (32, 16, 12, 12, 48))
    folder = root.joinpath("%04d" % DAY[0], "%02d" % DAY[1], "%02d" % DAY[2], "%02d" % hour)
    return folder / ("%s-1-%s-%02d-%02d-%02d-%s" % (STREAM, date, hour, minute, second, uuid))


def generate(root: Path, truth_dir: Path, size: int, files: int, seed: int) -> Dict[str, int]:
    """Write `files` objects of about size/files bytes each, spread evenly over HOURS hours;
    events are a few seconds older than their object (now and then up to two hours: late
    data lands in an earlier hour's bucket). Returns the totals."""
    events, truth = Events(seed), Truth()
    names = random.Random(seed + 1)
    window_ms = HOURS * 3600000 // files
    per_file = size // files
    written = records = 0
    for index in range(files):
        start = FIRST_HOUR * 3600000 + index * window_ms
        path = object_path(root, start, names)
        path.parent.mkdir(parents=True, exist_ok=True)
        chunks, nbytes = [], 0
        target = per_file if index < files - 1 else size - written
        while nbytes < target:
            arrival = start + events.rng.randrange(window_ms)
            lag = events.rng.expovariate(1 / 2000.0)
            if events.rng.random() < 0.005:
                lag = events.rng.uniform(0, 7200000)  # late data
            text = events.event(max(0, int(arrival - lag)), truth)
            chunks.append(text)
            nbytes += len(text.encode("utf-8"))
            records += 1
        with path.open("w", encoding="utf-8", newline="\n") as out:
            out.write("".join(chunks))
        written += nbytes
    truth.write(truth_dir)
    return {"bytes": written, "records": records, "files": files,
            "ktv_groups": len(truth.groups), "words": len(truth.words), "fields": len(truth.fields)}


def default_files(size: int) -> int:
    """One object per 5 MB: Firehose's default S3 buffer is 5 MiB (1 to 128 MiB can be set),
    so a busy stream's objects are about that size. 1 GB: 200 objects."""
    return max(1, round(size / OBJECT_BYTES))


def prepare(workdir: Path, size: int, files: int, seed: int, log=sys.stderr) -> Dict[str, object]:
    """The tree for (size, files, seed) under workdir, generated unless a complete one is there.
    Returns its manifest: {"data": tree, "truth": folder, "bytes": ..., "records": ...}."""
    name = "firehose-%s-%dfiles-seed%d" % (size, files, seed)
    place = workdir / name
    manifest_path = place / "manifest.json"
    wanted = {"version": GENERATOR_VERSION, "size": size, "files": files, "seed": seed}
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        if all(manifest.get(k) == v for k, v in wanted.items()):
            manifest.update(data=str(place / "data"), truth=str(place / "truth"))  # wherever it is now
            log.write("bench: reusing %s (%d bytes, %d records)\n" % (place, manifest["bytes"], manifest["records"]))
            return manifest
    if place.exists():
        shutil.rmtree(str(place))
    log.write("bench: generating %d bytes in %d files (seed %d) into %s\n" % (size, files, seed, place))
    log.flush()
    partial = workdir / (name + ".partial")
    if partial.exists():
        shutil.rmtree(str(partial))
    totals = generate(partial / "data", partial / "truth", size, files, seed)
    os.rename(str(partial), str(place))
    manifest = dict(wanted, **totals)
    manifest.update(data=str(place / "data"), truth=str(place / "truth"))
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return manifest


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description="Generate the benchmark's Firehose tree and its truth "
                                     "(bench/run.py does this for you).")
    parser.add_argument("--workdir", type=Path, required=True, help="where the tree goes (outside the repository)")
    parser.add_argument("--size", type=int, default=200000000, help="bytes (default 200000000)")
    parser.add_argument("--files", type=int, help="objects (default: one per 5 MB)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    args = parser.parse_args(argv)
    manifest = prepare(args.workdir, args.size, args.files or default_files(args.size), args.seed)
    print(json.dumps(manifest, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
