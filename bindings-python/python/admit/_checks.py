"""Running the host's checks of ``delegated`` authenticators (docs/policy.md 5.11).

The engine finds the credential and asks (:class:`admit.PendingCheck`); this module
calls the check registered for the authenticator (:meth:`admit.Engine.set_check`) and
turns what it answers into an :class:`admit.Verdict`. It fails closed: no check, a
check that raises, or an answer that is not a verdict is a refusal
(``invalid_credentials``), logged on ``admit.checks`` without the credential (an
exception's message is not logged either: ``KeyError(credential)`` is what a dict
lookup raises). ``None`` is the ordinary answer for an unknown credential: refused, not
logged.
"""

from __future__ import annotations

import inspect
import logging
import traceback
from typing import Any, Awaitable, Callable, Optional, Union

from ._admit import Decision, PendingCheck, Verdict

#: What the checks did wrong (ERROR) or lack (WARNING); a child of the ``admit`` logger.
#: Never the credential, never an exception's message.
log = logging.getLogger("admit.checks")

_REFUSED = Verdict.refuse("invalid_credentials")

_SHAPE = 'a dict {"id": ..., "roles": [...], "scopes": [...]} or {"refuse": reason}, an admit.Verdict, or None'


def is_async_callable(fn: Any) -> bool:
    """True for an ``async def`` function, or an object whose ``__call__`` is one."""
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(getattr(fn, "__call__", None))


def verdict_of(authenticator: str, answer: Any) -> Verdict:
    """A check's answer as a verdict; anything that is not one is a refusal (logged)."""
    if answer is None:
        return _REFUSED
    if isinstance(answer, Verdict):
        return answer
    if isinstance(answer, dict) or hasattr(answer, "keys"):
        try:
            return Verdict.from_dict(answer)
        except (TypeError, ValueError) as e:  # the messages quote none of the answer
            log.error(
                "admit: the check of %s answered a dict that is not a verdict (%s); the credential is refused",
                authenticator,
                e,
            )
            return _REFUSED
    log.error(
        "admit: the check of %s answered %s, not a verdict (%s); the credential is refused",
        authenticator,
        type(answer).__name__,
        _SHAPE,
    )
    return _REFUSED


def _raised(authenticator: str, e: BaseException) -> Verdict:
    # The frames (file, line, function, source line), not the message, which may hold
    # the credential (KeyError(credential) from `sessions[credential]`).
    frames = "".join(traceback.format_list(traceback.extract_tb(e.__traceback__)))
    log.error(
        "admit: the check of %s raised %s; the credential is refused (the exception's message "
        "is not logged: it may hold the credential)\n%s",
        authenticator,
        type(e).__name__,
        frames.rstrip("\n"),
    )
    return _REFUSED


def _check_of(pending: PendingCheck) -> Optional[Callable[[str], Any]]:
    check = pending.engine.get_check(pending.authenticator)
    if check is None:
        log.warning(
            "admit: no check is registered for the delegated authenticator %s "
            "(engine.set_check, or Admit(engine, checks={...})): its credentials are refused",
            pending.authenticator,
        )
    return check


def _close(answer: Any) -> None:
    close = getattr(answer, "close", None)
    if inspect.iscoroutine(answer) and callable(close):
        close()  # never awaited: no "coroutine was never awaited" warning


def check_sync(pending: PendingCheck) -> Verdict:
    """Runs the check in this thread. An ``async`` check cannot run here: refused."""
    check = _check_of(pending)
    if check is None:
        return _REFUSED
    try:
        answer = check(pending.credential)
    except Exception as e:
        return _raised(pending.authenticator, e)
    if inspect.isawaitable(answer):
        _close(answer)
        log.error(
            "admit: the check of %s is async, and engine.decide calls checks synchronously: "
            "use `await engine.decide_async(...)` or admit.fastapi; the credential is refused",
            pending.authenticator,
        )
        return _REFUSED
    return verdict_of(pending.authenticator, answer)


async def check_async(
    pending: PendingCheck,
    run_sync: Optional[Callable[[Callable[[str], Any], str], Awaitable[Any]]] = None,
) -> Verdict:
    """Runs the check: an ``async`` one awaited, a plain one called here, or through
    ``run_sync`` (the FastAPI integration's worker thread) when given."""
    check = _check_of(pending)
    if check is None:
        return _REFUSED
    try:
        if is_async_callable(check) or run_sync is None:
            answer = check(pending.credential)
        else:
            answer = await run_sync(check, pending.credential)
        if inspect.isawaitable(answer):
            answer = await answer
    except Exception as e:
        return _raised(pending.authenticator, e)
    return verdict_of(pending.authenticator, answer)


def decide_sync(step: Union[Decision, PendingCheck]) -> Decision:
    """``Engine.decide``'s rounds: each check run in this thread, until decided."""
    while isinstance(step, PendingCheck):
        step = step.resume(check_sync(step))
    return step


async def decide_async(
    step: Union[Decision, PendingCheck],
    run_sync: Optional[Callable[[Callable[[str], Any], str], Awaitable[Any]]] = None,
) -> Decision:
    """``Engine.decide_async``'s rounds (and the FastAPI integration's, with a
    ``run_sync``): each check awaited, until decided."""
    while isinstance(step, PendingCheck):
        step = step.resume(await check_async(step, run_sync))
    return step
