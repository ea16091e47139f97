"""Write ``tests/MUTATION.md`` from the results mutmut left in ``.mutmut/<group>/mutants/``.

Run by ``make mutate`` after ``tests.mutation.run`` (``python -m tests.mutation.report``),
which runs mutmut once per group of ``tests/mutation/modules.toml``. For each mutated
module it counts killed mutants (a failing test or a timeout), survivors, mutants no selected
test reaches, and the survivors marked equivalent in ``tests/mutation/equivalent.toml`` (a
change no test can see because behaviour does not change: each entry says why). The score is
killed / (all checked - equivalent). Survivors that are not marked are listed with their diff:
those are the gaps. Notes written by hand go in ``tests/mutation/notes.md`` and are copied in.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
WORK = REPOSITORY / ".mutmut"
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
    group: str
    counts: Counter[str] = field(default_factory=Counter)
    survivors: list[str] = field(default_factory=list)
    equivalent: list[str] = field(default_factory=list)
    explained: list[str] = field(default_factory=list)

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


def group_runs(group: str) -> list[dict[str, object]]:
    """The runs tests.mutation.run recorded for a group, oldest first."""
    runs_file = WORK / group / "runs.json"
    return json.loads(runs_file.read_text(encoding="utf-8")) if runs_file.exists() else []


@dataclass(frozen=True)
class Verdict:
    """A survivor looked at by hand (an entry of equivalent.toml).

    ``change`` is text of the mutant's added line(s): mutmut numbers mutants per function,
    so a name can come to mean another mutant when the function changes; an entry whose
    ``change`` is not in the mutant's diff any more is stale and ignored. ``kind`` is
    "equivalent" (behaviour cannot differ: left out of the score) or "unkillable" (differs
    only in a situation no in-process test can stage, such as another program racing syncd
    or a 2 GiB file: still counted as a survivor, and listed with the reason).
    """

    change: str
    why: str
    kind: str


def load_verdicts() -> dict[str, Verdict]:
    """equivalent.toml: mutant name → Verdict."""
    if not EQUIVALENT.exists():
        return {}
    data = tomllib.loads(EQUIVALENT.read_text(encoding="utf-8"))
    return {
        name: Verdict(entry["change"], entry["why"], entry.get("kind", "equivalent"))
        for name, entry in data.items()
    }


def _matches(group: str, name: str, verdict: Verdict) -> bool:
    if verdict.why == SQL_CASE_WHY:
        return True
    added = [line[2:] for line in _diff(group, name).splitlines() if line.startswith("+ ")]
    return any(verdict.change in line for line in added)


SQL_WORDS = re.compile(
    r"\b(select|insert|update|delete|from|where|order by|set|and|or|as|is not null|coalesce)\b",
    re.I,
)
COLUMN_KEY = re.compile(r'^\s*"[a-z_0-9]+": ')
TABLE_ARGUMENT = re.compile(r'transaction\.(insert|get|update|upsert)\("[a-z_]+"')
SQL_CASE_WHY = (
    "changes only the letter case of SQL text or of a table or column name SQLite reads: "
    "SQLite's keywords and identifiers are case-insensitive"
)


def sql_case_only(path: str, diff: str) -> bool:
    """True for a mutant of the state modules that only changes the case of SQL text, of a
    column name (a key of a record to insert) or of a table name given to the database.

    Applied by rule because there are dozens and each is equivalent for the same reason.
    """
    if not path.startswith("syncd/state/"):
        return False
    removed = [line[2:] for line in diff.splitlines() if line.startswith("- ")]
    added = [line[2:] for line in diff.splitlines() if line.startswith("+ ")]
    if len(removed) != 1 or len(added) != 1 or removed == added:
        return False
    before, after = removed[0], added[0]
    if before.lower() != after.lower():
        return False
    return bool(
        SQL_WORDS.search(before) or COLUMN_KEY.match(before) or TABLE_ARGUMENT.search(before)
    )


def load_results(verdicts: dict[str, Verdict]) -> list[ModuleResult]:
    """Read every ``.mutmut/<group>/mutants/**/*.py.meta`` mutmut wrote; survivors with a
    matching "equivalent" verdict are counted apart and left out of the score."""
    results = []
    for meta_path in sorted(WORK.glob("*/mutants/**/*.py.meta")):
        mutants = meta_path.relative_to(WORK).parts[0]
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        relative = meta_path.relative_to(WORK / mutants / "mutants")
        result = ModuleResult(str(relative).removesuffix(".meta"), mutants)
        for name, exit_code in sorted(meta["exit_code_by_key"].items(), key=_mutant_order):
            status = _status(exit_code)
            verdict = verdicts.get(name)
            if (
                status in ("survived", "no tests")
                and verdict is None
                and sql_case_only(result.path, _diff(mutants, name))
            ):
                verdict = verdicts[name] = Verdict("", SQL_CASE_WHY, "equivalent")
            not_killed = status in ("survived", "no tests")
            if not_killed and verdict is not None and _matches(mutants, name, verdict):
                if verdict.kind == "equivalent":
                    result.counts["equivalent"] += 1
                    result.equivalent.append(name)
                    continue
                result.explained.append(name)
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


def _diff(group: str, name: str) -> str:
    shown = subprocess.run(
        [str(Path(sys.executable).with_name("mutmut")), "show", name],
        cwd=WORK / group,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in shown.stdout.splitlines() if line.startswith(("+ ", "- "))]
    return "\n".join(lines) or shown.stdout.strip()


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def run_summary(group: str) -> tuple[str, str]:
    """(commits measured on, wall time) of a group's standing results: the runs since the
    last one that started it afresh (interrupted runs resumed count together), and the runs
    that re-tested survivors after that."""
    runs = group_runs(group)
    fresh = [index for index, run in enumerate(runs) if run.get("fresh", index == 0)]
    if not fresh:
        return "-", "-"
    standing = runs[fresh[-1] :]
    commits = ", ".join(dict.fromkeys(f"`{run['commit']}`" for run in standing))
    first = sum(float(str(run["seconds"])) for run in standing if not run["survivors_only"])
    again = sum(float(str(run["seconds"])) for run in standing if run["survivors_only"])
    time_text = _minutes(first)
    if again:
        time_text += f" + {_minutes(again)} re-runs"
    if any(run["time_limit_stopped"] for run in standing):
        time_text += " (time limit hit)"
    return commits, time_text


def render(results: list[ModuleResult], verdicts: dict[str, Verdict]) -> str:
    """The Markdown report: the table, the unmarked survivors with diffs, the equivalents."""
    out = [
        "# Mutation testing",
        "",
        "Written by `make mutate` (mutmut; `tests/mutation/run.py`, `tests/mutation/report.py`).",
        "Do not edit by hand: add notes to `tests/mutation/notes.md` and equivalent mutants to",
        "`tests/mutation/equivalent.toml`.",
        "",
        "| module | group | mutants | killed | timeout | survived | no tests | equivalent "
        "| not run | score | measured on | mutmut time |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for result in results:
        counts = result.counts
        score = "-" if result.score is None else f"{100 * result.score:.1f} %"
        if result.score is not None and counts["not checked"]:
            score += " (partial)"
        total = sum(counts.values())
        commits, time_text = run_summary(result.group)
        out.append(
            f"| `{result.path}` | {result.group} | {total} | {counts['killed']} | "
            f"{counts['timeout']} | {counts['survived']} | {counts['no tests']} | "
            f"{counts['equivalent']} | {counts['not checked']} | {score} | {commits} | "
            f"{time_text} |"
        )
    out += [
        "",
        'Score: killed (a failing test or a timeout) / (mutants run - equivalent). "Not run"',
        "counts mutants no `mutmut run` has reached yet; a module with any is marked partial.",
        '"Measured on": the commit each run of the group started from (`+changes`: the mutated',
        'files differed from it). "mutmut time": wall-clock time of the group\'s runs (a group',
        "of two modules shows its time on both rows).",
        "",
    ]
    if NOTES.exists():
        out += [NOTES.read_text(encoding="utf-8").rstrip(), ""]
    survivors = [(r, name) for r in results for name in r.survivors]
    out += ["## Survivors", ""]
    if not survivors:
        out.append("None.")
    for result, name in survivors:
        why = (
            f": {verdicts[name].why} (no in-process test can stage it)"
            if name in result.explained
            else ""
        )
        out += [f"- `{name}` ({result.path}){why}", "", "  ```diff"]
        out += [f"  {line}" for line in _diff(result.group, name).splitlines()]
        out += ["  ```"]
    out += ["", "## Equivalent mutants", ""]
    marked = [name for r in results for name in r.equivalent]
    if not marked:
        out.append("None marked.")
    for name in marked:
        change = verdicts[name].change.strip()
        shown = f" (`{change}`)" if change else ""
        out.append(f"- `{name}`{shown}: {verdicts[name].why}")
    return "\n".join(out) + "\n"


def main() -> int:
    if not WORK.is_dir():
        print("no .mutmut/ folder: run `python -m tests.mutation.run` first", file=sys.stderr)
        return 1
    verdicts = load_verdicts()
    results = load_results(verdicts)
    OUTPUT.write_text(render(results, verdicts), encoding="utf-8")
    for result in results:
        score = "-" if result.score is None else f"{100 * result.score:.1f} %"
        print(f"{result.path}: {score} ({dict(result.counts)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
