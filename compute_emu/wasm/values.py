"""The generic value bridge: wasmtime's component values <-> the ``wit_world`` stubs' values.

wasmtime-py hands a host function its arguments as plain Python values (``Record`` objects
with the WIT's field names, ``Variant(tag, payload)`` or a bare payload, ``str`` for an enum
case, a ``set`` of names for flags, ``ResourceAny`` for a handle) and takes its result the same
way. compute-emu's ``wit_world`` implementation (``compute_emu/official/``) speaks the types of
the bindings componentize-py generates: dataclasses, one class per variant case, ``Enum`` and
``Flag`` classes, stub resource classes. Each converter here is built once per function from
the pair (the import's wasmtime type, the stub's annotation): the WIT's structure comes from
the first, the Python classes from the second, in the same order (fields, cases, enum and
flag names), so no name is guessed.

wasmtime-py leaves a variant untagged (a bare payload) when its cases' Python classes cannot
be confused, and tagged (``Variant``) otherwise; :func:`is_tagged` applies the same rule.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import operator
import typing
from collections.abc import Callable
from typing import Any

from wasmtime import component as wc

Convert = Callable[[Any], Any]
Cases = list[tuple[str, "wc.ValType | None"]]


class Unconvertible(TypeError):
    """A WIT type the bridge has no conversion for (a function using it becomes a trap)."""


class ResourceSide(typing.Protocol):
    """How handles cross: the per-request table of objects behind resource handles."""

    def lift(self, handle: wc.ResourceAny) -> Any:
        """The object behind a handle the component passed in."""

    def lower(self, value: object, host_type: int) -> wc.ResourceHost:
        """A new owned handle for ``value`` (a resource of host type ``host_type``)."""


def same(value: Any) -> Any:
    return value


def classes(ty: wc.ValType | None) -> set[type]:
    """The Python classes wasmtime-py gives values of ``ty`` (``object`` for no payload)."""
    found: set[type] = set()
    if ty is None:
        found.add(object)
    else:
        ty.add_classes(found)
    return found


def is_tagged(cases: Cases) -> bool:
    """Whether wasmtime-py carries values of a variant-like type as ``Variant(tag, ...)``:
    when the classes of two of its cases overlap."""
    seen: set[type] = set()
    for _, ty in cases:
        case = classes(ty)
        if case & seen:
            return True
        seen |= case
    return False


def option_cases(ty: wc.OptionType) -> Cases:
    return [("none", None), ("some", ty.payload)]


def result_cases(ty: wc.ResultType) -> Cases:
    return [("ok", ty.ok), ("err", ty.err)]


# -- reading annotations -----------------------------------------------------------------
def union_members(annotation: Any) -> tuple[Any, ...]:
    """``Union[A, B]`` -> ``(A, B)``; a single class -> ``(cls,)``."""
    if typing.get_origin(annotation) is typing.Union:
        return typing.get_args(annotation)
    return (annotation,)


def optional_inner(annotation: Any) -> Any:
    """``Optional[X]`` -> ``X``."""
    members = [m for m in union_members(annotation) if m is not type(None)]
    return members[0] if len(members) == 1 else typing.Union[tuple(members)]  # noqa: UP007


def type_arg(annotation: Any, index: int) -> Any:
    args = typing.get_args(annotation)
    return args[index] if index < len(args) else Any


def payload_annotation(case_class: type) -> Any:
    """The annotation of a variant case class's ``value`` field (Any if it has none)."""
    fields = dataclasses.fields(case_class) if dataclasses.is_dataclass(case_class) else ()
    return fields[0].type if fields else None


def _members(annotation: Any, count: int, what: str) -> list[Any]:
    if not (isinstance(annotation, type) and issubclass(annotation, enum.Enum)):
        raise Unconvertible(f"{what}: expected an Enum/Flag class, the stub has {annotation!r}")
    members = list(annotation)
    if len(members) != count:
        raise Unconvertible(
            f"{what}: {annotation.__name__} has {len(members)} members, not {count}"
        )
    return members


class Bridge:
    """Builds converters; ``host_type`` gives a resource type's host id, ``side`` the table."""

    def __init__(self, host_type: Callable[[wc.ResourceType], int], side: ResourceSide) -> None:
        self.host_type = host_type
        self.side = side

    # -- wasmtime value -> stub value ------------------------------------------------------
    def lift(self, ty: wc.ValType, annotation: Any) -> Convert:
        if isinstance(ty, wc.OwnType | wc.BorrowType):
            return self.side.lift
        if isinstance(ty, wc.ListType):
            if isinstance(ty.element, wc.U8):
                return same
            item = self.lift(ty.element, type_arg(annotation, 0))
            return same if item is same else lambda v: [item(x) for x in v]
        if isinstance(ty, wc.TupleType):
            items = [self.lift(t, type_arg(annotation, i)) for i, t in enumerate(ty.elements)]
            if all(i is same for i in items):
                return same
            return lambda v: tuple(f(x) for f, x in zip(items, v, strict=True))
        if isinstance(ty, wc.RecordType):
            return self._lift_record(ty, annotation)
        if isinstance(ty, wc.VariantType):
            return self._lift_variant(ty, annotation)
        if isinstance(ty, wc.EnumType):
            names = ty.names
            by_name = dict(zip(names, _members(annotation, len(names), "enum"), strict=True))
            return by_name.__getitem__
        if isinstance(ty, wc.FlagsType):
            names = ty.names
            flags = dict(zip(names, _members(annotation, len(names), "flags"), strict=True))
            empty = annotation(0)
            return lambda v: functools.reduce(operator.or_, (flags[n] for n in v), empty)
        if isinstance(ty, wc.OptionType):
            return self._lift_option(ty, annotation)
        if isinstance(ty, wc.ResultType):
            raise Unconvertible("a result as a parameter")
        return same  # bool, integers, floats, char, string

    def _lift_record(self, ty: wc.RecordType, annotation: Any) -> Convert:
        if not dataclasses.is_dataclass(annotation):
            raise Unconvertible(f"record: the stub has {annotation!r}, not a dataclass")
        cls: Any = annotation
        fields = ty.fields
        parts = [
            (name, self.lift(t, f.type))
            for (name, t), f in zip(fields, dataclasses.fields(cls), strict=True)
        ]
        return lambda v: cls(*[f(getattr(v, name)) for name, f in parts])

    def _lift_variant(self, ty: wc.VariantType, annotation: Any) -> Convert:
        cases = ty.cases
        members = union_members(annotation)
        if len(members) != len(cases):
            raise Unconvertible(f"variant: {len(cases)} cases, the stub has {annotation!r}")
        makers: list[tuple[Any, Convert | None]] = []
        for (_, payload), cls in zip(cases, members, strict=True):
            if payload is None:
                makers.append((cls, None))
            else:
                makers.append((cls, self.lift(payload, payload_annotation(cls))))

        def make(index: int, payload: Any) -> Any:
            cls, convert = makers[index]
            return cls() if convert is None else cls(convert(payload))

        if is_tagged(cases):
            index_of = {name: i for i, (name, _) in enumerate(cases)}
            return lambda v: make(index_of[v.tag], v.payload)
        tests = [(i, payload, tuple(classes(payload))) for i, (_, payload) in enumerate(cases)]

        def lift_untagged(v: Any) -> Any:
            for index, payload, kinds in tests:
                if (v is None) if payload is None else isinstance(v, kinds):
                    return make(index, v)
            raise ValueError(f"no variant case takes {v!r}")

        return lift_untagged

    def _lift_option(self, ty: wc.OptionType, annotation: Any) -> Convert:
        inner = self.lift(ty.payload, optional_inner(annotation))
        if is_tagged(option_cases(ty)):
            some = _some_class(annotation)
            return lambda v: None if v.tag == "none" else some(inner(v.payload))
        if inner is same:
            return same
        return lambda v: None if v is None else inner(v)

    # -- stub value -> wasmtime value ------------------------------------------------------
    def lower(self, ty: wc.ValType, annotation: Any) -> Convert:
        if isinstance(ty, wc.OwnType):
            host_type = self.host_type(ty.ty)
            return lambda v: self.side.lower(v, host_type)
        if isinstance(ty, wc.BorrowType):
            raise Unconvertible("a borrowed handle as a result")
        if isinstance(ty, wc.ListType):
            if isinstance(ty.element, wc.U8):
                return bytes
            item = self.lower(ty.element, type_arg(annotation, 0))
            return lambda v: [item(x) for x in v]
        if isinstance(ty, wc.TupleType):
            items = [self.lower(t, type_arg(annotation, i)) for i, t in enumerate(ty.elements)]
            return lambda v: tuple(f(x) for f, x in zip(items, v, strict=True))
        if isinstance(ty, wc.RecordType):
            return self._lower_record(ty, annotation)
        if isinstance(ty, wc.VariantType):
            return self._lower_variant(ty, annotation)
        if isinstance(ty, wc.EnumType):
            names = ty.names
            to_name = dict(zip(_members(annotation, len(names), "enum"), names, strict=True))
            return to_name.__getitem__
        if isinstance(ty, wc.FlagsType):
            names = ty.names
            pairs = list(zip(_members(annotation, len(names), "flags"), names, strict=True))
            return lambda v: {name for flag, name in pairs if flag in v}
        if isinstance(ty, wc.OptionType):
            return self._lower_option(ty, annotation)
        if isinstance(ty, wc.ResultType):
            raise Unconvertible("a nested result")
        return same  # bool, integers, floats, char, string (wasmtime-py checks their types)

    def _lower_record(self, ty: wc.RecordType, annotation: Any) -> Convert:
        if not dataclasses.is_dataclass(annotation):
            raise Unconvertible(f"record: the stub has {annotation!r}, not a dataclass")
        parts = [
            (name, f.name, self.lower(t, f.type))
            for (name, t), f in zip(ty.fields, dataclasses.fields(annotation), strict=True)
        ]

        def lower_record(v: Any) -> wc.Record:
            record = wc.Record()
            for wit_name, attr, convert in parts:
                setattr(record, wit_name, convert(getattr(v, attr)))
            return record

        return lower_record

    def _lower_variant(self, ty: wc.VariantType, annotation: Any) -> Convert:
        cases = ty.cases
        members = union_members(annotation)
        if len(members) != len(cases):
            raise Unconvertible(f"variant: {len(cases)} cases, the stub has {annotation!r}")
        by_class: dict[type, tuple[str, Convert | None]] = {}
        for (name, payload), cls in zip(cases, members, strict=True):
            convert = None if payload is None else self.lower(payload, payload_annotation(cls))
            by_class[cls] = (name, convert)
        tagged = is_tagged(cases)

        def lower_variant(v: Any) -> Any:
            name, convert = by_class[type(v)]
            payload = None if convert is None else convert(v.value)
            if tagged:
                return wc.Variant(name, payload)
            return payload

        return lower_variant

    def _lower_option(self, ty: wc.OptionType, annotation: Any) -> Convert:
        inner = self.lower(ty.payload, optional_inner(annotation))
        if is_tagged(option_cases(ty)):
            return lambda v: (
                wc.Variant("none") if v is None else wc.Variant("some", inner(_unwrap_some(v)))
            )
        return lambda v: None if v is None else inner(v)


def _some_class(annotation: Any) -> Callable[[Any], Any]:
    """componentize-py's ``Some`` (for ``option<option<T>>``), from the annotation."""
    for member in union_members(annotation):
        origin = typing.get_origin(member) or member
        if getattr(origin, "__name__", "") == "Some":
            some: Callable[[Any], Any] = origin
            return some
    raise Unconvertible(f"option<option<...>>: no Some in {annotation!r}")


def _unwrap_some(value: Any) -> Any:
    return value.value if type(value).__name__ == "Some" else value
