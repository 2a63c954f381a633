"""Hadoop's rules as the package keeps them (firehose_mr/hadoop.py, globs.py, formats.py), on
data: each against the tests' own port of Hadoop's code or a value worked out by hand. Real
Hadoop judges them end to end in test_hadoop_behaviour.py and test_hadoop_conformance.py."""
import pytest
from hypothesis import given, settings, strategies as st

from firehose_mr import formats, globs, hadoop
from support.hadoop_splitargs import split_args as hadoop_split_args
from test_run_local import java_text_partition


@settings(max_examples=300, deadline=None)
@given(key=st.binary(max_size=40), reducers=st.integers(1, 2 ** 31 - 1))
def test_the_partitioner_is_hadoops(key, reducers):
    assert hadoop.hash_partition(key, reducers) == java_text_partition(key, reducers)


@settings(max_examples=300, deadline=None)
@given(command=st.text(alphabet="ab '\"\t", max_size=20))
def test_commands_are_split_as_pipemapred_splits_them(command):
    assert hadoop.split_args(command) == hadoop_split_args(command)


@settings(max_examples=300, deadline=None)
@given(words=st.lists(st.text(alphabet="ab '\t,", min_size=0, max_size=6), max_size=4))
def test_quoted_arguments_survive_splitargs(words):
    words = [w for w in words if not ("'" in w and '"' in w)]
    quoted = " ".join(hadoop.quote_arg(w) for w in words)
    assert hadoop_split_args(quoted) == [w for w in words if w]


def test_an_argument_with_both_quotes_cannot_be_carried():
    with pytest.raises(hadoop.QuotingError):
        hadoop.quote_arg("it's \"x\"")


def test_splits_of_a_file_by_hand():
    # 100 bytes, split size 30: 30, 30, then 40 left (1.33 splits) is cut once more: 30, 10.
    assert hadoop.split_ranges(100, 30) == [(0, 30), (30, 30), (60, 30), (90, 10)]
    assert hadoop.split_ranges(33, 30) == [(0, 33)]  # 1.1 splits: one piece
    assert hadoop.split_ranges(34, 30) == [(0, 30), (30, 4)]
    assert hadoop.split_size(10, 32 << 20) == 10 and hadoop.split_size(0, 5) == 1


def test_a_map_tasks_environment():
    env = hadoop.task_environment({"PATH": "/bin", "mapreduce_task_id": "stale"}, "job_local7_0001", "m", 3, 2,
                                  "file:/out", ("s3://b/k", 10, 20))
    assert env == {
        "PATH": "/bin",
        "mapreduce_job_id": "job_local7_0001", "mapred_job_id": "job_local7_0001",
        "mapreduce_task_id": "task_local7_0001_m_000003", "mapred_tip_id": "task_local7_0001_m_000003",
        "mapreduce_task_attempt_id": "attempt_local7_0001_m_000003_0",
        "mapred_task_id": "attempt_local7_0001_m_000003_0",
        "mapreduce_task_partition": "3", "mapred_task_partition": "3",
        "mapreduce_task_ismap": "true", "mapred_task_is_map": "true",
        "mapreduce_job_reduces": "2", "mapred_reduce_tasks": "2",
        "mapreduce_output_fileoutputformat_outputdir": "file:/out", "mapred_output_dir": "file:/out",
        "mapreduce_map_input_file": "s3://b/k", "map_input_file": "s3://b/k",
        "mapreduce_map_input_start": "10", "map_input_start": "10",
        "mapreduce_map_input_length": "20", "map_input_length": "20",
    }


def test_counter_lines():
    assert hadoop.counter_increment("reporter:counter:g,n,5") == ("g", "n", 5)
    assert hadoop.counter_increment("reporter:counter:g,n,-2,,") == ("g", "n", -2)
    assert hadoop.counter_increment("reporter:status:busy") is None
    with pytest.raises(ValueError):
        hadoop.counter_increment("reporter:counter:g,n,x")
    report = ["Counters: 3", "\tMap-Reduce Framework", "\t\tMap input records=9", "\tfirehose-mr",
              "\t\trecords=9", "\t\tmalformed=0"]
    counters = hadoop.job_counters(report)
    assert counters == {("firehose-mr", "records"): 9, ("firehose-mr", "malformed"): 0}
    assert hadoop.counters_summary(counters) == "Counters: 2\n\tfirehose-mr\n\t\tmalformed=0\n\t\trecords=9\n"


@pytest.mark.parametrize("part,yes,no", [
    ("*", ["a", ".hidden", "_x"], []),
    ("a?c", ["abc", "a.c"], ["ac", "abbc"]),
    ("[^a]x", ["bx"], ["ax"]),
    ("[!a]x", ["bx"], ["ax"]),
    ("{a,bc}", ["a", "bc"], ["b", "abc"]),
    ("\\*", ["*"], ["a"]),
    ("a\\{b", ["a{b"], ["ab"]),
    ("2017", ["2017"], ["2018"]),
])
def test_glob_parts_match_as_hadoop_matches_them(part, yes, no):
    matches = globs.name_matcher(part)
    assert [n for n in yes if matches(n)] == yes and [n for n in no if matches(n)] == []


def test_globs_over_s3_keys():
    assert globs.expand_slashed_braces("b/{2017/02,2018}/x") == ["b/2017/02/x", "b/2018/x"]
    assert globs.literal_folders("2017/0\\*/*/x") == "2017/0*/"
    reach = globs.key_reach("2017/*/27")
    assert reach("2017/02/27/14/s-1") == ["27", "14", "s-1"]  # a matched folder: its subtree
    assert reach("2017/02/28/14/s-1") is None
    assert reach("2017/02") is None
    assert not globs.reaches_visible(["27", "_tmp", "x"]) and globs.reaches_visible(["27", "x"])
    assert globs.has_wildcard("a*") and not globs.has_wildcard("a\\*")


def test_formats_refused_by_name_and_by_content():
    assert formats.refusal_by_name("s3://b/x.ZIP") is not None
    assert formats.refusal_by_name("x.json.gz") is None
    assert formats.refusal_by_content("x.json", b"\x1f\x8b\x08\x00") is not None
    assert formats.refusal_by_content("x.json.gz", b"\x1f\x8b\x08\x00") is None
    assert formats.refusal_by_content("x.snappy", b"\xff\x06\x00\x00sNaPpY") is not None
    assert formats.refusal_by_content("x.snappy", b"\x00\x00\x01\x00") is None
