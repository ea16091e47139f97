"""The package layout keeps its promises: imports go one way, and the README lists the rooms."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE_ROOT = Path(__file__).resolve().parents[2] / "syncd"
README = (PACKAGE_ROOT.parent / "README.md").read_text(encoding="utf-8")

# Higher layers may import lower ones, never the reverse; a layer may import itself.
LAYERS = {
    "cli": 5,
    "demo": 5,
    "service": 4,
    "outbox": 3,
    "inbox": 3,
    "imaging": 2,
    "state": 2,
    "liveperson": 2,
    "emulator": 2,
    "config": 1,
    "folders": 1,
    "worker_loop": 1,
    "rules": 0,
    "errors": 0,
    "crashpoints": 0,
}
# The emulator speaks the same wire format as the client: it may use the pure, sans-IO
# protocol module, which imports only the standard library and syncd.errors.
ALLOWED_SIDEWAYS = {("emulator", "liveperson.protocol")}


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _imports(path: Path) -> list[str]:
    """Every syncd module ``path`` imports, at any depth (lazy imports included)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("syncd"):
            found += [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if alias.name.startswith("syncd")]
    return found


def _modules() -> list[tuple[str, Path]]:
    modules = []
    for path in sorted(PACKAGE_ROOT.rglob("*.py")):
        parts = path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts
        modules.append((".".join(parts), path))
    return modules


def test_the_top_of_the_package_holds_only_packages_and_shared_leaves() -> None:
    flat = sorted(p.stem for p in PACKAGE_ROOT.glob("*.py"))
    assert flat == ["__init__", "__main__", "crashpoints", "errors", "worker_loop"]


def test_every_room_is_a_known_layer() -> None:
    rooms = {p.name for p in PACKAGE_ROOT.iterdir() if (p / "__init__.py").exists()}
    rooms |= {p.stem for p in PACKAGE_ROOT.glob("*.py")} - {"__init__", "__main__"}
    assert rooms == set(LAYERS)


@pytest.mark.parametrize(("module", "path"), _modules(), ids=lambda value: str(value))
def test_no_module_imports_a_layer_above_its_own(module: str, path: Path) -> None:
    room = _room(module)
    if room in ("", "__main__"):
        return
    wrong = []
    for target in _imports(path):
        target_room = _room(target)
        if target_room in ("", room, "__version__", "__init__"):
            continue
        sideways = (room, ".".join(target.split(".")[1:3]))
        if sideways in ALLOWED_SIDEWAYS:
            continue
        if LAYERS[target_room] >= LAYERS[room]:
            wrong.append(target)
    assert wrong == [], f"{module} imports {wrong}, which are not below {room}"


def test_every_package_says_what_it_is_for() -> None:
    for init in sorted(PACKAGE_ROOT.glob("*/__init__.py")):
        assert ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))), init


def test_the_readme_lists_every_room() -> None:
    section = README.split("## Where the code lives", 1)[1].split("##", 1)[0]
    for room in LAYERS:
        name = f"{room}/" if (PACKAGE_ROOT / room).is_dir() else f"{room}.py"
        assert name in section, name


# Each third-party library that does I/O is imported by one adapter module, so a change of
# library (or of how it is configured: TLS, timeouts, pooling) happens in one place. Pillow
# is the imaging package's own library, and the emulator is a server built on aiohttp; both
# are listed by folder.
IO_LIBRARY_ADAPTERS = {
    "requests": {"liveperson/http.py"},
    "urllib3": {"liveperson/http_deadline.py"},
    "websocket": {"liveperson/ws_handshake.py"},
    "watchdog": {"outbox/watcher.py"},
    "sqlite3": {"state/connection.py"},
    "sqlite_utils": {"state/connection.py"},
    "tenacity": {"liveperson/retrying.py"},
    "prometheus_client": {"service/metrics.py"},
    "jwt": {"liveperson/jwt_codec.py", "emulator/"},
    "cryptography": {"liveperson/jwt_codec.py", "emulator/"},
    "pypdfium2": {"imaging/pdf.py"},
    "pillow_heif": {"imaging/pages.py"},
    "PIL": {"imaging/", "demo/scans.py"},
    "aiohttp": {"emulator/"},
}


def _top_level_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
    return found


@pytest.mark.parametrize("library", sorted(IO_LIBRARY_ADAPTERS))
def test_each_io_library_is_imported_only_by_its_adapter(library: str) -> None:
    allowed = IO_LIBRARY_ADAPTERS[library]
    importers = [
        relative
        for _, path in _modules()
        if library in _top_level_imports(path)
        for relative in [path.relative_to(PACKAGE_ROOT).as_posix()]
    ]
    assert importers, f"nothing imports {library}: drop it from the table"
    strays = [
        relative
        for relative in importers
        if relative not in allowed
        and not any(relative.startswith(folder) for folder in allowed if folder.endswith("/"))
    ]
    assert not strays, f"{library} imported outside its adapter {sorted(allowed)}: {strays}"
