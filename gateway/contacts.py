"""The CRM side: contacts imported from CSV, kept in a JSON file in the data dir.

Import validates every row (name present, phone number dialable, no field over 128 KiB)
and reports each rejected row with its line number and reason; accepted rows replace
contacts with the same phone number, so re-importing a corrected file is safe.

The separator (`,` `;` or tab) is read from the header line, where it cannot be confused
with the commas of a French address or a note. The file is shared with
`evscallpro import-contacts`, which runs in another process: a store re-reads it when it
changed on disk (checked at most every `reload_s`), so contacts imported while the product
runs are seen without a restart, and a write never drops what the other process added.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import threading
import time
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import msgspec

from gateway.phones import InvalidNumber, normalize


class Contact(msgspec.Struct, frozen=True, kw_only=True):
    contact_id: str
    name: str
    phone: str  # E.164
    company: str = ""
    campaign: str = ""
    notes: str = ""


class RejectedRow(msgspec.Struct, frozen=True):
    line: int
    reason: str


class ImportReport(msgspec.Struct, frozen=True):
    accepted: int
    rejected: list[RejectedRow]


_COLUMNS = {
    "name": ("name", "nom", "full_name", "contact"),
    "phone": ("phone", "telephone", "téléphone", "tel", "number", "numero", "numéro"),
    "company": ("company", "societe", "société", "organisation"),
    "campaign": ("campaign", "campagne"),
    "notes": ("notes", "note", "comment", "commentaire"),
}


def sort_key(text: str) -> str:
    """Alphabetical order as a reader expects it, whatever the locale: accents and case
    ignored ("Émilie" files under E, "céline" next to "Céline")."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


DELIMITERS = (";", ",", "\t")
MAX_FIELD_CHARS = 128 * 1024  # csv's own default limit, stated: a longer field rejects its row


def _contact_id(phone: str) -> str:
    return "c" + hashlib.sha1(phone.encode()).hexdigest()[:10]


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return 0


class ContactStore:
    def __init__(self, path: Path | None = None, reload_s: float = 1.0) -> None:
        self._path = path
        self._reload_s = reload_s
        self._checked_at = time.monotonic()
        self._lock = threading.Lock()
        self._contacts: dict[str, Contact] = {}
        self._mtime = 0
        if path is not None and path.exists():
            self._contacts, self._mtime = self._read(path)

    @staticmethod
    def _read(path: Path) -> tuple[dict[str, Contact], int]:
        mtime = _mtime(path)
        try:
            items = msgspec.json.decode(path.read_bytes(), type=list[Contact])
        except msgspec.DecodeError as exc:
            raise ValueError(f"invalid contacts file {path}: {exc}") from exc
        return {c.contact_id: c for c in items}, mtime

    @classmethod
    def in_data_dir(cls, data_dir: str | Path) -> ContactStore:
        return cls(Path(data_dir) / "contacts.json")

    def _refresh(self, force: bool = False) -> None:
        """Re-read the file if another process (import-contacts) changed it; under _lock."""
        if self._path is None:
            return
        now = time.monotonic()
        if not force and now - self._checked_at < self._reload_s:
            return
        self._checked_at = now
        if _mtime(self._path) in (0, self._mtime):
            return
        # half-written or damaged: keep what we have; the next change may fix it
        with contextlib.suppress(OSError, ValueError):
            self._contacts, self._mtime = self._read(self._path)

    def _save(self) -> None:
        if self._path is None:
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_suffix(".tmp")
        tmp.write_bytes(msgspec.json.encode(list(self._contacts.values())))
        tmp.replace(self._path)
        self._mtime = _mtime(self._path)

    def get(self, contact_id: str) -> Contact | None:
        with self._lock:
            self._refresh()
            return self._contacts.get(contact_id)

    def by_phone(self, e164: str) -> Contact | None:
        """The contact with this number (a contact's id derives from its number)."""
        return self.get(_contact_id(e164))

    def count(self) -> int:
        with self._lock:
            self._refresh()
            return len(self._contacts)

    def search(self, query: str, limit: int = 50) -> list[Contact]:
        needle = query.strip().casefold()
        plain = sort_key(needle)  # "emilie" finds "Émilie"
        digits = "".join(ch for ch in needle if ch.isdigit())
        national = digits[1:] if digits.startswith("0") else digits  # 06... matches +336...
        with self._lock:
            self._refresh()
            items = list(self._contacts.values())
        found = [
            c
            for c in items
            if not needle
            or plain in sort_key(c.name)
            or plain in sort_key(c.company)
            or (len(digits) >= 3 and (digits in c.phone or national in c.phone))
        ]
        found.sort(key=lambda c: (sort_key(c.name), c.name))
        return found[:limit]

    def add(self, contact: Contact) -> None:
        with self._lock:
            self._refresh(force=True)
            self._contacts[contact.contact_id] = contact
            self._save()

    def import_csv(self, text: str, region: str) -> ImportReport:
        rows, rejected = _parse_csv(text, region)
        with self._lock:
            self._refresh(force=True)
            for contact in rows:
                self._contacts[contact.contact_id] = contact
            self._save()
        return ImportReport(accepted=len(rows), rejected=rejected)


def _delimiter(text: str) -> str:
    """The separator, read from the header line: the one that splits it into a name and a
    phone column (the most known columns wins); else csv's Sniffer; else a comma."""
    first = text.split("\n", 1)[0][:MAX_FIELD_CHARS]
    best, best_known = "", 0
    for delimiter in DELIMITERS:
        cells = next(csv.reader([first], delimiter=delimiter), [])
        index = _column_index([c.strip().casefold() for c in cells])
        if "name" in index and "phone" in index and len(index) > best_known:
            best, best_known = delimiter, len(index)
    if best:
        return best
    try:
        return csv.Sniffer().sniff(text[:4096], delimiters="".join(DELIMITERS)).delimiter
    except csv.Error:
        return ","


def _rows(text: str, delimiter: str) -> Iterator[tuple[int, list[str] | str]]:
    """(line, cells) per row, or (line, reason) for a row csv cannot read (a field over
    128 KiB, a stray quote): that row is reported and the next one read."""
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            reason = str(exc)
            if "field larger than field limit" in reason:
                reason = f"a field is longer than {MAX_FIELD_CHARS // 1024} KiB"
            yield reader.line_num, f"unreadable row: {reason}"
            continue
        yield reader.line_num, row


def _parse_csv(text: str, region: str) -> tuple[list[Contact], list[RejectedRow]]:
    rows = _rows(text, _delimiter(text))
    first = next(rows, None)
    if first is None:
        return [], [RejectedRow(1, "empty file")]
    if isinstance(first[1], str):
        return [], [RejectedRow(1, f"header: {first[1]}")]
    index = _column_index([h.strip().casefold() for h in first[1]])
    if "name" not in index or "phone" not in index:
        return [], [RejectedRow(1, "header must have a name column and a phone column")]
    accepted: list[Contact] = []
    rejected: list[RejectedRow] = []
    for line, row in rows:
        if isinstance(row, str):
            rejected.append(RejectedRow(line, row))
            continue
        if not any(cell.strip() for cell in row):
            continue
        if any(len(cell) > MAX_FIELD_CHARS for cell in row):  # a limit raised elsewhere
            rejected.append(RejectedRow(line, f"a field is longer than {MAX_FIELD_CHARS // 1024} KiB"))
            continue
        fields = {key: row[i].strip() if i < len(row) else "" for key, i in index.items()}
        if not fields["name"]:
            rejected.append(RejectedRow(line, "missing name"))
            continue
        try:
            phone = normalize(fields["phone"], region)
        except InvalidNumber as exc:
            rejected.append(RejectedRow(line, f"bad phone number {fields['phone']!r}: {exc}"))
            continue
        accepted.append(
            Contact(
                contact_id=_contact_id(phone),
                name=fields["name"],
                phone=phone,
                company=fields.get("company", ""),
                campaign=fields.get("campaign", ""),
                notes=fields.get("notes", ""),
            )
        )
    return accepted, rejected


def _column_index(header: list[str]) -> dict[str, int]:
    index: dict[str, int] = {}
    for key, names in _COLUMNS.items():
        for i, title in enumerate(header):
            if title in names:
                index[key] = i
                break
    return index
