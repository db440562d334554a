"""Fetching a JSON Web Key Set for a ``jwt`` authenticator.

The core does no I/O: a policy's key set arrives as text (``jwks = {env = ...}``) and
is rotated with :meth:`admit.Engine.set_jwks`. :class:`JwksFetcher` is the host's half:
it downloads the key set with the standard library, keeps it for the response's
``Cache-Control: max-age``, and fetches again when a decision says ``unknown_key`` (a
token signed with a key the set lacks: the issuer rotated its keys), at most once per
``min_interval`` seconds so a flood of forged ``kid``s cannot turn into a flood of
fetches.

    fetcher = JwksFetcher("https://issuer.example/.well-known/jwks.json", "clerk")
    engine = admit.Engine.from_file("policy.toml", env={**os.environ, "CLERK_JWKS": fetcher.fetch()})
    ...
    d = engine.decide(...)
    if d.reason == "unknown_key" and fetcher.refresh(engine):
        d = engine.decide(...)

:class:`admit.fastapi.Admit` does this for you when given ``jwks=[fetcher]``.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import urllib.request
from typing import Callable, Optional, Tuple

from ._admit import Decision, Engine

__all__ = ["JwksFetcher", "JwksFetchError", "max_age"]

log = logging.getLogger("admit.jwks")

#: A fetch function: url, timeout -> (body text, Cache-Control header or None).
Fetch = Callable[[str, float], Tuple[str, Optional[str]]]

_MAX_AGE = re.compile(r"(?:^|,)\s*(s-maxage|max-age)\s*=\s*\"?(\d+)\"?\s*(?:,|$)", re.IGNORECASE)
_NO_CACHE = re.compile(r"(?:^|,)\s*(no-cache|no-store)\s*(?:,|$)", re.IGNORECASE)


class JwksFetchError(RuntimeError):
    """The key set could not be fetched or was refused by the engine."""


def max_age(cache_control: Optional[str]) -> Optional[int]:
    """The ``max-age`` of a ``Cache-Control`` value (0 for ``no-cache``/``no-store``)."""
    if not cache_control:
        return None
    if _NO_CACHE.search(cache_control):
        return 0
    m = _MAX_AGE.search(cache_control)
    return int(m.group(2)) if m else None


def _urllib_fetch(url: str, timeout: float) -> Tuple[str, Optional[str]]:
    req = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "admit-jwks"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (the URL is configuration)
        body = resp.read((1 << 20) + 1)
        if len(body) > 1 << 20:
            raise JwksFetchError(f"the key set at {url} is larger than 1 MiB")
        return body.decode("utf-8"), resp.headers.get("Cache-Control")


class JwksFetcher:
    """Fetches, caches and refreshes the key set of one ``jwt`` authenticator.

    - ``fetch()`` downloads now and returns the text (use it before the engine exists).
    - ``refresh(engine)`` downloads and installs the set, unless it was fetched less
      than ``min_interval`` seconds ago; returns True when the engine got new keys.
    - ``is_stale()`` is true once the cached set outlives its max-age
      (``default_max_age`` when the response has none, capped at ``max_max_age``).

    Thread-safe: concurrent refreshes collapse into one fetch.
    """

    def __init__(
        self,
        url: str,
        authenticator_id: str,
        *,
        min_interval: float = 30.0,
        default_max_age: float = 300.0,
        max_max_age: float = 86400.0,
        timeout: float = 5.0,
        fetch: Optional[Fetch] = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not isinstance(url, str):
            raise TypeError(f"url must be str, not {type(url).__name__}")
        if not isinstance(authenticator_id, str):
            raise TypeError(f"authenticator_id must be str, not {type(authenticator_id).__name__}")
        self.url = url
        self.authenticator_id = authenticator_id
        self.min_interval = float(min_interval)
        self.default_max_age = float(default_max_age)
        self.max_max_age = float(max_max_age)
        self.timeout = float(timeout)
        self._fetch = fetch or _urllib_fetch
        self._clock = clock
        self._lock = threading.Lock()
        #: The last key set fetched (JSON text), or None.
        self.text: Optional[str] = None
        #: How many fetches were attempted.
        self.fetches = 0
        self._fetched_at: Optional[float] = None
        self._refreshed_at: Optional[float] = None
        self._expires_at: float = float("-inf")

    def fetch(self) -> str:
        """Downloads the key set now and caches it; raises :class:`JwksFetchError`."""
        with self._lock:
            return self._fetch_locked()

    def _fetch_locked(self) -> str:
        now = self._clock()
        self.fetches += 1
        self._fetched_at = now
        try:
            text, cache_control = self._fetch(self.url, self.timeout)
        except JwksFetchError:
            raise
        except Exception as e:  # network, HTTP status, decoding: all one failure to the caller
            raise JwksFetchError(f"cannot fetch the key set at {self.url}: {e}") from e
        age = max_age(cache_control)
        age_f = self.default_max_age if age is None else min(float(age), self.max_max_age)
        self._expires_at = now + age_f
        self.text = text
        return text

    def is_stale(self) -> bool:
        """True when the cached key set has outlived its max-age (or none is cached)."""
        return self._clock() >= self._expires_at

    def may_fetch(self) -> bool:
        """True when ``min_interval`` has passed since the last ``refresh`` (the first
        ``fetch``, made before the engine exists, does not count)."""
        return self._refreshed_at is None or self._clock() - self._refreshed_at >= self.min_interval

    def apply(self, engine: Engine) -> int:
        """Installs the cached key set in ``engine`` (after a reload, say)."""
        if self.text is None:
            raise JwksFetchError("no key set fetched yet")
        return engine.set_jwks(self.authenticator_id, self.text)

    def refresh(self, engine: Engine, *, force: bool = False) -> bool:
        """Fetches and installs the key set, at most once per ``min_interval`` unless
        ``force``. Returns True when ``engine`` got a new key set; a failure is logged
        and the old keys stay."""
        with self._lock:
            if not force and not self.may_fetch():
                return False
            self._refreshed_at = self._clock()
            try:
                text = self._fetch_locked()
                engine.set_jwks(self.authenticator_id, text)
            except Exception as e:
                log.warning("admit: keeping the old key set of %s: %s", self.authenticator_id, e)
                return False
            return True

    def on_decision(self, engine: Engine, decision: Decision) -> bool:
        """Refreshes when ``decision`` says ``unknown_key`` (rate-limited); True when the
        caller should decide again."""
        if decision.reason != "unknown_key":
            return False
        return self.refresh(engine)
