"""The decision log: denials (INFO) and dry-run refusals (WARNING) on the
``admit.decisions`` logger, from the middleware and from :class:`enforce`."""

from __future__ import annotations

import logging
from typing import Any, Optional

from .._admit import Decision
from ._types import Scope

#: Denials (INFO) and dry-run refusals (WARNING), one record a request; a child of the
#: ``admit`` logger. Never a header value, a token, a key or the query string.
log = logging.getLogger("admit.decisions")

INFO = logging.INFO
WARNING = logging.WARNING


def _printable(text: str) -> str:
    # A path or a message may carry what a client sent; a log line gets no control
    # characters from it (the `extra` fields keep the text as it is).
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def log_decision(level: int, scope: Scope, path: Optional[str], decision: Decision) -> None:
    """Logs one refusal (INFO) or dry-run refusal (WARNING): method, route path,
    status, reason, message, rule, principal id and authenticator, in the text and as
    ``admit_*`` extra fields."""
    principal = decision.principal
    pid = principal.id if principal is not None else None
    authenticator = principal.authenticator if principal is not None else None
    method = scope.get("method") or ("WEBSOCKET" if scope.get("type") == "websocket" else "GET")
    shown = path if isinstance(path, str) else "?"
    fields: dict[str, Any] = {
        "admit_method": method,
        "admit_path": path,
        "admit_status": decision.status,
        "admit_reason": decision.reason,
        "admit_message": decision.message,
        "admit_rule": decision.rule,
        "admit_principal": pid,
        "admit_authenticator": authenticator,
        "admit_dry_run": decision.dry_run,
    }
    what = "dry run, would deny" if level == WARNING else "denied"
    log.log(
        level,
        "%s %s %s: %s %s (rule %s, principal %s, authenticator %s): %s",
        what,
        _printable(str(method)),
        _printable(shown),
        decision.reason,
        decision.status,
        decision.rule if decision.rule is not None else "-",
        _printable(pid) if pid is not None else "-",
        authenticator if authenticator is not None else "-",
        _printable(decision.message),
        extra=fields,
    )
