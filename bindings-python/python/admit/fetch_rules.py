"""The rules every admit host follows when it fetches a ``jwks_url``, from the core.

The numbers and the URL check are the Rust core's (``admit::fetch``), so the Python
host treats a slow, failing or hostile issuer exactly as the CLI, the WASM and the C
hosts do. docs/policy.md, "Fetching a key set", is the reference for operators.

- :func:`check_url`: ``https://``, or ``http://`` to a loopback address only; a host;
  no user info, no fragment. Raises ``ValueError`` whose message quotes no part of the
  URL (its query may hold a token).
- A fetch gives up after :data:`TIMEOUT_SECS`; a body over :data:`MAX_BYTES` is refused.
- A set is kept for its ``Cache-Control`` max-age (:func:`max_age`),
  :data:`DEFAULT_MAX_AGE` without one, and refreshed before it goes stale
  (:func:`refresh_after`); a failed fetch backs off (:func:`retry_after`).
- An ``unknown_key`` decision may cause one fetch per URL at most once per
  :data:`UNKNOWN_KEY_INTERVAL_SECS`.
"""

from __future__ import annotations

from typing import Optional

from ._admit import FETCH_RULES, check_jwks_url, fetch_max_age, fetch_refresh_after, fetch_retry_after

__all__ = [
    "DEFAULT_MAX_AGE",
    "MAX_BYTES",
    "MAX_KEYS_FILE_BYTES",
    "MAX_REFRESH_SECS",
    "MAX_URL_BYTES",
    "MIN_REFRESH_SECS",
    "RETRY_MAX_SECS",
    "RETRY_MIN_SECS",
    "TIMEOUT_SECS",
    "UNKNOWN_KEY_INTERVAL_SECS",
    "check_url",
    "max_age",
    "refresh_after",
    "retry_after",
]

#: How long one fetch may take, connection included, in seconds.
TIMEOUT_SECS: int = FETCH_RULES["TIMEOUT_SECS"]
#: The largest key set body taken, in bytes.
MAX_BYTES: int = FETCH_RULES["MAX_BYTES"]
#: How long a set is kept when the response's Cache-Control says nothing, in seconds.
DEFAULT_MAX_AGE: int = FETCH_RULES["DEFAULT_MAX_AGE"]
#: The earliest and latest background refresh after a good fetch, in seconds.
MIN_REFRESH_SECS: int = FETCH_RULES["MIN_REFRESH_SECS"]
MAX_REFRESH_SECS: int = FETCH_RULES["MAX_REFRESH_SECS"]
#: The first retry after a failed fetch, and the longest wait between retries, in seconds.
RETRY_MIN_SECS: int = FETCH_RULES["RETRY_MIN_SECS"]
RETRY_MAX_SECS: int = FETCH_RULES["RETRY_MAX_SECS"]
#: The least time between two fetches caused by ``unknown_key`` decisions, per URL.
UNKNOWN_KEY_INTERVAL_SECS: int = FETCH_RULES["UNKNOWN_KEY_INTERVAL_SECS"]
#: The longest ``jwks_url``, in bytes.
MAX_URL_BYTES: int = FETCH_RULES["MAX_URL_BYTES"]
#: The largest keys file ``Engine.set_keys`` takes, in bytes.
MAX_KEYS_FILE_BYTES: int = FETCH_RULES["MAX_KEYS_FILE_BYTES"]

#: Checks a ``jwks_url``; raises ``ValueError`` (the message quotes no part of the URL).
check_url = check_jwks_url


def max_age(cache_control: Optional[str]) -> Optional[int]:
    """The freshness lifetime a ``Cache-Control`` value gives, in seconds (``s-maxage``
    or ``max-age``; 0 for ``no-cache`` or ``no-store``); ``None`` when it says nothing
    about it, or there is no header."""
    if cache_control is None:
        return None
    return fetch_max_age(cache_control)


def refresh_after(cache_control: Optional[str]) -> int:
    """Seconds from a good fetch to the next background refresh: 90% of the max-age
    (:data:`DEFAULT_MAX_AGE` without one) within [:data:`MIN_REFRESH_SECS`,
    :data:`MAX_REFRESH_SECS`]."""
    return fetch_refresh_after(cache_control)


def retry_after(failures: int) -> int:
    """Seconds to wait after ``failures`` failed fetches in a row: :data:`RETRY_MIN_SECS`
    doubled per failure after the first, at most :data:`RETRY_MAX_SECS`."""
    return fetch_retry_after(failures)
