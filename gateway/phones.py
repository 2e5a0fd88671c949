"""Phone numbers in, E.164 out, with a reason when a number is not dialable."""

from __future__ import annotations

import functools

import phonenumbers


class InvalidNumber(ValueError):
    pass


def normalize(number: str, region: str) -> str:
    """E.164 form of `number` (read in `region` when it has no +), or InvalidNumber."""
    text = number.strip()
    if not text:
        raise InvalidNumber("empty number")
    if len(text) > 32:
        raise InvalidNumber("number too long")
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidNumber(str(exc.args[0] if exc.args else "unreadable number")) from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidNumber(f"{text} is not a valid number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


# Regions inside the French numbering plan: dialed from France with a leading 0
# (metropolitan France and the overseas departments and collectivities).
_FRENCH_PLAN = frozenset({"FR", "GP", "MQ", "GF", "RE", "YT", "PM", "BL", "MF"})


@functools.lru_cache(maxsize=8192)
def display(e164: str, lang: str) -> str:
    """A number as a reader of `lang` dials it: in French, French numbers in national
    format ("01 99 00 53 05") and the others international; in English, international.
    The input unchanged if it does not parse (it stays E.164 in storage and data-*)."""
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    national = lang == "fr" and phonenumbers.region_code_for_number(parsed) in _FRENCH_PLAN
    style = (
        phonenumbers.PhoneNumberFormat.NATIONAL
        if national
        else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    return phonenumbers.format_number(parsed, style)
