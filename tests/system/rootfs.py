"""The Debian 12 root file system the system test boots, built once by debootstrap and cached.

``cached_rootfs()`` returns a directory under ``CACHE_ROOT`` named by a hash of everything that
shapes it (suite, variant, package list, mirror), building it first when it is missing. Builds
are serialised with a lock file, so two test runs on one machine never debootstrap twice, and a
half-built tree never takes the final name (it is built under a temporary name and renamed).

The Debian mirror comes from the machine's own apt configuration (``/etc/apt/sources.list`` and
``/etc/apt/sources.list.d/*``), so the project names no mirror host of its own.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

CACHE_ROOT = Path("/var/cache/syncd-system-test")
SUITE = "bookworm"
VARIANT = "minbase"
# What the README's install needs (Python 3.11 with venv, sudo) plus systemd to boot.
PACKAGES = ("systemd", "systemd-sysv", "dbus", "python3", "python3-venv", "sudo")
# Bump when the way the tree is prepared changes, so old caches are not reused.
RECIPE_VERSION = "1"
APT_CONFIG = Path("/etc/apt")


class RootfsUnavailable(Exception):
    """The root file system cannot be built here; the message says why."""


def _one_line_entries(text: str) -> Iterator[tuple[str, list[str], list[str]]]:
    """Yield (uri, suites, components) from a one-line-style sources.list ``text``."""
    for raw in text.splitlines():
        words = raw.split("#", 1)[0].split()
        if not words or words[0] != "deb":
            continue
        words = words[1:]
        if words and words[0].startswith("["):
            while words and not words[0].endswith("]"):
                words = words[1:]
            words = words[1:]
        if len(words) >= 3:
            yield words[0], [words[1]], words[2:]


def _deb822_entries(text: str) -> Iterator[tuple[str, list[str], list[str]]]:
    """Yield (uri, suites, components) from a deb822-style ``*.sources`` ``text``."""
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        for raw in stanza.splitlines():
            if raw.startswith("#") or ":" not in raw or raw[:1].isspace():
                continue
            key, value = raw.split(":", 1)
            fields[key.strip().lower()] = value.strip()
        if "deb" not in fields.get("types", "").split():
            continue
        if fields.get("enabled", "yes").lower() == "no":
            continue
        for uri in fields.get("uris", "").split():
            yield uri, fields.get("suites", "").split(), fields.get("components", "").split()


def debian_mirror(apt_dir: Path = APT_CONFIG) -> str:
    """Return the URI of the machine's apt source that carries ``SUITE`` main.

    Raises RootfsUnavailable when no configured source does.
    """
    candidates: list[Path] = []
    if (apt_dir / "sources.list").is_file():
        candidates.append(apt_dir / "sources.list")
    candidates += sorted((apt_dir / "sources.list.d").glob("*.list"))
    candidates += sorted((apt_dir / "sources.list.d").glob("*.sources"))
    for path in candidates:
        text = path.read_text(encoding="utf-8", errors="replace")
        entries = _deb822_entries(text) if path.suffix == ".sources" else _one_line_entries(text)
        for uri, suites, components in entries:
            if SUITE in suites and "main" in components:
                return uri.rstrip("/")
    raise RootfsUnavailable(f"no apt source for Debian {SUITE} main in {apt_dir}")


def cache_key(mirror: str) -> str:
    """Return the short hash naming the tree that ``mirror`` and this recipe produce."""
    recipe = "\n".join([RECIPE_VERSION, SUITE, VARIANT, mirror, *PACKAGES])
    return hashlib.sha256(recipe.encode()).hexdigest()[:16]


def _build(target: Path, mirror: str) -> None:
    """Debootstrap into ``target`` and prepare it for booting under systemd-nspawn."""
    subprocess.run(
        [
            "debootstrap",
            f"--variant={VARIANT}",
            f"--include={','.join(PACKAGES)}",
            SUITE,
            str(target),
            mirror,
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    # No login prompt on the console, no getty to wait for; a fixed machine id keeps
    # journald happy on a read-only lower layer.
    (target / "etc/hostname").write_text("syncd-test\n")
    machine_id = hashlib.sha256(target.name.encode()).hexdigest()[:32]
    (target / "etc/machine-id").write_text(machine_id + "\n")
    for unit in ("console-getty.service", "getty@.service", "systemd-timesyncd.service"):
        mask = target / "etc/systemd/system" / unit
        mask.unlink(missing_ok=True)
        mask.symlink_to("/dev/null")
    shutil.rmtree(target / "var/cache/apt/archives", ignore_errors=True)
    (target / "var/cache/apt/archives/partial").mkdir(parents=True, exist_ok=True)


def cached_rootfs() -> Path:
    """Return the cached root file system, building it (once per machine) when missing.

    Raises RootfsUnavailable when debootstrap is missing or fails.
    """
    if shutil.which("debootstrap") is None:
        raise RootfsUnavailable("debootstrap is not installed")
    mirror = debian_mirror()
    CACHE_ROOT.mkdir(parents=True, exist_ok=True)
    final = CACHE_ROOT / f"rootfs-{cache_key(mirror)}"
    with open(CACHE_ROOT / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if final.is_dir():
            return final
        building = CACHE_ROOT / f".building-{final.name}"
        shutil.rmtree(building, ignore_errors=True)
        try:
            _build(building, mirror)
        except subprocess.CalledProcessError as error:
            shutil.rmtree(building, ignore_errors=True)
            tail = (error.stderr or "").strip().splitlines()[-1:] or ["no output"]
            raise RootfsUnavailable(f"debootstrap failed: {tail[0]}") from None
        building.rename(final)
    return final


if __name__ == "__main__":
    print(cached_rootfs())
