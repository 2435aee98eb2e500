class IdConverter:
    """A positive id that fits in a signed 64-bit column (larger ones answer 404)."""

    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > 2**63 - 1:
            raise ValueError("id out of range")
        return number

    def to_url(self, value) -> str:
        return str(value)
