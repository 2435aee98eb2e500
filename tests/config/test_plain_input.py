"""config.plain_input answers a serializer's validated_data without building it, for
bodies that plainly meet its rules. Whatever it accepts, the serializer must accept with
the very same validated_data; and it must take the usual bodies, or it saves nothing."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework import serializers

from config.plain_input import plain_validated
from payments.api.checkout import CheckoutPayInput
from payments.api.merchant import MerchantOrderCreateInput
from payments.api.transfers import TransferCreateInput


class Everything(serializers.Serializer):
    """Every option the helper reads."""

    n = serializers.IntegerField(min_value=-5, max_value=5)
    big = serializers.IntegerField(required=False, allow_null=True)
    text = serializers.CharField(min_length=2, max_length=4)
    blank = serializers.CharField(required=False, allow_blank=True, max_length=3)
    code = serializers.RegexField(r"^[a-c]+$", max_length=3, required=False)
    pick = serializers.ChoiceField(choices=["x", "y"], required=False, default="x")
    counted = serializers.IntegerField(required=False, default=lambda: 7)


SERIALIZERS = [Everything, MerchantOrderCreateInput, TransferCreateInput, CheckoutPayInput]

_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=False),
    st.text(max_size=6),
    st.sampled_from(
        ["", " ", "ab", " ab", "ab\n", "a\x00", "\ud800", "abc", "xyz", "x", "y", "USD"]
    ),
    st.lists(st.integers(), max_size=2),
)


def _bodies(serializer_class):
    names = [*serializer_class._declared_fields, "extra"]
    return st.one_of(
        st.dictionaries(st.sampled_from(names), _values, max_size=len(names)),
        st.lists(st.integers(), max_size=2),
        st.text(max_size=3),
    )


@pytest.mark.parametrize("serializer_class", SERIALIZERS, ids=lambda c: c.__name__)
def test_whatever_it_accepts_the_serializer_accepts_unchanged(serializer_class):
    @settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(_bodies(serializer_class))
    def check(body):
        fast = plain_validated(serializer_class, body)
        if fast is not None:
            data = serializer_class(data=body)
            assert data.is_valid(), (body, data.errors)
            assert fast == dict(data.validated_data)

    check()


@pytest.mark.parametrize(
    "serializer_class, body",
    [
        (Everything, {"n": 5, "text": "ab", "blank": "", "code": "abc", "big": None}),
        (Everything, {"n": -5, "text": "abcd", "pick": "y", "counted": 1, "extra": [1]}),
        (MerchantOrderCreateInput, {"out_trade_no": "vm-1:42", "amount": 250, "currency": "USD"}),
        (
            MerchantOrderCreateInput,
            {
                "out_trade_no": "A.1",
                "amount": 1,
                "currency": "eur",
                "description": "Cola",
                "notify_url": "https://vm.example/hook",
                "expires_in": 900,
                "qr_format": "emvco",
            },
        ),
        (TransferCreateInput, {"to_user_id": 5, "amount": 100, "currency": "USD", "pin": "123456"}),
        (TransferCreateInput, {"to_user_id": 5, "amount": 1, "currency": "USD", "note": "lunch"}),
        (CheckoutPayInput, {}),
        (CheckoutPayInput, {"pin": "123456"}),
        (CheckoutPayInput, {"pin": ""}),  # blank allowed: the regex is not applied
        (CheckoutPayInput, {"amount": 350, "description": "2 coffees"}),
    ],
)
def test_the_usual_bodies_are_answered_as_the_serializer_answers(serializer_class, body):
    fast = plain_validated(serializer_class, body)
    assert fast is not None
    data = serializer_class(data=body)
    assert data.is_valid(), data.errors
    assert fast == dict(data.validated_data)


class WithHook(serializers.Serializer):
    n = serializers.IntegerField()

    def validate_n(self, value):
        return value * 2


class WithObjectHook(serializers.Serializer):
    n = serializers.IntegerField()

    def validate(self, attrs):
        return {**attrs, "n": 0}


class WithOtherField(serializers.Serializer):
    email = serializers.EmailField()


class WithValidator(serializers.Serializer):
    n = serializers.IntegerField(validators=[lambda v: None])


class WithSource(serializers.Serializer):
    n = serializers.IntegerField(source="m")


@pytest.mark.parametrize(
    "serializer_class, body",
    [
        (WithHook, {"n": 1}),
        (WithObjectHook, {"n": 1}),
        (WithOtherField, {"email": "a@b.example"}),
        (WithValidator, {"n": 1}),
        (WithSource, {"n": 1}),
    ],
)
def test_serializers_with_rules_it_cannot_read_always_go_to_the_serializer(serializer_class, body):
    assert plain_validated(serializer_class, body) is None


@pytest.mark.parametrize(
    "body",
    [
        {"n": 6, "text": "ab"},  # above max_value
        {"n": True, "text": "ab"},  # a bool is not a plain int
        {"n": 1, "text": " ab"},  # the serializer would trim it
        {"n": 1, "text": "a"},  # below min_length
        {"n": 1, "text": "ab", "blank": None},  # not allow_null
        {"n": 1, "text": "ab", "code": "abd"},  # the regex refuses it
        {"n": 1, "text": "ab", "pick": "z"},
        {"text": "ab"},  # n is required
    ],
)
def test_bodies_the_serializer_would_refuse_or_change_go_to_it(body):
    assert plain_validated(Everything, body) is None
