"""Reads a Tempest run's subunit v2 stream and prints one line per test:

    PASS tempest.api.image.v2.test_images.BasicOperationsImagesTest.test_delete_image
    SKIP tempest.api.image.v2.test_images_formats.ImagesFormatTest (Nova is not available)
    FAIL tempest.api.image.v2.test_images.ImportImagesTest.test_image_glance_direct_import
         (last failing request: 404 POST http://.../v2/images/.../import; NotFound: ...)

then `PROFILE: N pass, N fail, N skip`. The full tracebacks of failures go
to OUT_DIR/failures.txt and, without Tempest's library frames, to stdout.
Exit status 1 if any test failed or nothing ran (or, with --fail-on-skip,
any test skipped), else 0. The same for Glance's RBAC suite
(glance-tempest-plugin, `glance_tempest_plugin.` tests).

    python report.py PROFILE RUN.subunit OUT_DIR [--log TEMPEST.log] [--list TESTS] [--fail-on-skip]

With --list (`tempest run --list-tests` of the same selection), a class
that skips or fails in its set-up (`setUpClass (module.Class)`) counts as
that result for each of its tests, so the totals count tests (102 for the
whole image v2 suite, as Tempest lists them), and a listed test without any
result (a worker that died) is a failure. The request lines come from
Tempest's own log (`Request (Class:test): STATUS METHOD URL`), matched to a
test by class and method name. Not stestr's subunit_trace: it crashes with
python-subunit 1.4.6.
"""

import argparse
import collections
import re
import sys

import subunit
import testtools

PASSED = {"success": "PASS", "xfail": "PASS", "skip": "SKIP", "fail": "FAIL", "uxsuccess": "FAIL"}
# `Request (ImagesTest:test_x): 404 POST http://... 0.012s`
REQUEST = re.compile(r"Request \((?P<caller>[^)]*)\): (?P<status>\d{3}) (?P<method>[A-Z]+) (?P<url>\S+)")
NO_TRACEBACK = {
    "inprogress": "started, never finished (did its worker die?)",
    "no result": "listed, never reported (did its worker die?)",
}
# The test modules of Tempest itself and of Glance's plugin (the RBAC suite).
SUITES = ("tempest.", "glance_tempest_plugin.")
TRACEBACK_LINES = 30
LINE_CHARS = 400


def short_id(test_id):
    """The id without Tempest's `[id-...,smoke]` attributes."""
    return test_id.split("[", 1)[0]


def text(details, name):
    content = details.get(name)
    if content is None:
        return ""
    try:
        return content.as_text()
    except Exception:  # a binary attachment: not worth a crash
        return ""


def requests_by_caller(log_path):
    """{"Class:method": [(status, method, url)]} from Tempest's log: every
    request, Keystone's too."""
    found = collections.defaultdict(list)
    if not log_path:
        return found
    try:
        with open(log_path, errors="replace") as log:
            for line in log:
                match = REQUEST.search(line)
                if match:
                    found[match["caller"]].append((int(match["status"]), match["method"], match["url"]))
    except FileNotFoundError:
        pass
    return found


def caller_of(test_id):
    """`Class:method` as Tempest's log names the caller of a request; for a
    class-level fixture (`setUpClass (module.Class)`) just `Class`."""
    test_id = short_id(test_id)
    fixture = re.match(r"(\w+) \((.+)\)$", test_id)
    if fixture:
        return fixture[2].rsplit(".", 1)[-1], None
    parts = test_id.rsplit(".", 2)
    return (parts[-2], parts[-1]) if len(parts) == 3 else (test_id, None)


def last_failing_request(test_id, requests):
    cls, method = caller_of(test_id)
    calls = []
    for caller, made in requests.items():
        name, _, where = caller.partition(":")
        if name == cls and (method is None or where == method):
            calls.extend(made)
    failing = [c for c in calls if c[0] >= 400]
    if failing:
        status, verb, url = failing[-1]
        return f"last failing request: {status} {verb} {url}"
    if calls:
        status, verb, url = calls[-1]
        return f"last request: {status} {verb} {url}"
    return ""


def exception_line(traceback):
    """The exception's own line(s) at the end of a traceback, squeezed: from
    the last unindented line (Tempest's exceptions add a `Details: {...}`
    line after the class line) to the end."""
    lines = [line for line in traceback.rstrip().splitlines() if line.strip()]
    start = len(lines) - 1
    for i in range(len(lines) - 1, -1, -1):
        if not lines[i][0].isspace() and not lines[i].startswith("Details:"):
            start = i
            break
    tail = re.sub(r"\s+", " ", " ".join(lines[start:]) if lines else "")
    return tail[:300] + ("..." if len(tail) > 300 else "")


def read_stream(path):
    """{test id: StreamToDict's dict} for every test with a result."""
    tests = {}

    def on_test(test):
        if test["status"] in ("exists", "inprogress", "unknown") and test["id"] in tests:
            return
        tests[test["id"]] = test

    with open(path, "rb") as stream:
        # Anything in the stream that is not subunit (a worker's stray
        # output) is kept as an attachment instead of breaking the parse.
        case = subunit.ByteStreamToStreamResult(stream, non_subunit_name="stdout")
        result = testtools.StreamToDict(on_test)
        result.startTestRun()
        try:
            case.run(result)
        finally:
            result.stopTestRun()
    return {test_id: test for test_id, test in tests.items() if test["status"] != "exists"}


def per_test(tests, listed):
    """Class-level results spread over the listed tests of their class;
    listed tests without a result become failures."""
    by_class = {}
    for test_id, test in tests.items():
        fixture = re.match(r"\w+ \((.+)\)$", test_id)
        if fixture:
            by_class[fixture[1]] = test
    spread = {test_id: test for test_id, test in tests.items() if not re.match(r"\w+ \((.+)\)$", test_id)}
    for test_id in listed:
        if test_id in spread:
            continue
        owner = by_class.get(short_id(test_id).rsplit(".", 1)[0])
        if owner is not None:
            spread[test_id] = dict(owner, id=test_id, origin=owner["id"])
        else:
            spread[test_id] = {"id": test_id, "status": "no result", "details": {}}
    # A class-level result whose class lists no test (a regex that selects
    # none of it) is kept as it is.
    for class_id, test in by_class.items():
        if not any(short_id(t).rsplit(".", 1)[0] == class_id for t in listed):
            spread[test["id"]] = test
    return spread


def trimmed(traceback):
    """A traceback with only the frames of Tempest's tests (not its REST
    client's or testtools', the same lines in every failure), without the
    `^^^^` markers, paths from site-packages/ on, each line cut to
    LINE_CHARS, at most TRACEBACK_LINES lines (the last)."""
    out, keep = [], True
    for line in traceback.rstrip().splitlines():
        if line.startswith("  File "):
            keep = ("/tempest/" in line and "/tempest/lib/" not in line) or "/glance_tempest_plugin/" in line
            if keep:
                out.append(re.sub(r'"[^"]*/site-packages/', '"', line))
            elif out and out[-1] != "  ...":
                out.append("  ...")
        elif line.startswith("    "):  # a frame's source line
            if keep and line.strip().strip("^~ "):
                out.append(line)
        else:
            out.append(line)
    out = [line if len(line) <= LINE_CHARS else line[:LINE_CHARS] + "..." for line in out]
    if len(out) > TRACEBACK_LINES:
        out = [f"[... {len(out) - TRACEBACK_LINES} lines]"] + out[-TRACEBACK_LINES:]
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("profile")
    parser.add_argument("stream")
    parser.add_argument("out_dir")
    parser.add_argument("--log")
    parser.add_argument("--list")
    parser.add_argument("--not-run", help="tests left out of the run: lines 'test_id<TAB>reason'")
    parser.add_argument("--catalog", action="append", default=[],
                        help="fail if Tempest sent image API calls elsewhere (repeat: each endpoint it may use)")
    parser.add_argument("--fail-on-skip", action="store_true",
                        help="a skipped test fails the run (a suite whose every test must run)")
    args = parser.parse_args()
    profile, out_dir, log_path = args.profile, args.out_dir, args.log
    tests = read_stream(args.stream)
    if args.list:
        with open(args.list) as listing:
            listed = [line.strip() for line in listing if line.strip().startswith(SUITES)]
        tests = per_test(tests, listed)

    requests = requests_by_caller(log_path)
    counts = collections.Counter()
    # traceback -> the tests that failed with it (a class set-up's failure
    # is every test of the class).
    failures = collections.defaultdict(list)
    lines = []
    for test_id in sorted(tests, key=short_id):
        test = tests[test_id]
        status = test["status"]
        # inprogress at the end of the stream: the worker died mid-test.
        verdict = PASSED.get(status, "FAIL")
        counts[verdict] += 1
        line = f"{verdict} {short_id(test_id)}"
        if verdict == "SKIP":
            reason = text(test["details"], "reason").strip()
            if reason:
                line += f" ({reason})"
        elif verdict == "FAIL":
            traceback = text(test["details"], "traceback") or NO_TRACEBACK.get(status, f"status {status}, no traceback")
            failures[traceback].append(short_id(test_id))
            request = last_failing_request(test.get("origin", test_id), requests)
            why = "; ".join(part for part in (request, exception_line(traceback)) if part)
            line += f" ({why})"
        lines.append(line)

    with open(f"{out_dir}/failures.txt", "w") as out:
        for traceback, test_ids in failures.items():
            out.write("".join(f"===== {test_id}\n" for test_id in test_ids) + traceback.rstrip() + "\n\n")
    if failures:
        print(f"\n{profile}: tracebacks of the failures, without Tempest's library frames "
              f"(in full in {out_dir}/failures.txt)")
        for traceback, test_ids in failures.items():
            for test_id in test_ids:
                print(f"----- {test_id}")
            print("\n".join("  " + line for line in trimmed(traceback)))
        print()

    not_run = []
    if args.not_run:
        with open(args.not_run) as listing:
            not_run = [line.rstrip("\n").split("\t", 1) for line in listing if line.strip()]
    for test_id, reason in not_run:
        lines.append(f"NOT RUN {short_id(test_id)} ({reason})")
    print("\n".join(lines))
    total = counts["PASS"] + counts["FAIL"] + counts["SKIP"]
    summary = f"{profile}: {counts['PASS']} pass, {counts['FAIL']} fail, {counts['SKIP']} skip"
    if not_run:
        summary += f", {len(not_run)} not run (APIs not implemented yet: tests/tempest/not-yet.txt)"
    print(summary)
    if args.catalog:
        # Tempest finds the catalog in Keystone's service catalog; an
        # endpoint of another region would be taken silently.
        allowed = tuple(catalog.rstrip("/") + "/" for catalog in args.catalog)
        elsewhere = sorted({re.sub(r"(//[^/]+).*", r"\1", url)
                            for made in requests.values() for _, _, url in made
                            if re.search(r"//[^/]+/v2(/|$)", url) and not url.startswith(allowed)})
        if elsewhere:
            print(f"{profile}: Tempest called the image API at {', '.join(elsewhere)}, "
                  f"not only at {', '.join(args.catalog)}", file=sys.stderr)
            return 1
    if total == 0:
        print(f"{profile}: no test ran", file=sys.stderr)
        return 1
    if args.fail_on_skip and counts["SKIP"]:
        print(f"{profile}: {counts['SKIP']} tests skipped; every test of this suite must run", file=sys.stderr)
        return 1
    return 1 if counts["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
