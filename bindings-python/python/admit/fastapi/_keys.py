"""Watching the keys files of a policy (``keys = { file = ... }``) for the guard.

The engine read each keys file when it was built; an operator revokes or adds a key by
rewriting the file, and the host hands the new text to :meth:`admit.Engine.set_keys`.
A watch notices a change by the file's identity (device, inode), size and times, which
a ``stat`` gives without reading it, so polling every second costs next to nothing.
A file the engine refuses, or cannot be read, leaves the old keys in force; the log
says so at WARNING, naming the authenticator, the path and the core's reason, never a
line of the file (its digests are secrets too).
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any, Dict, Optional, Tuple

from .. import fetch_rules
from .._admit import Engine

log = logging.getLogger("admit.keys")

#: What a ``stat`` says about a file's content: a rewrite in place changes the size or
#: the times, a replacement by rename changes the inode.
Signature = Tuple[int, int, int, int, int]


def _signature(st: os.stat_result) -> Signature:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class KeysFileWatch:
    """One keys file of one authenticator, as the engine in force should see it."""

    def __init__(self, authenticator_id: str, path: str) -> None:
        self.authenticator_id = authenticator_id
        self.path = path
        #: The file's signature when it was last read (None: read it at the next check,
        #: whatever it says, since the engine may have read an older version).
        self.signature: Optional[Signature] = None
        #: How many keys the engine took from the file when it was last applied.
        self.key_count: Optional[int] = None
        #: How many times a changed file was applied since this watch began.
        self.changes = 0
        #: Unix time of the last check, and of the last file applied.
        self.last_check: Optional[float] = None
        self.last_applied: Optional[float] = None
        #: Why the file as it is now was not applied (None when it was); never holds a
        #: value of the file.
        self.last_error: Optional[str] = None

    def check(self, engine: Engine, *, force: bool = False) -> Optional[bool]:
        """Reads the file if it changed since the last check (or ``force``) and hands it
        to ``engine.set_keys``. Returns True when the engine took it, False when it was
        refused or unreadable (logged; the old keys stay), None when nothing changed."""
        self.last_check = time.time()
        try:
            sig = _signature(os.stat(self.path))
        except OSError as e:
            return self._refuse(None, f"cannot read it: {e.strerror or type(e).__name__}")
        if sig == self.signature and not force:
            return None
        try:
            with open(self.path, "rb") as fh:
                # One byte past the core's limit tells an oversize file without reading it all.
                data = fh.read(fetch_rules.MAX_KEYS_FILE_BYTES + 1)
        except OSError as e:
            return self._refuse(sig, f"cannot read it: {e.strerror or type(e).__name__}")
        if not data:
            # An empty file is what a rewrite in place shows between truncating and
            # writing; taking it would drop every key for a moment. (The core refuses it
            # too: a file meant to hold no key says `keys = []`.)
            return self._refuse(sig, "it is empty (taken as a write in progress)")
        if len(data) > fetch_rules.MAX_KEYS_FILE_BYTES:
            return self._refuse(sig, f"it is larger than {fetch_rules.MAX_KEYS_FILE_BYTES} bytes")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return self._refuse(sig, "it is not UTF-8 text")
        try:
            n = engine.set_keys(self.authenticator_id, text)
        except Exception as e:  # EngineError: the core's message names places, never values
            return self._refuse(sig, str(e))
        first = self.key_count is None
        changed = first or sig != self.signature
        self.signature = sig
        self.key_count = n
        self.last_error = None
        self.last_applied = time.time()
        if changed and not first:
            self.changes += 1
        log.info(
            "admit: keys of %s %s from %s (%d keys)",
            self.authenticator_id,
            "read" if first else "replaced",
            self.path,
            n,
        )
        return True

    def _refuse(self, sig: Optional[Signature], why: str) -> bool:
        # Logged once per version of the file (or per reason it cannot be read), not on
        # every poll while it stays as it is.
        if (sig, why) != (self.signature, self.last_error):
            log.warning(
                "admit: keys file of %s (%s) not applied, the old keys stay: %s",
                self.authenticator_id,
                self.path,
                why,
            )
        self.signature = sig
        self.last_error = why
        return False

    def status(self) -> Dict[str, Any]:
        """For a readiness endpoint: ``authenticator``, ``path``, ``keys`` (taken from the
        last file applied), ``changes``, ``last_check``, ``last_applied`` and
        ``last_error``. No key material."""
        return {
            "authenticator": self.authenticator_id,
            "path": self.path,
            "keys": self.key_count,
            "changes": self.changes,
            "last_check": self.last_check,
            "last_applied": self.last_applied,
            "last_error": self.last_error,
        }
