"""Config fields declared once: default, description, allowed values, range and type, checked by one
function that raises one clear line. ModelConfig, TrainConfig and NodeConfig are dataclasses of such
fields (the dataclasses backport is assumed on Python 3.6).

Types come from the annotations (bool, int, float, str, List[...], Optional[...]). ``strict`` checks
values that already carry a type, such as ROS parameters (only an int may stand in for a float);
otherwise values read from YAML or the command line are converted ("4e-4" -> 0.0004, 3.0 -> 3,
a tuple -> a list).
"""

from dataclasses import MISSING, field, fields
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

# How an error names the bad value: "name='x'" (files) or "parameter name = 'x'" (ROS parameters).
PLAIN = "{name}={value!r}"
PARAMETER = "parameter {name} = {value!r}"

NoneType = type(None)


class ConfigError(ValueError):
    """A bad configuration value; the message names the value and what was expected, in one line."""


def option(default: Any = MISSING, description: str = "", choices: Optional[Sequence[Any]] = None,
           low: Optional[float] = None, high: Optional[float] = None, runtime: bool = False,
           default_factory: Any = MISSING) -> Any:
    """A dataclass field with its rules in the field's metadata (for checks, help texts, ROS descriptors).

    low / high: inclusive bounds (either may be None). runtime: may change while a node runs.
    """
    metadata = {"description": description, "choices": tuple(choices) if choices else None, "low": low,
                "high": high, "runtime": runtime}
    if default_factory is not MISSING:
        return field(default_factory=default_factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def rules(f: Any) -> Dict[str, Any]:
    """A field's rules (fields declared without ``option`` have none)."""
    info = {"description": "", "choices": None, "low": None, "high": None, "runtime": False}
    info.update(f.metadata or {})
    return info


def fail(name: str, value: Any, expected: str, problem: str = "", style: str = PLAIN) -> None:
    """Raise ConfigError "<name and value><problem>; expected <expected>"."""
    raise ConfigError("{}{}; expected {}".format(style.format(name=name, value=value), problem, expected))


# ---------------------------------------------------------------- types
def _optional(annotation: Any) -> Tuple[Any, bool]:
    """(the type inside Optional[...], whether None is allowed)."""
    if getattr(annotation, "__origin__", None) is Union:
        args = [a for a in annotation.__args__ if a is not NoneType]
        return (args[0] if len(args) == 1 else Any), len(args) < len(annotation.__args__)
    return annotation, False


def _item_type(annotation: Any) -> Any:
    """X for List[X] (3.6: __origin__ is typing.List; 3.7+: list), else None."""
    if getattr(annotation, "__origin__", None) in (list, List):
        args = getattr(annotation, "__args__", None) or (Any,)
        return args[0]
    return None


def type_name(annotation: Any) -> str:
    """'bool', 'int', 'float', 'string', 'list of float', ... (what a user reads in an error)."""
    inner, _ = _optional(annotation)
    item = _item_type(inner)
    if item is not None:
        return "list of {}".format(type_name(item))
    return {bool: "bool", int: "int", float: "float", str: "string"}.get(inner, getattr(inner, "__name__",
                                                                                        str(inner)))


def value_type_name(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "list"
    return {bool: "bool", int: "int", float: "float", str: "string", NoneType: "null"}.get(
        type(value), type(value).__name__)


def coerce(annotation: Any, value: Any, strict: bool = False) -> Any:
    """value as the annotated type, or ValueError (no message: the caller names the field)."""
    inner, nullable = _optional(annotation)
    if value is None:
        if nullable:
            return None
        raise ValueError
    item = _item_type(inner)
    if item is not None:
        if not isinstance(value, (list, tuple)):
            raise ValueError
        return [coerce(item, v, strict) for v in value]
    if inner is bool:
        if not isinstance(value, bool):
            raise ValueError
        return value
    if inner in (int, float):
        if isinstance(value, bool):
            raise ValueError
        if strict:
            if type(value) is inner or (inner is float and type(value) is int):
                return inner(value)
            raise ValueError
        if not isinstance(value, (int, float, str)):
            raise ValueError
        number = float(value)  # ValueError for "many"
        if inner is int:
            if number != int(number):
                raise ValueError
            return int(number)
        return number
    if inner is str:
        if not isinstance(value, str):
            raise ValueError
        return value
    return value


# ---------------------------------------------------------------- whole configs
def check(config: Any, style: str = PLAIN, strict: bool = False) -> None:
    """Coerce every field of a dataclass instance to its annotation (in place) and check its choices
    and range; raise ConfigError naming the first bad value."""
    for f in fields(config):
        value = getattr(config, f.name)
        try:
            value = coerce(f.type, value, strict)
        except (TypeError, ValueError, OverflowError):
            if isinstance(value, (list, tuple)) and type_name(f.type).startswith("list"):
                fail(f.name, value, "a " + type_name(f.type), style=style)
            fail(f.name, value, "type " + type_name(f.type),
                 " is of type {}".format(value_type_name(value)), style)
        setattr(config, f.name, value)
        if value is None:
            continue
        info = rules(f)
        if info["choices"] and value not in info["choices"]:
            fail(f.name, value, "one of: " + ", ".join(str(c) for c in info["choices"]), style=style)
        low, high = info["low"], info["high"]
        if (low is not None and value < low) or (high is not None and value > high):
            if high is None:
                expected = ">= {}".format(low)
            elif low is None:
                expected = "<= {}".format(high)
            else:
                expected = "{} to {}".format(low, high)
            fail(f.name, value, expected, " is out of range", style)


def names(cls: Any) -> List[str]:
    return [f.name for f in fields(cls)]


def check_mapping(values: Any, cls: Any, source: str, noun: str) -> Dict[str, Any]:
    """values as a dict whose keys are all fields of cls, or ConfigError naming the unknown ones and
    listing the valid ones ("<source>: unknown <noun>(s) a, b; valid <noun>s are: ...")."""
    prefix = source + ": " if source else ""
    if not isinstance(values, dict):
        raise ConfigError("{}expected a mapping of {}s to values, got {}".format(
            prefix, noun, value_type_name(values)))
    valid = names(cls)
    unknown = sorted(str(k) for k in values if k not in valid)
    if unknown:
        raise ConfigError("{}unknown {}(s) {}; valid {}s are: {}".format(
            prefix, noun, ", ".join(unknown), noun, ", ".join(valid)))
    return values


def field_info(cls: Any, name: str, noun: str = "field") -> Tuple[Any, Dict[str, Any]]:
    """(the dataclass field, its rules) of one name, or ConfigError listing the valid names."""
    for f in fields(cls):
        if f.name == name:
            return f, rules(f)
    raise ConfigError("unknown {} {!r}; valid {}s are: {}".format(noun, name, noun, ", ".join(names(cls))))
