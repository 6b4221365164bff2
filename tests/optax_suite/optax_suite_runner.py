"""Runs optax's own test files against functional_optim, each batch in a pytest subprocess.

The substitution (optax_suite_plugin.py) replaces `optax` for a whole process, and the project's
other tests import the real optax, so optax's files always run in processes of their own. Used by
the test_optax_suite_*.py entry points (one per group of files) and from the command line:

  .venv/bin/python tests/optax_suite/optax_suite_runner.py                    # every file
  .venv/bin/python tests/optax_suite/optax_suite_runner.py contrib losses     # namespaces
  .venv/bin/python tests/optax_suite/optax_suite_runner.py optax/contrib/_muon_test.py -v
  .venv/bin/python tests/optax_suite/optax_suite_runner.py contrib -- -k muon -x  # pytest args

It prints one line of counts per file, then each failure. Exit status 0 when nothing failed.
"""

import argparse
import collections
import concurrent.futures
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
PROJECT = HERE.parents[1]
INI = HERE / "optax_suite.ini"
SANITY = HERE / "substitution_check.py"
sys.path.insert(0, str(HERE))

import optax_suite_exclusions  # pylint: disable=g-import-not-at-top,wrong-import-position
import optax_suite_plugin  # pylint: disable=g-import-not-at-top,wrong-import-position

OPTAX_DIR = optax_suite_plugin.real_optax_dir()
SITE = OPTAX_DIR.parent

# Files that need a process of their own: sharding_test sets XLA_FLAGS (8 host devices) at import,
# which only works before JAX has started its backend.
ISOLATED = ("optax/_src/sharding_test.py",)

OUTCOMES = ("passed", "failed", "error", "skipped", "excluded", "xfailed", "xpassed")


def all_files():
  """optax's shipped test files, as paths relative to site-packages ("optax/_src/alias_test.py")."""
  return sorted(str(p.relative_to(SITE)) for p in OPTAX_DIR.rglob("*_test.py"))


def namespace_of(file):
  """"core" for optax/_src/* and optax/optax_test.py, else the namespace ("contrib", ...)."""
  parts = file.split("/")
  return "core" if len(parts) == 2 or parts[1] == "_src" else parts[1]


def files_of(namespaces):
  return [f for f in all_files() if namespace_of(f) in namespaces]


def _batches(files):
  """Processes to start: the isolated files alone, the rest one process per namespace."""
  by_namespace = collections.defaultdict(list)
  for f in files:
    if f not in ISOLATED:
      by_namespace[namespace_of(f)].append(f)
  return [[f] for f in files if f in ISOLATED] + list(by_namespace.values())


def run_batch(files, pytest_args=(), timeout=None):
  """Runs `files` (relative to site-packages) in one substituted pytest process.

  Returns (report, output): report is {"tests": {nodeid: {"outcome", "detail"}},
  "collect_errors": {nodeid: message}, "seconds": float}.
  """
  with tempfile.TemporaryDirectory(prefix="optax_suite_") as tmp:
    report_path = os.path.join(tmp, "report.json")
    env = dict(os.environ)
    env.pop("PYTEST_ADDOPTS", None)
    env.pop("PYTEST_XDIST_WORKER", None)
    env["OPTAX_SUITE_REPORT"] = report_path
    env["PYTHONPATH"] = os.pathsep.join(
        [str(HERE), str(PROJECT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # nothing is written into optax's folder
    command = [
        sys.executable, "-m", "pytest", "-c", str(INI), "--rootdir", str(SITE),
        "--confcutdir", str(OPTAX_DIR), "-q", "-p", "no:randomly", *pytest_args,
        str(SANITY), *(str(SITE / f) for f in files),
    ]
    start = time.monotonic()
    proc = subprocess.run(command, cwd=tmp, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout, check=False)
    seconds = time.monotonic() - start
    if not os.path.exists(report_path):
      raise RuntimeError(f"the optax suite process wrote no report (exit {proc.returncode}):\n"
                         f"{proc.stdout[-5000:]}")
    with open(report_path) as f:
      report = json.load(f)
  report["seconds"] = seconds
  return report, proc.stdout


def file_of(nodeid):
  return nodeid.split("::", 1)[0]


def summarize(report, files):
  """{file: {"counts": Counter, "collect_error": str|None, "problems": [(nodeid, outcome, detail)]}}.

  The sanity checks (substitution_check.py) count under the name "substitution_check".
  """
  summary = {f: {"counts": collections.Counter(), "collect_error": None, "problems": []}
             for f in list(files) + ["substitution_check"]}

  def key(nodeid):
    f = file_of(nodeid)
    return f if f.startswith("optax/") else "substitution_check"  # outside the rootdir: "::test"

  for nodeid, result in report["tests"].items():
    entry = summary.setdefault(key(nodeid), {"counts": collections.Counter(),
                                             "collect_error": None, "problems": []})
    entry["counts"][result["outcome"]] += 1
    entry["seconds"] = entry.get("seconds", 0.0) + result.get("seconds", 0.0)
    if result["outcome"] in ("failed", "error", "xpassed"):
      entry["problems"].append((nodeid, result["outcome"], result["detail"]))
  for nodeid, message in report["collect_errors"].items():
    entry = summary.setdefault(key(nodeid), {"counts": collections.Counter(),
                                             "collect_error": None, "problems": []})
    entry["collect_error"] = message
  return summary


def known_broken_file(file):
  """The reason a whole file is in KNOWN_FAILURES (it may not import yet), else None."""
  return optax_suite_exclusions.KNOWN_FAILURES.get(file)


def excluded_file(file):
  """The reason a whole file is EXCLUDED (it does not import), else None."""
  return optax_suite_exclusions.EXCLUDED.get(file)


def verdict(file, entry):
  """None when the file's results are acceptable, else a message saying what is wrong."""
  counts = entry["counts"]
  broken = known_broken_file(file)
  if entry["collect_error"]:
    if broken or excluded_file(file):
      return None
    return f"{file} does not import:\n{entry['collect_error']}"
  if broken:
    return f"{file} imports and runs now: remove it from KNOWN_FAILURES ({broken})"
  if not sum(counts.values()):
    return f"{file}: no test ran"
  if entry["problems"]:
    lines = [f"{file}: {format_counts(counts)}"]
    for nodeid, outcome, detail in entry["problems"]:
      lines.append(f"  {outcome.upper()} {nodeid}\n    " + detail.replace("\n", "\n    "))
    return "\n".join(lines)
  return None


def format_counts(counts):
  return ", ".join(f"{counts[o]} {o}" for o in OUTCOMES if counts[o]) or "nothing ran"


def table(summary):
  """One line per file, then totals per namespace."""
  lines = []
  totals = collections.defaultdict(collections.Counter)
  for file in sorted(summary):
    entry = summary[file]
    status = "COLLECTION ERROR" if entry["collect_error"] else format_counts(entry["counts"])
    if entry["collect_error"] and known_broken_file(file):
      status += " (known failure)"
    elif entry["collect_error"] and excluded_file(file):
      status = "excluded file: " + excluded_file(file)[:60]
    lines.append(f"{file:50s} {entry.get('seconds', 0):6.1f}s  {status}")
    if file != "substitution_check":
      ns = namespace_of(file)
      totals[ns].update(entry["counts"])
      totals[ns]["files"] += 1
      if entry["collect_error"] and excluded_file(file):
        totals[ns]["excluded files"] += 1
      else:
        totals[ns]["collection errors"] += bool(entry["collect_error"])
  lines.append("")
  lines.append(f"{'namespace':15s} {'files':>5s} " + " ".join(f"{o:>8s}" for o in OUTCOMES)
               + "  excluded files  collection errors")
  for ns in sorted(totals):
    c = totals[ns]
    lines.append(f"{ns:15s} {c['files']:5d} " + " ".join(f"{c[o]:8d}" for o in OUTCOMES)
                 + f"  {c['excluded files']:14d}  {c['collection errors']}")
  return "\n".join(lines)


def run(files, pytest_args=(), jobs=1, timeout=None, progress=None):
  """Runs files in as many processes as _batches says, `jobs` at a time; returns (summary, outputs).

  `progress(batch, seconds)` is called as each process ends.
  """
  reports = []
  with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
    futures = {pool.submit(run_batch, batch, pytest_args, timeout): batch
               for batch in _batches(files)}
    for future in concurrent.futures.as_completed(futures):
      reports.append(future.result())
      if progress:
        progress(futures[future], reports[-1][0]["seconds"])
  merged = {"tests": {}, "collect_errors": {}}
  for report, _ in reports:
    merged["tests"].update(report["tests"])
    merged["collect_errors"].update(report["collect_errors"])
  return summarize(merged, files), [out for _, out in reports]


def entry_point(namespaces=None, files=None, exclude_files=()):
  """The tests of one test_optax_suite_*.py module: one per optax file, plus the sanity checks.

  Selects `files`, or the files of `namespaces`, minus `exclude_files`; runs them in subprocesses
  once per module (fixture) and returns (fixture, test_file, test_substitution, test_counts) for
  the module to bind at top level.
  """
  import warnings  # pylint: disable=g-import-not-at-top

  import pytest  # pylint: disable=g-import-not-at-top

  selected = [f for f in (files or files_of(namespaces)) if f not in exclude_files]

  @pytest.fixture(scope="module")
  def optax_suite_results():
    summary, _ = run(selected)
    return summary

  @pytest.mark.parametrize("file", selected)
  def test_optax_file(file, optax_suite_results):  # pylint: disable=redefined-outer-name
    entry = optax_suite_results[file]
    if entry["collect_error"] and known_broken_file(file):
      pytest.xfail(f"known failure: {known_broken_file(file)}")
    if entry["collect_error"] and excluded_file(file):
      pytest.skip(f"excluded: {excluded_file(file)}")
    problem = verdict(file, entry)
    if problem:
      pytest.fail(problem, pytrace=False)

  def test_optax_substitution(optax_suite_results):  # pylint: disable=redefined-outer-name
    """The sanity checks ran in each process: optax's names are functional_optim's there."""
    entry = optax_suite_results["substitution_check"]
    problem = verdict("substitution_check", entry)
    if problem:
      pytest.fail(problem, pytrace=False)
    assert entry["counts"]["passed"] >= 4

  def test_optax_counts(optax_suite_results):  # pylint: disable=redefined-outer-name
    """Shows the per-file counts in the warnings summary."""
    # A builtin category: pytest-xdist re-imports a warning's class in the controller process.
    warnings.warn(UserWarning("OptaxSuiteCounts: optax's own tests against functional_optim\n"
                              + table(optax_suite_results)))

  return optax_suite_results, test_optax_file, test_optax_substitution, test_optax_counts


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("targets", nargs="*",
                      help="namespaces (core, contrib, losses, ...) or files "
                           "(optax/contrib/_muon_test.py); default: all")
  parser.add_argument("-j", "--jobs", type=int, default=1, help="processes at once")
  parser.add_argument("-v", "--verbose", action="store_true", help="print pytest's output")
  parser.add_argument("--json", help="write the per-file summary here")
  argv = list(sys.argv[1:] if argv is None else argv)
  extra = argv[argv.index("--") + 1:] if "--" in argv else []
  argv = argv[:argv.index("--")] if "--" in argv else argv
  args, pytest_args = parser.parse_known_args(argv)
  pytest_args += extra
  files = []
  for target in args.targets or sorted({namespace_of(f) for f in all_files()}):
    if target.endswith(".py"):
      target = target.split("site-packages/")[-1]
      files.append(target if target.startswith("optax/") else "optax/" + target)
    else:
      found = files_of([target])
      if not found:
        parser.error(f"no optax test files in namespace {target!r}")
      files += found
  start = time.monotonic()
  def progress(batch, seconds):
    names = sorted({namespace_of(f) for f in batch})
    print(f"ran {len(batch)} file(s) of {', '.join(names)} in {seconds:.0f} s", flush=True)

  summary, outputs = run(files, pytest_args, jobs=args.jobs, progress=progress)
  if args.verbose:
    for out in outputs:
      print(out)
  problems = [v for f, e in sorted(summary.items()) if (v := verdict(f, e))]
  for problem in problems:
    print(problem, end="\n\n")
  print(table(summary))
  import resource  # pylint: disable=g-import-not-at-top
  usage = resource.getrusage(resource.RUSAGE_CHILDREN)
  print(f"\n{len(files)} files in {time.monotonic() - start:.0f} s "
        f"(processes' CPU time {usage.ru_utime + usage.ru_stime:.0f} s); "
        f"{'all acceptable' if not problems else f'{len(problems)} with problems'}")
  if args.json:
    with open(args.json, "w") as f:
      json.dump({k: {"counts": dict(v["counts"]), "collect_error": v["collect_error"],
                     "problems": v["problems"]} for k, v in summary.items()}, f, indent=1)
  return 1 if problems else 0


if __name__ == "__main__":
  sys.exit(main())
