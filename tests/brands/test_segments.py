import datetime as dt

import pytest
from django.utils import timezone

from brands import segments, services
from brands.models import Follow
from config.errors import InvalidInput


def members(brand, tree):
    return set(segments.audience(brand, tree).values_list("user_id", flat=True))


@pytest.mark.django_db
def test_leaves_and_boolean_operators(brand, make_user, follow):
    year = timezone.now().year
    ann = follow(make_user(region="FR", language="fr", gender="female", birth_year=year - 30))
    bob = follow(make_user(region="DE", language="de", gender="male", birth_year=year - 20))
    cat = follow(make_user(region="FR", language="en", gender="", birth_year=None))
    shy = follow(make_user(region="FR"), opt_in=False)  # no consent: never in an audience
    everyone = {ann.pk, bob.pk, cat.pk}
    assert members(brand, {}) == everyone
    assert members(brand, {"rule": "region", "in": ["FR"]}) == {ann.pk, cat.pk}
    assert members(brand, {"rule": "age_band", "in": ["25-34"]}) == {ann.pk}
    assert members(brand, {"rule": "age_band", "in": ["18-24", "25-34"]}) == {ann.pk, bob.pk}
    assert members(brand, {"rule": "gender", "in": ["unknown"]}) == {cat.pk}
    assert members(brand, {"not": {"rule": "region", "in": ["FR"]}}) == {bob.pk}
    tree = {
        "or": [
            {"and": [{"rule": "region", "in": ["FR"]}, {"rule": "language", "in": ["fr"]}]},
            {"rule": "gender", "in": ["male"]},
        ]
    }
    assert members(brand, tree) == {ann.pk, bob.pk}
    assert shy.pk not in members(brand, {"rule": "region", "in": ["FR"]})


@pytest.mark.django_db
def test_follow_age_last_active_tags_offers_and_bucket(brand, make_user, follow, owner):
    now = timezone.now()
    old = follow(make_user(last_seen_at=now - dt.timedelta(days=40)))
    new = follow(make_user(last_seen_at=now))
    Follow.objects.filter(user=old).update(created_at=now - dt.timedelta(days=100))
    assert members(brand, {"rule": "follow_age_days", "min": 30}) == {old.pk}
    assert members(brand, {"rule": "last_active_days", "max": 7}) == {new.pk}
    services.person_tag(brand=brand, user_id=new.pk, tag="vip")
    assert members(brand, {"rule": "tag", "in": ["vip"]}) == {new.pk}
    offer = services.offer_create(
        brand_id=brand.pk,
        acting_user=owner,
        title="5 off",
        kind="amount",
        amount_off_minor=500,
        ends_at=now + dt.timedelta(days=3),
    )
    services.offer_claim(offer_id=offer.pk, user=old)
    assert members(brand, {"rule": "offer", "state": "claimed"}) == {old.pk}
    assert members(brand, {"rule": "offer", "state": "redeemed"}) == set()
    # Buckets: SQL agrees with the Python hash, and halves partition the audience.
    salt = segments.brand_bucket_salt(brand)
    low = members(brand, {"rule": "bucket", "min": 0, "max": 49})
    high = members(brand, {"rule": "bucket", "min": 50, "max": 99})
    assert low | high == {old.pk, new.pk} and not low & high
    for uid in low:
        assert segments.bucket_of(uid, salt) < 50


def test_bucket_hash_is_spread_and_brand_specific():
    counts = [0] * 100
    for uid in range(1, 20001):
        counts[segments.bucket_of(uid, 12345)] += 1
    assert min(counts) > 120 and max(counts) < 280  # ~200 each
    same = sum(segments.bucket_of(u, 1) == segments.bucket_of(u, 2) for u in range(1, 5001))
    assert same < 150  # ~1% by chance, not correlated across brands


@pytest.mark.parametrize(
    "tree",
    [
        [],
        {"and": []},
        {"or": {"rule": "region", "in": ["FR"]}},
        {"not": {"rule": "region", "in": ["FR"]}, "x": 1},
        {"rule": "nope"},
        {"rule": "region", "in": "FR"},
        {"rule": "region", "in": ["FRA"]},
        {"rule": "age_band", "in": ["20-30"]},
        {"rule": "bucket", "min": 0, "max": 100},
        {"rule": "bucket", "min": 60, "max": 10},
        {"rule": "spent", "days": 0, "min": 1},
        {"rule": "offer", "state": "used"},
        {"rule": "read_rate", "min": 2},
        {"rule": "region", "in": ["FR"], "extra": True},
        {"and": [{"not": {"not": {"not": {"not": {"not": {"rule": "region", "in": ["FR"]}}}}}}]},
        {"or": [{"rule": "region", "in": ["FR"]}] * 17},
    ],
)
def test_bad_trees_are_refused_with_a_clear_error(tree):
    with pytest.raises(InvalidInput) as exc:
        segments.validate(tree)
    assert exc.value.code == "invalid_segment" and exc.value.fields["rules"]


# --- privacy -------------------------------------------------------------------------------


def test_blur_rounds_down_and_hides_below_floor():
    assert segments.blur(9, floor=10).value is None
    assert segments.blur(9, floor=10).display == "< 10"
    assert segments.blur(10, floor=10).value == 10
    assert segments.blur(19, floor=10).value == 10
    assert segments.blur(12_345, floor=100).value == 12_000
    assert segments.blur(1_234_567, floor=100).value == 1_200_000


@pytest.mark.django_db
def test_estimate_is_one_query(brand, followers, floor):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    followers(12, region="FR")
    followers(12, region="DE")
    tree = {"or": [{"rule": "region", "in": ["FR"]}, {"rule": "tag", "in": ["x"]}]}
    with pytest.raises(segments.SegmentTooNarrow):  # the tag adds nobody
        segments.estimate(brand, tree)
    with CaptureQueriesContext(connection) as ctx:
        est = segments.estimate(brand, {"rule": "region", "in": ["FR"]})
    assert est.value == 10 and est.display == "≈ 10"
    # One query reads the data; the rest are the transaction's own settings
    # (PostgreSQL: SET LOCAL jit, work_mem) and its savepoint.
    reads = [
        q["sql"] for q in ctx.captured_queries if q["sql"].lstrip().upper().startswith("SELECT")
    ]
    assert len(reads) == 1, ctx.captured_queries
    others = [q["sql"] for q in ctx.captured_queries if q["sql"] not in reads]
    assert all(q.split()[0].upper() in ("SET", "SAVEPOINT", "RELEASE") for q in others), others


@pytest.mark.django_db
def test_small_audiences_are_hidden(brand, followers, floor):
    followers(9, region="FR")
    followers(20, region="DE")
    est = segments.estimate(brand, {"rule": "region", "in": ["FR"]})
    assert est.value is None and est.display == "< 10"


@pytest.mark.django_db
def test_difference_attack_cannot_single_out_a_person(brand, followers, make_user, follow, floor):
    """An attacker knows one target is the only follower aged 65+ in FR and wants to learn
    whether that person follows with consent: compare "FR" with "FR and not 65+"."""
    year = timezone.now().year
    followers(14, region="FR", birth_year=year - 30)
    followers(12, region="DE", birth_year=year - 30)
    target = follow(make_user(region="FR", birth_year=year - 70))
    fr = {"rule": "region", "in": ["FR"]}
    minus_target = {"and": [fr, {"not": {"rule": "age_band", "in": ["65+"]}}]}
    # The two audiences differ by exactly one person (15 versus 14)...
    assert segments.exact_size(brand, fr) - segments.exact_size(brand, minus_target) == 1
    # ...but the estimates never show it: the first rounds to 10, the second is refused.
    assert segments.estimate(brand, fr).value == 10
    with pytest.raises(segments.SegmentTooNarrow):
        segments.estimate(brand, minus_target)
    # The refusal is no oracle: with the target gone (nobody 65+), it is refused all the same.
    services.follow_set_consent(brand=brand, user=target, marketing_opt_in=False)
    with pytest.raises(segments.SegmentTooNarrow):
        segments.estimate(brand, minus_target)
    # Hiding the target inside an OR, or behind double negation, is refused too.
    for tree in (
        {"or": [{"rule": "region", "in": ["DE"]}, {"rule": "age_band", "in": ["65+"]}]},
        {"not": {"or": [{"rule": "region", "in": ["DE"]}, {"rule": "age_band", "in": ["65+"]}]}},
    ):
        services.follow_set_consent(brand=brand, user=target, marketing_opt_in=True)
        with pytest.raises(segments.SegmentTooNarrow):
            segments.estimate(brand, tree)


@pytest.mark.django_db
def test_sticker_pack_categories_bought(brand, make_user, follow, settings):
    from store.services import creators, purchases, review

    settings.STORE_PACK_MIN_STICKERS = 0
    creator = creators.creator_profile_upsert(user=make_user(), display_name="Ink")
    pack = creators.pack_create(creator=creator, title="Cats", category="Animals")
    creators.pack_submit(creator=creator, pack_id=pack.pk)
    review.pack_approve(pack_id=pack.pk)
    cat_fan, other = follow(make_user()), follow(make_user())
    purchases.pack_claim_free(user=cat_fan, pack_id=pack.pk)
    assert members(brand, {"rule": "sticker_category", "in": ["animals"]}) == {cat_fan.pk}
    assert members(brand, {"not": {"rule": "sticker_category", "in": ["animals"]}}) == {other.pk}


@pytest.mark.django_db
def test_console_estimate_is_rate_limited_per_brand(brand, owner, followers, floor, settings):
    from config.errors import RateLimited

    settings.BRANDS_ESTIMATE_RATE = "3/m"
    followers(12, region="FR")
    for _ in range(3):
        est = services.segment_estimate(brand_id=brand.pk, acting_user=owner, rules={})
        assert est.as_dict()["estimate"] == 10
    with pytest.raises(RateLimited):
        services.segment_estimate(brand_id=brand.pk, acting_user=owner, rules={})
