"""Passwords out of anything printed or stored: a URI's userinfo password and query secrets.

The userinfo is read as the drivers read it (SQLAlchemy's URL grammar, which MLflow's database
stores use): after `scheme://`, a user without `:` or `/`, then a password that runs to the `@`
before the host — it may hold `/`, `?`, `#`, spaces and `@`. So any `:` after the user and before
an `@` on the same line starts a password; the redaction takes everything to the line's last `@`
(it may hide more than the password, never less)."""

from __future__ import annotations

import re

SECRET_KEYS = r"[^\s=&;#?'\"]*(?:password|passwd|pwd|secret|token)[^\s=&;#?'\"]*"
_USERINFO_PASSWORD = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^:/@\s'\"]*:)[^\n]*@")
_QUERY_SECRET = re.compile(rf"([?&;]{SECRET_KEYS}=)[^&;#\s'\"]*", re.IGNORECASE)


def redact(text: str) -> str:
    """`text` (a URI, or any text holding one) with every password replaced by ***: a userinfo
    password (`//user:PASSWORD@host`, however many @ it holds: the host follows the last one)
    and any query parameter named like a secret (`password=`, `client_secret=`, `token=`, ...)."""
    return _QUERY_SECRET.sub(r"\1***", _USERINFO_PASSWORD.sub(r"\1***@", text))


def carries_password(uri: str) -> bool:
    """Whether the URI holds a password (redact would change it)."""
    return redact(uri) != uri
