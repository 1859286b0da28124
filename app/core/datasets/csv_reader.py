"""Reading an uploaded CSV (UTF-8, header row) into a DataFrame, refusing what pandas
would otherwise read silently wrong.

`csv` and pandas read the file with the same dialect (quotes, spaces after a
delimiter skipped), and `csv` checks what pandas would not: every row has as many
fields as the header (pandas fills a short row with NaN, and reads a long one's first
field as the index). Text cells are stripped of surrounding spaces, as prediction CSV
bodies are (app.core.csvbody), so a category reads the same in both."""

from __future__ import annotations

import csv
import io
from collections import Counter

import pandas as pd

from app.core.errors import InvalidInput

_HEAD_BYTES = 1 << 20  # the header is checked on the start of the file, not all of it


def read_csv(data: bytes) -> pd.DataFrame:
    """Parse an uploaded CSV. Raises InvalidInput for an empty or unparseable file,
    blank or duplicate column names (which pandas would silently rename), fewer than
    two columns, or no data rows."""
    if not data or not data.strip():
        raise InvalidInput("the CSV file is empty", {"file": "empty"})
    names = _column_names(_decode_head(data))
    _check_row_lengths(data, len(names))
    frame = _parse(data)
    if len(frame.columns) != len(names):  # the dialects agree: a safety net, not a path
        raise InvalidInput("the CSV header cannot be parsed", {"file": "bad header"})
    frame.columns = names
    if len(frame) == 0:
        raise InvalidInput("the CSV file has a header but no data rows", {"file": "no rows"})
    for name in frame.select_dtypes(include=["object", "string"]).columns:
        frame[name] = frame[name].map(lambda v: v.strip() if isinstance(v, str) else v)
    return frame


def _check_row_lengths(data: bytes, width: int) -> None:
    """Raises InvalidInput naming the first rows whose field count is not the header's."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("the CSV file is not UTF-8 text", {"file": "not UTF-8"}) from None
    reader = csv.reader(io.StringIO(text), skipinitialspace=True)
    bad: list[str] = []
    try:
        next(reader)
        for fields in reader:
            if fields and len(fields) != width and len(bad) < 5:
                bad.append(f"line {reader.line_num}: {len(fields)} fields")
    except csv.Error as exc:
        raise InvalidInput(
            f"the CSV file cannot be parsed: line {reader.line_num}: {exc}", {"file": "unparseable"}
        ) from None
    if bad:
        raise InvalidInput(
            f"the CSV file cannot be parsed: rows with another number of fields than the "
            f"header's {width}: " + "; ".join(bad),
            {"file": "ragged rows"},
        )


def _decode_head(data: bytes) -> str:
    try:
        return data[:_HEAD_BYTES].decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    # the cut may split a multi-byte character: only fail if the start is not UTF-8
    try:
        return data[: _HEAD_BYTES - 3].decode("utf-8-sig", errors="strict")
    except UnicodeDecodeError:
        raise InvalidInput("the CSV file is not UTF-8 text", {"file": "not UTF-8"}) from None


def _column_names(text_head: str) -> list[str]:
    try:
        header = next(csv.reader(io.StringIO(text_head), skipinitialspace=True))
    except (csv.Error, StopIteration) as exc:
        raise InvalidInput(
            f"the CSV header cannot be parsed: {exc}", {"file": "bad header"}
        ) from None
    names = [h.strip() for h in header]
    blank = [str(i + 1) for i, n in enumerate(names) if not n]
    if blank:
        raise InvalidInput(
            "the CSV header has unnamed column(s) at position " + ", ".join(blank),
            {"file": "unnamed columns"},
        )
    dupes = sorted(n for n, count in Counter(names).items() if count > 1)
    if dupes:
        raise InvalidInput(
            "duplicate column names in the CSV header: " + ", ".join(dupes),
            {"file": "duplicate columns: " + ", ".join(dupes)},
        )
    if len(names) < 2:
        raise InvalidInput(
            "the CSV needs at least two columns: one or more features and a target",
            {"file": "too few columns"},
        )
    return names


def _parse(data: bytes) -> pd.DataFrame:
    try:
        frame: pd.DataFrame = pd.read_csv(
            io.BytesIO(data),
            encoding="utf-8-sig",
            skipinitialspace=True,
            on_bad_lines="error",
            index_col=False,
        )
    except UnicodeDecodeError:
        raise InvalidInput("the CSV file is not UTF-8 text", {"file": "not UTF-8"}) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise InvalidInput(
            f"the CSV file cannot be parsed: {first}", {"file": "unparseable"}
        ) from None
    return frame
