"""The CRM side: contacts imported from CSV, kept in a JSON file in the data dir.

Import validates every row (name present, phone number dialable) and reports each rejected
row with its line number and reason; accepted rows replace contacts with the same phone
number, so re-importing a corrected file is safe.
"""

from __future__ import annotations

import csv
import hashlib
import io
import threading
import unicodedata
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


def _contact_id(phone: str) -> str:
    return "c" + hashlib.sha1(phone.encode()).hexdigest()[:10]


class ContactStore:
    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._contacts: dict[str, Contact] = {}
        if path is not None and path.exists():
            try:
                items = msgspec.json.decode(path.read_bytes(), type=list[Contact])
            except msgspec.DecodeError as exc:
                raise ValueError(f"invalid contacts file {path}: {exc}") from exc
            self._contacts = {c.contact_id: c for c in items}

    @classmethod
    def in_data_dir(cls, data_dir: str | Path) -> ContactStore:
        return cls(Path(data_dir) / "contacts.json")

    def _save(self) -> None:
        if self._path is None:
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_suffix(".tmp")
        tmp.write_bytes(msgspec.json.encode(list(self._contacts.values())))
        tmp.replace(self._path)

    def get(self, contact_id: str) -> Contact | None:
        with self._lock:
            return self._contacts.get(contact_id)

    def by_phone(self, e164: str) -> Contact | None:
        """The contact with this number (a contact's id derives from its number)."""
        return self.get(_contact_id(e164))

    def count(self) -> int:
        with self._lock:
            return len(self._contacts)

    def search(self, query: str, limit: int = 50) -> list[Contact]:
        needle = query.strip().casefold()
        plain = sort_key(needle)  # "emilie" finds "Émilie"
        digits = "".join(ch for ch in needle if ch.isdigit())
        national = digits[1:] if digits.startswith("0") else digits  # 06... matches +336...
        with self._lock:
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
            self._contacts[contact.contact_id] = contact
            self._save()

    def import_csv(self, text: str, region: str) -> ImportReport:
        rows, rejected = _parse_csv(text, region)
        with self._lock:
            for contact in rows:
                self._contacts[contact.contact_id] = contact
            self._save()
        return ImportReport(accepted=len(rows), rejected=rejected)


def _parse_csv(text: str, region: str) -> tuple[list[Contact], list[RejectedRow]]:
    sample = text[:4096]
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    header = next(reader, None)
    if header is None:
        return [], [RejectedRow(1, "empty file")]
    index = _column_index([h.strip().casefold() for h in header])
    if "name" not in index or "phone" not in index:
        return [], [RejectedRow(1, "header must have a name column and a phone column")]
    accepted: list[Contact] = []
    rejected: list[RejectedRow] = []
    for line, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
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
