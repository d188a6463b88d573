"""Sampling profiles of the stack's Python processes while the product phase runs (py-spy).

py-spy attaches from outside, so the measured processes run unmodified; the raw collapsed
stacks are summarised into "where the time goes": self time by function and time by
package, per process.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

PROJECT_PACKAGES = (
    "activities", "api", "gateways", "outbox", "persistence", "workers", "workflows", "models",
)  # fmt: skip


def start(pids: dict[str, int], out_dir: Path, seconds: int) -> list[subprocess.Popen[bytes]]:
    beside_python = Path(sys.executable).parent / "py-spy"
    binary = str(beside_python) if beside_python.exists() else shutil.which("py-spy")
    if binary is None:
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    return [
        subprocess.Popen(  # noqa: S603 - a fixed program with our own pids
            [
                binary,
                "record",
                "--pid",
                str(pid),
                "--duration",
                str(seconds),
                "--rate",
                "50",
                "--format",
                "raw",
                "--nonblocking",
                "--subprocesses",
                "--full-filenames",
                "--output",
                str(out_dir / f"profile-{name}.txt"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name, pid in pids.items()
    ]


def _frames(raw: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    return stacks


def _package(frame: str) -> str:
    """``func (path/to/module.py:12)`` → the top package: ours by name, else the library."""
    path = frame.rpartition("(")[2].rpartition(":")[0]
    for marker in ("site-packages/", "/lib/python3.11/"):
        if marker in path:
            rest = path.split(marker, 1)[1]
            return rest.split("/", 1)[0].removesuffix(".py")
    for name in PROJECT_PACKAGES:
        if f"{name}/" in path:
            return name
    return "other"


def summarise(raw: Path, top: int = 6) -> dict[str, list[tuple[str, float]]]:
    stacks = _frames(raw)
    total = sum(count for _, count in stacks) or 1
    leaves: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    for frames, count in stacks:
        leaf = frames[-1]
        leaves[leaf.split(" (")[0] + " " + _package(leaf)] += count
        packages[_package(leaf)] += count
    return {
        "self_time": [(k, round(100 * v / total, 1)) for k, v in leaves.most_common(top)],
        "by_package": [(k, round(100 * v / total, 1)) for k, v in packages.most_common(top)],
    }


def write_summary(profiles_dir: Path, out: Path | None = None) -> Path | None:
    """Per process, the top self-time functions and packages (default profiles_dir/summary.md)."""
    raws = sorted(profiles_dir.glob("profile-*.txt"))
    if not raws:
        return None
    lines = ["# Where the time goes (py-spy, product phase)", ""]
    for raw in raws:
        summary = summarise(raw)
        name = raw.stem.removeprefix("profile-")
        lines += [f"## {name}", "", "| self time | % |", "|---|---|"]
        lines += [f"| `{frame}` | {pct} |" for frame, pct in summary["self_time"]]
        lines += ["", "| package (leaf frame) | % |", "|---|---|"]
        lines += [f"| {package} | {pct} |" for package, pct in summary["by_package"]]
        lines.append("")
    target = out or profiles_dir / "summary.md"
    target.write_text("\n".join(lines))
    return target
