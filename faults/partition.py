"""Network partitions on loopback: one process's packets to some ports dropped, then healed.

Every process of the stack talks over 127.0.0.1, so an address cannot tell them apart. The
kernel can: each process is started inside a cgroup v2 group of its own (:meth:`launcher`,
a ``sh -c 'echo $$ > …/cgroup.procs; exec …'`` in front of its command), and iptables'
``cgroup`` match drops what that group sends on ``lo`` to the cut link's destination ports
(``-j DROP``: the peer hears nothing, as in a real partition). The match reads the cgroup a
*socket* was created in, so a process moved into a group later would keep its open
connections (tried: a worker moved mid-run kept its gRPC stream); started inside it, every
socket it ever opens is matched, established ones included. A process the supervisor
restarts is started the same way, so it lands in its group again and the cut holds for it.

The rules live in a chain of this run's own, ``ORDERS-FAULTS-<pid>``, jumped to from
``OUTPUT`` for ``lo`` only; healing deletes the cut's rules, and :meth:`Partitions.cleanup`
(the run's ``finally``, also after Ctrl-C and SIGTERM) removes the chain and the groups. A
chain or group left by a run that crashed (its pid gone) is removed by the next run.

Without root, iptables or cgroup v2 a partition raises :class:`PartitionUnavailableError`:
the row fails, it is never skipped; the other rows run as they would.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

import psutil

CHAIN_PREFIX = "ORDERS-FAULTS-"
GROUP_PREFIX = "orders-faults-"


class PartitionUnavailableError(RuntimeError):
    """This machine cannot cut a link (not root, no iptables, no cgroup v2)."""


def cgroup2_root() -> Path:
    for line in Path("/proc/mounts").read_text().splitlines():
        fields = line.split()
        if len(fields) > 2 and fields[2] == "cgroup2":
            return Path(fields[1])
    raise PartitionUnavailableError("no cgroup v2 hierarchy is mounted (see /proc/mounts)")


def _iptables(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("iptables")
    if binary is None:
        raise PartitionUnavailableError("iptables is not installed (Debian package iptables)")
    # S603: the arguments are this module's own rules, never input from outside.
    done = subprocess.run(  # noqa: S603
        [binary, "-w", *args], capture_output=True, text=True, check=False
    )
    if check and done.returncode != 0:
        raise PartitionUnavailableError(f"iptables {' '.join(args)}: {done.stderr.strip()}")
    return done


@dataclass
class Cut:
    """What a partition cut, and (once healed) how many packets its rules dropped: the
    proof that the link was really cut, for the report."""

    name: str
    ports: list[int]
    dropped: int = 0

    def __str__(self) -> str:
        ports = ", ".join(str(port) for port in self.ports)
        return f"{self.name} to ports {ports}: {self.dropped} packets dropped"


@dataclass
class Partitions:
    """This run's chain and cgroups: :meth:`prepare` before the processes start, then
    :meth:`cut` per partition, :meth:`cleanup` at the end."""

    say: Callable[[str], None]
    owner: int = field(default_factory=os.getpid)
    # Why partitions cannot be cut here, when they cannot (said by the rows that need one).
    unavailable: str = "not prepared"
    _groups_made: bool = False
    _chain_installed: bool = False

    @property
    def chain(self) -> str:
        return f"{CHAIN_PREFIX}{self.owner}"

    @property
    def group_root(self) -> str:
        return f"{GROUP_PREFIX}{self.owner}"

    def prepare(self) -> None:
        """The run's cgroup folder (and the leftovers of crashed runs gone); on a machine
        that cannot, the reason is kept and processes start as usual."""
        self.unavailable = "" if os.geteuid() == 0 else "cutting a link needs root"
        if self.unavailable:
            self.say(f"partitions unavailable, those rows will fail: {self.unavailable}")
            return
        try:
            root = cgroup2_root()
            _remove_abandoned(root)
            (root / self.group_root).mkdir(exist_ok=True)
            self._groups_made = True
        except (PartitionUnavailableError, OSError) as exc:
            self.unavailable = str(exc)
            self.say(f"partitions unavailable, those rows will fail: {exc}")

    def launcher(self, name: str) -> list[str]:
        """The command prefix that starts ``name`` in its own group (none when unavailable)."""
        if self.unavailable:
            return []
        folder = cgroup2_root() / self.group_root / name
        folder.mkdir(exist_ok=True)
        return ["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', str(folder)]

    def cleanup(self) -> None:
        if self._chain_installed:
            _remove_chain(self.chain)
            self._chain_installed = False
        if self._groups_made:
            _remove_groups(cgroup2_root() / self.group_root)
            self._groups_made = False

    def _install_chain(self) -> None:
        if self.unavailable:
            raise PartitionUnavailableError(self.unavailable)
        if not self._chain_installed:
            _iptables("-N", self.chain)
            self._chain_installed = True
            _iptables("-I", "OUTPUT", "-o", "lo", "-j", self.chain)

    @contextlib.asynccontextmanager
    async def cut(self, names: Collection[str], ports: Collection[int]) -> AsyncIterator[Cut]:
        """What the processes ``names`` (started through :meth:`launcher`) send to
        ``ports`` is dropped until the block ends; yields the cut, whose count of dropped
        packets is set at the heal."""
        self._install_chain()
        cut = Cut(" and ".join(names), sorted(set(ports)))
        rules = [_rule(f"{self.group_root}/{name}", port) for name in names for port in cut.ports]
        added: list[list[str]] = []
        try:
            for rule in rules:
                _iptables("-A", self.chain, *rule, "-j", "DROP")
                added.append(rule)
            yield cut
        finally:
            cut.dropped = self._dropped(names)
            for rule in added:
                _iptables("-D", self.chain, *rule, "-j", "DROP", check=False)

    def _dropped(self, names: Collection[str]) -> int:
        listing = _iptables("-L", self.chain, "-n", "-v", "-x", check=False).stdout
        groups = {f"cgroup {self.group_root}/{name} " for name in names}
        return sum(
            int(line.split()[0])
            for line in listing.splitlines()
            if any(group in f"{line} " for group in groups) and line.split()[0].isdigit()
        )


def _rule(group: str, port: int) -> list[str]:
    return ["-o", "lo", "-m", "cgroup", "--path", group, "-p", "tcp", "--dport", str(port)]


def _members(folder: Path) -> list[int]:
    try:
        return [int(line) for line in (folder / "cgroup.procs").read_text().split()]
    except OSError:
        return []


def _release(folder: Path) -> None:
    """Back to the root group, then the group goes (a cgroup holding processes cannot)."""
    root = cgroup2_root()
    for pid in _members(folder):
        with contextlib.suppress(OSError):
            (root / "cgroup.procs").write_text(str(pid))
    with contextlib.suppress(OSError):
        folder.rmdir()


def _remove_groups(folder: Path) -> None:
    if not folder.is_dir():
        return
    for child in folder.iterdir():
        if child.is_dir():
            _release(child)
    with contextlib.suppress(OSError):
        folder.rmdir()


def _remove_chain(chain: str) -> None:
    while _iptables("-D", "OUTPUT", "-o", "lo", "-j", chain, check=False).returncode == 0:
        pass
    _iptables("-F", chain, check=False)
    _iptables("-X", chain, check=False)


def _remove_abandoned(root: Path) -> None:
    """Chains and groups of runs whose process is gone (a crash, a SIGKILL)."""
    listing = _iptables("-S", check=False).stdout.splitlines()
    for line in listing:
        if line.startswith(f"-N {CHAIN_PREFIX}"):
            chain = line.split()[1]
            owner = chain.removeprefix(CHAIN_PREFIX)
            if owner.isdigit() and not psutil.pid_exists(int(owner)):
                _remove_chain(chain)
    for folder in root.glob(f"{GROUP_PREFIX}*"):
        owner = folder.name.removeprefix(GROUP_PREFIX)
        if owner.isdigit() and not psutil.pid_exists(int(owner)):
            _remove_groups(folder)
