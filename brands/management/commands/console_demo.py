"""Seed a demo brand for the console (browser tests, local demos): a brand, an owner, a
marketer and an analyst with passwords, a second brand, followers in two regions, and a
merchant (payments) linked to the brand, so offers sent in campaigns can be redeemed at
its checkout and the funnel's "redeemed" and revenue move.

    manage.py console_demo --password 'secret' [--followers 300] [--prefix +1212555]

Everything goes through accounts' and brands' services; it prints the ids as JSON.
Idempotent for people (get-or-create by phone); a new brand on every run.
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from accounts.services import profile_update, user_get_or_create_by_phone
from brands import services


class Command(BaseCommand):
    help = "Create a demo brand with a team (passwords set) and followers for the console."

    def add_arguments(self, parser):
        parser.add_argument("--password", required=True)
        parser.add_argument("--followers", type=int, default=300)
        parser.add_argument("--prefix", default="+1212555", help="phone prefix, 4 digits follow")
        parser.add_argument("--name", default="Demo Cafe")

    def handle(self, *args, password: str, followers: int, prefix: str, name: str, **kw):
        if not 0 <= followers <= 5000:
            raise CommandError("--followers is 0..5000")

        def person(n: int, display: str, region: str = ""):
            user, _ = user_get_or_create_by_phone(phone=f"{prefix}{n:04d}")
            return profile_update(
                user=user, display_name=display, **({"region": region} if region else {})
            )

        def with_password(user):
            user.set_password(password)
            user.save(update_fields=["password"])
            return user

        owner = with_password(person(9001, "Demo owner"))
        marketer = with_password(person(9002, "Demo marketer"))
        analyst = with_password(person(9003, "Demo analyst"))
        rival = with_password(person(9004, "Rival owner"))
        from payments.services.merchants import merchant_create

        merchant, _key = merchant_create(
            name=f"{name} shop", country="US", city="New York", currency="USD", mcc="5814"
        )
        brand = services.brand_create(
            name=name, owner=owner, description="Console demo", merchant_id=merchant.id
        )
        services.brand_member_set(
            brand_id=brand.pk, acting_user=owner, user=marketer, role="marketer"
        )
        services.brand_member_set(
            brand_id=brand.pk, acting_user=owner, user=analyst, role="analyst"
        )
        other = services.brand_create(name=f"{name} rival", owner=rival)
        for i in range(followers):
            fan = person(2000 + i, f"Fan {i}", region="FR" if i % 2 == 0 else "DE")
            services.follow_create(brand=brand, user=fan, marketing_opt_in=True)
        self.stdout.write(
            json.dumps(
                {
                    "brand_id": brand.pk,
                    "merchant_id": merchant.id,
                    "other_brand_id": other.pk,
                    "owner": owner.phone,
                    "marketer": marketer.phone,
                    "analyst": analyst.phone,
                    "rival": rival.phone,
                }
            )
        )
