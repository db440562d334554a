"""Fetching a JSON Web Key Set for a ``jwt`` authenticator.

The core does no I/O: a policy's ``jwks_url`` is listed by
:meth:`admit.Engine.jwks_urls`, and the set a host fetched is installed with
:meth:`admit.Engine.set_jwks`. :class:`JwksFetcher` is the Python host's half, and
follows the rules every admit host follows (:mod:`admit.fetch_rules`, the core's
numbers): ``https://`` only (``http://`` to a loopback address), certificates verified,
no redirects, a timeout and a size limit, the set kept for the response's ``Cache-Control`` max-age
and refreshed before it goes stale, failures backed off, and a fetch on an
``unknown_key`` decision (a token signed with a key the set lacks: the issuer rotated
its keys) at most once per ``min_interval`` seconds, so a flood of forged ``kid``s
cannot turn into a flood of fetches.

:class:`admit.fastapi.Admit` makes one fetcher per ``jwks_url`` of its policy and runs
them: every set fetched when the app starts, each refreshed in the background, and a
fetch on a request's path only for the one ``unknown_key`` retry. Without FastAPI::

    engine = admit.Engine.from_file("policy.toml")
    fetchers = [JwksFetcher(url, auth_id) for auth_id, url in engine.jwks_urls()]
    for f in fetchers:
        f.refresh(engine, force=True)
    ...
    d = engine.decide(...)
    if d.reason == "unknown_key" and any(f.refresh(engine) for f in fetchers):
        d = engine.decide(...)

What the fetcher keeps: the last set the engine accepted (``text``). A failed fetch, an
HTTP error or a body the engine refuses (not JSON, no usable key) is logged on the
``admit.jwks`` logger at WARNING and changes nothing: the old keys stay in force.
Nothing it logs or reports holds key material or the URL's query string.
"""

from __future__ import annotations

import concurrent.futures
import logging
import random
import ssl
import threading
import time
import urllib.parse
import urllib.request
from typing import Any, Callable, Dict, List, Optional, Tuple

from . import fetch_rules
from ._admit import Decision, Engine

__all__ = ["JwksFetcher", "JwksFetchError", "max_age"]

log = logging.getLogger("admit.jwks")

#: A fetch function: url, timeout -> (body text, Cache-Control header or None).
Fetch = Callable[[str, float], Tuple[str, Optional[str]]]

#: The freshness lifetime of a ``Cache-Control`` value (the core's reading of it).
max_age = fetch_rules.max_age


class JwksFetchError(RuntimeError):
    """The key set could not be fetched or was refused by the engine."""


def safe_url(url: str) -> str:
    """``url`` without user info, query or fragment: what logs and status show."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unreadable url>"
    if not parts.scheme:
        return parts.path
    return f"{parts.scheme}://{host}{port}{parts.path}"


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Refuses redirects, as every admit host does: a redirect could leave HTTPS, or the
    loopback address the URL was checked for. The policy names the set's final URL."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
        raise JwksFetchError(f"the key set at {safe_url(req.full_url)} redirects (HTTP {code}); redirects are not followed")


def urllib_fetch(context: Optional[ssl.SSLContext] = None) -> Fetch:
    """The built-in fetch function: the standard library, HTTPS verified with
    ``context`` (default: the system's CAs), no redirects, the body read within
    ``timeout`` seconds and at most ``fetch_rules.MAX_BYTES``."""
    handlers: List[urllib.request.BaseHandler] = [_NoRedirects()]
    if context is not None:
        handlers.append(urllib.request.HTTPSHandler(context=context))
    opener = urllib.request.build_opener(*handlers)

    def fetch(url: str, timeout: float) -> Tuple[str, Optional[str]]:
        deadline = time.monotonic() + timeout
        req = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "admit-jwks"})
        with opener.open(req, timeout=timeout) as resp:
            chunks = []
            size = 0
            while True:
                # One read at a time, each within the socket timeout, the whole body
                # within the deadline: a server that drips bytes is given up on too.
                if time.monotonic() > deadline:
                    raise JwksFetchError(f"the key set at {safe_url(url)} took more than {timeout:g} s")
                chunk = resp.read1(65536)
                if not chunk:
                    break
                size += len(chunk)
                if size > fetch_rules.MAX_BYTES:
                    raise JwksFetchError(
                        f"the key set at {safe_url(url)} is larger than {fetch_rules.MAX_BYTES} bytes"
                    )
                chunks.append(chunk)
            try:
                text = b"".join(chunks).decode("utf-8")
            except UnicodeDecodeError:
                raise JwksFetchError(f"the key set at {safe_url(url)} is not UTF-8 text") from None
            return text, resp.headers.get("Cache-Control")

    return fetch


def _positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
    v = float(value)
    if not v >= 0 or v == float("inf"):
        raise ValueError(f"{name} must be a finite number of seconds, 0 or more")
    return v


class JwksFetcher:
    """Fetches, caches and refreshes the key set of one ``jwt`` authenticator.

    - ``fetch()`` downloads now and returns the text (use it before the engine exists).
    - ``refresh(engine)`` downloads and installs the set, unless a fetch started less
      than ``min_interval`` seconds ago (``force=True`` skips that limit); returns True
      when the engine holds the freshly fetched set.
    - ``is_stale()`` is true once the cached set outlives its max-age
      (``default_max_age`` when the response has none, capped at ``max_max_age``).
    - ``refresh_delay()``: when a background refresher should fetch next. After a
      success, 90% of the set's max-age, within ``[min_refresh, max_refresh]``, less up
      to 10% of jitter, so the set is refreshed before it goes stale. After ``n``
      failures in a row, ``retry_min`` times the core's backoff
      (:func:`admit.fetch_rules.retry_after`: 1, 2, 4... up to 300) capped at
      ``retry_max``, with "equal jitter" (a random point in its upper half).
    - ``status()``: what a readiness endpoint reports (no key material).

    Every default is the core's (:mod:`admit.fetch_rules`), as is the URL check: a URL
    that is not ``https://`` (or ``http://`` to a loopback address) raises
    ``ValueError`` here. HTTPS certificates are always verified; ``cafile`` or
    ``ssl_context`` name the CAs to trust instead of the system's (a private issuer, a
    test). ``fetch`` replaces the download itself (then ``cafile`` and ``ssl_context``
    do not apply).

    Thread-safe: concurrent refreshes share one fetch in flight (the second caller waits
    for the first one's result instead of fetching again).
    """

    def __init__(
        self,
        url: str,
        authenticator_id: str,
        *,
        min_interval: float = fetch_rules.UNKNOWN_KEY_INTERVAL_SECS,
        default_max_age: float = fetch_rules.DEFAULT_MAX_AGE,
        max_max_age: float = 86400.0,
        min_refresh: float = fetch_rules.MIN_REFRESH_SECS,
        max_refresh: float = fetch_rules.MAX_REFRESH_SECS,
        retry_min: float = fetch_rules.RETRY_MIN_SECS,
        retry_max: float = fetch_rules.RETRY_MAX_SECS,
        timeout: float = fetch_rules.TIMEOUT_SECS,
        fetch: Optional[Fetch] = None,
        cafile: Optional[str] = None,
        ssl_context: Optional[ssl.SSLContext] = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not isinstance(url, str):
            raise TypeError(f"url must be str, not {type(url).__name__}")
        if not isinstance(authenticator_id, str):
            raise TypeError(f"authenticator_id must be str, not {type(authenticator_id).__name__}")
        try:
            fetch_rules.check_url(url)
        except ValueError as e:
            raise ValueError(f"the jwks_url of {authenticator_id} is refused: {e}") from None
        if cafile is not None and ssl_context is not None:
            raise ValueError("give cafile or ssl_context, not both")
        if fetch is not None and (cafile is not None or ssl_context is not None):
            raise ValueError("cafile and ssl_context apply to the built-in fetch, not to a fetch function")
        if ssl_context is not None and not isinstance(ssl_context, ssl.SSLContext):
            raise TypeError(f"ssl_context must be an ssl.SSLContext, not {type(ssl_context).__name__}")
        if ssl_context is not None and (
            ssl_context.verify_mode != ssl.CERT_REQUIRED or not ssl_context.check_hostname
        ):
            # The issuer's certificate is what makes its keys the issuer's.
            raise ValueError("ssl_context must verify certificates and host names (CERT_REQUIRED, check_hostname)")
        if cafile is not None:
            ssl_context = ssl.create_default_context(cafile=cafile)
        self.url = url
        self.authenticator_id = authenticator_id
        self.min_interval = _positive("min_interval", min_interval)
        self.default_max_age = _positive("default_max_age", default_max_age)
        self.max_max_age = _positive("max_max_age", max_max_age)
        self.min_refresh = _positive("min_refresh", min_refresh)
        self.max_refresh = _positive("max_refresh", max_refresh)
        self.retry_min = _positive("retry_min", retry_min)
        self.retry_max = _positive("retry_max", retry_max)
        self.timeout = _positive("timeout", timeout)
        if self.min_refresh <= 0 or self.retry_min <= 0:
            raise ValueError("min_refresh and retry_min must be more than 0 seconds")
        if self.min_refresh > self.max_refresh:
            raise ValueError("min_refresh must not be larger than max_refresh")
        if self.retry_min > self.retry_max:
            raise ValueError("retry_min must not be larger than retry_max")
        self._fetch = fetch or urllib_fetch(ssl_context)
        self._clock = clock
        self._random = random.Random()
        self._lock = threading.Lock()
        #: The last key set fetched and accepted (JSON text), or None.
        self.text: Optional[str] = None
        #: How many fetches were attempted.
        self.fetches = 0
        #: How many keys the engine took from the last set it accepted.
        self.key_count: Optional[int] = None
        #: Wall-clock times (unix seconds) of the last success and the last attempt.
        self.last_success: Optional[float] = None
        self.last_attempt: Optional[float] = None
        #: Why the last attempt failed (None after a success); never holds key material.
        self.last_error: Optional[str] = None
        #: Failures in a row since the last success.
        self.failures = 0
        #: When the background refresher fetches next (unix seconds), or None.
        self.next_refresh: Optional[float] = None
        self._age: float = self.default_max_age
        self._fetched_at: Optional[float] = None
        self._refreshed_at: Optional[float] = None
        self._expires_at: float = float("-inf")
        self._inflight: Optional["concurrent.futures.Future[Optional[Engine]]"] = None
        self._applied: Optional[Engine] = None

    def __repr__(self) -> str:
        return f"JwksFetcher({safe_url(self.url)!r}, {self.authenticator_id!r})"

    # -- downloading ------------------------------------------------------------------

    def _download(self) -> Tuple[str, float]:
        """One download: (text, seconds it stays fresh). Raises JwksFetchError."""
        with self._lock:
            self.fetches += 1
            self.last_attempt = time.time()
        try:
            text, cache_control = self._fetch(self.url, self.timeout)
        except JwksFetchError:
            raise
        except Exception as e:  # network, HTTP status, decoding: all one failure to the caller
            raise JwksFetchError(f"cannot fetch the key set at {safe_url(self.url)}: {e}") from e
        if not isinstance(text, str):
            raise JwksFetchError(f"the fetch function returned {type(text).__name__}, not str")
        age = max_age(cache_control) if isinstance(cache_control, str) else None
        return text, self.default_max_age if age is None else min(float(age), self.max_max_age)

    def _commit(self, text: str, age: float, engine: Optional[Engine], keys: Optional[int]) -> None:
        with self._lock:
            now = self._clock()
            self._fetched_at = now
            self._expires_at = now + age
            self._age = age
            self.text = text
            if engine is not None:
                self._applied = engine
                self.key_count = keys
            self.last_success = time.time()
            self.last_error = None
            self.failures = 0

    def _fail(self, error: str) -> None:
        with self._lock:
            self.last_error = error
            self.failures += 1

    def fetch(self) -> str:
        """Downloads the key set now and caches it; raises :class:`JwksFetchError`.
        Without an engine the set is not checked beyond being text: the engine checks
        it when it is built or when the set is applied."""
        try:
            text, age = self._download()
        except JwksFetchError as e:
            self._fail(str(e))
            raise
        self._commit(text, age, None, None)
        return text

    def is_stale(self) -> bool:
        """True when the cached key set has outlived its max-age (or none is cached)."""
        return self._clock() >= self._expires_at

    def may_fetch(self) -> bool:
        """True when ``min_interval`` has passed since the last fetch ``refresh`` (or a
        background refresh) started; the first ``fetch``, made before the engine exists,
        does not count."""
        return self._refreshed_at is None or self._clock() - self._refreshed_at >= self.min_interval

    def apply(self, engine: Engine) -> int:
        """Installs the cached key set in ``engine`` (after a reload, say)."""
        if self.text is None:
            raise JwksFetchError("no key set fetched yet")
        n = engine.set_jwks(self.authenticator_id, self.text)
        with self._lock:
            self._applied = engine
            self.key_count = n
        return n

    # -- refreshing: one fetch in flight, shared -----------------------------------------

    def _begin(self, *, force: bool) -> Tuple[Optional["concurrent.futures.Future[Optional[Engine]]"], bool]:
        """Joins the fetch in flight, or starts one: (future, True when the caller must
        run it with :meth:`_run`). (None, False) when ``min_interval`` forbids a new
        fetch and none is in flight (never with ``force``)."""
        with self._lock:
            if self._inflight is not None:
                return self._inflight, False
            if not force and not self.may_fetch():
                return None, False
            fut: "concurrent.futures.Future[Optional[Engine]]" = concurrent.futures.Future()
            fut.set_running_or_notify_cancel()  # a waiter's cancellation cannot cancel it
            self._inflight = fut
            self._refreshed_at = self._clock()
            return fut, True

    def _run(
        self,
        fut: "concurrent.futures.Future[Optional[Engine]]",
        engine: Callable[[], Optional[Engine]],
        why: str = "on request",
    ) -> None:
        """Runs the fetch that :meth:`_begin` started and installs the set in
        ``engine()`` (asked after the download, so a reload meanwhile gets it; None
        when the fetcher was retired meanwhile: the set is dropped); sets ``fut`` to
        that engine, or to None when the fetch or the set failed. ``why``
        goes into the log line ("at startup", "in the background", "for an unknown
        key")."""
        result: Optional[Engine] = None
        try:
            result = self._refresh_now(engine, why)
        finally:
            with self._lock:
                self._inflight = None
            fut.set_result(result)

    def _refresh_now(self, get_engine: Callable[[], Optional[Engine]], why: str) -> Optional[Engine]:
        had = self.text is not None
        try:
            text, age = self._download()
            engine = get_engine()
            if engine is None:
                log.debug("admit: dropping a key set of %s fetched after a reload retired it", self.authenticator_id)
                return None
            if text == self.text and engine is self._applied:
                keys = self.key_count  # the same set, already installed: keep its token cache
                changed = False
            else:
                keys = engine.set_jwks(self.authenticator_id, text)
                changed = True
        except Exception as e:  # JwksFetchError, EngineError (not a usable set), anything else
            msg = str(e) if isinstance(e, JwksFetchError) else f"the key set from {safe_url(self.url)} was refused: {e}"
            self._fail(msg)
            if had:
                log.warning("admit: keeping the old key set of %s (fetch %s): %s", self.authenticator_id, why, msg)
            else:
                log.warning("admit: no key set for %s yet (fetch %s): %s", self.authenticator_id, why, msg)
            return None
        self._commit(text, age, engine, keys)
        level = logging.INFO if changed else logging.DEBUG
        log.log(
            level,
            "admit: key set of %s %s %s from %s (%s keys, fresh for %.0f s)",
            self.authenticator_id,
            "fetched" if changed else "unchanged",
            why,
            safe_url(self.url),
            keys,
            age,
        )
        return engine

    def refresh(self, engine: Engine, *, force: bool = False) -> bool:
        """Fetches and installs the key set, at most once per ``min_interval`` unless
        ``force``; a refresh already in flight is joined instead. Returns True when
        ``engine`` holds the freshly fetched set; a failure is logged and the old keys
        stay."""
        fut, mine = self._begin(force=force)
        if fut is None:
            return False
        if mine:
            self._run(fut, lambda: engine)
        applied = fut.result()
        if applied is None:
            return False
        if applied is not engine:
            try:
                self.apply(engine)
            except Exception as e:
                log.warning("admit: cannot install the key set of %s: %s", self.authenticator_id, e)
                return False
        return True

    def on_decision(self, engine: Engine, decision: Decision) -> bool:
        """Refreshes when ``decision`` says ``unknown_key`` (rate-limited); True when the
        caller should decide again."""
        if decision.reason != "unknown_key":
            return False
        return self.refresh(engine)

    # -- scheduling and status -------------------------------------------------------

    def refresh_delay(self) -> float:
        """Seconds until a background refresher should fetch again (see the class
        docstring); also records :attr:`next_refresh`."""
        with self._lock:
            if self.failures or self.text is None:
                n = max(self.failures, 1)
                backoff = min(self.retry_max, self.retry_min * fetch_rules.retry_after(n))
                delay = backoff / 2 + self._random.uniform(0, backoff / 2)
            else:
                base = min(max(self._age * 0.9, self.min_refresh), self.max_refresh)
                delay = max(self.min_refresh, base * self._random.uniform(0.9, 1.0))
            self.next_refresh = time.time() + delay
            return delay

    @property
    def ready(self) -> bool:
        """True once a key set was fetched (and, with an engine, accepted)."""
        return self.text is not None

    def status(self) -> Dict[str, Any]:
        """What the fetcher knows, for a readiness endpoint: ``authenticator``, ``url``
        (without query or user info), ``ready``, ``keys``, ``fetches``, ``failures``,
        ``last_success``, ``last_attempt``, ``next_refresh`` (unix seconds or None) and
        ``last_error`` (None after a success). JSON-serialisable; no key material."""
        with self._lock:
            return {
                "authenticator": self.authenticator_id,
                "url": safe_url(self.url),
                "ready": self.text is not None,
                "keys": self.key_count,
                "fetches": self.fetches,
                "failures": self.failures,
                "last_success": self.last_success,
                "last_attempt": self.last_attempt,
                "next_refresh": self.next_refresh,
                "last_error": self.last_error,
            }
