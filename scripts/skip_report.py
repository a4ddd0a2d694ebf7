#!/usr/bin/env python3
"""Lists the tests a CTest run skipped, whole or in part, with their reasons.

Whole skips come from CTest's JUnit file (a test whose process exited with its SKIP_RETURN_CODE;
the reasons are the "SKIPPED: " lines of its output). Parts left out by tests that passed come
from the SAMPLER_SKIP_LOG file the Catch tests append to (tests/support/skip_listener.cpp):
CTest counts those tests as passed, so without this list they would go unseen.

With --strict, exits 1 when a skip is not in the allow-list file: lines "NAME | WHY", NAME
exactly as this report prints it, WHY saying why that machine cannot run it.
"""
import argparse
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path


def without_test_name(ctest_name, line):
    """The reason in a Catch test's "SKIPPED: TEST CASE: REASON" line when the CTest name ends
    with that test case's name (CTest adds a prefix); the whole line otherwise."""
    at = line.find(": ")
    while at != -1:
        if ctest_name.endswith(line[:at]):
            return line[at + 2:]
        at = line.find(": ", at + 1)
    return line


def ctest_skips(junit):
    """(kind, name, reason) for each test CTest did not count as run."""
    if not junit.exists():
        return []
    skips = []
    for case in ElementTree.parse(junit).getroot().iter("testcase"):
        skipped = case.find("skipped")
        if skipped is None and case.get("status") != "disabled":
            continue
        output = case.findtext("system-out") or ""
        reasons = [without_test_name(case.get("name"), line.split("SKIPPED: ", 1)[1])
                   for line in output.splitlines() if line.startswith("SKIPPED: ")]
        if not reasons:
            reasons = [skipped.get("message", "") if skipped is not None else "disabled"]
        skips += [("skipped", case.get("name"), reason) for reason in reasons]
    return skips


def logged_skips(log):
    """(kind, name, reason) for each part a passing test left out, without repeats (the
    ptrace runs repeat the perf_event runs' test cases)."""
    if not log.exists():
        return []
    seen = []
    for line in log.read_text(errors="replace").splitlines():
        fields = tuple(line.split("\t", 2))
        if len(fields) == 3 and fields not in seen:
            seen.append(fields)
    return seen


def allowed_names(path):
    names = {}
    if not path.exists():
        return names
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, why = line.partition(" | ")
        if not why.strip():
            sys.exit(f"{path}:{number}: no reason given (NAME | WHY)")
        names[name.strip()] = why.strip()
    return names


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("junit", type=Path)
    parser.add_argument("skip_log", type=Path)
    parser.add_argument("--allowed", type=Path, required=True)
    parser.add_argument("--strict", action="store_true")
    parser.add_argument("--title", default="")
    arguments = parser.parse_args()

    skips = ctest_skips(arguments.junit) + logged_skips(arguments.skip_log)
    allowed = allowed_names(arguments.allowed)
    whole = len({name for kind, name, _ in skips if kind == "skipped"})
    partly = len({name for kind, name, _ in skips if kind != "skipped"})
    print(f"=== skipped tests{arguments.title}: {whole} skipped, {partly} partly skipped")
    unexpected = 0
    for kind, name, reason in skips:
        if name in allowed:
            note = f"  [allowed: {allowed[name]}]"
        else:
            unexpected += 1
            note = f"  [not in {arguments.allowed}]" if arguments.strict else ""
        print(f"  {kind}: {name}: {reason}{note}")
    if arguments.strict and unexpected:
        print(f"=== {unexpected} skip(s) this machine should not have: install what they need "
              f"(scripts/install-deps.sh) or list them in {arguments.allowed} with the reason")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
