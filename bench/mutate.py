"""`make mutate`: mutation testing of functions/telehealth and main.py against tests/unit, offline.

mutmut 3 wants the code it mutates at the top of a project, so the code and the unit tests are laid
out flat in .cache/mutate (telehealth/, main.py, tests/unit/) with a pyproject of its own, and
mutmut runs there with forkserver isolation (with plain fork, cached config state leaked between
tests and made false survivors). The model-based lifecycle test runs 300 sequences instead of 3,000
(MODEL_SEQUENCES) to keep each mutant's run short. Prints the score per module and the survivors,
and exits non-zero when a module is under the target.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".cache" / "mutate"
MUTMUT = ROOT / ".venv" / "bin" / "mutmut"
TARGET = float(os.environ.get("MUTATE_TARGET", "95"))
# Mutants judged equivalent (no test can tell them apart): listed with why in the README's testing section.
EQUIVALENT = ROOT / "tests" / "mutate-equivalent.txt"

PYPROJECT = """
[tool.pytest.ini_options]
testpaths = ["tests/unit"]
pythonpath = [".", "tests/unit", "tests", "scripts"]
addopts = "-q -p no:cacheprovider"
filterwarnings = ["error"]

[tool.mutmut]
source_paths = ["telehealth/", "main.py"]
pytest_add_cli_args_test_selection = ["tests/unit"]
process_isolation = "forkserver"
also_copy = [
    "tests/", "firestore.indexes.json", "firebase.json", "firebase.matrix.json", "firebase.bench.json", "scripts/"
]
"""


def lay_out() -> None:
    shutil.rmtree(WORK, ignore_errors=True)
    (WORK / "tests").mkdir(parents=True)
    shutil.copytree(
        ROOT / "functions" / "telehealth", WORK / "telehealth", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(ROOT / "functions" / "main.py", WORK / "main.py")
    for folder in ("unit", "support"):
        shutil.copytree(ROOT / "tests" / folder, WORK / "tests" / folder, ignore=shutil.ignore_patterns("__pycache__"))
    for helper in ("fuzzing.py", "standins.py"):
        shutil.copy(ROOT / "tests" / helper, WORK / "tests" / helper)
    for config in ("firestore.indexes.json", "firebase.json", "firebase.matrix.json", "firebase.bench.json"):
        shutil.copy(ROOT / config, WORK / config)
    (WORK / "scripts").mkdir()
    # with_emulators: the unit tests of the suites' port layout import it (it reads the firebase*.json above).
    for script in ("demo.env", "jitsi_end_key.py", "with_emulators.py"):
        shutil.copy(ROOT / "scripts" / script, WORK / "scripts" / script)
    (WORK / "pyproject.toml").write_text(PYPROJECT)


def module_of(mutant: str) -> str:
    """``telehealth.access.x_parse__mutmut_3`` and ``telehealth.ratelimit.xǁRateLimiterǁallow__mutmut_1``."""
    return re.split(r"\.xǁ|\.x_", mutant, maxsplit=1)[0]


def main(argv: list[str]) -> int:
    if argv:
        # It takes no arguments: `--help` once started a full run of several hours.
        print(__doc__.strip(), file=sys.stderr if argv[0] not in ("-h", "--help") else sys.stdout)
        return 0 if argv[0] in ("-h", "--help") else 2
    lay_out()
    env = {**os.environ, "MODEL_SEQUENCES": "300", "PYTHONPATH": ""}
    children = str(os.cpu_count() or 2)
    run = subprocess.run([str(MUTMUT), "run", "--max-children", children], cwd=WORK, env=env, check=False)  # noqa: S603
    if run.returncode not in (0, 1):
        print(f"mutate: mutmut run failed ({run.returncode})", file=sys.stderr)
        return run.returncode
    listing = subprocess.run(  # noqa: S603 - our venv's mutmut
        [str(MUTMUT), "results", "--all", "true"], cwd=WORK, env=env, capture_output=True, text=True, check=False
    ).stdout
    equivalent = {line.split("#")[0].strip() for line in EQUIVALENT.read_text().splitlines()} - {""}
    totals: dict[str, Counter[str]] = defaultdict(Counter)
    survivors: list[str] = []
    seen: set[str] = set()
    stale: list[str] = []
    for line in listing.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if not name or not status:
            continue
        seen.add(name)
        module = module_of(name)
        if name in equivalent and status != "killed":
            totals[module]["equivalent"] += 1
            continue
        if name in equivalent:
            stale.append(f"{name}: listed as equivalent, but a test kills it")
        totals[module][status] += 1
        if status in ("survived", "no tests"):
            survivors.append(f"{name}: {status}")
    if not totals or sum(counts[key] for counts in totals.values() for key in ("killed", "survived")) == 0:
        print("mutate: no mutant was tested (see mutmut's output above)", file=sys.stderr)
        return 1
    failing = []
    print(f"\n{'module':28} {'killed':>7} {'survived':>8} {'no tests':>8} {'timeout':>7} {'equiv.':>6} {'score':>7}")
    for module, counts in sorted(totals.items()):
        killed = counts["killed"] + counts["timeout"]
        tested = killed + counts["survived"] + counts["no tests"]
        score = 100.0 * killed / tested if tested else 100.0
        if score < TARGET:
            failing.append(module)
        print(
            f"{module:28} {counts['killed']:>7} {counts['survived']:>8} {counts['no tests']:>8} "
            f"{counts['timeout']:>7} {counts['equivalent']:>6} {score:>6.1f}%"
        )
    if survivors:
        print("\nsurvivors (see one with: cd .cache/mutate && ../../.venv/bin/mutmut show NAME):")
        print("\n".join(f"  {line}" for line in survivors))
    stale += [f"{name}: listed as equivalent, but no such mutant" for name in sorted(equivalent - seen)]
    if stale:
        print(f"\n{EQUIVALENT.name} is out of date:")
        print("\n".join(f"  {line}" for line in stale))
    verdict = "met" if not failing else "missed by " + ", ".join(failing)
    print(f"\ntarget {TARGET}% of non-equivalent mutants per module: {verdict}")
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
