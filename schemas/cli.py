"""``hjem schema validate | export | fhir``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from foundation.clock import utcnow
from foundation.errors import CliError

__all__ = ["register"]


def _read(path: str) -> bytes:
    try:
        return sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from exc


def _validate(args: argparse.Namespace) -> int:
    from schemas.validation import validate_batch

    status = 0
    for path in args.files:
        result = validate_batch(_read(path), now=utcnow())
        for err in result.errors:
            print(f"{path}: {err.path}: {err.reason}")
        if result.errors:
            status = 1
        elif not args.quiet:
            print(f"{path}: valid ({len(result.accepted)} observations)")
    return status


def _export(args: argparse.Namespace) -> int:
    from schemas.export import write_json_schemas

    for written in write_json_schemas(Path(args.directory)):
        print(written)
    return 0


def _fhir(args: argparse.Namespace) -> int:
    from schemas.fhir import bundle_json, to_bundle
    from schemas.validation import validate_batch

    result = validate_batch(_read(args.file), now=utcnow())
    if result.errors:
        first = result.errors[0]
        raise CliError(
            f"{args.file} is not valid ({len(result.errors)} errors; first: "
            f"{first.path}: {first.reason})",
            code=1,
        )
    print(bundle_json(to_bundle(result.accepted, subject=args.subject)))
    return 0


def register(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    sub = parser.add_subparsers(dest="schema_command", metavar="ACTION", required=True)
    val = sub.add_parser("validate", help="validate batch files; one line per error")
    val.add_argument("files", nargs="+", metavar="FILE", help="JSON batch files ('-' for stdin)")
    val.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    val.set_defaults(schema_handler=_validate)
    exp = sub.add_parser("export", help="write the JSON Schema files")
    exp.add_argument("directory", metavar="DIR")
    exp.set_defaults(schema_handler=_export)
    fhir = sub.add_parser("fhir", help="print a batch as a FHIR R4 transaction Bundle")
    fhir.add_argument("file", metavar="FILE")
    fhir.add_argument("--subject", help="FHIR reference of the resident, e.g. Patient/123")
    fhir.set_defaults(schema_handler=_fhir)

    def handler(args: argparse.Namespace) -> int:
        result: int = args.schema_handler(args)
        return result

    return handler
