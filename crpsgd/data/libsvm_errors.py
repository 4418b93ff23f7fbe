"""What the LIBSVM parse loop (:mod:`crpsgd.data.libsvm`) reports: its error codes, and
the one-line message each becomes (the offending token quoted, escaped and cut)."""

from __future__ import annotations

INDEX_MAX = 2**31 - 1  # column numbers are int32 (0-based), so 1-based indices stop here

# Error codes of the parse loop (0 = no error).
E_LABEL_SYNTAX = 1
E_LABEL_VALUE = 2
E_LABEL_MIXED = 3
E_MISSING_LABEL = 4
E_QID = 5
E_TOKEN = 6
E_INDEX_ZERO = 7
E_INDEX_RANGE = 8
E_INDEX_BIG = 9
E_ORDER = 10
E_MISSING_VALUE = 11
E_VALUE = 12
E_NONFINITE = 13
E_OVERFLOW = 14


def show_token(raw: bytes, limit: int = 40) -> str:
    """A token for a message: quoted, control and non-UTF-8 bytes escaped, long ones cut."""
    cut = len(raw) > limit
    raw = raw[:limit]
    text = raw.decode("utf-8", "backslashreplace")
    if not text.isprintable():
        text = text.encode("unicode_escape").decode("ascii")
    return f"'{text}{'...' if cut else ''}'"


def message(code: int, tok: bytes, aux: int, n_features: int | None) -> str:
    shown = show_token(tok)
    labels = "labels must be -1/+1 or 0/1"
    if code == E_LABEL_SYNTAX:
        return f"bad label {shown}: expected a number ({labels})"
    if code == E_LABEL_VALUE:
        return f"non-binary label {shown}: {labels}"
    if code == E_LABEL_MIXED:
        other = "-1" if aux % 2 else "0"
        return (
            f"non-binary label {shown}: line {aux // 2} has label {other}; "
            f"{labels}, not a mix of -1 and 0"
        )
    if code == E_MISSING_LABEL:
        return f"missing label: the line starts with {shown} (expected '<label> index:value ...')"
    if code == E_QID:
        return f"{shown}: qid (ranking data) is not supported"
    if code == E_TOKEN:
        return f"expected index:value, got {shown}"
    if code == E_INDEX_ZERO:
        return f"index 0 in {shown}: indices are 1-based (is this a 0-based file?)"
    if code == E_INDEX_BIG:
        return f"index too large in {shown} (at most {INDEX_MAX})"
    if code == E_INDEX_RANGE:
        return f"index {aux} in {shown} exceeds n_features={n_features}"
    if code == E_ORDER:
        idx = tok.split(b":", 1)[0].decode("ascii")
        if int(idx) == aux:
            return f"duplicate index {aux} in {shown}: indices must be strictly increasing"
        return (
            f"index {int(idx)} in {shown} after index {aux}: "
            "indices must be strictly increasing within a line"
        )
    if code == E_MISSING_VALUE:
        return f"missing value in {shown}"
    if code == E_VALUE:
        return f"bad value in {shown}: expected a finite decimal number"
    if code == E_NONFINITE:
        return f"non-finite value in {shown}: values must be finite"
    if code == E_OVERFLOW:
        return f"non-finite value in {shown}: overflows"
    return f"cannot parse {shown} (error code {code})"  # pragma: no cover
