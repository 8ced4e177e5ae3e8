"""Routing rules: which department, priority, status and owner a ticket gets.

Rules are tried in order and the first that matches wins; fields it does not
set keep the defaults. A rule matches on any of ``vendor``, ``kind``,
``queue``, ``line`` and ``trigger``; each condition is a value or a list of
values, compared without regard to case. Example, as JSON::

    [{"when": {"kind": "voicemail"}, "set": {"priority_id": "3"}},
     {"when": {"queue": ["Sales", "מכירות"]}, "set": {"department_id": "12"}}]
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any

from mappings.event import EventKind
from mappings.policy import TRIGGERS
from mappings.registry import SCHEMAS

ROUTE_FIELDS = ("department_id", "priority_id", "status", "owner")
CONDITIONS = ("vendor", "kind", "queue", "line", "trigger")
_KNOWN_VALUES = {
    "vendor": frozenset(SCHEMAS),
    "kind": frozenset(kind.value for kind in EventKind),
    "trigger": TRIGGERS,
}


@dataclasses.dataclass(frozen=True)
class Route:
    department_id: str = ""
    priority_id: str = ""
    status: str = ""
    owner: str = ""


@dataclasses.dataclass(frozen=True)
class Rule:
    when: Mapping[str, tuple[str, ...]]
    set: Mapping[str, str]

    def matches(self, facts: Mapping[str, str]) -> bool:
        return all(
            facts.get(name, "").casefold() in values
            for name, values in self.when.items()
        )


def parse_rules(text: str) -> tuple[Rule, ...]:
    """Read rules from JSON text.

    :raises ValueError: with the position and the problem of a bad rule.
    """
    if not text.strip():
        return ()
    try:
        raw = json.loads(text)
    except RecursionError as exc:
        raise ValueError("Routing rules are nested too deeply to be rules.") from exc
    except ValueError as exc:
        raise ValueError(f"Routing rules are not valid JSON: {exc}") from exc
    if not isinstance(raw, list):
        raise ValueError(
            f"Routing rules must be a JSON list, got {type(raw).__name__}."
        )
    return tuple(_rule(index, item) for index, item in enumerate(raw))


def _rule(index: int, item: Any) -> Rule:
    where = f"Routing rule #{index + 1}"
    if not isinstance(item, dict) or not isinstance(item.get("when", {}), dict):
        raise ValueError(f"{where} must be an object with 'when' and 'set'.")
    when = item.get("when", {})
    unknown = set(when) - set(CONDITIONS)
    if unknown:
        raise ValueError(
            f"{where} matches on {sorted(unknown)!r}; expected {list(CONDITIONS)!r}."
        )

    setting = item.get("set")
    if not isinstance(setting, dict) or not setting:
        raise ValueError(f"{where} needs a non-empty 'set' object.")
    bad = set(setting) - set(ROUTE_FIELDS)
    if bad:
        raise ValueError(
            f"{where} sets {sorted(bad)!r}; expected {list(ROUTE_FIELDS)!r}."
        )
    odd = sorted(
        name
        for name, value in setting.items()
        if isinstance(value, bool) or not isinstance(value, str | int) or value == ""
    )
    if odd:
        raise ValueError(
            f"{where} sets {odd} to a value that is not an id; "
            'expected ids as strings, such as "12".'
        )
    return Rule(
        when={name: _values(where, name, value) for name, value in when.items()},
        set={name: str(value) for name, value in setting.items()},
    )


def _values(where: str, name: str, value: Any) -> tuple[str, ...]:
    """The values a condition accepts, checked against the names that exist."""
    items = value if isinstance(value, list) else [value]
    if not items or any(
        isinstance(item, bool) or not isinstance(item, str | int) for item in items
    ):
        raise ValueError(
            f"{where} matches {name} on {value!r}; expected a value or a list of "
            'values, such as "voicemail" or ["Sales", "Support"].'
        )

    values = tuple(str(item).casefold() for item in items)
    known = _KNOWN_VALUES.get(name)
    unknown = sorted(set(values) - known) if known else []
    if known and unknown:
        raise ValueError(
            f"{where} matches {name} on {unknown!r}, which never occurs; "
            f"expected some of {sorted(known)!r}."
        )
    return values


def route(default: Route, rules: Sequence[Rule], facts: Mapping[str, str]) -> Route:
    """Pick the route for a ticket described by ``facts``."""
    for rule in rules:
        if rule.matches(facts):
            return dataclasses.replace(default, **rule.set)
    return default
