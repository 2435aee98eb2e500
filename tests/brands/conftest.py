"""Brand fixtures: a brand with its owner, and followers built through the services."""

from __future__ import annotations

import pytest

from brands import services


@pytest.fixture
def floor(settings):
    """A small privacy floor so tests need tens of people, not hundreds."""
    settings.PRIVACY_MIN_AUDIENCE = 10
    return 10


@pytest.fixture
def owner(make_user):
    return make_user("Brand owner")


@pytest.fixture
def brand(owner):
    return services.brand_create(
        name="Acme Coffee", owner=owner, description="Beans", verified=True
    )


@pytest.fixture
def follow(brand):
    """follow(user, opt_in=True, **profile) → the user, following `brand`."""

    def make(user, opt_in: bool = True):
        services.follow_create(brand=brand, user=user, marketing_opt_in=opt_in)
        return user

    return make


@pytest.fixture
def followers(make_user, follow):
    """followers(n, **profile) → n new people following the brand with consent."""

    def make(n: int, opt_in: bool = True, **profile):
        return [follow(make_user(**profile), opt_in=opt_in) for _ in range(n)]

    return make
