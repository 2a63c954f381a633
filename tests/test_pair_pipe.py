"""The pair as a user runs it: `cat FILE | ./mapper.py FLAGS | sort | ./reducer.py`, through
bash, with the real sort. Each test feeds one kind of input and checks rows and counters."""
import gzip
import json
import shlex

import pytest

from conftest import clean_env, counters, shell


def run_job(tmp_path, data, flags="", env=None, sort="LC_ALL=C sort"):
    """(rows, counters) of the pipe a user types, on `data` (bytes) read from a file."""
    source = tmp_path / "input"
    source.write_bytes(data)
    result = shell("cat %s | ./mapper.py %s | %s | ./reducer.py"
                   % (shlex.quote(str(source)), flags, sort), env=env)
    assert b"Traceback" not in result.stderr
    return result.stdout.decode("utf-8").splitlines(), counters(result.stderr)


def ndjson(*records):
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()


EVENTS = [{"a": "x", "n": 1}, {"a": "y", "n": 2}, {"a": "x", "n": 3}, {"a": "x", "b": None}]


# -- the default job and the line formats Firehose (and users) hand us -------------------

def test_no_flags_is_a_field_census(tmp_path):
    rows, seen = run_job(tmp_path, ndjson(*EVENTS))
    assert rows == ["a\t4", "b\t1", "n\t3"]
    assert seen == {"records": 4, "malformed": 0, "invalid_utf8": 0, "bad_time": 0,
                    "no_value": 0, "no_text": 0, "gzip_data": 0}


def test_census_field_names_are_escaped_like_any_key_column(tmp_path):
    rows, seen = run_job(tmp_path, ndjson({"a\tb": 1, "c\\d": 2, "e\nf": 3, "g\rh": 4}, {"a\tb": 5}))
    assert rows == ["a\\tb\t2", "c\\\\d\t1", "e\\nf\t1", "g\\rh\t1"]
    assert seen["records"] == 2


@pytest.mark.parametrize("layout", ["ndjson", "concatenated", "crlf", "bom", "blank lines",
                                    "spaced concatenation", "lone cr"])
def test_every_firehose_layout_gives_the_same_result(tmp_path, layout):
    bodies = [json.dumps(r) for r in EVENTS]
    data = {
        "ndjson": "\n".join(bodies) + "\n",
        "concatenated": "".join(bodies),
        "crlf": "\r\n".join(bodies) + "\r\n",
        "bom": "\ufeff" + "\n".join(bodies),
        "blank lines": "\n\n" + "\n \n".join(bodies) + "\n\n",
        "spaced concatenation": " ".join(bodies[:2]) + "\n" + "\t".join(bodies[2:]),
        "lone cr": "\r".join(bodies) + "\r",
    }[layout].encode()
    rows, seen = run_job(tmp_path, data, "--key a --value n")
    assert rows == ["x\t3\t4\t1\t3\t2", "y\t1\t2\t2\t2\t2"]
    assert seen["records"] == 4 and seen["malformed"] == 0 and seen["no_value"] == 1


def test_gzip_on_stdin_is_read_like_the_plain_file(tmp_path):
    plain, _ = run_job(tmp_path, ndjson(*EVENTS), "--key a")
    zipped, seen = run_job(tmp_path, gzip.compress(ndjson(*EVENTS)), "--key a")
    assert zipped == plain == ["x\t3", "y\t1"]
    assert seen["records"] == 4


def test_a_truncated_gzip_keeps_what_came_before_and_counts_the_break(tmp_path):
    data = gzip.compress(ndjson(*(EVENTS * 500)))
    rows, seen = run_job(tmp_path, data[: len(data) // 2], "--key a")
    assert seen["malformed"] == 1
    assert 0 < sum(int(r.split("\t")[1]) for r in rows) == seen["records"] < 2000


def test_bad_records_are_counted_and_the_rest_kept(tmp_path):
    data = b"".join([
        b'{"a": "x"}\n',
        b'[1, 2]{"a": "x"}\n',  # not an object: counted, and the next value is still read
        b'{"a": "tru\n',  # truncated
        b'{"a": "x"}{"a": oops}{"a": "next"}\n',  # decode error: reading resumes at the next record
        b'"just a string"\n',
        b'{"a": "caf\xe9"}\n',  # Latin-1 byte, not UTF-8: kept with a replacement character
        b'{"a": 1' + b"]" * 3 + b"\n",
        b"[" * 100000 + b"\n",  # nesting deeper than the parser goes
    ])
    rows, seen = run_job(tmp_path, data, "--key a")
    assert rows == ["caf\ufffd\t1", "next\t1", "x\t3"]
    assert seen == {"records": 5, "malformed": 6, "invalid_utf8": 1, "bad_time": 0,
                    "no_value": 0, "no_text": 0, "gzip_data": 0}


def test_a_bad_record_among_records_back_to_back_costs_that_record_only(tmp_path):
    """Firehose's default: one line per object, records back to back. After a record that does
    not decode, reading goes on at the next one that does; each skipped stretch counts once."""
    line = b"".join([
        b'{"a":"x"}',
        b'{"a":"y",}',  # a syntax error
        b'{"a":"x"}',
        b"ERROR: not JSON {at all}",  # text between records, braces and all
        b'{"a":"z"}',
        b'{"a" "n":{"a":"nested"}}',  # broken around an object that decodes: not a record
        b'{"a":"y"}',
        b"{'a': 'python'}{'a': 'repr'}",  # one stretch: no record starts inside it
        b'{"a":"z"}',
        b'{"a":"big","n":1e1000000000000000000}',  # an exponent no Decimal holds
        b'{"a":"x"} ',
        b'{"a":"truncat',
    ]) + b"\n"
    rows, seen = run_job(tmp_path, line, "--key a")
    assert rows == ["x\t3", "y\t1", "z\t2"]
    assert seen["records"] == 6 and seen["malformed"] == 6


def test_many_bad_records_on_one_line_are_each_passed_over(tmp_path):
    line = b'{"k":1 "b":2}{"k":"ok"}' * 20000 + b"{" * 50000 + b'{"k":"end"}\n'
    rows, seen = run_job(tmp_path, line, "--key k")
    assert rows == ["end\t1", "ok\t20000"]
    assert seen["records"] == 20001 and seen["malformed"] == 20001


def test_a_key_field_may_nest_as_deep_as_the_decoder_reads(tmp_path):
    deep = "[" * 900 + '{"b":[1,{"c":null}]}' + "]" * 900
    rows, seen = run_job(tmp_path, ('{"a":%s}\n{"a":%s}\n' % (deep, deep)).encode(), "--key a")
    assert rows == [deep + "\t2"] and seen["malformed"] == 0


def test_hadoop_line_model_a_lone_cr_inside_a_record_splits_it(tmp_path):
    # Hadoop's LineReader ends a line at a lone CR, so this record reaches the mapper in two
    # broken halves: the pipe must count the same two malformed pieces.
    rows, seen = run_job(tmp_path, b'{"a": "x"}\n{"a": "half\rhalf"}\n', "--key a")
    assert rows == ["x\t1"]
    assert seen["malformed"] == 2


# -- keys ---------------------------------------------------------------------------------

def test_key_rendering(tmp_path):
    records = [{"k": v} for v in ["tab\there", "new\nline", "back\\slash", "cr\rx", None, 7, 1.5, 1.50,
                                  True, {"b": 1, "a": [1, "x"]}, "", "ünï"]] + [{}]
    rows, _ = run_job(tmp_path, ndjson(*records), "--key k")
    assert rows == sorted([
        "\t1", "1.5\t2", "7\t1", "back\\\\slash\t1", "cr\\rx\t1", "new\\nline\t1", "null\t2",
        "tab\\there\t1", "true\t1", '{"a":[1,"x"],"b":1}\t1', "ünï\t1"], key=lambda s: s.encode())


def test_dotted_paths_and_array_indexes(tmp_path):
    records = [{"g": {"c": "us"}, "items": [{"sku": "A"}, {"sku": "B"}]},
               {"g": {"c": "de"}, "items": [{"sku": "B"}]},
               {"g": "not an object", "items": []}]
    rows, _ = run_job(tmp_path, ndjson(*records), "--key g.c,items.0.sku,items.1.sku")
    assert rows == ["de\tB\tnull\t1", "null\tnull\tnull\t1", "us\tA\tB\t1"]


def test_multi_column_keys_never_run_into_each_other(tmp_path):
    # ("a\tb", "c") and ("a", "b\tc") are different groups, and control characters in keys
    # neither merge groups nor break the byte order of rows.
    records = [{"x": "a\tb", "y": "c"}, {"x": "a", "y": "b\tc"}, {"x": "a\u0001", "y": "b"},
               {"x": "a", "y": "\u0001b"}, {"x": "a\u0002", "y": ""}, {"x": "a", "y": "\u0002"}]
    rows, _ = run_job(tmp_path, ndjson(*records), "--key x,y")
    assert len(rows) == 6
    assert rows == sorted(rows, key=lambda s: s.encode())


# -- time buckets ---------------------------------------------------------------------------

@pytest.mark.parametrize("value", [
    1487861100, 1487861100999, 1487861100.5, "2017-02-23T14:45:00Z", "2017-02-23 14:45",
    "2017-02-23T14:45:00.123456Z", "2017-02-23T15:45:00+01:00", "2017-02-23T09:15:00-0530",
    "2017-02-23T14:45:59", "2017-02-23t14:45:00z", "2017-02-23T14:45:00,5+00:00"])
def test_time_formats_land_in_the_same_utc_minute(tmp_path, value):
    rows, seen = run_job(tmp_path, ndjson({"t": value}), "--time t --per minute")
    assert rows == ["2017-02-23T14:45\t1"] and seen["bad_time"] == 0


@pytest.mark.parametrize("per,bucket", [("minute", "2017-02-23T14:45"), ("hour", "2017-02-23T14:00"),
                                        ("day", "2017-02-23"), ("month", "2017-02")])
def test_periods(tmp_path, per, bucket):
    rows, _ = run_job(tmp_path, ndjson({"t": "2017-02-23T14:45:10Z", "k": "a"}), "--time t --per %s --key k" % per)
    assert rows == [bucket + "\ta\t1"]


def test_offsets_with_minutes_move_the_hour_by_their_minutes(tmp_path):
    times = ["2017-02-23T20:15:00+05:30", "2017-02-23T20:45:00+05:30", "2017-02-23T20:59:00+05:30",
             "2017-02-23T09:15:00-05:30"]
    rows, _ = run_job(tmp_path, ndjson(*({"t": t} for t in times)), "--time t --per hour")
    assert rows == ["2017-02-23T14:00\t2", "2017-02-23T15:00\t2"]


def test_unreadable_times_are_counted_and_skipped(tmp_path):
    bad = [{}, {"t": None}, {"t": "yesterday"}, {"t": "2017-02-30T10:00:00Z"}, {"t": "2017-02-23T25:00"},
           {"t": "2017-02-23T10:00:61Z"}, {"t": "2017-02-23T10:00:00Z trailing"}, {"t": "2017-02-23T10"},
           {"t": True}, {"t": "2017-02-23T10:00:00+25:00"}, {"t": 1e30}, {"t": [1]}]
    rows, seen = run_job(tmp_path, ndjson({"t": 0}, *bad), "--time t")
    assert rows == ["1970-01-01T00:00\t1"]
    assert seen["bad_time"] == len(bad) and seen["records"] == len(bad) + 1


def test_arrival_time_comes_from_the_input_path(tmp_path):
    path = "s3://bucket/2017/02/27/14/rsvps-1-2017-02-27-14-59-59-abc.gz"
    env = clean_env(mapreduce_map_input_file=path)
    rows, _ = run_job(tmp_path, ndjson(*EVENTS), "--time @arrival --per day --key a", env=env)
    assert rows == ["2017-02-27\tx\t3", "2017-02-27\ty\t1"]
    env = clean_env(map_input_file="file:/data/rsvps-1-2017-02-28-09-00-01-abc")  # older name, no folders
    rows, _ = run_job(tmp_path, ndjson(*EVENTS), "--time @arrival", env=env)
    assert rows == ["2017-02-28T09:00\t4"]


def test_arrival_time_outside_hadoop_says_how_to_run_it(tmp_path):
    result = shell("echo '{}' | ./mapper.py --time @arrival", check=False)
    assert result.returncode == 2
    assert b"mapreduce_map_input_file" in result.stderr and b"run_local.sh" in result.stderr


@pytest.mark.parametrize("flags, message", [
    ("--key a --key b", "--key is given twice: give it once (it takes a list: --key a,b)"),
    ("--value v --key a --value w", "--value is given twice: give it once"),
    ("--time t --per day --per hour", "--per is given twice: give it once"),
    ("--key 'a, b'", "bad field path ' b': a name starts or ends with a space"),
    ("--value 'v '", "bad field path 'v ': a name starts or ends with a space"),
])
def test_flags_that_would_silently_change_the_job_are_refused(flags, message):
    """A repeated flag used to replace the first, and `--key a, b` grouped by a field " b"
    that no record has: both gave a result of the wrong job, with exit status 0."""
    result = shell("echo '{\"a\": 1}' | ./mapper.py " + flags, check=False)
    assert result.returncode == 2 and message.encode() in result.stderr and result.stdout == b""


def test_arrival_time_from_a_path_without_a_time_counts_bad_time(tmp_path):
    env = clean_env(mapreduce_map_input_file="file:/data/export.json")
    rows, seen = run_job(tmp_path, ndjson(*EVENTS), "--time @arrival", env=env)
    assert rows == [] and seen["bad_time"] == 4


# -- values -----------------------------------------------------------------------------------

def test_values_are_summed_exactly(tmp_path):
    data = b'{"v": 0.1}\n{"v": 0.2}\n{"v": "0.3"}\n{"v": 12345678901234567890.123456789}\n{"v": -1e-3}\n'
    rows, _ = run_job(tmp_path, data, "--value v")
    # the mean has 15 significant digits: 2469135780246913578.1444913578 rounded
    assert rows == ["5\t12345678901234567890.722456789\t-0.001\t12345678901234567890.123456789\t"
                    "2469135780246910000"]


def test_missing_and_non_numeric_values_count_as_no_value(tmp_path):
    records = [{"k": "a", "v": 2}, {"k": "a"}, {"k": "a", "v": "two"}, {"k": "a", "v": True},
               {"k": "a", "v": None}, {"k": "a", "v": "1_000"}, {"k": "b", "v": {"x": 1}}]
    rows, seen = run_job(tmp_path, ndjson(*records), "--key k --value v")
    assert rows == ["a\t6\t2\t2\t2\t2", "b\t1\t0\t\t\t"]
    assert seen["no_value"] == 6


def test_nan_infinity_and_huge_exponents_are_not_values(tmp_path):
    data = b'{"v": NaN}\n{"v": Infinity}\n{"v": 1e999999}\n{"v": "1e-999999"}\n{"v": 5}\n' \
           b'{"v": "1e1000000000000000000"}\n'
    rows, seen = run_job(tmp_path, data, "--value v")
    assert rows == ["6\t5\t5\t5\t5"] and seen["no_value"] == 5


def test_a_sum_that_cancels_to_a_tiny_number_reaches_the_output(tmp_path):
    data = ('{"v": 1.%s1}{"v": -1}\n' % ("0" * 2500)).encode()
    rows, seen = run_job(tmp_path, data, "--value v")
    sum_, mean = "0.%s1" % ("0" * 2500), "0.%s5" % ("0" * 2501)  # 1E-2501, 5E-2502
    assert rows == ["2\t%s\t-1\t1.%s1\t%s" % (sum_, "0" * 2500, mean)]


# -- words ------------------------------------------------------------------------------------

def test_words_of_plain_text_lines(tmp_path):
    rows, seen = run_job(tmp_path, b"The cat\tsat on THE mat.\n\nthe end\r\n", "--words")
    assert rows == ["cat\t1", "end\t1", "mat\t1", "on\t1", "sat\t1", "the\t3"]
    assert seen["records"] == 3


def test_words_of_a_json_field_with_a_key(tmp_path):
    records = [{"k": "a", "t": "Hello, hello world"}, {"k": "b", "t": "Grüße, world"}, {"k": "b"},
               {"k": "a", "t": 7}, {"k": "a", "t": {"x": "y"}}, {"k": "b", "t": ""}]
    rows, seen = run_job(tmp_path, ndjson(*records), "--key k --words t")
    assert rows == ["a\thello\t2", "a\tworld\t1", "b\tgrüße\t1", "b\tworld\t1"]
    assert seen["records"] == 6 and seen["no_text"] == 3  # missing, a number, an object; "" is text


def test_a_words_field_no_record_has_is_counted_not_silent(tmp_path):
    """A typo in --words gives no rows; the no_text counter says why (every record)."""
    rows, seen = run_job(tmp_path, ndjson({"text": "a b"}, {"text": "c"}), "--words txet")
    assert rows == [] and seen["records"] == 2 and seen["no_text"] == 2


# -- the reducer ------------------------------------------------------------------------------

def test_the_reducer_is_right_whatever_sort_the_locale_gives(tmp_path, en_us_locale):
    records = [{"k": k} for k in ["a b", "a\tb", "a", "A", "a-b", "ab", "a\u0001", "a b"] * 3]
    c_rows, _ = run_job(tmp_path, ndjson(*records), "--key k")
    locale_rows, _ = run_job(tmp_path, ndjson(*records), "--key k", env=en_us_locale, sort="sort")
    unsorted_rows, _ = run_job(tmp_path, ndjson(*records), "--key k", sort="cat")
    reversed_rows, _ = run_job(tmp_path, ndjson(*records), "--key k", sort="LC_ALL=C sort -r")
    folded_rows, _ = run_job(tmp_path, ndjson(*records), "--key k", env=en_us_locale, sort="sort -f")
    shuffled_rows, _ = run_job(tmp_path, ndjson(*records), "--key k", sort="shuf --random-source=/dev/zero")
    assert locale_rows == unsorted_rows == reversed_rows == folded_rows == shuffled_rows == c_rows
    assert len(c_rows) == 7 and c_rows == sorted(c_rows, key=lambda s: s.encode())


@pytest.mark.parametrize("locale", ["C", "C.UTF-8", "POSIX", ""])
def test_same_output_in_any_locale(tmp_path, locale):
    env = clean_env()
    env.pop("LC_ALL")
    if locale:
        env["LC_ALL"] = locale
    records = [{"k": "ünï\\", "t": "Grüße!", "v": "1.5"}, {"k": "b", "t": "x"}]
    rows, _ = run_job(tmp_path, ndjson(*records), "--key k --words t --value v", env=env)
    assert rows == ["b\tx\t1\t0\t\t\t", "ünï\\\\\tgrüße\t1\t1.5\t1.5\t1.5\t1.5"]


def test_the_reducer_skips_and_counts_lines_that_are_not_mapper_output(tmp_path):
    result = shell("printf 'k\\x02\\t2\\nnot mapper output\\nk\\x02\\tx\\nk\\x02\\t3\\n' | ./reducer.py")
    assert result.stdout == b"k\t5\n"
    assert counters(result.stderr) == {"bad_intermediate": 2}
    assert b"line 2" in result.stderr and b"Traceback" not in result.stderr


@pytest.mark.parametrize("line", [
    b"k\\x02\\t1%s" % (b"0" * 5000),  # a count past int()'s 4300 digits
    b"k\\x03J\\x02\\t1",  # a raw LF in a key: mapper.py writes \\n
    b"k\\x01I\\x02\\t1",  # a TAB escaped the way mapper.py does not
    b"k\\x02\\t2\\t3\\t6\\t1\\t3",  # more values than records
    b"k\\x02\\t2\\t2\\t6\\t5\\t1",  # min above max
    b"k\\x02\\t2\\t2\\t1_0\\t1\\t9",  # Decimal() reads 1_0, mapper.py never writes it
    b"k\\x02\\t2\\t2\\t1E+99999999999999999999\\t1\\t9",  # an exponent no Decimal holds
    b"k\\x02\\t2\\t2\\t1E-999999999\\t1\\t9",  # exact arithmetic on it: a billion digits
    b"k\\x02\\t1\\t0\\t5\\t\\t",  # no values, yet a sum
])
@pytest.mark.parametrize("where", ["pipe", "hadoop"])
def test_the_reducer_skips_each_kind_of_line_mapper_py_never_writes(line, where):
    env = clean_env(mapreduce_task_id="attempt_local0001_r_000000_0") if where == "hadoop" else None
    result = shell("printf '%s\\n' | ./reducer.py" % line.decode(), env=env)
    assert result.stdout == b"" and counters(result.stderr) == {"bad_intermediate": 1}
    assert b"Traceback" not in result.stderr


def test_a_negative_zero_is_written_as_zero(tmp_path):
    rows, _ = run_job(tmp_path, ndjson({"k": "a", "v": -0.0}, {"k": "a", "v": "-0"}), "--key k --value v")
    assert rows == ["a\t2\t0\t0\t0\t0"]


def test_a_closed_output_pipe_is_not_reported_as_bad_input():
    data = ndjson(*({"k": i} for i in range(200000)))  # past the groups held: flushed mid-run
    result = shell("./mapper.py --key k | head -1", stdin=data, check=False)
    assert result.stdout == b"0\x02\t1\n" and result.returncode == 141
    assert result.stderr == b""


def test_under_hadoop_the_reducer_streams_sorted_input(tmp_path):
    env = clean_env(mapreduce_task_id="attempt_local0001_r_000000_0")
    mapped = shell("printf '%s' | ./mapper.py --key k" % '{"k":"b"}\\n{"k":"a"}\\n{"k":"b"}\\n').stdout
    result = shell("LC_ALL=C sort | ./reducer.py", stdin=mapped, env=env)
    assert result.stdout == b"a\t1\nb\t2\n"


# -- memory: bounded in the mapper, flat in the reducer under Hadoop ---------------------------

def peak_rss_kib(command: str, stdin: bytes, env) -> int:
    """Peak resident memory of a command run alone (its own ru_maxrss, in KiB)."""
    probe = ("import resource, subprocess, sys; "
             "subprocess.run(sys.argv[1], shell=True, check=True, stdout=subprocess.DEVNULL); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    result = shell("python3 -c %s %s" % (shlex.quote(probe), shlex.quote(command)), stdin=stdin, env=env)
    return int(result.stdout)


def test_the_mapper_flushes_when_it_holds_many_groups_and_nothing_is_lost(tmp_path):
    words = ["w%06d" % i for i in range(120000)]
    data = (" ".join(words) + "\n" + " ".join(words[:10]) + "\n").encode()
    mapped = shell("./mapper.py --words", stdin=data).stdout.splitlines()
    assert len(mapped) > 120000  # written in several flushes, so some keys come twice
    result = shell("./mapper.py --words | LC_ALL=C sort | ./reducer.py", stdin=data)
    rows = result.stdout.decode().splitlines()
    assert len(rows) == 120000
    assert rows[:10] == ["w%06d\t2" % i for i in range(10)] and rows[10] == "w000010\t1"


def test_under_hadoop_the_reducer_runs_in_flat_memory():
    """Against a baseline measured here: the same reducer on a hundredth of the keys."""
    hadoop_env = clean_env(mapreduce_task_id="attempt_local0001_r_000000_0")
    few, many = (b"".join(b"k%07d\x02\t1\n" % i for i in range(n)) for n in (3000, 300000))
    baseline = peak_rss_kib("./reducer.py", few, hadoop_env)
    hadoop = peak_rss_kib("./reducer.py", many, hadoop_env)
    buffered = peak_rss_kib("./reducer.py", many, clean_env())  # the probe sees memory that grows
    assert hadoop / baseline < 1.2 and buffered / baseline > 3, (baseline, hadoop, buffered)


# -- pinned by hand: what a change in the mapper's fast paths could get wrong ------------

def test_keys_that_print_alike_are_one_group_with_every_total(tmp_path):
    records = [{"k": "1", "v": 5}, {"k": 1, "v": 3}, {"k": "1", "v": 9}, {"k": 1.0, "v": 4}]
    rows, seen = run_job(tmp_path, ndjson(*records), "--key k --value v")
    assert rows == ["1\t4\t21\t3\t9\t5.25"]
    assert seen["records"] == 4 and seen["no_value"] == 0


def test_a_minute_seen_with_an_offset_is_read_anew_without_one(tmp_path):
    times = ["2017-02-27T15:45:00+01:00", "2017-02-27T15:45:00Z", "2017-02-27T15:45:00+01:00",
             "2017-02-27T15:45:10+0100", "2017-02-27T15:45:30"]
    rows, seen = run_job(tmp_path, ndjson(*({"t": t} for t in times)), "--time t")
    assert rows == ["2017-02-27T14:00\t3", "2017-02-27T15:00\t2"] and seen["bad_time"] == 0


def test_times_are_bucketed_and_counted_exactly(tmp_path):
    records = [{"t": -0.5, "v": 1}, {"t": "2017-02-27T15:45:00+01:75", "v": 2}, {"t": "bad", "v": 3},
               {"v": 4}, {"t": 1488210300, "v": " 5 "}]
    rows, seen = run_job(tmp_path, ndjson(*records), "--time t --per minute --value v")
    assert rows == ["1969-12-31T23:59\t1\t1\t1\t1\t1", "2017-02-27T15:45\t1\t5\t5\t5\t5"]
    assert seen == {"records": 5, "malformed": 0, "invalid_utf8": 0, "bad_time": 3,
                    "no_value": 0, "no_text": 0, "gzip_data": 0}


def test_the_mean_has_15_significant_digits_and_a_tie_rounds_to_even(tmp_path):
    values = ["0.1234567890123445", "0.1234567890123455", "2", "1", "-0.000001234567890123465"]
    rows, _ = run_job(tmp_path, ndjson(*[{"k": str(i), "v": v} for i, v in enumerate(values)] +
                                       [{"k": "third", "v": v} for v in (1, 1, 0)]), "--key k --value v")
    means = {row.split("\t")[0]: row.split("\t")[-1] for row in rows}
    assert means == {"0": "0.123456789012344", "1": "0.123456789012346", "2": "2", "3": "1",
                     "4": "-0.00000123456789012346", "third": "0.666666666666667"}


def test_words_with_a_value_count_the_records_without_one(tmp_path):
    rows, seen = run_job(tmp_path, ndjson({"t": "a b", "v": 1}, {"t": "a"}, {"t": "b", "v": "x"}),
                         "--words t --value v")
    assert rows == ["a\t2\t1\t1\t1\t1", "b\t2\t1\t1\t1\t1"] and seen["no_value"] == 2
