"""Run mutmut over the groups of ``tests/mutation/modules.toml``, each with its own tests.

``python -m tests.mutation.run [--max-children N] [--time-limit SECONDS] [--survivors [--only GLOB]]
[GROUP ...]`` (``make mutate`` runs it, then ``tests.mutation.report``). No group named
means every group, in the file's order.

mutmut reads one ``[tool.mutmut]`` section from the ``pyproject.toml`` of the folder it runs
in and keeps its results in ``mutants/`` there. So each group gets a folder,
``.mutmut/<group>/``, holding links to the checkout's files and a copy of ``pyproject.toml``
whose ``[tool.mutmut]`` names the group's files and tests; mutmut runs in it. A later run of
a group only tests mutants without a result (and functions that changed); ``--survivors``
runs again, by name, the group's survivors, the mutants no test reached and those no run
reached yet, after tests were added for them.

Each run appends to ``.mutmut/<group>/runs.json``: the commit it ran on (``+changes`` when
the mutated files differed from it), wall-clock seconds, the exit code, whether the time
limit stopped it, whether mutmut started the group afresh (no results yet, or its tests
changed) and the tests. The report prints these.

Raises nothing on a failed mutmut run: its exit code is recorded and the next group runs;
the process exits non-zero if any group failed.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
MODULES = Path(__file__).with_name("modules.toml")
WORK = REPOSITORY / ".mutmut"
# Top-level entries never linked into a group's folder: its own pyproject.toml is written,
# the rest is mutmut's, git's or the environment's.
NOT_LINKED = {"pyproject.toml", ".git", ".venv", ".mutmut", "mutants", ".mypy_cache"}
# After a time limit: how long mutmut gets to stop its workers and save before it is killed.
STOP_GRACE_SECONDS = 60


@dataclass(frozen=True)
class Group:
    name: str
    mutate: list[str]
    tests: list[str]

    @property
    def folder(self) -> Path:
        return WORK / self.name


def load_groups() -> list[Group]:
    """The groups of modules.toml, in its order."""
    data = tomllib.loads(MODULES.read_text(encoding="utf-8"))
    return [Group(name, list(g["mutate"]), list(g["tests"])) for name, g in data.items()]


def _toml_value(value: object) -> str:
    # JSON's strings, numbers, booleans and arrays are valid TOML for the values used here.
    return json.dumps(value)


def group_pyproject(group: Group) -> str:
    """The checkout's pyproject.toml with its [tool.mutmut] section made the group's."""
    text = (REPOSITORY / "pyproject.toml").read_text(encoding="utf-8")
    settings = dict(tomllib.loads(text)["tool"]["mutmut"])
    settings["only_mutate"] = group.mutate
    settings["pytest_add_cli_args_test_selection"] = group.tests
    section = ["[tool.mutmut]"] + [f"{key} = {_toml_value(v)}" for key, v in settings.items()]
    lines = text.splitlines()
    start = lines.index("[tool.mutmut]")
    end = next(
        (i for i in range(start + 1, len(lines)) if lines[i].startswith("[")),
        len(lines),
    )
    return "\n".join(lines[:start] + section + [""] + lines[end:]) + "\n"


def prepare(group: Group) -> None:
    """Make .mutmut/<group>/: links to the checkout's files and the group's pyproject.toml."""
    group.folder.mkdir(parents=True, exist_ok=True)
    for entry in REPOSITORY.iterdir():
        if entry.name in NOT_LINKED:
            continue
        link = group.folder / entry.name
        if not link.is_symlink():
            link.symlink_to(entry)
    (group.folder / "pyproject.toml").write_text(group_pyproject(group), encoding="utf-8")


# mutmut's exit codes for "survived" and "no test reaches it" (mutmut/stats.py).
NOT_KILLED_CODES = {0, 5, 33}


def survivors(group: Group) -> list[str]:
    """Names of the group's mutants that survived, that no test reached, or that no run
    has reached yet (an earlier run stopped by its time limit)."""
    names = []
    for meta in sorted((group.folder / "mutants").rglob("*.py.meta")):
        codes = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
        names += [name for name, code in codes.items() if code is None or code in NOT_KILLED_CODES]
    return names


def commit_label(group: Group) -> str:
    """The checkout's commit, with '+changes' when the group's files differ from it."""
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    changed = subprocess.run(
        ["git", "status", "--porcelain", "--", *group.mutate],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return f"{head or 'unknown'}{'+changes' if changed else ''}"


def run_group(
    group: Group, max_children: int, time_limit: float | None, again: bool, only: str | None
) -> int:
    """Run mutmut for one group; returns its exit code (-1 when stopped by the time limit)."""
    prepare(group)
    names = survivors(group) if again else []
    if only:
        names = [name for name in names if fnmatch.fnmatch(name, only)]
    if again and not names:
        print(f"== {group.name}: no survivors to run again", flush=True)
        return 0
    mutmut = Path(sys.executable).with_name("mutmut")
    command = [str(mutmut), "run", "--max-children", str(max_children), *names]
    print(f"== {group.name}: {' '.join(group.mutate)} with {' '.join(group.tests)}", flush=True)
    label = commit_label(group)
    runs_file = group.folder / "runs.json"
    runs = json.loads(runs_file.read_text(encoding="utf-8")) if runs_file.exists() else []
    # mutmut starts a group afresh when it has no results yet or when its tests changed.
    fresh = not runs or runs[-1].get("tests") != group.tests
    started = time.monotonic()
    # Its own session, so that a time limit can stop mutmut and its workers together.
    # mutmut's progress spinner goes to a log in the group's folder, not to the terminal.
    with (group.folder / "mutmut.log").open("ab") as log:
        process = subprocess.Popen(
            command, cwd=group.folder, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    stopped = False
    try:
        code = process.wait(timeout=time_limit)
    except subprocess.TimeoutExpired:
        stopped = True
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        code = -1
    elapsed = time.monotonic() - started
    runs.append(
        {
            "commit": label,
            "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(time.time() - elapsed)),
            "seconds": round(elapsed),
            "exit_code": code,
            "time_limit_stopped": stopped,
            "survivors_only": again,
            "fresh": fresh,
            "tests": group.tests,
            "max_children": max_children,
        }
    )
    runs_file.write_text(json.dumps(runs, indent=1) + "\n", encoding="utf-8")
    print(f"== {group.name}: {round(elapsed)} s, exit code {code}", flush=True)
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("groups", nargs="*", help="groups of modules.toml (default: all)")
    parser.add_argument("--max-children", type=int, default=2)
    parser.add_argument("--time-limit", type=float, help="seconds per group")
    parser.add_argument("--survivors", action="store_true", help="run survivors again")
    parser.add_argument("--only", help="with --survivors: only the names matching this glob")
    args = parser.parse_args(argv)
    groups = load_groups()
    known = {g.name for g in groups}
    unknown = [name for name in args.groups if name not in known]
    if unknown:
        parser.error(f"unknown groups {unknown}; modules.toml has {sorted(known)}")
    chosen = [g for g in groups if not args.groups or g.name in args.groups]
    failed = 0
    for group in chosen:
        code = run_group(group, args.max_children, args.time_limit, args.survivors, args.only)
        failed += code not in (0, -1)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
