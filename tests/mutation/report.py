"""Write ``tests/MUTATION.md`` from the results ``mutmut run`` left in ``mutants/``.

Run by ``make mutate`` after mutmut (``python -m tests.mutation.report``). For each mutated
module it counts killed mutants (a failing test or a timeout), survivors, mutants no selected
test reaches, and the survivors marked equivalent in ``tests/mutation/equivalent.toml`` (a
change no test can see because behaviour does not change: each entry says why). The score is
killed / (all checked - equivalent). Survivors that are not marked are listed with their diff:
those are the gaps. Notes written by hand go in ``tests/mutation/notes.md`` and are copied in.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
MUTANTS = REPOSITORY / "mutants"
EQUIVALENT = Path(__file__).with_name("equivalent.toml")
NOTES = Path(__file__).with_name("notes.md")
OUTPUT = REPOSITORY / "tests" / "MUTATION.md"

# mutmut's exit codes (mutmut/stats.py), folded into what the report needs.
KILLED_CODES = {1, 3}
TIMEOUT_CODES = {36, -24, 24, 152, 255}
SURVIVED_CODES = {0}
NO_TESTS_CODES = {5, 33}


@dataclass
class ModuleResult:
    path: str
    counts: Counter[str] = field(default_factory=Counter)
    survivors: list[str] = field(default_factory=list)
    equivalent: list[str] = field(default_factory=list)

    @property
    def scored(self) -> int:
        return sum(self.counts[k] for k in ("killed", "timeout", "survived", "no tests"))

    @property
    def score(self) -> float | None:
        if not self.scored:
            return None
        return (self.counts["killed"] + self.counts["timeout"]) / self.scored


def _status(exit_code: int | None) -> str:
    if exit_code is None:
        return "not checked"
    if exit_code in KILLED_CODES:
        return "killed"
    if exit_code in TIMEOUT_CODES:
        return "timeout"
    if exit_code in SURVIVED_CODES:
        return "survived"
    if exit_code in NO_TESTS_CODES:
        return "no tests"
    return "other"


def load_results(equivalent: dict[str, str]) -> list[ModuleResult]:
    """Read every ``mutants/**/*.py.meta`` mutmut wrote; survivors in ``equivalent`` are
    counted apart and left out of the score."""
    results = []
    for meta_path in sorted(MUTANTS.rglob("*.py.meta")):
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        result = ModuleResult(str(meta_path.relative_to(MUTANTS)).removesuffix(".meta"))
        for name, exit_code in sorted(meta["exit_code_by_key"].items(), key=_mutant_order):
            status = _status(exit_code)
            if status in ("survived", "no tests") and name in equivalent:
                result.counts["equivalent"] += 1
                result.equivalent.append(name)
                continue
            result.counts[status] += 1
            if status in ("survived", "no tests"):
                result.survivors.append(name)
        if result.counts:
            results.append(result)
    return results


def _mutant_order(item: tuple[str, object]) -> tuple[str, int]:
    name = item[0]
    stem, _, number = name.rpartition("__mutmut_")
    return (stem, int(number) if number.isdigit() else 0)


def _diff(name: str) -> str:
    shown = subprocess.run(
        [str(Path(sys.executable).with_name("mutmut")), "show", name],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in shown.stdout.splitlines() if line.startswith(("+ ", "- "))]
    return "\n".join(lines) or shown.stdout.strip()


def render(results: list[ModuleResult], equivalent: dict[str, str]) -> str:
    """The Markdown report: the table, the unmarked survivors with diffs, the equivalents."""
    out = [
        "# Mutation testing",
        "",
        "Written by `make mutate` (mutmut; `tests/mutation/report.py`). Do not edit by hand:",
        "add notes to `tests/mutation/notes.md` and equivalent mutants to",
        "`tests/mutation/equivalent.toml`.",
        "",
        "| module | mutants | killed | timeout | survived | no tests | equivalent | not run "
        "| score |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        counts = result.counts
        score = "-" if result.score is None else f"{100 * result.score:.1f} %"
        if result.score is not None and counts["not checked"]:
            score += " (partial)"
        total = sum(counts.values())
        out.append(
            f"| `{result.path}` | {total} | {counts['killed']} | {counts['timeout']} | "
            f"{counts['survived']} | {counts['no tests']} | {counts['equivalent']} | "
            f"{counts['not checked']} | {score} |"
        )
    out += [
        "",
        'Score: killed (a failing test or a timeout) / (mutants run - equivalent). "Not run"',
        "counts mutants no `mutmut run` has reached yet; a module with any is marked partial.",
        "",
    ]
    if NOTES.exists():
        out += [NOTES.read_text(encoding="utf-8").rstrip(), ""]
    survivors = [(r.path, name) for r in results for name in r.survivors]
    out += ["## Survivors not marked equivalent", ""]
    if not survivors:
        out.append("None.")
    for path, name in survivors:
        out += [f"- `{name}` ({path})", "", "  ```diff"]
        out += [f"  {line}" for line in _diff(name).splitlines()]
        out += ["  ```"]
    out += ["", "## Equivalent mutants", ""]
    marked = [name for r in results for name in r.equivalent]
    if not marked:
        out.append("None marked.")
    for name in marked:
        out.append(f"- `{name}`: {equivalent[name]}")
    return "\n".join(out) + "\n"


def main() -> int:
    if not MUTANTS.is_dir():
        print("no mutants/ folder: run `mutmut run` first", file=sys.stderr)
        return 1
    equivalent: dict[str, str] = (
        tomllib.loads(EQUIVALENT.read_text(encoding="utf-8")) if EQUIVALENT.exists() else {}
    )
    results = load_results(equivalent)
    OUTPUT.write_text(render(results, equivalent), encoding="utf-8")
    for result in results:
        score = "-" if result.score is None else f"{100 * result.score:.1f} %"
        print(f"{result.path}: {score} ({dict(result.counts)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
