"""Console tests reuse the brands fixtures (a brand with its owner, followers, a small
privacy floor) and add signed-in clients per role."""

from __future__ import annotations

import pytest
from django.test import Client

from brands import services
from tests.brands.conftest import brand, floor, follow, followers, owner  # noqa: F401

PASSWORD = "correct horse battery"


def with_password(user):
    user.set_password(PASSWORD)
    user.save()
    return user


def signed_in(user, **kw) -> Client:
    with_password(user)
    client = Client(**kw)
    assert client.login(phone=user.phone, password=PASSWORD)
    return client


@pytest.fixture
def analyst(make_user, brand, owner):  # noqa: F811
    user = make_user("Analyst")
    services.brand_member_set(brand_id=brand.pk, acting_user=owner, user=user, role="analyst")
    return user


@pytest.fixture
def marketer(make_user, brand, owner):  # noqa: F811
    user = make_user("Marketer")
    services.brand_member_set(brand_id=brand.pk, acting_user=owner, user=user, role="marketer")
    return user
