"""Peer-controlled text made safe for one log line: escaped and cut short; knows nothing else."""

from __future__ import annotations

# Characters of peer-controlled text kept in a log line (before escaping).
LOGGABLE_LIMIT = 200


def loggable(text: object, limit: int = LOGGABLE_LIMIT) -> str:
    """*text* as one line of printable ASCII, at most about *limit* characters long.

    Node ids, addresses and error messages that carry them come from peers:
    logged verbatim, a newline would forge a log line and an escape sequence
    would reach the terminal of whoever reads the log. Control and non-ASCII
    characters are escaped as in a Python literal (``\\n``, ``\\x1b``, ``\\u202e``);
    a long text is cut and its length said.
    """
    text = text if isinstance(text, str) else str(text)
    cut = f"...({len(text)} characters)" if len(text) > limit else ""
    return text[:limit].encode("unicode_escape").decode("ascii") + cut
