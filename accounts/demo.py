from .models import User

DEMO_PEOPLE = [
    ("+14155550101", "Alice"),
    ("+14155550102", "Bob"),
    ("+14155550103", "Carol"),
]


def seed() -> str:
    made = 0
    for phone, name in DEMO_PEOPLE:
        _user, created = User.objects.get_or_create(
            phone=phone, defaults={"display_name": name, "discoverable_by_phone": True}
        )
        made += created
    return f"{made} new demo people (log in with their numbers; the code prints in the console)"
