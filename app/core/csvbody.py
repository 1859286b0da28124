"""A CSV prediction body turned into the rows a JSON body would carry, so both reach
the estimator through the same conversion (one memory layout, the same answer).

The rules, for a UTF-8 body (a byte-order mark is dropped) with a header row:
- names and cells are stripped of the spaces around them; quoting is RFC 4180's
  (a quoted field may hold commas and newlines), and every row must have as many
  fields as the header (`csv` checks what pandas would fill with NaN);
- numeric cells: a number as Python's float() reads it; `true`/`false` are 1/0 as JSON booleans
  are; empty, `NA`, `NaN`, `null` and `None` are missing values (JSON `null`);
  `inf` is refused as in JSON, where it cannot be written; all-numeric bodies of plain
  numbers take a path in C (`numeric_matrix`) that reads exactly the same values;
- categorical cells: the text as it is (a known category written with spaces around
  it still matches); a number-like cell matches a numeric category (`1` is the
  category 1, as JSON's `1`); only an empty cell is missing.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from typing import Any

import numpy as np

from app.core.errors import InvalidInput, PayloadTooLarge
from app.core.schema import MAX_REPORTED_ERRORS, MAX_SUGGESTIONS, CompiledSchema

MISSING_TOKENS = frozenset({"", "na", "nan", "null", "none"})
BOOLEANS = {"true": True, "false": False}


def csv_rows(schema: CompiledSchema, body: bytes, max_rows: int) -> list[list[Any]]:
    """The body's rows in schema order, each cell as the JSON value it stands for;
    raises InvalidInput naming the problems (header, row lengths, quoting)."""
    if not body.strip():
        raise InvalidInput("the CSV body is empty", {"body": "empty"})
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("the CSV body is not UTF-8 text", {"body": "not UTF-8"}) from None
    reader = csv.reader(io.StringIO(text), skipinitialspace=True, strict=True)
    try:
        header = [name.strip() for name in next(reader)]
        positions = _positions(schema, header)
        cells = [_cell_reader(f) for f in schema.features]
        rows: list[list[Any]] = []
        errors: dict[str, str] = {}
        for fields in reader:
            if not fields:
                continue  # a blank line
            if len(fields) != len(header):
                if len(errors) < MAX_REPORTED_ERRORS:
                    errors[f"instances[{len(rows)}]"] = (
                        f"line {reader.line_num} has {len(fields)} fields, the header {len(header)}"
                    )
                rows.append([])
                continue
            if len(rows) >= max_rows:
                raise PayloadTooLarge(f"more than {max_rows} rows exceed the limit per request")
            rows.append([read(fields[p]) for read, p in zip(cells, positions, strict=True)])
    except csv.Error as exc:
        raise InvalidInput(
            f"the CSV body cannot be parsed: line {reader.line_num}: {exc}", {"body": str(exc)}
        ) from None
    if errors:
        raise InvalidInput("the CSV rows do not match the header", errors)
    if not rows:
        raise InvalidInput("the CSV body has a header but no rows", {"body": "no rows"})
    return rows


def numeric_matrix(schema: CompiledSchema, body: bytes, max_rows: int) -> np.ndarray | None:
    """The common case in C: an all-numeric body of plain numbers, tokenised by
    pandas, each cell read by Python's float() (as the row-by-row path reads it) into
    C-ordered float64. None whenever anything needs the row-by-row path's judgement
    (missing values, booleans, ragged rows, a header pandas reads otherwise than csv):
    this path only ever accepts what that one would accept, with the same values."""
    import pandas as pd

    try:
        text = body.decode("utf-8-sig")
        header = [n.strip() for n in next(csv.reader(io.StringIO(text), skipinitialspace=True))]
    except (UnicodeDecodeError, StopIteration, csv.Error):
        return None
    positions = _positions(schema, header)  # a wrong header is the answer either way
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            dtype=object,
            na_filter=False,
            skipinitialspace=True,
            nrows=max_rows + 1,
            on_bad_lines="error",
        )
    except ValueError:  # pandas' ParserError and EmptyDataError are ValueErrors
        return None
    if (
        not 0 < len(frame) <= max_rows
        or not isinstance(frame.index, pd.RangeIndex)  # a long first row became the index
        or [str(c).strip() for c in frame.columns] != header
    ):
        return None
    try:
        cells = frame.to_numpy(dtype=object)[:, positions]
        matrix = np.array(cells, dtype=np.float64, order="C")  # the layout JSON rows get
    except (ValueError, TypeError):
        return None
    return matrix if np.isfinite(matrix).all() else None


def _positions(schema: CompiledSchema, header: list[str]) -> list[int]:
    """Where each schema feature sits in the header; raises InvalidInput naming the
    duplicate, missing and unknown columns (linear in the header's length)."""
    counts = Counter(header)
    dupes = sorted(n for n, c in counts.items() if c > 1)
    if dupes:
        raise InvalidInput("duplicate CSV columns: " + ", ".join(dupes[:MAX_REPORTED_ERRORS]))
    missing = [n for n in schema.names if n not in counts]
    extra = [c for c in header if c not in schema.index]
    if missing or extra:
        errors = {f"header.{name}": "missing column" for name in missing[:MAX_REPORTED_ERRORS]}
        for i, name in enumerate(extra[: max(0, MAX_REPORTED_ERRORS - len(errors))]):
            hint = schema.did_you_mean(name, missing) if i < MAX_SUGGESTIONS else ""
            errors[f"header.{name}"] = "unknown column" + hint
        raise InvalidInput("the CSV header does not match the model's input schema", errors)
    where = {name: i for i, name in enumerate(header)}
    return [where[n] for n in schema.names]


def _cell_reader(feature: dict[str, Any]) -> Any:
    if feature["type"] == "numeric":
        return _numeric_cell
    categories = feature["categories"]
    exact = set(categories)
    by_text = {str(c): c for c in categories if not isinstance(c, str)}

    def categorical_cell(raw: str) -> Any:
        if raw in exact:
            return raw
        text = raw.strip()
        if not text:
            return None
        return text if text in exact else by_text.get(text, text)

    return categorical_cell


def _numeric_cell(raw: str) -> Any:
    text = raw.strip()
    lowered = text.lower()
    if lowered in MISSING_TOKENS:
        return None
    if lowered in BOOLEANS:
        return BOOLEANS[lowered]
    try:
        return float(text)
    except ValueError:
        return text  # named by the schema's check ("expected a number")
