"""Checks the dependency files against each other (no network): `tools/lock_requirements.sh --check`.

- every exact pin of requirements.txt and requirements-dev.in is in its lock at that version;
- every lock entry carries hashes;
- the runtime lock holds none of the test tooling;
- every third-party library the app imports is pinned directly in requirements.txt.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEV_ONLY = {"pytest", "playwright", "hypothesis", "ruff", "mypy", "import-linter", "aiosmtpd",
            "selenium"}
APP_SOURCES = ("aether_web", "alembic", "rxconfig.py")


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    """`name -> version` of the exact pins in a requirements file, following `-r`."""
    out: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r "):
            out.update(pins(path.parent / line[3:].strip()))
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[^\]]*\])?==([^\s;]+)", line)
        if not match:
            raise SystemExit(f"{path.name}: not an exact pin: {raw!r}")
        out[normalize(match[1])] = match[3]
    return out


def locked(path: Path) -> dict[str, tuple[str, int]]:
    """`name -> (version, number of hashes)` of a hash-locked file."""
    out: dict[str, tuple[str, int]] = {}
    current = None
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)(\[[^\]]*\])?==(\S+)", line)
        if match:
            current = normalize(match[1])
            out[current] = (match[3], 0)
        elif current and "--hash=sha256:" in line:
            version, count = out[current]
            out[current] = (version, count + 1)
    return out


def imported_distributions() -> set[str]:
    """Distributions of the third-party modules the app's code imports."""
    modules: set[str] = set()
    for source in APP_SOURCES:
        base = ROOT / source
        files = [base] if base.is_file() else base.rglob("*.py")
        for file in files:
            for node in ast.walk(ast.parse(file.read_text())):
                if isinstance(node, ast.Import):
                    modules.update(a.name.split(".")[0] for a in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    modules.add(node.module.split(".")[0])
    by_module = importlib.metadata.packages_distributions()
    local = {"aether_web", "tools", "alembic_env"}
    out: set[str] = set()
    for module in modules - local - set(sys.stdlib_module_names):
        for dist in by_module.get(module, []):
            out.add(normalize(dist))
    return out


def problems() -> list[str]:
    found: list[str] = []
    pairs = [("requirements.txt", "requirements.lock"),
             ("requirements-dev.in", "requirements-dev.lock")]
    for source, lock in pairs:
        entries = locked(ROOT / lock)
        for name, version in pins(ROOT / source).items():
            if name not in entries:
                found.append(f"{lock}: {name} is pinned in {source} but not locked")
            elif entries[name][0] != version:
                found.append(f"{lock}: {name}=={entries[name][0]}, {source} pins {version}")
        found += [f"{lock}: {name} has no hash" for name, (_, n) in entries.items() if n == 0]
    runtime = locked(ROOT / "requirements.lock")
    found += [f"requirements.lock: {name} is test tooling" for name in DEV_ONLY & set(runtime)]
    direct = pins(ROOT / "requirements.txt")
    found += [f"requirements.txt: the app imports {dist}, which is not pinned directly"
              for dist in sorted(imported_distributions() - set(direct))]
    return found


def main() -> int:
    found = problems()
    for line in found:
        print(line)
    if found:
        print("run tools/lock_requirements.sh to recompile the locks")
        return 1
    print("locks match their pins")
    return 0


if __name__ == "__main__":
    sys.exit(main())
