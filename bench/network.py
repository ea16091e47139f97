"""Benchmark 8: pages/s over an emulated network (round trip, narrow uplink), 1 and 4 routes.

The emulator's ``rtt_ms`` knob adds a round trip to every request and answer (requests in
flight overlap, a socket's answers keep their order) and ``uplink_kbps`` paces every storage
PUT through one shared line (``syncd/emulator/network.py``). For each setting, one after the
other in a rotating order, against one emulator:

* syncd with its upload window (``upload_window_files = 4``, the default);
* syncd with ``upload_window_files = 1``: one file at a time, as before the window;
* the tutorial's per-file method (``seed_method.py``): per file a new WebSocket, an upload
  URL, a PUT of the unchanged file, a publish, strictly one after another, one script (and
  one consumer, one conversation) per route.

Both daemons run for the whole benchmark (``syncd run`` children, warmed up: signed up,
conversations open); only one contender works at a time. pages/s is the steady rate of
the publishes as the emulator received them, all routes of the batch together, over the
last three quarters of the batch (the first quarter fills the pipeline); on a narrow line
every page over the time from the batch's first PUT to its last publish (publish times
alone would credit bytes the window sent before the clock started). At rtt 0 every
contender runs five batches and medians are compared (the image step decides there, and
single short batches are noisy); elsewhere one batch each.

The limit of each row: for ordered publishes one page per round trip per route (routes /
RTT), on a narrow uplink uplink / bytes per page (each method's own bytes: syncd uploads its
re-encode, the tutorial the original scan), whichever is smaller.

Run alone: ``python -m bench.network [--quick]`` (adds its section to bench/RESULTS.md).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import requests
import websocket

from bench import daemon_run, inputs, latency, report, seed_method, throughput
from bench.timing import median

# A control row: the same round trip with small photos that fit (passed through, no image
# work), so the network pipeline's own figure shows apart from the CPU's.
SMALL_LABEL = "rtt 100 ms, 50 kB photos"
# (label, rtt_ms, uplink_kbps)
SETTINGS: tuple[tuple[str, float, float | None], ...] = (
    ("rtt 0 ms", 0, None),
    ("rtt 25 ms", 25, None),
    ("rtt 50 ms", 50, None),
    ("rtt 100 ms", 100, None),
    ("rtt 200 ms", 200, None),
    ("10 Mbit/s, rtt 50 ms", 50, 10_000),
    ("50 Mbit/s, rtt 50 ms", 50, 50_000),
    (SMALL_LABEL, 100, None),
)
ROUTE_COUNTS = (1, 4)
METHODS = ("syncd window 4", "syncd window 1", "tutorial")
WINDOWED, SEQUENTIAL, TUTORIAL = METHODS
FOUR_ROUTES = tuple(f"net{number}" for number in range(1, 5))
BATCH_TIMEOUT_SECONDS = 600
ZERO_RTT_ROUNDS = 5


def _batch_pages(routes: int, uplink_kbps: float | None, quick: bool) -> int:
    """Pages per batch: enough for a steady rate, few enough on a narrow line."""
    if routes == 1:
        pages = 20 if uplink_kbps is None else 24
    else:
        pages = 40 if uplink_kbps is None else 32
    return pages // 2 if quick else pages


def _published_batch(running: Any, tag: str) -> list[daemon_run.Published]:
    return [event for event in daemon_run.published(running) if event.caption.startswith(tag)]


def _wait_for_batch(running: Any, tag: str, pages: int) -> list[daemon_run.Published]:
    return list(
        daemon_run.wait_for(
            lambda: (found := _published_batch(running, tag)) and len(found) >= pages and found,
            BATCH_TIMEOUT_SECONDS,
            0.05,
            f"batch {tag}",
        )
    )


def _syncd_batch(
    running: Any, folder: Path, routes: tuple[str, ...], files: list[Path], tag: str
) -> list[daemon_run.Published]:
    """Copy ``files`` into ``routes`` (round robin) of the daemon under ``folder``."""
    for number, path in enumerate(files):
        route = routes[number % len(routes)]
        shutil.copyfile(path, folder / route / "outbox" / f"{tag}-{number:03d}.jpg")
    events = _wait_for_batch(running, tag, len(files))
    # Let the last rows finish their bookkeeping before the next contender starts.
    time.sleep(0.2)
    return events


def _tutorial_route(running: Any, files: list[Path], names: list[str]) -> None:
    """One script: sign up, open a conversation, then each file strictly one after another."""
    base = running.base_url
    account = running.account
    idp = seed_method._service(base, account, "idp")
    messaging = seed_method._service(base, account, "asyncMessagingEnt")
    swift = seed_method._service(base, account, "swift")
    jwt = requests.post(f"http://{idp}/api/account/{account}/signup", timeout=30).json()["jwt"]
    url = f"ws://{messaging}/ws_api/account/{account}/messaging/consumer?v=3"
    header = [f"Authorization: jwt {jwt}"]
    first = websocket.create_connection(url, header=header, timeout=60)
    try:
        conversation_id = seed_method._request(first, 1, "cm.ConsumerRequestConversation")[
            "conversationId"
        ]
    finally:
        first.close()
    for path, name in zip(files, names, strict=True):
        data = path.read_bytes()
        socket = websocket.create_connection(url, header=header, timeout=60)
        try:
            upload = seed_method._request(
                socket,
                2,
                "ms.GenerateURLForUploadFile",
                {"fileSize": str(len(data)), "fileType": "JPG"},
            )
            put = requests.put(
                f"http://{swift}{upload['relativePath']}",
                params=upload["queryParams"],
                data=data,
                timeout=120,
            )
            if put.status_code != 201:
                raise RuntimeError(f"PUT answered {put.status_code}")
            message = {
                "caption": name,
                "relativePath": upload["relativePath"],
                "fileType": "JPG",
                "preview": seed_method._preview(data),
            }
            seed_method._request(
                socket,
                3,
                "ms.PublishEvent",
                {
                    "dialogId": conversation_id,
                    "event": {
                        "type": "ContentEvent",
                        "contentType": "hosted/file",
                        "message": message,
                    },
                },
            )
        finally:
            socket.close()


def _tutorial_batch(
    running: Any, routes: int, files: list[Path], tag: str
) -> list[daemon_run.Published]:
    """One tutorial script per route, at once, each with its share of ``files``."""
    failures: list[BaseException] = []

    def one(index: int) -> None:
        mine = files[index::routes]
        names = [f"{tag}-{index + routes * number:03d}.jpg" for number in range(len(mine))]
        try:
            _tutorial_route(running, mine, names)
        except BaseException as error:  # reported in the main thread
            failures.append(error)

    threads = [threading.Thread(target=one, args=(index,)) for index in range(routes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"tutorial script failed: {failures[0]!r}")
    return _wait_for_batch(running, tag, len(files))


def _in_order_once(events: list[daemon_run.Published], pages: int) -> bool:
    """Each page exactly once, and each conversation's pages in name order."""
    captions = [event.caption for event in events]
    if len(captions) != pages or len(set(captions)) != pages:
        return False
    by_conversation: dict[str, list[str]] = {}
    for event in sorted(events, key=lambda event: event.server_time):
        by_conversation.setdefault(event.conversation_id, []).append(event.caption)
    return all(names == sorted(names) for names in by_conversation.values())


def _object_sizes(running: Any, events: list[daemon_run.Published]) -> float:
    """Mean bytes of the stored objects the events point at."""

    def sizes() -> list[int]:
        found = [running.core.objects.get(event.relative_path) for event in events]
        return [len(stored.data) for stored in found if stored is not None]

    values: list[int] = running._call(sizes)
    return sum(values) / len(values) if values else float("nan")


def _measure(
    contender: Callable[[str], list[daemon_run.Published]],
    tag: str,
    pages: int,
    running: Any,
    narrow_line: bool,
) -> dict[str, float]:
    """Run one batch and return its rate, order and bytes per page.

    With a round trip only: the steady rate over the last three quarters of the publishes
    (the first quarter fills the pipeline: settle, first preparations, first uploads). On a
    narrow line, where the window's uploads share the line and their publishes come in
    bunches, publish times alone would credit bytes sent before the clock started: there
    the rate is every page over the time from the batch's first PUT to its last publish.
    """
    # The emulator runs in this process: its loop clock is time.monotonic().
    wall_minus_monotonic = time.time() - time.monotonic()
    running.core.network_log.clear()
    events = contender(tag)
    times = sorted(event.server_time for event in events)
    if narrow_line:
        puts = [e for e in running.core.network_log.entries("http") if e.method == "PUT"]
        first_put = min(entry.started for entry in puts) + wall_minus_monotonic
        span = times[-1] - first_put
        counted = len(times)
    else:
        skip = len(times) // 4
        span = times[-1] - times[skip]
        counted = len(times) - 1 - skip
    return {
        "rate": counted / span if span > 0 else float("nan"),
        "in_order_once": float(_in_order_once(events, pages)),
        "page_bytes": _object_sizes(running, events),
    }


def _median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    """Median rate of ``runs``; in order only when every run was."""
    return {
        "rate": median([run["rate"] for run in runs]),
        "in_order_once": float(all(run["in_order_once"] for run in runs)),
        "page_bytes": median([run["page_bytes"] for run in runs]),
    }


def _contender(
    running: Any, method: str, folders: dict[str, Path], routes: int, batch: list[Path]
) -> Callable[[str], list[daemon_run.Published]]:
    """The batch runner of ``method`` for ``routes`` routes: tag -> its publishes."""
    if method == TUTORIAL:
        return lambda tag: _tutorial_batch(running, routes, batch, tag)
    route_names = ("one",) if routes == 1 else FOUR_ROUTES
    return lambda tag: _syncd_batch(running, folders[method], route_names, batch, tag)


def _limit(
    routes: int, rtt_ms: float, uplink_kbps: float | None, page_bytes: float
) -> tuple[float, str]:
    """The row's limit in pages/s and what it is (inf when nothing limits it)."""
    limits = []
    if rtt_ms > 0:
        limits.append((routes * 1000 / rtt_ms, f"{routes}/RTT"))
    if uplink_kbps is not None:
        limits.append((uplink_kbps * 1000 / 8 / page_bytes, "uplink/bytes per page"))
    return min(limits) if limits else (float("inf"), "CPU (no network limit)")


def run(quick: bool = False, only: tuple[str, ...] = ()) -> dict[str, Any]:
    """Every setting x route count x contender once (rotating order); tables and goals.

    ``only`` limits the run to the settings with those labels (to look at one row; the
    goals then need the rows they read)."""
    settings = [setting for setting in SETTINGS if not only or setting[0] in only]
    load_before = os.getloadavg()
    files = inputs.scanner_batch(80, throughput.DPI, throughput.QUALITY)
    small = latency.small_jpeg()
    results: dict[tuple[str, int, str], dict[str, float]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="syncd-bench-network-") as scratch,
        daemon_run.emulator() as running,
    ):
        daemons = {}
        folders = {}
        try:
            for method, window in ((WINDOWED, 4), (SEQUENTIAL, 1)):
                folder = Path(scratch) / f"window{window}"
                folder.mkdir()
                routes = ["one", *FOUR_ROUTES]
                config = daemon_run.write_config(
                    folder, running, routes, upload_window_files=window
                )
                daemons[method] = daemon_run.start_daemon(config, folder / "syncd.log")
                folders[method] = folder
                for route in routes:
                    shutil.copyfile(
                        files[0], folder / route / "outbox" / f"warm{window}-{route}.jpg"
                    )
                _wait_for_batch(running, f"warm{window}-", len(routes))
            small_files = []
            for number in range(40):
                path = Path(scratch) / f"small-{number:02d}.jpg"
                path.write_bytes(small)
                small_files.append(path)
            rotation = 0
            for label, rtt_ms, uplink_kbps in settings:
                running.set_faults(rtt_ms=rtt_ms, uplink_kbps=uplink_kbps)
                for routes_count in ROUTE_COUNTS:
                    pages = _batch_pages(routes_count, uplink_kbps, quick)
                    batch = small_files[:pages] if label == SMALL_LABEL else files[:pages]
                    runs: dict[str, list[dict[str, float]]] = {method: [] for method in METHODS}
                    # Without a round trip the image step decides and batches are short:
                    # several rounds there, medians compared, so noise does not pass for a change.
                    for _round in range(ZERO_RTT_ROUNDS if rtt_ms == 0 else 1):
                        order = METHODS[rotation % 3 :] + METHODS[: rotation % 3]
                        rotation += 1
                        for method in order:
                            tag = f"b{rotation:02d}{METHODS.index(method)}"
                            contender = _contender(running, method, folders, routes_count, batch)
                            narrow = uplink_kbps is not None
                            runs[method].append(_measure(contender, tag, pages, running, narrow))
                    for method, measured in runs.items():
                        results[(label, routes_count, method)] = _median_of(measured)
        finally:
            running.set_faults(rtt_ms=0, uplink_kbps=None)
            for daemon in daemons.values():
                daemon.stop()
    if only:
        for key, result in results.items():
            print(key, {name: round(value, 3) for name, value in result.items()})
        return {}
    return _report(results, quick, load_before, os.getloadavg())


def _report(
    results: dict[tuple[str, int, str], dict[str, float]],
    quick: bool,
    load_before: tuple[float, float, float],
    load_after: tuple[float, float, float],
) -> dict[str, Any]:
    rows = []
    for label, rtt_ms, uplink_kbps in SETTINGS:
        for routes in ROUTE_COUNTS:
            row: list[str] = [label, str(routes)]
            limit_names = set()
            for method in METHODS:
                result = results[(label, routes, method)]
                limit, name = _limit(routes, rtt_ms, uplink_kbps, result["page_bytes"])
                limit_names.add(name)
                share = "" if limit == float("inf") else f" ({result['rate'] / limit:.2f})"
                row.append(f"{result['rate']:.1f}{share}")
            windowed = results[(label, routes, WINDOWED)]
            tutorial_kb = results[(label, routes, TUTORIAL)]["page_bytes"] / 1e3
            row.append(f"{windowed['page_bytes'] / 1e3:.0f} / {tutorial_kb:.0f}")
            row.append(
                "yes"
                if windowed["in_order_once"]
                and results[(label, routes, SEQUENTIAL)]["in_order_once"]
                else "**no**"
            )
            row.append(", ".join(sorted(limit_names)))
            rows.append(row)
    goals = _goals(results)
    return {
        "title": "8. Over a network: round trip and uplink, 1 and 4 routes",
        "what": (
            f"Batches of {throughput.DPI} dpi A4 colour scans (JPEG q{throughput.QUALITY}) into "
            f"(the last row: {SMALL_LABEL}, 800x600 JPEGs that fit and are passed through) "
            "syncd with its upload window (4 files), syncd with a window of 1 (one file at a "
            "time, as before the window) and the tutorial's per-file method (new WebSocket, "
            "upload URL, PUT of the unchanged scan, publish, one after another; one script per "
            "route), one contender at a time in a rotating order, against one emulator whose "
            "rtt_ms / uplink_kbps knobs are set per row. pages/s = the steady rate of the "
            "publishes the emulator received, over the last three quarters of each batch (the "
            "first quarter fills the pipeline); on a narrow line every page over the time from the "
            "batch's first PUT to its last publish; at rtt 0 the median of 5 batches each. "
            "In brackets: the fraction of the row's limit (routes/RTT for "
            "ordered publishes; uplink / that method's bytes per page on a narrow line; the "
            "smaller of the two). " + ("(--quick: half the pages.)" if quick else "")
        ),
        "tables": [
            {
                "columns": [
                    "network",
                    "routes",
                    "syncd window 4 pages/s (of limit)",
                    "syncd window 1 pages/s (of limit)",
                    "tutorial pages/s (of limit)",
                    "kB per page syncd / tutorial",
                    "syncd in order, once",
                    "limit",
                ],
                "rows": rows,
            }
        ],
        "goals": goals,
        "notes": [
            *_notes(),
            f"Load average (1 min) when the run began: {load_before[0]:.1f}, when it ended: "
            f"{load_after[0]:.1f}, on 2 cores shared with other work: the image step of 300 dpi "
            "pages needs the CPU the rows at short round trips are limited by.",
        ],
    }


def _goals(results: dict[tuple[str, int, str], dict[str, float]]) -> list[dict[str, Any]]:
    at_100 = results[("rtt 100 ms", 1, WINDOWED)]
    narrow = results[("10 Mbit/s, rtt 50 ms", 1, WINDOWED)]
    narrow_limit, _ = _limit(1, 50, 10_000, narrow["page_bytes"])
    narrow_four = results[("10 Mbit/s, rtt 50 ms", 4, WINDOWED)]
    narrow_four_limit, _ = _limit(4, 50, 10_000, narrow_four["page_bytes"])
    zero = [
        results[("rtt 0 ms", routes, WINDOWED)]["rate"]
        / results[("rtt 0 ms", routes, SEQUENTIAL)]["rate"]
        for routes in ROUTE_COUNTS
    ]
    return [
        {
            "goal": "rtt 100 ms, 1 route: >= 8 pages/s, in order, exactly once",
            "measured": f"{at_100['rate']:.1f} pages/s, "
            + ("in order, once" if at_100["in_order_once"] else "NOT in order once"),
            "met": at_100["rate"] >= 8 and bool(at_100["in_order_once"]),
        },
        {
            "goal": "10 Mbit/s uplink: >= 0.9 of uplink / bytes per page (1 route; 4 routes)",
            "measured": (
                f"{narrow['rate'] / narrow_limit:.2f}; "
                f"{narrow_four['rate'] / narrow_four_limit:.2f}"
            ),
            "met": narrow["rate"] / narrow_limit >= 0.9
            and narrow_four["rate"] / narrow_four_limit >= 0.9,
        },
        {
            "goal": "rtt 0 ms: nothing slower than before "
            "(window 4 / window 1, same run; 1 route; 4 routes)",
            "measured": "; ".join(f"{value:.2f}" for value in zero),
            # One batch each: a few per cent either way is the machine, not syncd.
            "met": min(zero) >= 0.95,
        },
    ]


def _notes() -> list[str]:
    return [
        "What limits each row. rtt 0: nothing on the network; the image step (2 preparer "
        "threads) and the emulator share the 2 cores, so 1 and 4 routes are CPU-bound alike; "
        "the tutorial does no image work at all (it sends each scan as it is, metadata "
        "included), which is why it is faster there. "
        "rtt 25-200 ms, 1 route: the ordered publishes, one round trip each (the window keeps "
        "the uploads off that path), plus a few ms of commits per page. 4 routes: each route "
        "publishes in its own order, so the limit is 4/RTT, and at short round trips the CPU "
        "(image step) binds first. The 50 kB photo row leaves the image step out: what is left "
        "is the network path alone. Narrow uplink: the line; window 4 keeps several PUTs on it "
        "at once, so it never idles for a round trip. Window 1 pays upload URL + PUT + publish "
        "(3 round trips) per page. The tutorial pays a new WebSocket, upload URL, PUT and "
        "publish (4 or more round trips) per page, and uploads the original scan, about 4x "
        "syncd's bytes.",
        "The emulator runs on the same 2 cores as both daemons and the scripts; the "
        "rotation spreads that evenly. One batch per cell (five at rtt 0): read the ratios, "
        "not the digits.",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", nargs="*", default=[], help="setting labels, e.g. 'rtt 100 ms'")
    arguments = parser.parse_args()
    result = run(arguments.quick, tuple(arguments.only))
    if result:
        date = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
        command = "python -m bench.network" + (" --quick" if arguments.quick else "")
        report.add_result(report.RESULTS, result, command, date)
        print(report.section(result))


if __name__ == "__main__":
    main()
