"""The project against real Apache Hadoop Streaming: the same jobs on the same messy Firehose tree
through `hadoop jar hadoop-streaming.jar` (the pair shipped with -files, as in an EMR step) and
through `run_local.sh -r 3 -o`, part file by part file, byte for byte, and counter by counter,
on Hadoop 3.3.6 (streaming 3.3.5) and on Hadoop 3.4.2."""
import bz2
import datetime
import gzip
import json
import random
import subprocess
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from conftest import MAPPER, REDUCER, REPO, clean_env, copy_project
from support.hadoop_support import (COUNTER_GROUP, HADOOP_VERSIONS, RECURSIVE, Hadoop, HadoopRun,
                            hash_partition, job_counters, output_files, part_files, resolve_hadoop)

pytestmark = pytest.mark.hadoop

RUN_LOCAL = REPO / "run_local.sh"
REDUCERS = 3

COUNTRIES = ["de", "fr", "br", "jp", "us", "gb", "ru", "es", "it", "nl", "pl", "is"]
CITIES = ["München", "Köln", "São Paulo", "東京", "Москва", "Zürich", "Łódź", "Reykjavík",
          "Berlin", "Paris", "🔥 Hot Springs", "Ærøskøbing", "Ñuñoa", "İstanbul"]
WORDS = ["Python", "Café", "über", "Meetup", "東京", "Night", "ÉCOLE", "école", "data", "🔥",
         "Hadoop", "straße", "STRASSE", "naïve", "Ωmega"]
FIRST_EPOCH = 1488200000  # 2017-02-27T12:53:20Z

# The four kinds of job, each with 3 reducers, with and without the combiner.
JOBS = {
    "census": [],
    "key-time-value": ["--key", "group.group_country,group.group_city", "--time", "mtime",
                       "--per", "day", "--value", "guests"],
    "arrival": ["--time", "@arrival", "--key", "response"],
    "words": ["--words", "event.event_name"],
}


@pytest.fixture(scope="session", params=HADOOP_VERSIONS, ids=lambda version: "hadoop" + version)
def hadoop(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Hadoop:
    """Each test of this module, on each version of the test-time Hadoop."""
    return resolve_hadoop(request.param, tmp_path_factory)


# -- the messy Firehose tree ----------------------------------------------------------------------

def event(rng: random.Random, index: int) -> Dict[str, object]:
    """A Meetup-RSVP-like record, with the time in any of the forms Firehose producers use."""
    seconds = FIRST_EPOCH + index * 613 + rng.randrange(600)
    iso = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime(
        rng.choice(["%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d %H:%M:%S.250+00:00"]))
    mtime = rng.choice([seconds, seconds * 1000, iso])
    record = {
        "mtime": mtime,
        "guests": rng.choice([0, 1, 2, 5, "3", 1.5, None, "many"]),
        "response": rng.choice(["yes", "no"]),
        "group": {"group_country": rng.choice(COUNTRIES), "group_city": rng.choice(CITIES)},
        "event": {"event_name": " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 4)))},
    }  # type: Dict[str, object]
    if rng.random() < 0.1:
        del record["guests"]
    if rng.random() < 0.05:
        record["extra"] = {"nested": [1, 2]}
    return record


def encoded(record: Dict[str, object]) -> bytes:
    return json.dumps(record, ensure_ascii=False).encode()


def firehose_name(hour: str, minute: int, suffix: str) -> str:
    """YYYY/MM/DD/HH/<stream>-<n>-YYYY-MM-DD-HH-MM-SS-<id> as Firehose names its objects."""
    return "%s/rsvps-1-%s-%02d-00-%s" % (hour, hour.replace("/", "-"), minute, suffix)


def messy_tree(root: Path) -> Dict[str, bytes]:
    """Write a small Firehose tree with everything Firehose and its producers hand over."""
    rng = random.Random(6)
    batch = iter([encoded(event(rng, i)) for i in range(450)])

    def take(count: int) -> List[bytes]:
        return [next(batch) for _ in range(count)]

    lone_cr_inside = encoded(event(rng, 450)).replace(b'"event_name": "',
                                                       b'"event_name": "cut\rhere ')
    assert b"\r" in lone_cr_inside
    files = {
        # Firehose's default: records back to back, no delimiter, one long line.
        firehose_name("2017/02/27/12", 55, "0a1b"): b"".join(take(60)),
        # Back to back with spaces and newlines mixed, then NDJSON.
        firehose_name("2017/02/27/13", 5, "2c3d"): b" ".join(take(20)) + b"\n"
        + b"\n".join(take(40)) + b"\n",
        firehose_name("2017/02/27/14", 10, "4e5f") + ".gz": gzip.compress(b"\n".join(take(80))),
        firehose_name("2017/02/27/23", 59, "6a7b") + ".bz2": bz2.compress(
            b"\n".join(take(60)) + b"\n"),
        # A hand-off with a BOM, CRLF, blank lines and bad records of every kind.
        firehose_name("2017/02/28/00", 1, "8c9d"): b"\xef\xbb\xbf" + b"\r\n".join(
            take(30) + [b"", b'{"mtime": 1488240000, "group": {"group_city": "trunc',
                        b"[1, 2, 3]", b"42", b'{"mtime": "yesterday", "guests": 1}',
                        b'{"response": "yes", "group": {"group_city": "Bad \xff byte"}}',
                        b'{"guests": "7"}', b"   ", b"not json at all"] + take(30)) + b"\r\n",
        # Multibyte keys, a lone CR inside a record's text and one between two records.
        firehose_name("2017/02/28/01", 30, "aebf"): b"\n".join(
            take(40) + [lone_cr_inside, next(batch) + b"\r" + next(batch)] + take(30)) + b"\n",
        firehose_name("2017/02/28/02", 0, "c0d1"): b"",
        # Not input: Hadoop skips names that start with _ or . (so must run_local.sh).
        "2017/02/28/01/_temporary-rsvps": b"\n".join(take(10)) + b"\n",
        "2017/02/28/01/.rsvps.swp": b"\n".join(take(10)) + b"\n",
    }
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return files


@pytest.fixture(scope="module")
def firehose(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("firehose") / "data"
    messy_tree(root)
    return root


# -- running both sides ---------------------------------------------------------------------------

class LocalRun:
    """What one run_local.sh printed and returned."""

    def __init__(self, args: List[str], result: subprocess.CompletedProcess) -> None:
        self.args = args
        self.returncode = result.returncode
        self.stdout = result.stdout.decode("utf-8", "replace")
        self.stderr = result.stderr.decode("utf-8", "replace")

    def counters(self) -> Dict[str, int]:
        return job_counters(self.stderr).get(COUNTER_GROUP, {})

    def describe(self) -> str:
        return "run_local.sh %s\nexit status %d\n%s%s" % (
            " ".join(self.args), self.returncode, self.stdout, self.stderr)


def run_local(args: List[str], cwd: Path, env: Optional[Dict[str, str]] = None,
              check: bool = True) -> LocalRun:
    assert RUN_LOCAL.exists(), "run_local.sh is missing"
    result = subprocess.run([str(RUN_LOCAL)] + args, cwd=str(cwd), capture_output=True,
                            env=env if env is not None else clean_env(), timeout=300)
    run = LocalRun(args, result)
    if check and run.returncode != 0:
        raise AssertionError("run_local.sh failed:\n" + run.describe())
    return run


def pair_on_hadoop(hadoop: Hadoop, data: Path, output: Path, flags: List[str], combine: bool,
                   cwd: Path, check: bool = True) -> HadoopRun:
    """The job as an EMR step runs it: the pair shipped with -files, found in the task's
    working directory."""
    args = ["-D", "mapreduce.job.reduces=%d" % REDUCERS] + RECURSIVE + [
        "-files", "%s,%s" % (MAPPER, REDUCER),
        "-input", str(data), "-output", str(output),
        "-mapper", " ".join(["mapper.py"] + flags), "-reducer", "reducer.py"]
    if combine:
        args += ["-combiner", "reducer.py --combine"]
    return hadoop.streaming(args, cwd=cwd, check=check)


def pair_on_run_local(data: Path, output: Path, flags: List[str], combine: bool,
                      cwd: Path) -> LocalRun:
    return run_local(["-r", str(REDUCERS)] + (["-c"] if combine else [])
                     + ["-o", str(output), str(data), "--"] + flags, cwd=cwd)


def assert_same_output(hadoop_run: HadoopRun, hadoop_out: Path, local_run: LocalRun,
                       local_out: Path) -> None:
    hadoop_files, local_files = output_files(hadoop_out), output_files(local_out)
    assert hadoop_files.get("_SUCCESS") == b"" and local_files.get("_SUCCESS") == b""
    assert sorted(local_files) == sorted(hadoop_files)
    for name in sorted(part_files(hadoop_out)):
        assert local_files[name] == hadoop_files[name], (
            "%s differs from Hadoop's\n--- Hadoop\n%s\n--- run_local.sh\n%s" % (
                name, hadoop_files[name].decode("utf-8", "replace"),
                local_files[name].decode("utf-8", "replace")))
    assert hadoop_run.counters(), "Hadoop reported no %s counters:\n%s" % (
        COUNTER_GROUP, hadoop_run.describe())
    assert local_run.counters() == hadoop_run.counters(), local_run.stderr


# Any streaming scripts, not only the pair: the framework's own rules. The mapper turns <CR> into a
# lone CR and <ETX> into \x03 in its output; the reducer drops the TAB Hadoop adds to a line
# that has none (TextOutputFormat puts it back) and turns <RCR> into a lone CR.
SCRIPT_MAPPER = r"""#!/usr/bin/env python3
import sys
for line in sys.stdin.buffer:
    sys.stdout.buffer.write(line.replace(b"<CR>", b"\r").replace(b"<ETX>", b"\x03"))
"""
SCRIPT_REDUCER = r"""#!/usr/bin/env python3
import sys
for line in sys.stdin.buffer:
    if line.endswith(b"\t\n"):
        line = line[:-2] + b"\n"
    sys.stdout.buffer.write(line.replace(b"<RCR>", b"\r"))
"""
# Every key once (Hadoop does not order the values of one key), keys that sort differently as
# keys and as whole lines ("a" before "a\x03", one reducer gets both), multibyte UTF-8, bytes
# that are not UTF-8, lines without TAB.
SCRIPT_INPUT = {
    "2017/02/27/14/plain": b"a<ETX>\tsecond\na\tfirst\nnotab\nb\tone<CR>c\tcut by CR\n"
                           b"\xc3\xa9t\xc3\xa9\t\xe6\x97\xa5\n\xff\xfe\tnot utf-8\nr\tx<RCR>y\n",
    "2017/02/27/14/crlf": b"\xef\xbb\xbfbom\tfirst\r\nd\tcrlf\r\ne\rf\tlone\r\n" + b"".join(
        b"k%03d\t%d\n" % (i, i) for i in range(60)),
    "2017/02/27/15/packed.gz": gzip.compress("".join(
        "ключ%d\tgz\n" % i for i in range(30)).encode()),
    "2017/02/27/15/_hidden": b"hidden\tnever read\n",
}
# The versions that take a codec's file name ending in any case. Hadoop 3.3 picks a codec by the
# name's exact ending: UPPER_GZ is read as it is (plain text there; gzip bytes would be read as
# text too, and run_local.sh refuses them). Hadoop 3.4 lowercases the name first
# (CompressionCodecFactory.getCodec): UPPER_GZ is gunzipped (gzip bytes there).
CASE_BLIND_CODECS = {"3.3.6": False, "3.4.2": True}
UPPER_GZ = "2017/02/27/15/upper.GZ"


# -- the tests ------------------------------------------------------------------------------------

@pytest.mark.parametrize("combine", [False, True], ids=["plain", "combiner"])
@pytest.mark.parametrize("job", sorted(JOBS))
def test_part_files_and_counters_are_those_of_hadoop(hadoop: Hadoop, firehose: Path, tmp_path,
                                                     job: str, combine: bool):
    flags = JOBS[job]
    on_hadoop = pair_on_hadoop(hadoop, firehose, tmp_path / "hadoop", flags, combine, tmp_path)
    on_local = pair_on_run_local(firehose, tmp_path / "local", flags, combine, tmp_path)
    assert_same_output(on_hadoop, tmp_path / "hadoop", on_local, tmp_path / "local")
    parts = part_files(tmp_path / "hadoop")
    assert sorted(parts) == ["part-%05d" % n for n in range(REDUCERS)]
    assert sum(1 for data in parts.values() if data) >= 2, "the keys should spread over reducers"
    if combine:
        framework = on_hadoop.counters("Map-Reduce Framework")
        assert framework["Combine input records"] > 0


def test_the_messy_tree_exercises_what_it_should(hadoop: Hadoop, firehose: Path, tmp_path):
    """Multibyte UTF-8 keys spread over the reducers, and the bad lines are counted (among them
    the two halves of the record that a lone CR cuts in two, in Hadoop as in run_local.sh)."""
    flags = ["--key", "group.group_city"]
    on_hadoop = pair_on_hadoop(hadoop, firehose, tmp_path / "hadoop", flags, False, tmp_path)
    on_local = pair_on_run_local(firehose, tmp_path / "local", flags, False, tmp_path)
    assert_same_output(on_hadoop, tmp_path / "hadoop", on_local, tmp_path / "local")
    parts = {name: data.decode("utf-8") for name, data in part_files(tmp_path / "hadoop").items()}
    cities_by_part = {name: {line.split("\t")[0] for line in text.splitlines()}
                      for name, text in parts.items()}
    multibyte = {city for city in CITIES if len(city.encode()) > len(city)}
    assert sum(1 for cities in cities_by_part.values() if cities & multibyte) >= 2
    assert multibyte <= set().union(*cities_by_part.values())
    counters = on_hadoop.counters()
    assert counters["malformed"] >= 5 and counters["invalid_utf8"] >= 1
    assert counters["records"] > 300


def test_a_failing_mapper_fails_both_without_success_marker(hadoop: Hadoop, firehose: Path,
                                                            tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("#!/usr/bin/env python3\nimport sys\nsys.stdin.buffer.read()\n"
                      "sys.stderr.write('broken mapper: giving up\\n')\nsys.exit(3)\n")
    broken.chmod(0o755)
    on_hadoop = hadoop.streaming(RECURSIVE + ["-files", str(broken), "-input", str(firehose),
                                              "-output", "hadoop", "-mapper", "broken.py",
                                              "-reducer", "cat"], cwd=tmp_path, check=False)
    assert on_hadoop.returncode == 1, on_hadoop.describe()
    assert "subprocess failed with code 3" in on_hadoop.stderr
    assert "broken mapper: giving up" in on_hadoop.stderr
    assert "Job not successful!" in on_hadoop.stderr
    # Hadoop leaves the output directory behind, empty; run_local.sh leaves none.
    assert not (tmp_path / "hadoop" / "_SUCCESS").exists()
    assert output_files(tmp_path / "hadoop") == {}

    on_local = run_local(["--mapper", str(broken), "-o", "local", str(firehose)], cwd=tmp_path,
                         check=False)
    assert on_local.returncode != 0
    assert "broken mapper: giving up" in on_local.stderr
    assert not (tmp_path / "local" / "_SUCCESS").exists()


def corrupt_crc(data: bytes) -> bytes:
    """A gzip member whose CRC-32 no longer matches its data."""
    return data[:-8] + bytes([data[-8] ^ 0xFF]) + data[-7:]


GOOD = b'{"k":"a"}\n{"k":"b"}\n'
# Damaged compressed files that Hadoop's codecs refuse: the map task reading one fails, and the job.
UNREADABLE = {
    "crc.gz": corrupt_crc(gzip.compress(GOOD)),
    "trailing-garbage.gz": gzip.compress(GOOD) + b"garbage",
    "zero-padded.gz": gzip.compress(GOOD) + bytes(512),
    "plain-text.gz": GOOD,
    "empty.gz": b"",
    "empty.deflate": b"",
}
# And what its bzip2 reader takes: bytes after the last stream are left alone.
READABLE_BZIP2 = {
    "zero-padded.bz2": bz2.compress(GOOD) + bytes(100),
    "trailing-garbage.bz2": bz2.compress(GOOD) + bz2.compress(b'{"k":"c"}\n') + b"garbage, BZ",
    "empty.bz2": b"",
}


@pytest.mark.parametrize("name", sorted(UNREADABLE))
def test_a_damaged_compressed_file_fails_both(hadoop: Hadoop, tmp_path, name: str):
    data = tmp_path / "in" / "2017" / "02" / "27" / "14"
    data.mkdir(parents=True)
    (data / "good.gz").write_bytes(gzip.compress(GOOD))
    (data / name).write_bytes(UNREADABLE[name])
    on_hadoop = pair_on_hadoop(hadoop, tmp_path / "in", tmp_path / "hadoop", ["--key", "k"], False, tmp_path,
                               check=False)
    assert on_hadoop.returncode == 1 and "Job not successful!" in on_hadoop.stderr, on_hadoop.describe()
    on_local = run_local(["-o", "local", "in", "--", "--key", "k"], cwd=tmp_path, check=False)
    assert on_local.returncode == 1, on_local.describe()
    assert "cannot read input %s" % (data / name).relative_to(tmp_path) in on_local.stderr
    assert "Traceback" not in on_local.stderr
    assert not (tmp_path / "local").exists()


def test_bytes_after_the_last_bzip2_stream_are_ignored_by_both(hadoop: Hadoop, tmp_path):
    data = tmp_path / "in" / "2017" / "02" / "27" / "14"
    data.mkdir(parents=True)
    for name, body in READABLE_BZIP2.items():
        (data / name).write_bytes(body)
    on_hadoop = pair_on_hadoop(hadoop, tmp_path / "in", tmp_path / "hadoop", ["--key", "k"], False, tmp_path)
    on_local = pair_on_run_local(tmp_path / "in", tmp_path / "local", ["--key", "k"], False, tmp_path)
    assert_same_output(on_hadoop, tmp_path / "hadoop", on_local, tmp_path / "local")
    assert on_local.counters()["records"] == 5


# A tree for Hadoop's globs: dot and underscore folders in the middle, a folder whose name holds
# glob characters beside the folder that name matches as a glob.
GLOB_TREE = ["2017/02/27/14/f", "2017/02/28/14/f", "2017/02/29/14/f", "2017/02/.staging/14/f",
             "2017/02/_tmp/14/f", "2017/02/28/_SUCCESS", "br[1]/f", "br1/f", "a{b}/f"]


@pytest.mark.parametrize("pattern", ["2017/02/2[^7]/*", "2017/02/{27,28}/*", "*/*/*/*/*", "br[1]/*",
                                     "br\\[1\\]/*", "br\\[1\\]/f", "{2017/02/27,br1}/*", "2017/02/*", "a\\{b\\}/*"])
def test_input_globs_reach_what_hadoops_reach(hadoop: Hadoop, tmp_path, pattern: str):
    """run_local.sh takes a glob as Hadoop does (not as the shell or Python's glob): the same
    objects, so the same counts."""
    for name in GLOB_TREE:
        (tmp_path / "in" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "in" / name).write_bytes(b'{"k":"%s"}\n' % name.encode())
    glob = str(tmp_path / "in" / pattern)
    on_hadoop = hadoop.streaming(["-D", "mapreduce.job.reduces=1"] + RECURSIVE + [
        "-files", "%s,%s" % (MAPPER, REDUCER), "-input", glob, "-output", str(tmp_path / "hadoop"),
        "-mapper", "mapper.py --key k", "-reducer", "reducer.py"], cwd=tmp_path)
    on_local = run_local(["-o", str(tmp_path / "local"), glob, "--", "--key", "k"], cwd=tmp_path)
    assert_same_output(on_hadoop, tmp_path / "hadoop", on_local, tmp_path / "local")
    assert on_local.counters()["records"] > 0


def test_an_existing_output_directory_is_refused_by_both(hadoop: Hadoop, firehose: Path,
                                                         tmp_path):
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "keep").write_bytes(b"precious\n")
    on_hadoop = pair_on_hadoop(hadoop, firehose, existing, [], False, tmp_path, check=False)
    assert on_hadoop.returncode == 5, on_hadoop.describe()
    assert "Output directory file:%s already exists" % existing in on_hadoop.stderr
    on_local = run_local(["-o", str(existing), str(firehose)], cwd=tmp_path, check=False)
    assert on_local.returncode != 0
    assert "exists" in on_local.stderr
    assert output_files(existing) == {"keep": b"precious\n"}
    assert sorted(p.name for p in existing.iterdir()) == ["keep"]


def test_run_local_hadoop_runs_the_same_job_on_the_hadoop_on_path(hadoop: Hadoop, firehose: Path,
                                                                  tmp_path):
    flags = ["--key", "response,group.group_country", "--value", "guests"]
    on_hadoop = run_local(["--hadoop", "-r", str(REDUCERS), "-c", "-o", str(tmp_path / "hadoop"),
                           str(firehose), "--"] + flags, cwd=tmp_path, env=hadoop.env())
    assert "INFO mapreduce.Job: Job job_local" in on_hadoop.stderr, (
        "run_local.sh --hadoop should show Hadoop's own console:\n" + on_hadoop.describe())
    on_local = pair_on_run_local(firehose, tmp_path / "local", flags, True, tmp_path)
    assert output_files(tmp_path / "hadoop") == output_files(tmp_path / "local")
    assert job_counters(on_hadoop.stderr).get(COUNTER_GROUP) == on_local.counters()
    refused = run_local(["--hadoop", "-o", str(tmp_path / "hadoop"), str(firehose)], cwd=tmp_path,
                        env=hadoop.env(), check=False)
    assert refused.returncode != 0 and "already exists" in refused.stderr


def test_run_local_hadoop_ships_the_pair_from_a_folder_with_spaces_and_commas(hadoop: Hadoop, firehose: Path,
                                                                              tmp_path):
    project = copy_project(tmp_path / "my work, #1 %20")
    flags = ["--key", "response"]
    on_hadoop = subprocess.run([str(project / "run_local.sh"), "--hadoop", "-r", str(REDUCERS),
                                "-o", str(tmp_path / "hadoop"), str(firehose), "--"] + flags, cwd=str(tmp_path), env=hadoop.env(),
                               capture_output=True, timeout=300)
    assert on_hadoop.returncode == 0, on_hadoop.stderr.decode("utf-8", "replace")
    pair_on_run_local(firehose, tmp_path / "local", flags, False, tmp_path)
    assert part_files(tmp_path / "hadoop") == part_files(tmp_path / "local")


@pytest.mark.parametrize("reducers", [3, 0], ids=["reducers", "map-only"])
def test_any_streaming_scripts_give_the_part_files_of_hadoop(hadoop: Hadoop, tmp_path,
                                                             reducers: int):
    upper = b"upper\tcase\n"
    inputs = dict(SCRIPT_INPUT, **{UPPER_GZ: gzip.compress(upper, mtime=0) if CASE_BLIND_CODECS[hadoop.version]
                                   else upper})
    for name, data in inputs.items():
        (tmp_path / "data" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "data" / name).write_bytes(data)
    for name, text in (("tr.py", SCRIPT_MAPPER), ("untab.py", SCRIPT_REDUCER)):
        (tmp_path / name).write_text(text)
        (tmp_path / name).chmod(0o755)
    on_hadoop = hadoop.streaming(["-D", "mapreduce.job.reduces=%d" % reducers] + RECURSIVE + [
        "-files", "tr.py,untab.py", "-input", "data", "-output", "hadoop",
        "-mapper", "tr.py", "-reducer", "untab.py"], cwd=tmp_path)
    on_local = run_local(["--hadoop-version", hadoop.version, "-r", str(reducers), "--mapper", "tr.py",
                          "--reducer", "untab.py", "-o", "local", "data"], cwd=tmp_path)
    hadoop_files = output_files(tmp_path / "hadoop")
    assert b"upper\tcase\n" in b"".join(hadoop_files.values())
    assert len(part_files(tmp_path / "hadoop")) == (reducers or 4)
    if reducers:
        part = "part-%05d" % hash_partition(b"a", reducers)
        assert hash_partition(b"a\x03", reducers) == hash_partition(b"a", reducers)
        assert b"a\tfirst\na\x03\tsecond\n" in hadoop_files[part]
    assert output_files(tmp_path / "local") == hadoop_files, on_local.stderr
    assert on_hadoop.returncode == on_local.returncode == 0


# Files cut into splits at a block size of 64 bytes, each with a line end where a split begins
# or ends: CR LF across two splits, a lone CR or an LF as a split's last byte, a line longer
# than a split (so that one split begins no line), a BOM and no final line end, CR LF lines.
# Files of up to 1.1 splits, compressed files and empty files stay whole.
SPLIT_PROBE = r"""#!/usr/bin/env python3
import os, sys
data = sys.stdin.buffer.read()
print(os.environ["mapreduce_map_input_start"], os.environ["mapreduce_map_input_length"],
      os.path.basename(os.environ["mapreduce_map_input_file"]), data.hex())
"""
SPLIT_INPUT = {
    "crlf-across": b"a" * 63 + b"\r\n" + b"b\n" * 40,
    "cr-last": b"a" * 63 + b"\r" + b"c\n" * 40,
    "lf-last": b"a" * 63 + b"\n" + b"d\n" * 40,
    "long-line": b"e" * 200 + b"\n" + b"f\n" * 10,
    "bom": b"\xef\xbb\xbf" + b"g\r\n" * 30 + b"no line end",
    "small": b"small\n" * 11,
    "packed.gz": gzip.compress(b"h\n" * 100),
    "empty": b"",
}


def test_large_files_are_split_into_map_tasks_as_hadoop_splits_them(hadoop: Hadoop, tmp_path):
    for name, data in SPLIT_INPUT.items():
        (tmp_path / "data" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "data" / name).write_bytes(data)
    (tmp_path / "probe.py").write_text(SPLIT_PROBE)
    (tmp_path / "probe.py").chmod(0o755)
    hadoop.streaming(["-D", "fs.local.block.size=64", "-D", "mapreduce.job.reduces=0",
                      "-files", "probe.py", "-input", "data", "-output", "hadoop",
                      "-mapper", "probe.py"], cwd=tmp_path)
    run_local(["--block-size", "64", "-r", "0", "--mapper", "probe.py", "-o", "local", "data"],
              cwd=tmp_path)
    hadoop_files = output_files(tmp_path / "hadoop")
    tasks = [hadoop_files[name].split() for name in sorted(part_files(tmp_path / "hadoop"))]
    assert len(tasks) == 18 and {t[2].decode() for t in tasks} == set(SPLIT_INPUT)  # every file read
    assert [t[:2] for t in tasks if t[2] == b"long-line"][:4] == [[b"0", b"64"], [b"64", b"64"],
                                                                  [b"128", b"64"], [b"192", b"29"]]
    # The same splits with the same lines; map tasks numbered by split length, largest first.
    # (Among splits of one length, Hadoop follows the local file system's directory order,
    # run_local.sh the names' order, as S3 and HDFS list them.)
    local_files = output_files(tmp_path / "local")
    assert sorted(local_files.values()) == sorted(hadoop_files.values())
    lengths = [int(local_files[name].split()[1]) for name in sorted(part_files(tmp_path / "local"))]
    assert lengths == sorted(lengths, reverse=True)
