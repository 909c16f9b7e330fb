"""Checks for model constructor options, shared by every model so that a bad override fails the same way.

Each check raises ``ValueError`` naming the option; ``build_model`` turns it into a ``ConfigError`` for the
user. They run before any layer is built, so a typo costs nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "check_choice",
    "check_depth",
    "check_flag",
    "check_int_tuple",
    "check_num_deconv_layers",
    "check_positive_int",
]


def check_choice(key: str, value: object, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices``, else ValueError listing them."""
    if value not in choices:
        raise ValueError(f"{key} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return str(value)


def check_flag(key: str, value: object) -> bool | None:
    """``value`` if it is True, False or None (None = "the model's own default")."""
    if value is not None and not isinstance(value, bool):
        raise ValueError(f"{key} must be true or false, got {value!r}")
    return value


def check_positive_int(key: str, value: object) -> int:
    """``value`` if it is an int >= 1 (bools are refused: ``True`` is not a width)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{key} must be a positive integer, got {value!r}")
    return value


def check_int_tuple(key: str, value: Sequence[int], length: int, what: str) -> tuple[int, ...]:
    """``value`` as a tuple of ``length`` positive ints (``what`` says what each one is, for the message)."""
    try:
        values = tuple(value)
    except TypeError:
        values = ()
    if len(values) != length or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values):
        raise ValueError(f"{key} must be {length} positive integers ({what}), got {value!r}")
    return values


def check_depth(depth: object, depths: Sequence[int]) -> int:
    """``depth`` if it is one of the known trunk depths."""
    if depth not in depths:
        raise ValueError(f"depth must be one of {sorted(depths)}, got {depth!r}")
    return int(depth)  # type: ignore[call-overload]


def check_num_deconv_layers(value: object, maximum: int) -> int:
    """``value`` as the number of ×2 deconvolutions, 0..``maximum`` (more would up-sample past the input)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise ValueError(f"num_deconv_layers must be an integer in 0..{maximum}, got {value!r}")
    return value
