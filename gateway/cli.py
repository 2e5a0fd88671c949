"""Gateway tools on the `evscallpro` command line.

  evscallpro import-contacts FILE.csv [--data-dir data] [--region FR]
  evscallpro add-user USER_ID --role agent|supervisor|admin [--name ...] [--mobile ...]

Passwords are read from the EVSCALLPRO_PASSWORD environment variable or prompted for,
never taken from the command line (which `ps` shows to everyone).
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path

from gateway.contacts import ContactStore
from gateway.phones import InvalidNumber, normalize
from gateway.settings import load_settings
from gateway.users import Role, UserDirectory


def register_import_contacts(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("import-contacts", help="import CRM contacts from a CSV file")
    p.add_argument("file", help="CSV with a header: name, phone[, company, campaign, notes]")
    p.add_argument("--settings", default=None, help="gateway settings TOML (data dir, region)")
    p.add_argument("--data-dir", default=None, help="where contacts.json lives (default: data)")
    p.add_argument("--region", default=None, help="region for numbers without + (default: FR)")
    p.set_defaults(handler=run_import_contacts)


def register_add_user(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("add-user", help="add or replace a gateway user (argon2-hashed password)")
    p.add_argument("user_id")
    p.add_argument("--role", choices=[r.value for r in Role], required=True)
    p.add_argument("--name", default="", help="display name")
    p.add_argument("--mobile", default=None, help="the agent's mobile number")
    p.add_argument("--settings", default=None, help="gateway settings TOML (data dir, region)")
    p.add_argument("--data-dir", default=None, help="where users.json lives (default: data)")
    p.set_defaults(handler=run_add_user)


def run_import_contacts(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.settings)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    data_dir = args.data_dir or settings.data_dir
    region = args.region or settings.default_region
    try:
        text = Path(args.file).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"error: cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    try:
        store = ContactStore.in_data_dir(data_dir)
        report = store.import_csv(text, region)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"imported {report.accepted} contact(s) into {Path(data_dir) / 'contacts.json'}; "
          f"rejected {len(report.rejected)} row(s)")
    for row in report.rejected:
        print(f"  line {row.line}: {row.reason}", file=sys.stderr)
    return 0 if report.accepted or not report.rejected else 1


def run_add_user(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.settings)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    data_dir = Path(args.data_dir or settings.data_dir)
    mobile = None
    if args.mobile:
        try:
            mobile = normalize(args.mobile, settings.default_region)
        except InvalidNumber as exc:
            print(f"error: invalid mobile number: {exc}", file=sys.stderr)
            return 2
    password = os.environ.get("EVSCALLPRO_PASSWORD")
    if password is None:
        password = getpass.getpass(f"password for {args.user_id}: ")
        if password != getpass.getpass("again: "):
            print("error: the passwords differ", file=sys.stderr)
            return 2
    users = UserDirectory.load(data_dir / "users.json")
    try:
        users.add(args.user_id, password, Role(args.role), args.name, mobile)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    users.save()
    print(f"user {args.user_id} ({args.role}) saved in {data_dir / 'users.json'}")
    return 0
