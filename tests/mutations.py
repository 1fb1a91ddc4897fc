#!/usr/bin/env python3
"""mutations.py: plant each bug of tests/mutations.json, one at a time, in a
scratch copy of the committed tree, and check that the tests named for it
fail. A mutation whose tests still pass "survived": the suite does not see
that bug. tests/MUTATIONS.md says why each one matters.

usage: python3 tests/mutations.py [--only ID,ID...] [--list] [--keep]
       python3 tests/mutations.py --check

--check plants nothing: it checks that each mutation's text to replace is
in its file (of the working tree) exactly once and that it names tests,
so that a change to the code cannot leave a mutation that no longer
plants (ctest runs it as `mutations_plantable`). Exit 0 or 1.

The scratch copy is `git archive HEAD` (commit first) with the e2e rig's
node_modules linked in (run `bash scripts/test.sh` or `npm ci` in tests/e2e
once before); it is built once (Release) and rebuilt incrementally after
each mutation. Exit 0 when every mutation was caught, 1 when one survived
or could not be planted, 2 on bad arguments.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(cmd, cwd, timeout=None):
    # a mutant fails its tests: no need to wait out timeouts sized for a
    # loaded machine (PW_TEST_TIMEOUT_SCALE, tests/e2e/lib/rig.mjs)
    env = dict(os.environ, PW_TEST_TIMEOUT_SCALE=os.environ.get("PW_TEST_TIMEOUT_SCALE", "1"))
    return subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout,
                          env=env)


def main():
    # argparse: --help answers, and a mistyped option or a stray argument
    # stops it with exit 2 before anything is built (not a full run)
    ap = argparse.ArgumentParser(prog="python3 tests/mutations.py", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n\n".join(__doc__.split("\n\n")[2:]))
    what = ap.add_mutually_exclusive_group()
    what.add_argument("--only", metavar="ID,ID...", help="plant only these mutations")
    what.add_argument("--list", action="store_true", help="list the mutations and the tests named for each")
    what.add_argument("--check", action="store_true", help="plant nothing: check that each mutation still plants")
    ap.add_argument("--keep", action="store_true", help="keep the scratch copy")
    opts = ap.parse_args()
    only = None
    if opts.only is not None:  # an empty list (--only "" or ",") would plant them all: refused
        only = {i for i in opts.only.split(",") if i}
        if not only:
            ap.error("--only: no mutation named (ids from --list, comma-separated)")
    keep = opts.keep
    mutations = json.load(open(os.path.join(ROOT, "tests", "mutations.json")))
    if opts.check:
        stale = []
        for m in mutations:
            path = os.path.join(ROOT, m["file"])
            count = open(path).read().count(m["find"]) if os.path.isfile(path) else 0
            if count != 1 or not m["tests"]:
                stale.append(m["id"])
                print(f"{m['id']}: {m['file']}: its text to replace is there {count} time(s), not once"
                      if count != 1 else f"{m['id']}: names no test", file=sys.stderr)
        print(f"{len(mutations) - len(stale)} of {len(mutations)} mutations plantable")
        return 1 if stale else 0
    if opts.list:
        for m in mutations:
            print(f"{m['id']:24} {m['file']:28} {', '.join(m['tests'])}")
        return 0
    if only:
        unknown = only - {m["id"] for m in mutations}
        if unknown:
            print(f"unknown mutation(s): {', '.join(sorted(unknown))}", file=sys.stderr)
            return 2
        mutations = [m for m in mutations if m["id"] in only]
    modules = os.path.join(ROOT, "tests", "e2e", "node_modules")
    if not os.path.isdir(modules):
        print("tests/e2e/node_modules is missing: run `bash scripts/test.sh` (or npm ci in tests/e2e) first", file=sys.stderr)
        return 2
    work = tempfile.mkdtemp(prefix="pw-mutations-")
    try:
        archive = subprocess.run(["git", "-C", ROOT, "archive", "HEAD"], stdout=subprocess.PIPE, check=True).stdout
        subprocess.run(["tar", "-x", "-C", work], input=archive, check=True)
        os.symlink(modules, os.path.join(work, "tests", "e2e", "node_modules"))
        # git archive stamps files with the commit's time: a lock file
        # newer than the install makes e2e_deps run `npm ci` in the copy,
        # which empties the linked node_modules (the real one) and installs
        # into it again, and fails every e2e test meanwhile. The copy's
        # lock file takes the real one's times.
        shutil.copystat(os.path.join(ROOT, "tests", "e2e", "package-lock.json"),
                        os.path.join(work, "tests", "e2e", "package-lock.json"))
        fixtures = os.path.join(os.path.dirname(ROOT), "shared", "fixtures")
        build = os.path.join(work, "build")
        r = run(["cmake", "-S", work, "-B", build, "-DCMAKE_BUILD_TYPE=Release", "-DPAYWATCH_WERROR=ON",
                 f"-DFIXTURES_DIR={fixtures}"], work)
        if r.returncode != 0:
            print(r.stdout)
            return 1
        print("building the scratch copy ...", flush=True)
        r = run(["cmake", "--build", build, "-j2"], work)
        if r.returncode != 0:
            print(r.stdout[-3000:])
            return 1
        results = []
        for m in mutations:
            path = os.path.join(work, m["file"])
            original = open(path).read()
            if original.count(m["find"]) != 1:
                results.append((m, "NOT PLANTED", 0.0, "the text to replace is not there exactly once"))
                print(f"{m['id']}: NOT PLANTED", flush=True)
                continue
            open(path, "w").write(original.replace(m["find"], m["replace"]))
            t0 = time.time()
            b = run(["cmake", "--build", build, "-j2"], work)
            if b.returncode != 0:
                outcome, detail = "NOT PLANTED", "the mutant does not build: " + b.stdout[-500:]
            else:
                pattern = "^(" + "|".join(m["tests"]) + ")$"
                t = run(["ctest", "--test-dir", build, "-R", pattern, "-j2"], work, timeout=1800)
                outcome = "caught" if t.returncode != 0 else "SURVIVED"
                summary = [line for line in t.stdout.splitlines() if "tests passed" in line]
                detail = summary[0].strip() if summary else ""
            secs = time.time() - t0
            open(path, "w").write(original)
            results.append((m, outcome, secs, detail))
            print(f"{m['id']}: {outcome} ({secs:.0f} s; {detail})", flush=True)
        run(["cmake", "--build", build, "-j2"], work)  # leave the scratch build unmutated
        print()
        print(f"{'mutation':24} {'outcome':12} {'seconds':>7}  tests")
        for m, outcome, secs, detail in results:
            print(f"{m['id']:24} {outcome:12} {secs:7.0f}  {', '.join(m['tests'])}")
        bad = [m["id"] for m, outcome, _, _ in results if outcome != "caught"]
        print(f"\n{len(results) - len(bad)} of {len(results)} mutations caught" + (f"; not caught: {', '.join(bad)}" if bad else ""))
        return 1 if bad else 0
    finally:
        if keep:
            print(f"scratch copy kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
