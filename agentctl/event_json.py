"""An event as the store keeps it, and back: its fields as one JSON object (`event_data`),
and a stored event as its dataclass (`parse_event`).

The JSON is what the log has always held, so the hash chain, `agentctl log --json` and old
databases see the same fields in the same order. Reading tolerates other versions' logs: a
field an older agentctl did not write reads as empty, one a newer agentctl added is left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, Field, fields
from typing import Any

from agentctl.events import EVENT_CLASSES, OMITTED_WHEN_DEFAULT, JobEvent, JsonObject

# Each class's stored fields (all but the tag), in the order the log has always had them.
_FIELDS: Mapping[str, tuple[Field[Any], ...]] = {
    tag: tuple(f for f in fields(cls) if f.name != "type") for tag, cls in EVENT_CLASSES.items()
}


def event_data(event: JobEvent) -> JsonObject:
    """The event's fields as the store keeps them (and `log --json` prints them): every
    field in its order, but those the log leaves out while they hold their default."""
    data: JsonObject = {}
    for f in _FIELDS[event.type]:
        value = getattr(event, f.name)
        if not (f.metadata.get(OMITTED_WHEN_DEFAULT) and value == f.default):
            data[f.name] = value
    return data


# What a field missing from an old event reads as, by its declared type's first word.
_ZERO: Mapping[str, object] = {"str": "", "int": 0, "float": 0.0, "bool": False}


def parse_event(type_: str, data: Mapping[str, Any]) -> JobEvent | None:
    """A stored event as its dataclass; None for a type this version does not know (a newer
    agentctl's). Fields it does not know are left out; a field an older agentctl did not
    write reads as its default, else as empty (`""`, `0`, `False`, `{}`, `[]`, or None)."""
    cls = EVENT_CLASSES.get(type_)
    if cls is None:
        return None
    known: dict[str, Any] = {}
    for f in _FIELDS[type_]:
        if f.name in data:
            known[f.name] = data[f.name]
        elif f.default is MISSING:
            known[f.name] = _empty(str(f.type))
    return cls(**known)


def _empty(annotation: str) -> object:
    if "None" in annotation:
        return None
    if annotation.startswith(("dict", "JsonObject", "RuleObject")):
        return {}
    if annotation.startswith("list"):
        return []
    return _ZERO.get(annotation)
