"""Phone numbers: parse, validate, normalize to E.164, and decide whether the core may dial.

Pure: the `phonenumbers` metadata is data, not I/O. Every problem is a `NumberProblem` with a
stable `code` (for the UI's translations) and an English `detail`; nothing raises.
"""

from __future__ import annotations

import msgspec
import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

DEFAULT_REGION = "FR"


class NumberProblem(msgspec.Struct, frozen=True):
    """code: invalid_number | region_not_allowed | premium_rate | shared_cost |
    prefix_not_allowed."""

    code: str
    detail: str


def normalize(raw: str, region: str = DEFAULT_REGION) -> str | NumberProblem:
    """'06 12 34 56 78' (region FR) -> '+33612345678'; national forms use `region`."""
    parsed = _parse(raw, region)
    return parsed if isinstance(parsed, NumberProblem) else parsed[1]


def _parse(raw: str, region: str) -> tuple[phonenumbers.PhoneNumber, str] | NumberProblem:
    """The parsed valid number and its E.164 form (one parse for both), or why not."""
    text = (raw or "").strip()
    if not text:
        return NumberProblem("invalid_number", "the phone number is empty")
    if len(text) > 32:
        return NumberProblem("invalid_number", f"{text[:32]!r}... is too long for a phone number")
    try:
        number = phonenumbers.parse(text, region.upper() if region else None)
    except NumberParseException as exc:
        return NumberProblem("invalid_number", f"{text!r} is not a phone number ({exc})")
    if not phonenumbers.is_valid_number(number):
        return NumberProblem("invalid_number", f"{text!r} is not a valid phone number")
    return number, phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class DialingPolicy(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Which numbers the core may dial for a customer, and accept as an agent's mobile.

    `allowed_regions` are ISO 3166 codes of the number's country (empty: any);
    `allowed_prefixes` are E.164 prefixes (empty: any), e.g. ("+336", "+337", "+331").
    An agent's (or supervisor's) mobile is dialed first on every call, billed to the call
    center: it passes `check` like a customer's number, and then `agent_mobile_prefixes`
    (empty: any), e.g. ("+336", "+337") for French mobiles only (`check_agent_mobile`).
    """

    default_region: str = DEFAULT_REGION
    allowed_regions: tuple[str, ...] = ("FR",)
    refuse_premium_rate: bool = True
    refuse_shared_cost: bool = True
    allowed_prefixes: tuple[str, ...] = ()
    agent_mobile_prefixes: tuple[str, ...] = ()

    def check(self, raw: str) -> str | NumberProblem:
        """The E.164 form of `raw` when it may be dialed, otherwise why not."""
        parsed = _parse(raw, self.default_region)
        if isinstance(parsed, NumberProblem):
            return parsed
        number, e164 = parsed
        country = phonenumbers.region_code_for_number(number) or "?"
        allowed = {region.upper() for region in self.allowed_regions}
        if allowed and country not in allowed:
            return NumberProblem(
                "region_not_allowed",
                f"{e164} is a {country} number; allowed: {', '.join(sorted(allowed))}",
            )
        kind = phonenumbers.number_type(number)
        if self.refuse_premium_rate and kind == PhoneNumberType.PREMIUM_RATE:
            return NumberProblem("premium_rate", f"{e164} is a premium-rate number")
        if self.refuse_shared_cost and kind == PhoneNumberType.SHARED_COST:
            return NumberProblem("shared_cost", f"{e164} is a shared-cost number")
        if self.allowed_prefixes and not e164.startswith(tuple(self.allowed_prefixes)):
            return NumberProblem(
                "prefix_not_allowed",
                f"{e164} does not start with an allowed prefix "
                f"({', '.join(self.allowed_prefixes)})",
            )
        return e164

    def check_agent_mobile(self, raw: str) -> str | NumberProblem:
        """The E.164 form of `raw` when it may be an agent's mobile, otherwise why not."""
        e164 = self.check(raw)
        if isinstance(e164, NumberProblem):
            return e164
        if self.agent_mobile_prefixes and not e164.startswith(self.agent_mobile_prefixes):
            return NumberProblem(
                "prefix_not_allowed",
                f"{e164} does not start with a prefix allowed for agents' mobiles "
                f"({', '.join(self.agent_mobile_prefixes)})",
            )
        return e164
