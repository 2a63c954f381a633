"""Property tests: the job's result is what an in-memory reference computes, whatever the order
of records, however they are split among mappers, and whether the combiner runs 0, 1 or 3
times on any subsets of the intermediate lines."""
import json
import random
import subprocess
from decimal import Decimal, localcontext
from typing import Dict, List, Optional

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import MAPPER, REDUCER, clean_env

KEYS = st.one_of(
    st.none(), st.integers(-3, 3), st.booleans(),
    st.text(alphabet=st.sampled_from(["a", "b", "\t", "\n", "\r", "\\", "\x01", "\x02", "\x0b", " ", "é", "\u4e16"]),
            max_size=4))
NUMBERS = st.builds(lambda m, e: Decimal(m).scaleb(e), st.integers(-10 ** 20, 10 ** 20), st.integers(-12, 12))
VALUES = st.one_of(NUMBERS.map(lambda d: ("number", d)), NUMBERS.map(lambda d: ("string", d)),
                   st.just(("missing", None)), st.just(("junk", None)))
RECORDS = st.lists(st.tuples(KEYS, KEYS, VALUES), max_size=40)
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))


def json_line(first, second, value) -> str:
    kind, number = value
    fields = ['"k": %s' % json.dumps(first), '"j": %s' % json.dumps(second)]
    if kind == "number":
        fields.append('"v": %s' % number)
    elif kind == "string":
        fields.append('"v": "%s"' % number)
    elif kind == "junk":
        fields.append('"v": "n/a"')
    return "{" + ", ".join(fields) + "}"


# -- the reference: the job computed directly, in memory -----------------------------------

def render(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def plain(number: Decimal) -> str:
    return "0" if number.is_zero() else format(number.normalize(), "f")


def reference(records) -> bytes:
    groups = {}  # type: Dict[str, List]
    for first, second, (_, number) in records:
        row_key = render(first) + "\t" + render(second) + "\t"
        group = groups.setdefault(row_key, [0, []])
        group[0] += 1
        if number is not None:
            group[1].append(number)
    rows = []
    with localcontext() as context:
        context.prec = 200
        for row_key, (count, numbers) in groups.items():
            if numbers:
                total = sum(numbers, Decimal(0))
                context.prec = 15
                mean = total / len(numbers)
                context.prec = 200
                stats = [plain(total), plain(min(numbers)), plain(max(numbers)), plain(mean)]
            else:
                stats = ["0", "", "", ""]
            rows.append(row_key + "\t".join([str(count)] + stats))
    return b"".join(row.encode() + b"\n" for row in sorted(rows, key=lambda r: r.encode()))


# -- running the pair --------------------------------------------------------------------------

def run(script, args, data: bytes, env: Optional[Dict[str, str]] = None) -> bytes:
    result = subprocess.run([str(script), *args], input=data, capture_output=True,
                            env=env or clean_env(), timeout=60)
    assert result.returncode == 0 and b"Traceback" not in result.stderr, result.stderr
    return result.stdout


def mapped(records, layout: str) -> bytes:
    lines = [json_line(*r) for r in records]
    text = "".join(lines) if layout == "concatenated" else "".join(line + "\n" for line in lines)
    return run(MAPPER, ["--key", "k,j", "--value", "v"], text.encode())


def reduced(intermediate: bytes) -> bytes:
    return run(REDUCER, [], intermediate)


@SETTINGS
@given(RECORDS, st.randoms(use_true_random=False), st.sampled_from(["ndjson", "concatenated"]))
def test_result_does_not_depend_on_record_order(records, rng, layout):
    expected = reference(records)
    assert reduced(mapped(records, layout)) == expected
    shuffled = list(records)
    rng.shuffle(shuffled)
    assert reduced(mapped(shuffled, layout)) == expected


@SETTINGS
@given(RECORDS, st.lists(st.integers(0, 40), max_size=4))
def test_result_does_not_depend_on_how_records_are_split_among_mappers(records, cuts):
    bounds = [0] + sorted(c for c in cuts if c <= len(records)) + [len(records)]
    pieces = [records[a:b] for a, b in zip(bounds, bounds[1:])]
    intermediate = b"".join(mapped(piece, "ndjson") for piece in pieces)
    assert reduced(intermediate) == reference(records)


@SETTINGS
@given(RECORDS, st.integers(2, 4), st.sampled_from([0, 1, 3]), st.randoms(use_true_random=False),
       st.booleans())
def test_combiner_any_number_of_times_on_any_subsets(records, mappers, rounds, rng, like_hadoop):
    chunk = max(1, len(records) // mappers)
    lines = b"".join(mapped(records[i:i + chunk], "ndjson") for i in range(0, len(records), chunk)).splitlines(True)
    hadoop_env = clean_env(mapreduce_task_id="attempt_local0001_m_000000_0")
    for _ in range(rounds):
        rng.shuffle(lines)
        cut = rng.randint(0, len(lines))
        subset, rest = lines[:cut], lines[cut:]
        if like_hadoop:  # Hadoop hands the combiner a key-sorted run and the task environment
            combined = run(REDUCER, ["--combine"], b"".join(sorted(subset, key=lambda l: l.split(b"\t")[0])),
                           env=hadoop_env)
        else:
            combined = run(REDUCER, ["--combine"], b"".join(subset))
        lines = rest + combined.splitlines(True)
    assert reduced(b"".join(lines)) == reference(records)


def test_the_combiner_makes_mapper_output_smaller():
    rng = random.Random(7)
    records = [(rng.choice("abc"), None, ("number", Decimal(rng.randint(1, 99)))) for _ in range(300)]
    intermediate = b"".join(mapped(records[i:i + 10], "ndjson") for i in range(0, 300, 10))
    combined = run(REDUCER, ["--combine"], intermediate)
    assert len(combined.splitlines()) == 3 < len(intermediate.splitlines())
    assert reduced(combined) == reduced(intermediate) == reference(records)
