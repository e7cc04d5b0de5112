"""Every import of a component, defined once and generically on a wasmtime ``Linker``.

``wasi:*`` comes from wasmtime itself (``add_wasip2``). Every other import instance
(``fastly:compute/http-req@0.1.0``, ...) is read from ``component.type.imports()``: each of its
resources becomes a host resource type, each function a host function that converts its
arguments (:mod:`.values`), calls ``compute_emu/official/``'s implementation of the same WIT
function in the ``wit_world`` module tree, and converts the result back. A WIT error
(componentize-py's ``Err``) becomes the function's ``err`` result; any other exception traps
the call, and the trap keeps the import's name and the exception (:class:`HostFailure`). A
function compute-emu does not implement traps naming itself (or returns the WIT's
``Unsupported``, as ``official/world.py`` decides), never silently.
"""

from __future__ import annotations

import keyword
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wasmtime import Engine, WasmtimeError
from wasmtime import component as wc

from . import guest, resources, stubs
from .resources import HostFailure
from .values import Bridge, Unconvertible, classes, is_tagged, result_cases

WASI = "wasi:"
MAX_LEN = "max-len"


@dataclass(frozen=True)
class ImportName:
    """``fastly:compute/http-req@0.1.0`` + ``[method]request.get-uri``, and what they name
    in the ``wit_world`` bindings."""

    interface: str
    function: str

    def __str__(self) -> str:
        return f"{self.interface}#{self.function}"

    @property
    def module(self) -> str:
        """``http_req``: the module of ``wit_world.imports``."""
        path = self.interface.partition("@")[0]
        return python_name(path.rpartition("/")[2])

    @property
    def kind(self) -> str:
        """``constructor``, ``method``, ``static`` or ``function``."""
        if self.function.startswith("["):
            return self.function[1:].partition("]")[0]
        return "function"

    @property
    def key(self) -> str:
        """``Request.get_uri``, ``DynamicBackendOptions.__init__`` or ``send``: the name
        ``official/world.py`` registers implementations under."""
        name = self.function.partition("]")[2] if self.kind != "function" else self.function
        if self.kind == "constructor":
            return f"{class_name(name)}.__init__"
        owner, _, attr = name.rpartition(".")
        return f"{class_name(owner)}.{python_name(attr)}" if owner else python_name(attr)


def python_name(wit_name: str) -> str:
    """``get-header-names`` -> ``get_header_names`` (a keyword gets a trailing ``_``)."""
    name = wit_name.replace("-", "_")
    return f"{name}_" if keyword.iskeyword(name) else name


def class_name(wit_name: str) -> str:
    """``dynamic-backend-options`` -> ``DynamicBackendOptions``."""
    return "".join(part.capitalize() for part in wit_name.split("-"))


class ResourceIds:
    """A host id for every resource type of the component's imports (a type that an
    interface ``use``s from another keeps the id it got where it is defined)."""

    def __init__(self) -> None:
        self._types: list[wc.ResourceType] = []

    def add(self, ty: wc.ResourceType) -> int:
        for index, known in enumerate(self._types):
            if known == ty:
                return index + 1
        self._types.append(ty)
        return len(self._types)

    def __call__(self, ty: wc.ResourceType) -> int:
        for index, known in enumerate(self._types):
            if known == ty:
                return index + 1
        raise Unconvertible("a resource type that no import defines")


def link(engine: Engine, component: wc.Component) -> tuple[wc.Linker, ResourceIds]:
    """A linker with WASI and every other import of ``component`` defined."""
    linker = wc.Linker(engine)
    linker.add_wasip2()
    ids = ResourceIds()
    bridge = Bridge(ids, resources.CurrentTable())
    with linker.root() as root:
        for interface, item in component.type.imports(engine).items():
            if interface.startswith(WASI) or not isinstance(item.ty, wc.ComponentInstanceType):
                continue
            with root.add_instance(interface) as instance:
                for name, export in item.ty.exports(engine).items():
                    ty = export.ty
                    if isinstance(ty, wc.ResourceType):
                        host = wc.ResourceType.host(ids.add(ty))
                        instance.add_resource(name, host, resources.dropped)
                    elif isinstance(ty, wc.FuncType):
                        function = LazyHostFunction(bridge, ImportName(interface, name), ty)
                        instance.add_func(name, function)
    return linker, ids


# -- one host function -------------------------------------------------------------------
def _target(name: ImportName) -> Callable[..., Any]:
    """What to call: compute-emu's implementation in the loaded ``wit_world`` module."""
    module = stubs.module(name.module)
    owner_name, _, attr = name.key.rpartition(".")
    owner: Any = getattr(module, owner_name, None) if owner_name else module
    if module is None or owner is None or not hasattr(owner, attr):
        raise Unconvertible(f"{name} has no function in the wit_world bindings compute-emu reads")
    if name.kind == "constructor":

        def construct(*args: Any) -> Any:
            value = owner.__new__(owner)
            owner.__init__(value, *args)
            return value

        return construct
    target: Callable[..., Any] = getattr(owner, attr)
    return target


class LazyHostFunction:
    """A host function built on its first call: a component imports ~290 functions and a
    request calls a dozen, so start-up defines them all and converts nothing yet."""

    def __init__(self, bridge: Bridge, name: ImportName, ty: wc.FuncType) -> None:
        self._build = lambda: host_function(bridge, name, ty)
        self._built: Callable[..., Any] | None = None
        self._lock = threading.Lock()

    def __call__(self, store: Any, *args: Any) -> Any:
        built = self._built
        if built is None:
            with self._lock:
                if self._built is None:
                    self._built = self._build()
                built = self._built
        return built(store, *args)


def host_function(bridge: Bridge, name: ImportName, ty: wc.FuncType) -> Callable[..., Any]:
    """The host function for one import (a trap naming it if it cannot be served)."""
    try:
        return _host_function(bridge, name, ty)
    except Unconvertible as exc:
        return trap_function(name, str(exc))


def _host_function(bridge: Bridge, name: ImportName, ty: wc.FuncType) -> Callable[..., Any]:
    call = _target(name)
    signature = stubs.signature(name.module, name.key)
    if signature is None:
        raise Unconvertible(f"{name} has no stub in the wit_world bindings compute-emu reads")
    params = ty.params
    annotations = (None, *signature.params) if name.kind == "method" else signature.params
    if len(annotations) != len(params):
        raise Unconvertible(
            f"{name}: {len(params)} WIT parameters, the stub has {len(annotations)}"
        )
    lifts = [bridge.lift(t, a) for (_, t), a in zip(params, annotations, strict=True)]
    result = ty.result
    returns = signature.result
    lower_ok: Callable[[Any], Any] = lambda v: None  # noqa: E731
    lower_err: Callable[[Any], Any] | None = None
    err_returnable = True
    if isinstance(result, wc.ResultType):
        tagged = is_tagged(result_cases(result))
        ok, err = result.ok, result.err
        ok_value = (lambda v: None) if ok is None else bridge.lower(ok, returns)
        err_value = _err_lowerer(bridge, name, err, signature.error)
        if tagged:
            lower_ok = lambda v: wc.Variant("ok", ok_value(v))  # noqa: E731
            lower_err = lambda e: wc.Variant("err", err_value(e))  # noqa: E731
        else:
            lower_ok, lower_err = ok_value, err_value
            # wasmtime-py lowers an untagged result by trying `ok` first: an `ok` that takes
            # any value (an option) leaves no way to return an error
            err_returnable = ok is None or object not in classes(ok)
    elif result is not None:
        lower_ok = bridge.lower(result, returns)
    max_len = next((i for i, (p, _) in enumerate(params) if p == MAX_LEN), None)
    err_class = stubs.error_class()
    text = str(name)

    def host(store: Any, *args: Any) -> Any:
        table = resources.current()
        table.store = store
        try:
            values = [lift(arg) for lift, arg in zip(lifts, args, strict=True)]
            try:
                result = guest.host_work(call, *values)  # other guests run meanwhile
                return lower_ok(result)
            except err_class as exc:
                error = exc.value  # type: ignore[attr-defined]
                if lower_err is not None and err_returnable:
                    return lower_err(error)
                if max_len is not None and type(error).__name__ == "Error_BufferLen":
                    values[max_len] = error.value  # the retry the guest would make
                    return lower_ok(guest.host_work(call, *values))
                raise _unreturnable(text, error) from exc
        except BaseException as exc:  # anything else traps the call
            failure = HostFailure(text, exc)
            if table.failure is None:
                table.failure = failure
            raise WasmtimeError(str(failure)) from None

    host.__qualname__ = host.__name__ = text
    return host


def _err_lowerer(
    bridge: Bridge, name: ImportName, err: wc.ValType | None, annotation: Any
) -> Callable[[Any], Any]:
    if err is None:
        return lambda e: None
    if annotation is None:
        raise Unconvertible(f"{name}: its stub names no error type")
    return bridge.lower(err, annotation)


def _unreturnable(function: str, error: object) -> Exception:
    return RuntimeError(
        f"{function} failed with {error!r}, an error wasmtime-py cannot return from a "
        "result<option<...>, ...> function (on Compute the call returns it)"
    )


def trap_function(name: ImportName, why: str) -> Callable[..., Any]:
    """A host function that traps, naming the import and why it cannot be served."""
    text = str(name)

    def trap(store: Any, *args: Any) -> Any:
        failure = HostFailure(text, NotImplementedError(f"not served by compute-emu: {why}"))
        table = resources.current()
        if table.failure is None:
            table.failure = failure
        raise WasmtimeError(str(failure))

    trap.__qualname__ = trap.__name__ = text
    return trap
