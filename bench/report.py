"""Markdown for RESULTS.md: the machine, then one section per benchmark result dict.

A result dict has ``title``, ``what`` (how it was measured), ``tables`` (each ``columns`` and
``rows``), ``goals`` (each ``goal``, ``measured``, ``met``: True/False/None) and optionally
``notes`` (list of strings).
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> str:
    try:
        with open("/proc/meminfo", encoding="utf-8") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    from PIL import __version__ as pillow_version

    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {
        "CPU": _cpu_model(),
        "cores": str(os.cpu_count()),
        "RAM": _memory_gib(),
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "Pillow": pillow_version,
        "load average at start": " ".join(f"{value:.2f}" for value in load),
    }


def table(columns: list[str], rows: list[list[Any]]) -> str:
    """A markdown table."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _met(value: bool | None) -> str:
    return {True: "**met**", False: "**not met**", None: "n/a"}[value]


def section(result: dict[str, Any]) -> str:
    """One benchmark's markdown section."""
    parts = [f"## {result['title']}", "", result["what"], ""]
    for entry in result.get("tables", []):
        parts += [table(entry["columns"], entry["rows"]), ""]
    if result.get("goals"):
        rows = [[goal["goal"], goal["measured"], _met(goal["met"])] for goal in result["goals"]]
        parts += [table(["goal", "measured", ""], rows), ""]
    for note in result.get("notes", []):
        parts += [f"* {note}"]
    if result.get("notes"):
        parts.append("")
    return "\n".join(parts)


def document(
    results: list[dict[str, Any]], command: str, date: str, seconds: float, errors: list[str]
) -> str:
    """The whole RESULTS.md."""
    facts = machine()
    parts = [
        "# syncd benchmarks: results",
        "",
        "Written by `bench/run_all.py`; do not edit by hand (every run rewrites this file).",
        "Each figure is compared with its baseline measured side by side in the same run.",
        "",
        f"* Command: `{command}`",
        f"* Date: {date}; the whole run took {seconds:.0f} s",
    ]
    parts += [f"* {key}: {value}" for key, value in facts.items()]
    parts.append("")
    summary = [
        [result["title"], goal["goal"], goal["measured"], _met(goal["met"])]
        for result in results
        for goal in result.get("goals", [])
    ]
    parts += ["## Goals at a glance", "", table(["benchmark", "goal", "measured", ""], summary), ""]
    for error in errors:
        parts += [f"**Failed:** {error}", ""]
    parts += [section(result) for result in results]
    return "\n".join(parts).rstrip() + "\n"


RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def add_result(path: Path, result: dict[str, Any], command: str, date: str) -> None:
    """Put one benchmark run on its own into ``path`` (RESULTS.md) without rerunning the rest.

    Its goal rows join the "Goals at a glance" table and its section is appended, both
    replacing an earlier run of the same benchmark; the section says how and when it ran.
    """
    text = path.read_text(encoding="utf-8")
    title = result["title"]
    lines = [line for line in text.splitlines() if not line.startswith(f"| {title} |")]
    glance = lines.index("## Goals at a glance")
    end = glance + 2
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    rows = [
        f"| {title} | {goal['goal']} | {goal['measured']} | {_met(goal['met'])} |"
        for goal in result.get("goals", [])
    ]
    lines[end:end] = rows
    text = "\n".join(lines) + "\n"
    heading = f"## {title}"
    if heading in text:
        before, after = text.split(heading, 1)
        rest = after.split("\n## ", 1)
        text = before + ("## " + rest[1] if len(rest) > 1 else "")
    body = section(result)
    body = body.replace("\n\n", f"\n\nRun on its own: `{command}`, {date}.\n\n", 1)
    path.write_text(text.rstrip() + "\n\n" + body.rstrip() + "\n", encoding="utf-8")
