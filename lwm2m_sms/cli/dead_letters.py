"""``lwm2m-sms dead-letters --db FILE``: list or export the received SMS that could not be
decoded (kept raw in the SQLite file before the modem driver deleted them from the SIM)."""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", required=True, metavar="FILE", help="the server's SQLite file (its --db)")
    parser.add_argument("--json", action="store_true", help="export as JSON lines (one object per SMS)")
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="only the N oldest")


def run(args: argparse.Namespace) -> int:
    from ..deadletters import DeadLetterStore

    def fail(text: str) -> int:
        print(f"lwm2m-sms dead-letters: {text}", file=sys.stderr)
        return 2

    if args.limit is not None and args.limit < 1:
        return fail(f"--limit must be at least 1, not {args.limit}")
    if not os.path.isfile(args.db):
        return fail(f"{args.db}: no such file")
    try:
        store = DeadLetterStore(args.db)
        letters = store.list(args.limit)
    except sqlite3.Error as exc:
        return fail(f"{args.db}: {exc}")
    if args.json:
        for letter in letters:
            print(json.dumps(letter.as_dict()))
        return 0
    if not letters:
        print("no dead letters")
        return 0
    for letter in letters:
        d = letter.as_dict()
        print(f"#{d['id']} {d['received']} {d['bearer']} {d['where']}: {d['reason']}")
        print(f"    {d['pdu']}")
    print(f"{len(letters)} dead letter(s)")
    return 0
