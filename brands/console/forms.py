"""Console forms: server-side validation first; the brands services validate again."""

from __future__ import annotations

from django import forms

from brands.models import BrandMember, Campaign, Offer
from brands.segments import LEAVES

RULE_CHOICES = [("", "—")] + [(k, k.replace("_", " ")) for k in LEAVES]


class LoginForm(forms.Form):
    phone = forms.CharField(max_length=32, label="Phone (E.164, e.g. +15550100)")
    password = forms.CharField(widget=forms.PasswordInput, max_length=256)


class CodeForm(forms.Form):
    code = forms.CharField(
        max_length=32,
        label="Code from your authenticator app (or a recovery code)",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "text"}),
    )


class SegmentForm(forms.Form):
    name = forms.CharField(max_length=120, required=False)
    combine = forms.ChoiceField(choices=[("and", "ALL of (AND)"), ("or", "ANY of (OR)")])
    rules_json = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        label="Or paste a rule tree (JSON; overrides the rows)",
    )


class CompareForm(forms.Form):
    a = forms.IntegerField()
    b = forms.IntegerField()


class CampaignForm(forms.Form):
    name = forms.CharField(max_length=120)
    kind = forms.ChoiceField(choices=Campaign.Kind.choices)
    segment = forms.TypedChoiceField(coerce=int, choices=[])
    text = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        max_length=4096,
        label="Message text",
    )
    title = forms.CharField(max_length=120, required=False, label="Card title")
    image_url = forms.URLField(max_length=500, required=False, assume_scheme="https")
    link = forms.URLField(max_length=500, required=False, assume_scheme="https")
    offer = forms.TypedChoiceField(coerce=int, choices=[], required=False, empty_value=None)
    sale = forms.TypedChoiceField(coerce=int, choices=[], required=False, empty_value=None)
    text_b = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        max_length=4096,
        label="Variant B text (A/B test; leave empty for none)",
    )
    split_b_percent = forms.IntegerField(min_value=0, max_value=100, initial=0)
    holdout_percent = forms.IntegerField(min_value=0, max_value=50, initial=5)
    respect_quiet_hours = forms.BooleanField(required=False, initial=True)

    def __init__(self, *args, brand, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["segment"].choices = [(s.pk, s.name) for s in brand.segments.order_by("name")]
        self.fields["offer"].choices = [("", "—")] + [
            (o.pk, o.title) for o in brand.offers.filter(is_active=True).order_by("-id")
        ]
        self.fields["sale"].choices = [("", "—")] + [
            (s.pk, str(s)) for s in brand.sales.order_by("-id")
        ]

    def clean(self):
        data = super().clean()
        kind = data.get("kind")
        if kind == Campaign.Kind.OFFER and not data.get("offer"):
            self.add_error("offer", "An offer campaign needs an offer (create one under Offers).")
        if kind == Campaign.Kind.SALE and not data.get("sale"):
            self.add_error("sale", "A sale campaign needs an exclusive sale.")
        if kind == Campaign.Kind.CARD and not data.get("title"):
            self.add_error("title", "A card needs a title.")
        if kind == Campaign.Kind.TEXT and not (data.get("text") or "").strip():
            self.add_error("text", "A text campaign needs text.")
        if data.get("split_b_percent") and not (data.get("text_b") or "").strip():
            self.add_error("text_b", "An A/B split needs variant B's text.")
        return data

    def content(self, b: bool = False) -> dict:
        d = self.cleaned_data
        out = {"text": d["text_b"] if b else d["text"]}
        if d["kind"] == Campaign.Kind.CARD:
            out.update(title=d["title"], image_url=d["image_url"], link=d["link"])
        return out


class ScheduleForm(forms.Form):
    at = forms.DateTimeField(
        required=False,
        label="Send at (UTC, YYYY-MM-DD HH:MM; empty = now)",
        input_formats=["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"],
    )


class OfferForm(forms.Form):
    title = forms.CharField(max_length=120)
    kind = forms.ChoiceField(choices=Offer.Kind.choices)
    amount_off = forms.DecimalField(
        required=False, min_value=0, decimal_places=2, label="Amount off (e.g. 2.50)"
    )
    percent_off = forms.IntegerField(required=False, min_value=1, max_value=100)
    min_spend = forms.DecimalField(required=False, min_value=0, decimal_places=2, initial=0)
    days = forms.IntegerField(min_value=1, max_value=365, initial=14, label="Valid for (days)")
    quantity_cap = forms.IntegerField(required=False, min_value=1)

    def clean(self):
        data = super().clean()
        if data.get("kind") == Offer.Kind.AMOUNT and not data.get("amount_off"):
            self.add_error("amount_off", "Give the amount off.")
        if data.get("kind") == Offer.Kind.PERCENT and not data.get("percent_off"):
            self.add_error("percent_off", "Give the percent off (1–100).")
        return data


class InviteForm(forms.Form):
    contact = forms.CharField(
        max_length=254, label="Colleague's email, or phone in international form (+1…)"
    )
    role = forms.ChoiceField(choices=BrandMember.Role.choices)


class InvitePhoneForm(forms.Form):
    phone = forms.CharField(max_length=32, label="Your phone (the one of your Plaza account)")


class InviteAcceptForm(forms.Form):
    """What the invitee types: an SMS code (email invites), then either their existing
    password or a new one (twice), checked with Django's password validators."""

    code = forms.CharField(max_length=12, required=False, label="Code we sent by SMS")
    password = forms.CharField(widget=forms.PasswordInput, max_length=256, required=False)
    new_password1 = forms.CharField(
        widget=forms.PasswordInput, max_length=256, required=False, label="Choose a password"
    )
    new_password2 = forms.CharField(
        widget=forms.PasswordInput, max_length=256, required=False, label="Repeat it"
    )

    def __init__(self, *args, needs_code: bool, has_password: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.needs_code, self.has_password = needs_code, has_password
        if not needs_code:
            del self.fields["code"]
        if has_password:
            del self.fields["new_password1"], self.fields["new_password2"]
            self.fields["password"].label = "Your console password"
        else:
            del self.fields["password"]

    def clean(self):
        from django.contrib.auth.password_validation import validate_password

        data = super().clean()
        if self.needs_code and not (data.get("code") or "").strip():
            self.add_error("code", "Type the code we sent to your phone.")
        if self.has_password:
            if not data.get("password"):
                self.add_error("password", "Type your password.")
        else:
            p1, p2 = data.get("new_password1") or "", data.get("new_password2") or ""
            if not p1:
                self.add_error("new_password1", "Choose a password.")
            elif p1 != p2:
                self.add_error("new_password2", "The two passwords differ.")
            else:
                try:
                    validate_password(p1)
                except forms.ValidationError as exc:
                    self.add_error("new_password1", exc)
        return data


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=BrandMember.Role.choices)


class SaleForm(forms.Form):
    sale_title = forms.CharField(max_length=120, label="Sale title")
    price = forms.DecimalField(min_value=0.01, decimal_places=2, label="Price (e.g. 19.90)")
    stock = forms.IntegerField(min_value=1, max_value=10_000_000)
    sale_days = forms.IntegerField(min_value=1, max_value=365, initial=3, label="Runs for (days)")
    followers_only = forms.BooleanField(required=False, initial=True)
