"""Sums the JUnit reports of the e2e suites and prints one verdict line.

usage: summarize.py OUT_DIR SUITE...

Exits non-zero when a suite has no report, ran no test, had a failure, or (under
CI=true) skipped a test: nothing may be skipped silently there.
"""

import os
import sys
import xml.etree.ElementTree as ET

REPORTS = {
    "js-json": "js-json.xml",
    "js-protobuf": "js-protobuf.xml",
    "python": "python.xml",
    "admin": "admin.xml",
}


def main() -> int:
    out_dir, suites = sys.argv[1], sys.argv[2:]
    ci = os.environ.get("CI", "") not in ("", "false", "0")
    total_pass = total_fail = total_skip = 0
    ok = True
    for suite in suites:
        path = os.path.join(out_dir, REPORTS[suite])
        if not os.path.exists(path):
            print(f"  {suite}: no report ({path}) - the suite did not run")
            ok = False
            continue
        try:
            root = ET.parse(path).getroot()
        except ET.ParseError as e:
            print(f"  {suite}: unreadable report {path}: {e}")
            ok = False
            continue
        passed = failed = skipped = 0
        failed_names = []
        skipped_names = []
        for case in root.iter("testcase"):
            name = case.get("name", "?")
            if case.find("failure") is not None or case.find("error") is not None:
                failed += 1
                failed_names.append(name)
            elif case.find("skipped") is not None:
                skipped += 1
                skipped_names.append(name)
            else:
                passed += 1
        print(f"  {suite}: {passed} passed, {failed} failed, {skipped} skipped")
        for name in failed_names:
            print(f"    FAILED  {name}")
        for name in skipped_names:
            print(f"    SKIPPED {name}")
        if passed + failed == 0:
            print(f"  {suite}: ran no test")
            ok = False
        if failed:
            ok = False
        if skipped and ci:
            print(f"  {suite}: tests were skipped under CI=true")
            ok = False
        total_pass += passed
        total_fail += failed
        total_skip += skipped
    line = f"e2e: {total_pass} passed, {total_fail} failed"
    if total_skip:
        line += f", {total_skip} skipped"
    print(line)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
