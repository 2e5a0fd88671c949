"""String catalogs (ui/i18n/<lang>.json): every word the UI shows goes through `Catalog.t`."""

from __future__ import annotations

import json
from pathlib import Path

CATALOG_DIR = Path(__file__).resolve().parent.parent / "ui" / "i18n"
LANGUAGES = ("fr", "en")


class Catalog:
    def __init__(self, directory: Path = CATALOG_DIR, default: str = "fr") -> None:
        if default not in LANGUAGES:
            raise ValueError(f"unsupported default language {default!r}; choose from {LANGUAGES}")
        self.default = default
        self._strings: dict[str, dict[str, str]] = {}
        for lang in LANGUAGES:
            with open(directory / f"{lang}.json", encoding="utf-8") as handle:
                self._strings[lang] = json.load(handle)

    def language(self, requested: str | None) -> str:
        return requested if requested in LANGUAGES else self.default

    def has(self, lang: str, key: str) -> bool:
        return key in self._strings[self.language(lang)]

    def t(self, lang: str, key: str, **params: object) -> str:
        """The text for `key`; falls back to English, then to the key itself (visible, so a
        missing string is noticed, never a crash)."""
        text = self._strings[self.language(lang)].get(key) or self._strings["en"].get(key, key)
        if params:
            try:
                return text.format(**params)
            except (KeyError, IndexError, ValueError):
                return text
        return text

    def keys(self, lang: str) -> set[str]:
        return set(self._strings[lang])
