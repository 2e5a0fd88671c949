"""The demo's seed: settings, simulated phones, contacts, campaign scripts and web users.

Everything comes from the `demo/` folder; `seed_data_dir` writes the data dir so that every
start gives the same state (idempotent): `contacts.csv` is imported into `contacts.json`
(same phone, same contact: contacts imported with `import-contacts` are kept),
`users.json` is rewritten with an argon2 hash per user (a hash that still matches its demo
password is kept, so a restart does not re-hash). Call history (DuckDB, calls.jsonl,
recordings) is kept unless `reset` is asked.
"""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import msgspec
from argon2 import PasswordHasher

from core.settings import SettingsError
from evscallpro.settings_file import Settings, load_settings
from gateway.contacts import ContactStore
from gateway.users import Role, User, UserDirectory, hash_password

_HASHER = PasswordHasher()

DEMO_DIR = Path(__file__).resolve().parent.parent / "demo"
SETTINGS_FILE = "evscallpro-demo.toml"
PHONES_FILE = "sim-phones.toml"
CONTACTS_FILE = "contacts.csv"
CAMPAIGNS_FILE = "campaigns.toml"
# What `--reset` removes from the data dir (the call history; glob patterns); the seed is
# rewritten anyway.
HISTORY = (
    "evscallpro.duckdb",
    "evscallpro.duckdb.wal",
    "evscallpro.duckdb.journal.jsonl",
    "calls.jsonl",
    "live-calls.jsonl",
    "recordings",
    "nats",  # the local nats-server's JetStream: records in flight, live calls to adopt
    "node-*",  # each node process's record outbox
)


class DemoSeedError(ValueError):
    """The demo folder is missing a file or holds bad data; the message says which."""


class Credential(msgspec.Struct, frozen=True):
    user_id: str
    password: str
    role: Role
    display_name: str


class SeedReport(msgspec.Struct, frozen=True):
    contacts: int
    credentials: list[Credential]


def demo_password(user_id: str) -> str:
    """Demo passwords are public (printed at start): never expose a demo beyond localhost."""
    return f"demo-{user_id}"


def load_demo_settings(demo_dir: Path = DEMO_DIR) -> Settings:
    try:
        return load_settings(demo_dir / SETTINGS_FILE, env={})
    except SettingsError as exc:
        raise DemoSeedError(str(exc)) from exc


def load_campaign_scripts(demo_dir: Path = DEMO_DIR) -> dict[str, str]:
    """campaign name -> script text (`[campaigns."name"] script = ...`)."""
    path = demo_dir / CAMPAIGNS_FILE
    try:
        raw = tomllib.loads(path.read_text("utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise DemoSeedError(f"{path}: {exc}") from exc
    scripts: dict[str, str] = {}
    for name, table in (raw.get("campaigns") or {}).items():
        script = table.get("script") if isinstance(table, dict) else None
        if not isinstance(script, str) or not script.strip():
            raise DemoSeedError(f"{path}: campaigns.{name!r}.script must be a non-empty text")
        scripts[name] = script.strip()
    return scripts


def credentials(settings: Settings) -> list[Credential]:
    people = [(a, Role.AGENT) for a in settings.agents]
    people += [(s, Role.SUPERVISOR) for s in settings.supervisors]
    return [Credential(p.id, demo_password(p.id), role, p.name or p.id) for p, role in people]


def seed_data_dir(
    settings: Settings,
    demo_dir: Path = DEMO_DIR,
    reset: bool = False,
    hasher: PasswordHasher | None = None,
) -> SeedReport:
    """`hasher` sets the cost of new hashes (default: argon2's; tests use a cheap one)."""
    data_dir = Path(settings.data_dir)
    if reset:
        for target in [path for name in HISTORY for path in data_dir.glob(name)]:
            if target.is_dir():
                shutil.rmtree(target)
            else:
                target.unlink(missing_ok=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "recordings").mkdir(exist_ok=True)
    count = _seed_contacts(data_dir, demo_dir / CONTACTS_FILE, settings.policy.default_region)
    creds = credentials(settings)
    _seed_users(settings, data_dir / "users.json", creds, hasher or _HASHER)
    return SeedReport(contacts=count, credentials=creds)


def _seed_contacts(data_dir: Path, csv_path: Path, region: str) -> int:
    try:
        text = csv_path.read_text("utf-8")
    except OSError as exc:
        raise DemoSeedError(f"{csv_path}: cannot read ({exc.strerror or exc})") from exc
    try:  # the demo's contacts are imported over the file: contacts an operator imported stay
        store = ContactStore.in_data_dir(data_dir)
    except ValueError:  # a damaged file is rebuilt
        (data_dir / "contacts.json").unlink(missing_ok=True)
        store = ContactStore.in_data_dir(data_dir)
    report = store.import_csv(text, region)
    if report.rejected:
        lines = ", ".join(f"line {r.line}: {r.reason}" for r in report.rejected)
        raise DemoSeedError(f"{csv_path}: rows rejected ({lines})")
    return store.count()


def _seed_users(
    settings: Settings, path: Path, creds: list[Credential], hasher: PasswordHasher
) -> None:
    try:
        existing = UserDirectory.load(path)
    except ValueError:  # a damaged file is simply rewritten
        existing = UserDirectory()
    mobiles = {p.id: p.mobile_number for p in [*settings.agents, *settings.supervisors]}
    users: list[User] = []
    for cred in creds:
        known = existing.get(cred.user_id) is not None
        kept = existing.verify(cred.user_id, cred.password) if known else None
        users.append(
            User(
                user_id=cred.user_id,
                display_name=cred.display_name,
                role=cred.role,
                password_hash=kept.password_hash if kept else hash_password(cred.password, hasher),
                mobile_number=mobiles.get(cred.user_id),
            )
        )
    UserDirectory(users, path).save()  # mode 0600, written atomically
