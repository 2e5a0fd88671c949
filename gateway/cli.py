"""Gateway tools on the `evscallpro` command line.

  evscallpro import-contacts FILE.csv [--data-dir data] [--region FR]
  evscallpro add-user USER_ID --role agent|supervisor|admin [--name ...] [--mobile ...]
                     [--config SETTINGS.toml]   (required for a supervisor: their phone)

Passwords are read from the EVSCALLPRO_PASSWORD environment variable or prompted for,
never taken from the command line (which `ps` shows to everyone).
"""

from __future__ import annotations

import argparse
import functools
import getpass
import os
import sys
from collections.abc import Callable
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


# (settings file, user id, role) -> what is missing for this user, or None
UserCheck = Callable[[str, str, Role], "str | None"]


def register_add_user(  # type: ignore[type-arg]
    sub: argparse._SubParsersAction, check_user: UserCheck | None = None
) -> None:
    p = sub.add_parser("add-user", help="add or replace a gateway user (argon2-hashed password)")
    p.add_argument("user_id")
    p.add_argument("--role", choices=[r.value for r in Role], required=True)
    p.add_argument("--name", default="", help="display name")
    p.add_argument("--mobile", default=None, help="the agent's mobile number")
    p.add_argument("--settings", default=None, help="gateway settings TOML (data dir, region)")
    p.add_argument("--data-dir", default=None, help="where users.json lives (default: data)")
    p.add_argument(
        "--config",
        default=None,
        help="the project settings file; a supervisor needs a [[supervisors]] entry there "
        "with their phone",
    )
    p.set_defaults(handler=functools.partial(run_add_user, check_user=check_user))


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


def run_add_user(args: argparse.Namespace, check_user: UserCheck | None = None) -> int:
    try:
        settings = load_settings(args.settings)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    role = Role(args.role)
    if role == Role.SUPERVISOR and check_user is not None:
        if not args.config:
            print(
                "error: --role supervisor needs --config SETTINGS.toml: a supervisor listens "
                "from their own phone, given by a [[supervisors]] entry with their id there",
                file=sys.stderr,
            )
            return 2
        problem = check_user(args.config, args.user_id, role)
        if problem:
            print(f"error: {problem}", file=sys.stderr)
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
        users.add(args.user_id, password, role, args.name, mobile)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    users.save()
    print(f"user {args.user_id} ({args.role}) saved in {data_dir / 'users.json'}")
    return 0
