"""The segment builder's rows ↔ the brands engine's rule tree (brands/segments.py).

A row is (rule, value, negate). Value syntax per leaf, shown in the form's help:
lists "a, b, c"; ranges "min..max" (either side may be empty); spent "days: min..max";
offer "claimed" or "redeemed" (optionally ":<offer id>").
"""

from __future__ import annotations

from brands.segments import LEAVES

LIST_RULES = {"age_band", "gender", "region", "language", "sticker_category", "tag"}
RANGE_RULES = {"follow_age_days", "last_active_days", "read_rate", "bucket"}
ROWS = 4


class RowError(ValueError):
    pass


def _num(text: str, rule: str):
    text = text.strip()
    if not text:
        return None
    try:
        return float(text) if rule == "read_rate" else int(text)
    except ValueError as exc:
        raise RowError(f"{rule}: {text!r} is not a number") from exc


def _range(text: str, rule: str) -> dict:
    lo, sep, hi = text.partition("..")
    if not sep:
        raise RowError(f"{rule}: write a range as min..max (either side may be empty)")
    out = {}
    if (v := _num(lo, rule)) is not None:
        out["min"] = v
    if (v := _num(hi, rule)) is not None:
        out["max"] = v
    if not out:
        raise RowError(f"{rule}: give a minimum and/or a maximum")
    return out


def leaf(rule: str, value: str) -> dict:
    value = (value or "").strip()
    if rule not in LEAVES:
        raise RowError(f"Unknown condition {rule!r}")
    if rule in LIST_RULES:
        items = [v.strip() for v in value.split(",") if v.strip()]
        if rule == "region":
            items = [v.upper() for v in items]
        if not items:
            raise RowError(f"{rule}: list at least one value, separated by commas")
        return {"rule": rule, "in": items}
    if rule in RANGE_RULES:
        return {"rule": rule, **_range(value, rule)}
    if rule == "spent":
        days, sep, rng = value.partition(":")
        if not sep:
            raise RowError("spent: write days: min..max, e.g. 90: 5000..")
        d = _num(days, rule)
        return {"rule": rule, "days": d, **_range(rng, rule)}
    if rule == "offer":
        state, _sep, oid = value.partition(":")
        node: dict = {"rule": rule, "state": state.strip()}
        if oid.strip():
            node["offer_id"] = _num(oid, rule)
        return node
    raise RowError(f"Unknown condition {rule!r}")


def tree_from_rows(rows: list[tuple[str, str, bool]], combine: str) -> dict:
    nodes = []
    for rule, value, negate in rows:
        if not rule:
            continue
        node = leaf(rule, value)
        nodes.append({"not": node} if negate else node)
    if not nodes:
        raise RowError("Add at least one condition")
    if len(nodes) == 1:
        return nodes[0]
    return {("or" if combine == "or" else "and"): nodes}


def rows_from_tree(tree: dict) -> tuple[list[dict], str] | None:
    """Back to rows when the tree is flat enough for the row form; else None (the JSON
    box edits it)."""
    combine = "and"
    nodes = [tree]
    if "and" in tree or "or" in tree:
        combine = "and" if "and" in tree else "or"
        nodes = tree[combine]
    rows = []
    for node in nodes:
        negate = "not" in node
        inner = node["not"] if negate else node
        if "rule" not in inner:
            return None
        rule = inner["rule"]
        if rule in LIST_RULES:
            value = ", ".join(inner["in"])
        elif rule == "spent":
            value = f"{inner['days']}: {inner.get('min', '')}..{inner.get('max', '')}"
        elif rule == "offer":
            value = inner["state"] + (f":{inner['offer_id']}" if inner.get("offer_id") else "")
        else:
            value = f"{inner.get('min', '')}..{inner.get('max', '')}"
        rows.append({"rule": rule, "value": value, "negate": negate})
    if len(rows) > ROWS:
        return None
    return rows, combine
