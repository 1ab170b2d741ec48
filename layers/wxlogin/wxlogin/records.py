"""Frozen value classes without dataclasses' code generation, for the cold start.

`@dataclass(frozen=True)` compiles each class's methods from source when the
class is made: about 0.5 ms a class, and a cold login makes about twenty of
them, some 0.05x of the bench's floor (make bench; docs/performance.md). A
`@record` class behaves the same for everything the layer asks of it (keyword
or positional construction, defaults, immutability, equality and hashing by
value, a repr that leaves out the fields marked `hidden()`) with methods shared
by every record, and `replace()` copies one with changes. config.Settings
stays a dataclass (the tests `dataclasses.replace` it, and one class costs little).
"""

from __future__ import annotations

_NO_DEFAULT = object()


class _Hidden:
    __slots__ = ("default",)

    def __init__(self, default):
        self.default = default


def hidden(default=_NO_DEFAULT):
    """A field kept out of repr (and so out of any log line that prints the record): secrets, payloads."""
    return _Hidden(default)


def _init(self, *args, **kwargs):
    names, defaults = self._record_fields, self._record_defaults
    if len(args) > len(names):
        raise TypeError(f"{type(self).__name__} takes {len(names)} fields, got {len(args)}")
    values = dict(zip(names, args, strict=False))
    for name, value in kwargs.items():
        if name not in names or name in values:
            raise TypeError(f"{type(self).__name__} got an unexpected or repeated field {name!r}")
        values[name] = value
    for name in names:
        value = values.get(name, defaults.get(name, _NO_DEFAULT))
        if value is _NO_DEFAULT:
            raise TypeError(f"{type(self).__name__} is missing the field {name!r}")
        object.__setattr__(self, name, value)


def _values(self) -> tuple:
    return tuple(getattr(self, name) for name in self._record_fields)


def _eq(self, other):
    if type(other) is not type(self):
        return NotImplemented
    return _values(self) == _values(other)


def _hash(self):
    return hash(_values(self))


def _repr(self):
    shown = ", ".join(
        f"{name}={getattr(self, name)!r}" for name in self._record_fields if name not in self._record_hidden
    )
    return f"{type(self).__name__}({shown})"


def _frozen(self, name, *_):
    raise AttributeError(f"cannot assign to field {name!r} of a frozen {type(self).__name__}")


def record(cls):
    """Make `cls` a frozen value class from its annotated fields, in the order they are written."""
    own = {"__init__", "__eq__", "__hash__", "__repr__", "__setattr__", "__delattr__"} & set(cls.__dict__)
    if own:
        # They would be replaced, silently: a hand-written __repr__ that hides a secret among them.
        raise TypeError(f"{cls.__name__} defines {sorted(own)}; mark secret fields hidden() instead")
    names = tuple(cls.__dict__.get("__annotations__", {}))
    defaults, hidden_names = {}, set()
    for name in names:
        value = cls.__dict__.get(name, _NO_DEFAULT)
        if isinstance(value, _Hidden):
            hidden_names.add(name)
            value = value.default
        if value is not _NO_DEFAULT:
            defaults[name] = value
        if name in cls.__dict__:
            delattr(cls, name)
    cls._record_fields, cls._record_defaults, cls._record_hidden = names, defaults, frozenset(hidden_names)
    cls.__init__, cls.__eq__, cls.__hash__, cls.__repr__ = _init, _eq, _hash, _repr
    cls.__setattr__ = cls.__delattr__ = _frozen
    return cls


def replace(value, **changes):
    """A copy of the record `value` with `changes`, as dataclasses.replace makes one."""
    return type(value)(**{name: changes.get(name, getattr(value, name)) for name in value._record_fields})
