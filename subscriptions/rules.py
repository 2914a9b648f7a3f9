"""Input rules, each declared once: a ``Field`` of a body checks a value, raising
``InvalidInput`` with the field's name and the reason the API answers, and says the same rule as
JSON Schema (2020-12, as OpenAPI 3.1 has it). A body is a table of fields, read in its order;
``body_schema`` makes its schema from the same table, so the validators and the OpenAPI document
(``notifier.api.openapi``) follow one declaration. What a schema cannot say (an area of the
catalogue, a closed ring, a time in the future) is checked by the body's validator with what it
needs (the city, the time) and said in the field's description.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import Any

Schema = dict[str, Any]
# (the value given, or the field's default, or None; where it is, e.g. ``content.fr.title``)
Check = Callable[[object, str], Any]
NO_DEFAULT = object()


def ref(name: str) -> Schema:
    """The schema named ``name`` in the document's components."""
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    if isinstance(schema.get("type"), str):
        return {**schema, "type": [schema["type"], "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


@dataclasses.dataclass(frozen=True)
class Field:
    """One field of a body: its schema, its check (None: the body's validator checks it with
    what it needs), whether it is required, and its default when absent."""

    schema: Schema
    check: Check | None = None
    required: bool = False
    default: Any = NO_DEFAULT

    def read(self, body: Mapping[str, Any], name: str, where: str = "") -> Any:
        """The field ``name`` of ``body``, checked (its default when absent)."""
        assert self.check is not None, f"{name} is checked by its body's validator"
        default = None if self.default is NO_DEFAULT else self.default
        return self.check(body.get(name, default), where or name)

    def described(self) -> Schema:
        if self.default is NO_DEFAULT:
            return self.schema
        return {**self.schema, "default": self.default}


def properties(fields: Mapping[str, Field]) -> dict[str, Schema]:
    """The ``properties`` of an object made of ``fields``."""
    return {name: f.described() for name, f in fields.items()}


def body_schema(fields: Mapping[str, Field], **more: Any) -> Schema:
    """The JSON Schema of an object made of ``fields``."""
    out: Schema = {"type": "object", "properties": properties(fields), **more}
    required = [name for name, f in fields.items() if f.required]
    if required:
        out["required"] = required
    return out


def given(body: Mapping[str, Any], names: Iterable[str]) -> list[str]:
    """Those of ``names`` that ``body`` gives (present and not null), in their order."""
    return [name for name in names if body.get(name) is not None]


def at_least_one(names: Iterable[str]) -> list[Schema]:
    """A body's ``anyOf``: at least one of ``names`` given (as ``given`` finds them)."""
    return [{"properties": {name: {"type": "string"}}, "required": [name]} for name in names]


def exactly_one(fields: Mapping[str, Field], **more: Any) -> Schema:
    """The JSON Schema of a body that gives exactly one of ``fields`` (as ``given`` finds
    them), the others absent or null."""

    def one(name: str) -> Schema:
        others = {other: {"type": "null"} for other in fields if other != name}
        return {
            "type": "object",
            "properties": {name: fields[name].described(), **others},
            "required": [name],
        }

    return {**more, "oneOf": [one(name) for name in fields]}
