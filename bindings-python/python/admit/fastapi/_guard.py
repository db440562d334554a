"""The guard: the engine an app enforces, its JWKS fetchers and keys files, and install().

The guard makes a :class:`admit.jwks.JwksFetcher` for each ``jwks_url`` of its policy
(:meth:`admit.Engine.jwks_urls`) and watches each keys file
(:meth:`admit.Engine.keys_files`). Key sets are fetched off the request path: every
fetcher when the app starts (the lifespan that :meth:`Admit.install` hooks, or
:meth:`Admit.lifespan` / :meth:`Admit.start` for other apps), then in the background,
each before it goes stale (:meth:`admit.jwks.JwksFetcher.refresh_delay`). A request
waits for a fetch only when its decision says ``unknown_key``: then one fetch per
fetcher, at most once per ``min_interval``, shared by every request that needs it
meanwhile. The keys files are checked every ``watch_interval`` seconds in the
background (a ``stat``; read only when changed) and on :meth:`Admit.reload_keys`. A
reload that brings new ``jwks_url``s or keys files starts their fetchers and watches and
stops those of the old policy within one ``watch_interval``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from typing import (
    TYPE_CHECKING,
    Any,
    AsyncIterator,
    Callable,
    Collection,
    Dict,
    Iterable,
    List,
    Mapping,
    Optional,
)

from .._admit import Decision, Engine, EngineError, PendingCheck
from .._checks import decide_async
from ..jwks import JwksFetcher, safe_url
from ._app_checks import cors_inside, cors_twice, log_warnings
from ._keys import KeysFileWatch
from ._routing import route_path
from ._types import ASGIApp, Receive, Scope, Send

if TYPE_CHECKING:
    from ._coverage import CoverageReport
    from ._middleware import AdmitMiddleware

log = logging.getLogger("admit")

class AdmitConfigError(RuntimeError):
    """The app and the policy do not fit together: CORS answered twice, CORS
    middleware inside admit that the policy refuses preflights for, or (with
    ``strict_coverage``) a route no rule covers. Raised by :meth:`Admit.install`, at
    the app's startup, or on its first request when it has no lifespan."""


#: Seconds a waiter gives a fetch beyond the fetcher's timeout: the engine checking and
#: installing the set it got.
_INSTALL_ALLOWANCE = 1.0


async def _wait(fut: "concurrent.futures.Future[Optional[Engine]]", timeout: float) -> Optional[Engine]:
    """Awaits a fetch running in its own thread, at most ``timeout`` seconds, without
    holding a worker thread. None when the fetch failed, or is still running then (it
    goes on, and its set still lands; the waiter just stops waiting)."""
    if fut.done():
        return fut.result()
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # not asyncio (trio): wait in a worker thread
        import anyio.to_thread

        def result() -> Optional[Engine]:
            try:
                return fut.result(timeout)
            except concurrent.futures.TimeoutError:
                return None

        return await anyio.to_thread.run_sync(result)
    try:
        # shield: the timeout cancels this wait, never the fetch (a running
        # concurrent.futures.Future cannot be cancelled anyway).
        return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(fut)), timeout)
    except asyncio.TimeoutError:
        return None


async def _in_thread(fn: Callable[[str], Any], credential: str) -> Any:
    """A plain check, run in a worker thread of anyio's pool (FastAPI's, for plain
    dependencies): a check that blocks (a database query) does not hold the event loop."""
    import anyio.to_thread

    return await anyio.to_thread.run_sync(fn, credential)


class Admit:
    """The engine an app enforces, with its JWKS fetchers and keys files; swap
    ``engine`` to reload.

    The key sets of the policy's ``jwks_url``s are fetched at startup and refreshed in
    the background, and its keys files are watched (see the module docstring; the app's
    lifespan runs both after :meth:`install`, otherwise :meth:`lifespan` or
    :meth:`start`); a decision that says ``unknown_key`` fetches again, rate-limited,
    and is decided again.

    ``fastapi_bodies``: give a denial without a body (the policy set none) FastAPI's
    ``{"detail": message}`` JSON body. ``jwks``: fetchers made by hand, run the same way
    (one given for an authenticator replaces the fetcher the guard would make for its
    ``jwks_url``; one for a policy's ``jwks = {...}`` text rotates it).
    ``checks``: the checks of the policy's ``delegated`` authenticators, by
    authenticator id: ``fn(credential) -> dict | admit.Verdict | None``, ``async def``
    (awaited on the event loop) or plain (run in a worker thread, as FastAPI runs a
    plain dependency); the guard registers them in every engine it puts in force
    (:meth:`admit.Engine.set_check`). A check that raises or answers something else
    than a verdict refuses the credential (logged on ``admit.checks``, without it).
    ``jwks_options``: keyword arguments for the fetchers the guard makes
    (:class:`admit.jwks.JwksFetcher`: ``cafile`` or ``ssl_context`` for a private
    issuer's CA, ``timeout``...). ``watch_interval``: seconds between two checks of the
    keys files (and of the fetchers a reload brought). ``open_paths``: exact route paths
    (as :func:`route_path` gives them: decoded, without ``root_path``) served without a
    decision; prefer public routes in the policy, where an operator sees them. ``docs``:
    the default of :meth:`install`'s ``docs``.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        jwks: Iterable[JwksFetcher] = (),
        checks: Optional[Mapping[str, Callable[[str], Any]]] = None,
        jwks_options: Optional[Mapping[str, Any]] = None,
        watch_interval: float = 1.0,
        fastapi_bodies: bool = True,
        open_paths: Collection[str] = (),
        docs: bool = False,
    ) -> None:
        if not isinstance(engine, Engine):
            raise TypeError(f"engine must be an admit.Engine, not {type(engine).__name__}")
        self._engine = engine
        if checks is not None and not isinstance(checks, Mapping):
            raise TypeError(f"checks must be a dict of authenticator id to callable, not {type(checks).__name__}")
        #: The checks of the ``delegated`` authenticators, by authenticator id.
        self.checks: Dict[str, Callable[[str], Any]] = dict(checks or {})
        for auth_id, fn in self.checks.items():
            if not isinstance(auth_id, str) or not callable(fn):
                raise TypeError("checks must map authenticator ids (str) to callables taking the credential")
        self._install_checks(engine, strict=True)
        self._explicit: List[JwksFetcher] = list(jwks)
        for f in self._explicit:
            if not isinstance(f, JwksFetcher):
                raise TypeError(f"jwks must hold JwksFetcher objects, not {type(f).__name__}")
        self.jwks_options: Dict[str, Any] = dict(jwks_options or {})
        if isinstance(watch_interval, bool) or not isinstance(watch_interval, (int, float)):
            raise TypeError(f"watch_interval must be a number of seconds, not {type(watch_interval).__name__}")
        if not 0 < watch_interval < float("inf"):
            raise ValueError("watch_interval must be a finite number of seconds, more than 0")
        self.watch_interval = float(watch_interval)
        #: Every fetcher the guard runs: those given in ``jwks``, then one per
        #: ``jwks_url`` of the policy in force (none for an authenticator given one).
        self.jwks: List[JwksFetcher] = self._explicit + self._policy_fetchers(engine, [])
        #: A watch per keys file of the policy in force.
        self.keys_files: List[KeysFileWatch] = [KeysFileWatch(a, p) for a, p in engine.keys_files()]
        self._keys_lock = threading.Lock()
        self.fastapi_bodies = fastapi_bodies
        for p in open_paths:
            if not isinstance(p, str):
                raise TypeError(f"open_paths must hold str, not {type(p).__name__}")
        self.open_paths = frozenset(open_paths)
        self.docs = bool(docs)
        self._apps: List[Any] = []
        self._checked: Dict[int, List[str]] = {}
        self._running = False
        self._started: Optional[contextlib.AbstractAsyncContextManager[Admit]] = None
        self._warned_not_running = False
        #: The last coverage report of each installed app (by ``id(app)``), made on its
        #: first call (its startup).
        self.coverage_reports: Dict[int, "CoverageReport"] = {}
        log_warnings(engine)

    @property
    def engine(self) -> Engine:
        """The engine in force. Assign a new one to reload the policy."""
        return self._engine

    @engine.setter
    def engine(self, engine: Engine) -> None:
        self.reload(engine)

    def reload(self, engine: Engine) -> None:
        """Puts ``engine`` in force: installs the fetched key sets in it first, then
        swaps (one assignment, atomic for the requests that follow). Logs the new
        policy's load warnings. Raises :class:`AdmitConfigError` (and keeps the old
        engine) when the new policy has ``[cors]`` and an installed app has Starlette's
        ``CORSMiddleware``."""
        if not isinstance(engine, Engine):
            raise TypeError(f"engine must be an admit.Engine, not {type(engine).__name__}")
        if engine is self._engine:
            return
        for app in self._apps:
            problem = cors_twice(app, engine)
            if problem:
                raise AdmitConfigError(problem)
        self._install_checks(engine, strict=False)
        for f in self._explicit:
            if f.text is not None:
                try:
                    f.apply(engine)
                except Exception:  # the new policy may not have that authenticator any more
                    pass
        fetchers = self._policy_fetchers(engine, self.jwks)
        for f in fetchers:
            if f.text is not None:  # a jwks_url the old policy had too: its set carries over
                try:
                    f.apply(engine)
                except Exception as e:
                    log.warning("admit: the key set of %s does not fit the new policy: %s", f.authenticator_id, e)
        old = {id(f) for f in self.jwks}
        for f in fetchers:
            if id(f) not in old:
                log.info("admit: the new policy fetches the key set of %s from %s", f.authenticator_id, safe_url(f.url))
        kept = {id(f) for f in fetchers}
        for f in self.jwks:
            if id(f) not in kept and f not in self._explicit:
                log.info("admit: the new policy no longer fetches %s from %s", f.authenticator_id, safe_url(f.url))
        watches = [KeysFileWatch(a, p) for a, p in engine.keys_files()]
        # New lists, not changed ones: a background task or a request iterating the old
        # list meanwhile finishes with it. The background supervisor starts the new
        # fetchers and stops the removed ones; the new watches read their files at its
        # next check (the engine read them at load; they may have changed since). The
        # keys lock keeps a check from pairing an old policy's file with the new engine.
        with self._keys_lock:
            self._engine = engine
            self.jwks = self._explicit + fetchers
            self.keys_files = watches
        log_warnings(engine)
        for app in self._apps:
            if hasattr(app, "openapi_schema"):
                app.openapi_schema = None

    def _install_checks(self, engine: Engine, *, strict: bool) -> None:
        """Registers the guard's checks in ``engine``; warns about a ``delegated``
        authenticator left without one (its credentials are refused). ``strict``: a
        check for an authenticator the policy lacks raises (the constructor) instead of
        being logged (a reload)."""
        for auth_id, fn in self.checks.items():
            try:
                engine.set_check(auth_id, fn)
            except EngineError as e:
                if strict:
                    raise
                log.warning("admit: the new policy does not use the check given for %s: %s", auth_id, e)
        for auth_id, kind in engine.authenticators():
            if kind == "delegated" and engine.get_check(auth_id) is None:
                log.warning(
                    "admit: no check for the delegated authenticator %s (Admit(engine, checks={...})): "
                    "its credentials are refused",
                    auth_id,
                )

    # -- deciding ---------------------------------------------------------------------

    def decide_scope(self, scope: Scope, engine: Optional[Engine] = None) -> Decision:
        """The decision for an ASGI ``http`` or ``websocket`` scope, made on the path
        Starlette routes on (:func:`route_path`), re-encoded for the engine
        (``decide(..., decoded=True)``). The query string plays no part."""
        engine = engine or self._engine
        path = route_path(scope)
        if path is None:
            return engine.malformed("the request has no path")
        client = scope.get("client")
        peer = client[0] if client else None
        if peer is not None and not isinstance(peer, str):
            peer = None
        method = scope.get("method") or "GET"
        # Starlette's route path is "" for a request to the root_path itself (no route
        # pattern of a policy can be ""); it is decided as "/".
        return engine.decide(method, path or "/", scope.get("headers") or (), peer, decoded=True)

    def _step(self, scope: Scope, engine: Engine) -> "Decision | PendingCheck":
        """:meth:`decide_scope`'s decision, or the check of a ``delegated`` credential
        it waits for (through the engine's ASGI entry point; a guard whose
        ``decide_scope`` is another decides with it, and its checks run synchronously)."""
        if type(self).decide_scope is Admit.decide_scope and "decide_scope" not in self.__dict__:
            return engine._decide_asgi(scope, route_path(scope))
        return self.decide_scope(scope, engine)

    async def _resolve(self, step: "Decision | PendingCheck") -> Decision:
        """The decision once the checks a step waits for have run: an ``async def``
        check awaited here, a plain one in a worker thread."""
        return await decide_async(step, _in_thread)

    async def _decide(self, scope: Scope) -> Decision:
        """The decision, with the checks of ``delegated`` credentials awaited, and the
        one ``unknown_key`` retry: the key sets are fetched (each fetcher at most once
        per ``min_interval``, one fetch in flight shared by every request that needs
        it) and the request is decided again. A request whose key is known never
        waits."""
        step = self._step(scope, self._engine)
        decision = await self._resolve(step) if isinstance(step, PendingCheck) else step
        if decision.reason != "unknown_key" or not self.jwks:
            return decision
        if not self._running and not self._warned_not_running:
            self._warned_not_running = True
            log.warning(
                "admit: the JWKS fetchers are not refreshed in the background: the guard's "
                "lifespan is not running (install(app) runs it with the app's lifespan; "
                "otherwise use `async with guard.lifespan():` or guard.start()/stop())"
            )
        if await self._on_unknown_key():
            step = self._step(scope, self._engine)
            decision = await self._resolve(step) if isinstance(step, PendingCheck) else step
        return decision

    async def _on_unknown_key(self) -> bool:
        got = False
        for f in list(self.jwks):
            got = await self._fetch(f, force=False, why="for an unknown key") or got
        return got

    async def _fetch(self, f: JwksFetcher, *, force: bool, why: str) -> bool:
        """Joins or starts ``f``'s fetch (in a thread of its own) and waits for it, at
        most the fetcher's timeout (and a second to install the set), whatever the
        socket does: a request, the startup or the refresher is never held longer.
        True when the engine in force then holds the fetched set."""
        fut, mine = f._begin(force=force)
        if fut is None:
            return False
        if mine:
            if why == "for an unknown key":
                log.info("admit: a token names a key the set of %s lacks: fetching the set again", f.authenticator_id)
            # Its own thread, not the anyio pool: a fetch stuck in a socket past the
            # wait below keeps no pool thread from the app's sync endpoints.
            threading.Thread(
                target=f._run,
                args=(fut, lambda: self._engine_for(f), why),
                name=f"admit-jwks-{f.authenticator_id}",
                daemon=True,
            ).start()
        got = await _wait(fut, f.timeout + _INSTALL_ALLOWANCE)
        if not fut.done():
            log.warning(
                "admit: the key set fetch of %s (%s) outlasted %.1f s; not waiting for it any more",
                f.authenticator_id,
                why,
                f.timeout,
            )
        return got is not None

    def _engine_for(self, f: JwksFetcher) -> Optional[Engine]:
        """The engine a fetch of ``f`` installs its set in: the one in force, unless a
        reload retired ``f`` meanwhile (then its set is dropped)."""
        return self._engine if any(x is f for x in self.jwks) else None

    def _current_engine(self) -> Engine:
        return self._engine

    # -- keys files -----------------------------------------------------------------------

    def reload_keys(self) -> Dict[str, Optional[bool]]:
        """Checks every keys file of the policy now and hands each changed one to
        ``set_keys`` (the background check does the same every ``watch_interval``).
        Returns, per authenticator, True when a new file was taken, False when the file
        was refused or unreadable (logged at WARNING; the old keys stay), None when it
        had not changed. For a signal handler or an admin endpoint; the next request
        after it returns sees the new keys. Reads the files in the calling thread."""
        return self._check_keys(force=False)

    def _check_keys(self, *, force: bool) -> Dict[str, Optional[bool]]:
        with self._keys_lock:
            engine = self._engine
            watches = self.keys_files
            out: Dict[str, Optional[bool]] = {}
            for w in watches:
                try:
                    out[w.authenticator_id] = w.check(engine, force=force)
                except Exception:  # never let the watcher die: log, keep the old keys
                    log.exception("admit: checking the keys file of %s failed", w.authenticator_id)
                    out[w.authenticator_id] = False
            return out

    # -- background refresh and readiness --------------------------------------------------

    async def _refresh_loop(self, f: JwksFetcher) -> None:
        import anyio

        while True:
            delay = f.refresh_delay()
            log.debug("admit: next refresh of the key set of %s in %.1f s", f.authenticator_id, delay)
            await anyio.sleep(delay)
            try:
                await self._fetch(f, force=True, why="in the background")
            except Exception:  # never end the loop: the next attempt is scheduled
                log.exception("admit: refreshing the key set of %s failed", f.authenticator_id)

    async def _run_fetcher(self, f: JwksFetcher, scope: Any) -> None:
        """One fetcher's background life, until ``scope`` is cancelled: a first fetch
        when it has no set yet (a ``jwks_url`` a reload brought), then the refresh loop."""
        with scope:
            if f.text is None and not f.failures:
                await self._fetch_quietly(f, "for a new jwks_url")
            await self._refresh_loop(f)

    async def _supervise(self, tg: Any) -> None:
        """Every ``watch_interval``: checks the keys files, starts a background task for
        each fetcher the guard runs that has none (a reload's new ``jwks_url``s), and
        cancels the tasks of fetchers a reload removed."""
        import anyio
        import anyio.to_thread

        tasks: Dict[int, "tuple[JwksFetcher, Any]"] = {}
        while True:
            fetchers = list(self.jwks)
            wanted = {id(f) for f in fetchers}
            for key in [k for k in tasks if k not in wanted]:
                f, scope = tasks.pop(key)
                scope.cancel()
                f.next_refresh = None
            for f in fetchers:
                if id(f) not in tasks:
                    scope = anyio.CancelScope()
                    tasks[id(f)] = (f, scope)
                    tg.start_soon(self._run_fetcher, f, scope)
            try:
                await anyio.to_thread.run_sync(self._check_keys_quietly)
            except Exception:  # pragma: no cover (the check logs its own failures)
                log.exception("admit: checking the keys files failed")
            await anyio.sleep(self.watch_interval)

    def _check_keys_quietly(self) -> None:
        self._check_keys(force=False)

    async def _fetch_all(self, fetchers: List[JwksFetcher]) -> None:
        import anyio

        async with anyio.create_task_group() as tg:
            for f in fetchers:
                tg.start_soon(self._fetch_quietly, f, "at startup")
        missing = [f.authenticator_id for f in fetchers if not f.ready]
        if missing:
            log.warning("admit: not ready: no key set yet for %s (retrying in the background)", ", ".join(missing))
        elif fetchers:
            log.info("admit: every key set fetched (%s)", ", ".join(f.authenticator_id for f in fetchers))

    async def _fetch_quietly(self, f: JwksFetcher, why: str) -> None:
        try:
            await self._fetch(f, force=True, why=why)
        except Exception:
            log.exception("admit: fetching the key set of %s failed", f.authenticator_id)

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator["Admit"]:
        """Runs the guard for the body of an ``async with``: reads the keys files and
        fetches every key set (failures are logged; :attr:`ready` says whether all
        arrived), then refreshes each set and watches the keys files in the background
        until the block ends. For apps that :meth:`install` does not hook (plain ASGI, a
        guard on a mounted sub-app, whose lifespan Starlette does not run)::

            @asynccontextmanager
            async def lifespan(app):
                async with guard.lifespan():
                    yield

        Entering it while the guard already runs does nothing (one refresher)."""
        import anyio
        import anyio.to_thread

        if self._running:
            yield self
            return
        self._running = True
        try:
            await anyio.to_thread.run_sync(self._check_keys_quietly)
            await self._fetch_all(list(self.jwks))
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._supervise, tg)
                try:
                    yield self
                finally:
                    tg.cancel_scope.cancel()
        finally:
            self._running = False
            for f in self.jwks:
                f.next_refresh = None

    async def start(self) -> None:
        """:meth:`lifespan` without a block: fetches the key sets and starts the
        background refresh; :meth:`stop` ends it. Call both from the same task (an
        ASGI lifespan handler's startup and shutdown, say)."""
        if self._started is not None:
            return
        cm = self.lifespan()
        await cm.__aenter__()
        self._started = cm

    async def stop(self) -> None:
        """Stops the background refresh that :meth:`start` began."""
        cm, self._started = self._started, None
        if cm is not None:
            await cm.__aexit__(None, None, None)

    @property
    def running(self) -> bool:
        """True while the background refresh runs."""
        return self._running

    @property
    def ready(self) -> bool:
        """True once every JWKS fetcher has a key set (always, without fetchers)."""
        return all(f.ready for f in self.jwks)

    def status(self) -> Dict[str, Any]:
        """For a readiness endpoint: ``ready``, ``running`` (the background refresh),
        ``jwks``, each fetcher's :meth:`admit.jwks.JwksFetcher.status` (last success,
        last error, key count, next refresh), and ``keys_files``, each watch's state
        (path, key count, changes applied, last error). JSON-serialisable, no key
        material."""
        return {
            "ready": self.ready,
            "running": self._running,
            "jwks": [f.status() for f in self.jwks],
            "keys_files": [w.status() for w in self.keys_files],
        }

    # -- the fetchers a policy asks for -----------------------------------------------------

    def _policy_fetchers(self, engine: Engine, current: List[JwksFetcher]) -> List[JwksFetcher]:
        """A fetcher per ``jwks_url`` of ``engine`` that no fetcher given by hand
        covers: the one in ``current`` for the same authenticator and URL (its set and
        schedule carry over a reload), or a new one with :attr:`jwks_options`."""
        by_hand = {f.authenticator_id for f in self._explicit}
        out: List[JwksFetcher] = []
        for auth_id, url in engine.jwks_urls():
            if auth_id in by_hand:
                continue
            same = next(
                (f for f in current if f.authenticator_id == auth_id and f.url == url and f not in self._explicit),
                None,
            )
            if same is None:
                # The URL passed the core's check at load, so only jwks_options can fail here.
                same = JwksFetcher(url, auth_id, **self.jwks_options)
            out.append(same)
        return out

    # -- wiring -----------------------------------------------------------------------

    def middleware(self, app: ASGIApp) -> "AdmitMiddleware":
        """Wraps an ASGI app. Nothing runs its lifespan: use :meth:`lifespan`."""
        from ._middleware import AdmitMiddleware

        return AdmitMiddleware(app, guard=self)

    def install(
        self,
        app: Any,
        *,
        openapi: bool = True,
        docs: Optional[bool] = None,
        strict_coverage: bool = False,
    ) -> None:
        """Adds the middleware to a FastAPI/Starlette app and:

        - hooks the app's lifespan (``app.router.lifespan_context``, the app's own
          lifespan still runs) to run :meth:`lifespan`: key sets fetched at startup,
          refreshed in the background, stopped at shutdown;
        - with ``openapi``, adds the policy's security schemes to the OpenAPI schema;
        - with ``docs`` (default: the guard's ``docs``, False), adds the app's
          ``docs_url``, ``redoc_url``, ``openapi_url`` and
          ``swagger_ui_oauth2_redirect_url`` to ``open_paths``, so the docs are served
          without a decision (logged);
        - on the app's first call (its startup), checks the app against the policy
          and raises :class:`AdmitConfigError` at startup (or on each request of an app
          without a lifespan) when Starlette's ``CORSMiddleware`` would answer CORS a
          second time, or sit inside admit with preflights refused; logs the route
          coverage (:func:`admit.fastapi.coverage`: WARNING when a route is not
          covered), and with ``strict_coverage`` refuses to start when one is not.

        ``CORSMiddleware`` already added with a policy that has ``[cors]`` raises here.
        """
        from ._middleware import AdmitMiddleware
        from ._openapi import patch_openapi

        if not hasattr(app, "add_middleware"):
            raise TypeError(
                "install() needs a Starlette or FastAPI app; wrap other ASGI apps with guard.middleware(app)"
            )
        problem = cors_twice(app, self._engine)
        if problem:
            raise AdmitConfigError(problem)
        app.add_middleware(AdmitMiddleware, guard=self)
        self._apps.append(app)
        if self.docs if docs is None else docs:
            self._open_docs(app)
        if openapi and hasattr(app, "openapi"):
            patch_openapi(app, self)
        self._hook_first_call(app, strict_coverage)
        self._hook_lifespan(app)

    def _open_docs(self, app: Any) -> None:
        names = ("docs_url", "redoc_url", "openapi_url", "swagger_ui_oauth2_redirect_url")
        served = [getattr(app, n, None) for n in names]
        openapi_url = getattr(app, "openapi_url", None)
        docs_url = getattr(app, "docs_url", None)
        paths = []
        for name, url in zip(names, served):
            if not isinstance(url, str) or not url:
                continue
            # FastAPI serves the pages only with an openapi_url, the redirect only with docs_url.
            if name != "openapi_url" and not openapi_url:
                continue
            if name == "swagger_ui_oauth2_redirect_url" and not docs_url:
                continue
            paths.append(url)
        if not paths:
            log.warning("admit: docs=True, but the app serves no docs pages (no docs_url/openapi_url)")
            return
        self.open_paths = self.open_paths | frozenset(paths)
        log.info("admit: docs=True: serving %s without a decision (open_paths)", ", ".join(paths))

    def _hook_first_call(self, app: Any, strict: bool) -> None:
        original = getattr(app, "build_middleware_stack", None)
        if not callable(original):
            return
        guard = self

        def build_middleware_stack() -> ASGIApp:
            stack: ASGIApp = original()
            errors = guard._check_app(app, strict)
            if not errors:
                return stack
            error = AdmitConfigError("\n".join(errors))

            async def refuse(scope: Scope, receive: Receive, send: Send) -> None:
                if scope["type"] == "lifespan":  # the hooked lifespan fails the startup
                    await stack(scope, receive, send)
                    return
                raise error

            return refuse

        app.build_middleware_stack = build_middleware_stack

    def _check_app(self, app: Any, strict: bool) -> List[str]:
        """The app against the policy, once per app: CORS, route coverage."""
        key = id(app)
        if key in self._checked:
            return self._checked[key]
        errors: List[str] = []
        engine = self._engine
        report = None
        try:
            from ._coverage import coverage

            report = coverage(app, engine, open_paths=self.open_paths)
        except Exception:  # a router admit cannot read: say so, decide as usual
            log.exception("admit: cannot check the app's routes against the policy")
        problem = cors_twice(app, engine) or cors_inside(app, self, engine, report)
        if problem:
            errors.append(problem)
        if report is not None:
            self.coverage_reports[key] = report
            if report.uncovered:
                log.warning("%s", report)
                if strict:
                    errors.append(
                        "admit: strict_coverage: no rule of the policy covers "
                        + ", ".join(f"{r.method} {r.path}" for r in report.uncovered)
                        + " (each would answer 403 no_route)"
                    )
            else:
                log.info("%s", report)
        self._checked[key] = errors
        return errors

    def _hook_lifespan(self, app: Any) -> None:
        router = getattr(app, "router", None)
        original = getattr(router, "lifespan_context", None)
        if router is None or not callable(original):
            log.warning(
                "admit: cannot hook the app's lifespan; run `async with guard.lifespan():` in it "
                "to fetch the key sets at startup"
            )
            return
        guard = self

        @contextlib.asynccontextmanager
        async def lifespan(a: Any) -> AsyncIterator[Any]:
            errors = guard._checked.get(id(app))
            if errors:
                raise AdmitConfigError("\n".join(errors))
            async with original(a) as state:
                async with guard.lifespan():
                    yield state

        router.lifespan_context = lifespan


__all__ = ["Admit", "AdmitConfigError"]
