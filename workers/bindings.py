"""Which implementation serves each contract activity on a queue's worker.

The queue → contracts table lives in ``messages/contract.py``; this module finds, among a
queue's implementations, the one bound to each contract and hands the worker its bound
methods. A contract without an implementation (or with two) is refused at start-up, not
discovered when the saga first calls it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from messages.contract import QUEUE_CONTRACTS, activity_name, contract_activities


def queue_activities(queue: str, implementations: Sequence[object]) -> list[Callable[..., Any]]:
    """The bound activity methods the worker of logical ``queue`` registers, one per
    contract activity, taken from the implementation that subclasses its contract."""
    bound: list[Callable[..., Any]] = []
    for contract in QUEUE_CONTRACTS[queue]:
        owners = [impl for impl in implementations if isinstance(impl, contract)]
        if len(owners) != 1:
            raise TypeError(
                f"{queue}: {contract.__name__} needs exactly one implementation, got {owners}"
            )
        for attribute, declared in contract_activities(contract).items():
            method = getattr(owners[0], attribute)
            if activity_name(method) != activity_name(declared):
                raise TypeError(
                    f"{type(owners[0]).__name__}.{attribute} is not bound with @implements"
                )
            bound.append(method)
    extra = [
        impl
        for impl in implementations
        if not any(isinstance(impl, c) for c in QUEUE_CONTRACTS[queue])
    ]
    if extra:
        raise TypeError(f"{queue}: no contract on this queue for {extra}")
    return bound
