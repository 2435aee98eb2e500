"""A DRF input serializer's `validated_data` without building the serializer, for bodies
that plainly meet its rules.

Instantiating a DRF serializer deep-copies its declared fields and runs every field's
validators through several layers of calls: 0.5–1 ms of CPU on a hot money endpoint
(POST /api/v1/transfers, the merchant's order create), where the request itself costs a
few milliseconds. `plain_validated(SerializerClass, data)` reads the serializer's own
field declarations once and checks a body against them directly. It answers only when
the answer is certain to be the serializer's:

- a dict whose every field is of the plain type the field keeps unchanged (an `int` for
  IntegerField, a `str` with nothing to trim and no characters a validator refuses for
  CharField / RegexField, one of the string choices for ChoiceField) and within the
  declared bounds: the same `validated_data` the serializer would give (defaults
  included, unknown keys ignored, as DRF does);
- anything else, and any serializer with a field type, option or validation hook it does
  not know: `None`, and the caller runs the serializer, which decides and words the error.

The rules are never written twice: change the serializer and this follows.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache

from django.core import validators as dj
from rest_framework import serializers
from rest_framework.fields import ProhibitSurrogateCharactersValidator, empty

_FieldCheck = Callable[[object], bool]

# The validators the fields add for their own options, which the checks below apply; any
# other validator (passed in `validators=`) sends the body to the serializer.
_BOUNDS = (dj.MinValueValidator, dj.MaxValueValidator)
_TEXT = (
    dj.MinLengthValidator,
    dj.MaxLengthValidator,
    dj.ProhibitNullCharactersValidator,
    ProhibitSurrogateCharactersValidator,
)

# Fields whose options we read; a subclass (EmailField, URLField, SlugField, ...) has
# validators of its own, so only these exact classes qualify.
_PLAIN_TYPES = (
    serializers.IntegerField,
    serializers.CharField,
    serializers.RegexField,
    serializers.ChoiceField,
)


def _plain_str(value, field) -> bool:
    # What CharField keeps unchanged (nothing to trim, no NUL or lone surrogate that its
    # validators refuse: isprintable() refuses both, and more, which only costs a detour
    # through the serializer).
    if type(value) is not str or value != value.strip() or not value.isprintable():
        return False
    if value == "":
        return field.allow_blank
    n = len(value)
    return (field.max_length is None or n <= field.max_length) and (
        field.min_length is None or n >= field.min_length
    )


def _field_check(field) -> _FieldCheck | None:
    """A check for one declared field, or None if this field can't be judged here."""
    if type(field) not in _PLAIN_TYPES or field.read_only:
        return None
    if type(field) is serializers.IntegerField:
        if not all(type(v) in _BOUNDS for v in field.validators):
            return None
        low = field.min_value if field.min_value is not None else -(2**63)
        high = field.max_value if field.max_value is not None else 2**63 - 1
        return lambda v: type(v) is int and low <= v <= high
    if type(field) is serializers.ChoiceField:
        keys = {k for k, v in field.choices.items() if type(k) is str and k == v}
        if len(keys) != len(field.choices) or field.validators:
            return None
        return lambda v: type(v) is str and v in keys
    if not field.trim_whitespace:
        return None
    others = [v for v in field.validators if type(v) not in _TEXT]
    if type(field) is serializers.RegexField:
        if len(others) != 1 or type(others[0]) is not dj.RegexValidator or others[0].inverse_match:
            return None
        pattern: re.Pattern = others[0].regex
        # A blank value the field allows is returned before any validator runs.
        return lambda v: _plain_str(v, field) and (v == "" or pattern.search(v) is not None)
    if others:
        return None
    return lambda v: _plain_str(v, field)


@cache
def _checker(serializer_class) -> Callable[[object], dict | None] | None:
    has_hooks = serializer_class.validate is not serializers.Serializer.validate or any(
        hasattr(serializer_class, f"validate_{name}") for name in serializer_class._declared_fields
    )
    if has_hooks or getattr(getattr(serializer_class, "Meta", None), "validators", None):
        return None
    rules = []
    for name, declared in serializer_class._declared_fields.items():
        field = declared.__deepcopy__({})  # unbound copy: read its effective options
        field.bind(name, serializers.Serializer())
        check = _field_check(field)
        if check is None or field.source != name:
            return None
        rules.append((name, check, field.required, field.default, field.allow_null))

    def validated(data) -> dict | None:
        if type(data) is not dict:
            return None
        out = {}
        for name, check, required, default, allow_null in rules:
            if name not in data:
                if required:
                    return None
                if default is not empty:
                    out[name] = default() if callable(default) else default
                continue
            value = data[name]
            if value is None:
                if not allow_null:
                    return None
            elif not check(value):
                return None
            out[name] = value
        return out

    return validated


def plain_validated(serializer_class: type[serializers.Serializer], data) -> dict | None:
    """`serializer_class(data=data).validated_data` when `data` plainly meets its rules,
    else None (run the serializer: it decides, and words the error)."""
    checker = _checker(serializer_class)
    return checker(data) if checker is not None else None
