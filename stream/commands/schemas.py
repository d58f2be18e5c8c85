"""``sgmstream schemas check`` and ``schemas infer``: write and test a source schema file."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from stream.commands.common import add_csv_map
from stream.progress import counted

EXIT_REJECTED = 1


def cmd_check(args: argparse.Namespace) -> int:
    from stream.schema import SchemaRegistry

    registry = SchemaRegistry.load(args.file)
    print(f"{args.file}: {counted(len(registry.schemas), 'source')}, unknown sources: "
          f"{registry.unknown_sources}")  # fmt: skip
    for schema in registry.schemas.values():
        kinds = Counter(spec.type for spec in schema.fields.values())
        shown = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items()))
        print(
            f"  {schema.name} v{schema.version}: {counted(len(schema.fields), 'field')} "
            f"({shown or 'none'}), {len(schema.required)} required, "
            f"extra fields: {schema.extra_fields}"
        )
    if args.records is None:
        return 0
    counts, examples = _validate_file(args.records, args.csv_map, registry)
    rejected = sum(counts.values()) - counts["valid"]
    print(f"{args.records}: {counts['valid']} valid, {rejected} rejected")
    for reason, count in counts.most_common():
        if reason != "valid":
            print(f"  {reason}: {count}, first at {examples[reason]}")
    return EXIT_REJECTED if rejected else 0


def _validate_file(path: Path, csv_map: str | None, registry) -> tuple[Counter, dict]:
    """Every message of a recording checked against ``registry``: counts by reason (or
    ``valid``), and where each reason was first met."""
    from stream.validation import Rejection

    counts: Counter = Counter()
    examples: dict[str, str] = {}
    for line, outcome in _outcomes(path, csv_map, registry):
        if not isinstance(outcome, Rejection):
            counts["valid"] += 1
            continue
        reason = str(outcome.reason)
        counts[reason] += 1
        shown = "" if outcome.field is None else f"field {outcome.field}: "
        examples.setdefault(reason, f"line {line}: {shown}{outcome.detail}")
    return counts, examples


def _outcomes(path: Path, csv_map: str | None, registry):
    """``(line, Record or Rejection)`` for every line of a recording, with a progress line; a
    line that holds no message at all is rejected as ``bad_line``."""
    from stream.progress import ProgressLine
    from stream.recording import RecordingError, open_input
    from stream.validation import Rejection, validate

    progress = ProgressLine(sys.stderr)
    for read, (line, entry) in enumerate(open_input(path, csv_map), start=1):
        if isinstance(entry, RecordingError):
            yield line, Rejection("bad_line", None, entry.reason)
        else:
            yield line, validate(entry.value, registry)
        if progress.due():
            progress.update(f"schemas: {read} lines of {path} read")


def cmd_infer(args: argparse.Namespace) -> int:
    from stream.schema import SchemaRegistry
    from stream.schema_draft import SchemaDraft
    from stream.validation import Rejection

    draft = SchemaDraft(max_categories=args.max_categories)
    skipped: Counter = Counter()
    inferred = SchemaRegistry(unknown_sources="infer")
    for _, outcome in _outcomes(args.file, args.csv_map, inferred):
        if isinstance(outcome, Rejection):
            skipped[str(outcome.reason)] += 1
        else:
            draft.add(outcome)
    text = draft.to_yaml(origin=args.file.name)
    _check_draft(text)
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text, encoding="utf-8")
    reasons = ", ".join(f"{count} {reason}" for reason, count in skipped.most_common())
    print(
        f"drafted from {draft.records} records{f' ({reasons} skipped)' if reasons else ''}"
        f"{f'; written to {args.out}' if args.out else ''}",
        file=sys.stderr,
    )
    return 0


def _check_draft(text: str) -> None:
    """The draft must load: a failure here is a bug of the drafting, not of the input."""
    import yaml

    from stream.schema import SchemaRegistry

    SchemaRegistry.from_dict(yaml.safe_load(text), origin="the drafted schema")


def register(commands) -> None:
    schemas = commands.add_parser(
        "schemas",
        help="check a source schema file, or draft one from recorded records",
        description="Write and test the source schema file (see the README, 'Source schemas').",
    )
    actions = schemas.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = actions.add_parser(
        "check",
        help="load a schema file and summarise it; with --records, validate a recording",
        description="Load a schema file (one line naming the bad key if it is wrong) and list "
        "its sources. With --records, validate every record of a recording (or CSV file) "
        "against it and count the rejections by reason code, with the first line of each; the "
        "exit status is then 1 if any record would be dead-lettered.",
    )
    check.add_argument("file", type=Path, help="schema file (.yaml, .yml or .json)")
    check.add_argument("--records", type=Path, help="recording (.jsonl.gz / .jsonl) or CSV file")
    add_csv_map(check, "--records")
    check.set_defaults(run=cmd_check)
    infer = actions.add_parser(
        "infer",
        help="draft a schema file from the records of a recording",
        description="Read a recording (or CSV file) and write a schema file that accepts its "
        "records: one source per source seen, numeric fields where every value is a number, "
        "categorical ones otherwise (with their values listed when there are few), required "
        "where a field is in every record. A draft to edit: it declares no ranges and no "
        "ordinal fields; the values seen are in its comments.",
    )
    infer.add_argument("file", type=Path, help="recording (.jsonl.gz / .jsonl) or CSV file")
    infer.add_argument("--out", type=Path, help="write the draft here (default: standard output)")
    infer.add_argument(
        "--max-categories",
        type=int,
        default=50,
        help="list the values of a categorical field with at most this many (default 50)",
    )
    add_csv_map(infer)
    infer.set_defaults(run=cmd_infer)
