import phonenumbers


def normalize_phone(raw: str) -> str | None:
    """Return the E.164 form of a valid number written in international form, else None."""
    if not isinstance(raw, str) or not raw.startswith("+") or len(raw) > 20:
        return None
    try:
        number = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
