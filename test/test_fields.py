"""The one field helper behind ModelConfig, TrainConfig and NodeConfig: types, choices, ranges, errors."""

from dataclasses import dataclass
from typing import List, Optional

import pytest

from swiftnet_ros.fields import PARAMETER, ConfigError, check, check_mapping, option, rules


@dataclass
class Example:
    count: int = option(1, "how many", low=1, high=10)
    rate: float = option(0.5, "a fraction", low=0.0, high=1.0)
    mode: str = option("a", "the mode", ("a", "b"))
    flag: bool = False
    sizes: Optional[List[int]] = None
    weights: List[float] = option(default_factory=lambda: [1.0])

    def __post_init__(self) -> None:
        check(self)


@dataclass
class Typed(Example):
    def __post_init__(self) -> None:
        check(self, PARAMETER, strict=True)


def test_values_from_yaml_and_flags_become_the_declared_types():
    e = Example(count=3.0, rate="5e-1", sizes=(2, "3"), weights=[1, 2])
    assert (e.count, e.rate, e.sizes, e.weights) == (3, 0.5, [2, 3], [1.0, 2.0])
    assert type(e.count) is int and type(e.rate) is float and type(e.weights[0]) is float


def test_strict_fields_accept_only_their_type_and_an_int_for_a_float():
    assert Typed(rate=1).rate == 1.0
    with pytest.raises(ConfigError, match="^parameter count = 3.0 is of type float; expected type int$"):
        Typed(count=3.0)
    with pytest.raises(ConfigError, match="parameter rate = '0.5' is of type string; expected type float"):
        Typed(rate="0.5")


@pytest.mark.parametrize("values, message", [
    ({"count": 0}, "count=0 is out of range; expected 1 to 10"),
    ({"count": 2.5}, "count=2.5 is of type float; expected type int"),
    ({"count": True}, "count=True is of type bool; expected type int"),
    ({"rate": "many"}, "rate='many' is of type string; expected type float"),
    ({"mode": "c"}, "mode='c'; expected one of: a, b"),
    ({"flag": "yes"}, "flag='yes' is of type string; expected type bool"),
    ({"sizes": ["x"]}, r"sizes=\['x'\]; expected a list of int"),
    ({"weights": None}, "weights=None is of type null; expected type list of float"),
])
def test_bad_values_name_the_field_the_value_and_what_was_expected(values, message):
    with pytest.raises(ConfigError, match="^" + message + "$"):
        Example(**values)


def test_unknown_names_and_non_mappings_are_one_line_errors():
    with pytest.raises(ConfigError, match="^f.yaml: unknown key\\(s\\) a, z; valid keys are: count, rate, "):
        check_mapping({"z": 1, "a": 2, "count": 1}, Example, "f.yaml", "key")
    with pytest.raises(ConfigError, match="^f.yaml: expected a mapping of keys to values, got list$"):
        check_mapping([1], Example, "f.yaml", "key")
    assert check_mapping({"count": 2}, Example, "", "key") == {"count": 2}


def test_rules_come_from_the_field_metadata():
    from dataclasses import fields

    by_name = {f.name: rules(f) for f in fields(Example)}
    assert by_name["mode"]["choices"] == ("a", "b") and by_name["count"]["low"] == 1
    assert by_name["flag"] == {"description": "", "choices": None, "low": None, "high": None,
                               "runtime": False}
