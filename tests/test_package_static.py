"""The launchers as files: run_local.sh is a short door into the package, with no code in
strings or heredocs; the package is standard library only and parses as Python 3.7 (it runs on
EMR 6 nodes); each of Hadoop's rules has one home in it."""
import ast
import re
import subprocess
import sys

from conftest import PACKAGE, REPO, tool

RUN_LOCAL = REPO / "run_local.sh"
MODULES = sorted(PACKAGE.rglob("*.py"))


def test_run_local_sh_is_a_short_door_with_no_code_in_it():
    text = RUN_LOCAL.read_text()
    assert len(text.splitlines()) < 40
    assert text.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in text
    assert "<<" not in text and "python3 -c" not in text
    assert RUN_LOCAL.stat().st_mode & 0o111 == 0o111


def test_the_package_parses_as_python_3_7_and_imports_only_the_standard_library():
    result = subprocess.run([tool("vermin"), "-t=3.7-", "--no-tips", "--violations", "--eval-annotations"]
                            + [str(m) for m in MODULES], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    for module in MODULES:
        tree = ast.parse(module.read_text(), feature_version=(3, 7))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            outside = [n for n in names if n.split(".")[0] not in sys.stdlib_module_names
                       and n.split(".")[0] not in ("firehose_mr", "boto3", "botocore")]
            assert not outside, (module, outside)


def test_the_door_runs_on_any_python_3_and_says_when_it_is_too_old():
    """firehose_mr/__main__.py is what an old python3 reads first: Python 3.0-level syntax."""
    main = PACKAGE / "__main__.py"
    ast.parse(main.read_text(), feature_version=(3, 4))
    assert "annotations" not in main.read_text()


def test_each_hadoop_rule_is_defined_once():
    """The functions that implement a Hadoop rule are defined in one module of the package
    and nowhere else in it (the pair keeps its own copies; they are not the launchers')."""
    rules = ["hash_partition", "split_args", "quote_arg", "has_wildcard", "name_matcher",
             "expand_slashed_braces", "split_ranges", "task_environment", "counter_increment",
             "refusal_by_name", "refusal_by_content", "decompressed", "hidden", "rest_of_line"]
    defined = {}  # type: dict
    for module in MODULES:
        for match in re.finditer(r"^def (\w+)\(", module.read_text(), re.M):
            defined.setdefault(match.group(1), []).append(module.relative_to(REPO).as_posix())
    for rule in rules:
        assert len(defined.get(rule, [])) == 1, (rule, defined.get(rule))
