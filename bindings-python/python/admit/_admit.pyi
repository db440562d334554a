"""Type stubs for the native module ``admit._admit``."""

from __future__ import annotations

import os
from typing import (
    Any,
    Awaitable,
    Callable,
    Dict,
    Iterable,
    List,
    Literal,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    TypedDict,
    Union,
)

__version__: str

_Text = Union[str, bytes]
_HeaderPairs = Iterable[Union[Tuple[_Text, _Text], Sequence[_Text]]]
Headers = Union[
    _HeaderPairs,
    Mapping[str, Union[_Text, Sequence[_Text]]],
    Mapping[bytes, Union[_Text, Sequence[_Text]]],
    None,
]
StrPath = Union[str, "os.PathLike[str]"]

class Problem(TypedDict):
    """One problem or warning in a policy, with its place."""

    place: str
    line: Optional[int]
    column: Optional[int]
    message: str

class RuleInfo(TypedDict):
    """One route rule of a compiled policy (``Engine.rules()``)."""

    index: int
    name: str
    methods: Optional[List[str]]
    patterns: List[str]
    catch_all: bool
    access: Literal["public", "deny", "authenticated"]
    require: List[str]
    require_any: List[str]
    authenticators: Optional[List[str]]
    dry_run: bool

class RouteMatch(TypedDict):
    """The rule and pattern that decide a method and path (``Engine.match_route()``)."""

    index: int
    name: str
    pattern: str
    catch_all: bool

class JwtInfo(TypedDict):
    """A ``jwt`` authenticator's issuer and audiences (``Engine.jwt_authenticators()``)."""

    id: str
    issuer: Optional[str]
    audience: List[str]

class PolicyError(ValueError):
    """A policy failed to load; every problem is in ``errors``."""

    errors: List[Problem]
    place: Optional[str]
    line: Optional[int]
    column: Optional[int]
    message: Optional[str]
    path: Optional[str]

class EngineError(ValueError):
    """``set_jwks``, ``set_keys`` or ``issue_token`` failed."""

    kind: str  # "unknown_authenticator" | "unsupported" | "invalid"

class Principal:
    """Who made the request."""

    @property
    def id(self) -> str: ...
    @property
    def authenticator(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def roles(self) -> List[str]: ...
    @property
    def scopes(self) -> List[str]: ...
    @property
    def claims(self) -> Optional[dict[str, Any]]: ...
    def has_scope(self, scope: str) -> bool: ...
    def to_dict(self) -> dict[str, Any]: ...
    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any: ...

class Decision:
    """The answer for one request."""

    @property
    def allow(self) -> bool: ...
    @property
    def status(self) -> int: ...
    @property
    def reason(self) -> str: ...
    @property
    def message(self) -> str: ...
    @property
    def headers(self) -> List[Tuple[str, str]]: ...
    @property
    def body(self) -> Optional[str]: ...
    @property
    def principal(self) -> Optional[Principal]: ...
    @property
    def rule(self) -> Optional[str]: ...
    @property
    def constraints(self) -> dict[str, str]: ...
    @property
    def dry_run(self) -> bool: ...
    @property
    def _plain(self) -> bool:
        """For the middleware: allowed, not a dry-run refusal, no headers to add."""
    def header(self, name: str) -> Optional[str]: ...
    def to_dict(self) -> dict[str, Any]: ...
    def to_json(self) -> str: ...

class Verdict:
    """A check's verdict on a credential: a principal or a refusal."""

    @staticmethod
    def principal(id: str, *, roles: Optional[Sequence[str]] = None, scopes: Optional[Sequence[str]] = None) -> Verdict: ...
    @staticmethod
    def refuse(reason: Optional[Literal["invalid_credentials", "expired", "revoked"]] = None) -> Verdict: ...
    @staticmethod
    def from_dict(verdict: Mapping[str, Any]) -> Verdict: ...
    @property
    def id(self) -> Optional[str]: ...
    @property
    def roles(self) -> List[str]: ...
    @property
    def scopes(self) -> List[str]: ...
    @property
    def refused(self) -> Optional[str]: ...
    def to_dict(self) -> dict[str, Any]: ...

#: What a check answers: a verdict dict, a Verdict, or None (an unknown credential).
CheckAnswer = Union[Mapping[str, Any], Verdict, None]
#: A check of a ``delegated`` authenticator, sync or async.
Check = Callable[[str], Union[CheckAnswer, Awaitable[CheckAnswer]]]

class PendingCheck:
    """A decision waiting for the host's check of a credential."""

    @property
    def authenticator(self) -> str: ...
    @property
    def credential(self) -> str: ...
    @property
    def engine(self) -> Engine: ...
    @property
    def principal(self) -> None: ...
    @property
    def _plain(self) -> bool: ...
    def resume(self, verdict: Verdict) -> Union[Decision, PendingCheck]: ...

class Engine:
    """A compiled policy, thread-safe. The policy never changes (reload by building a
    new engine); ``set_jwks`` swaps a JWT key set in place for every thread."""

    @staticmethod
    def from_file(path: StrPath, env: Optional[Mapping[str, str]] = None) -> Engine: ...
    @staticmethod
    def from_toml(
        text: str, env: Optional[Mapping[str, str]] = None, base_dir: Optional[StrPath] = None
    ) -> Engine: ...
    @staticmethod
    def from_json(
        text: str, env: Optional[Mapping[str, str]] = None, base_dir: Optional[StrPath] = None
    ) -> Engine: ...
    @staticmethod
    def from_string(
        text: str,
        format: str = "toml",
        env: Optional[Mapping[str, str]] = None,
        base_dir: Optional[StrPath] = None,
    ) -> Engine: ...
    @staticmethod
    def from_dict(
        policy: Mapping[str, Any],
        env: Optional[Mapping[str, str]] = None,
        base_dir: Optional[StrPath] = None,
    ) -> Engine: ...
    def decide(
        self,
        method: str,
        path: str,
        headers: Headers = None,
        peer: Optional[str] = None,
        now: Union[int, float, None] = None,
        *,
        decoded: bool = False,
    ) -> Decision: ...
    def explain(
        self,
        method: str,
        path: str,
        headers: Headers = None,
        peer: Optional[str] = None,
        now: Union[int, float, None] = None,
        *,
        decoded: bool = False,
    ) -> Dict[str, Any]:
        """``{"decision": ..., "trace": ...}``: the decision ``decide`` gives (as
        ``Decision.to_dict()``) and how it was reached (docs/policy.md, "Explaining a
        decision"). Never holds a credential or a secret."""
        ...
    def decide_step(
        self,
        method: str,
        path: str,
        headers: Headers = None,
        peer: Optional[str] = None,
        now: Union[int, float, None] = None,
        *,
        decoded: bool = False,
    ) -> Union[Decision, PendingCheck]: ...
    def decide_async(
        self,
        method: str,
        path: str,
        headers: Headers = None,
        peer: Optional[str] = None,
        now: Union[int, float, None] = None,
        *,
        decoded: bool = False,
    ) -> Awaitable[Decision]: ...
    def set_check(self, authenticator_id: str, check: Optional[Check]) -> None: ...
    def get_check(self, authenticator_id: str) -> Optional[Check]: ...
    def _decide_asgi(self, scope: Mapping[str, Any], path: object) -> Union[Decision, PendingCheck]:
        """For the middleware: ``Admit.decide_scope(scope)``'s decision, ``path`` the
        route path (``admit.fastapi.route_path(scope)``), in one call, with the GIL
        held (``decide`` releases it); a ``PendingCheck`` only with a ``delegated``
        authenticator in the policy."""
    def malformed(self, detail: str) -> Decision: ...
    def set_jwks(self, authenticator_id: str, jwks: Union[str, bytes, Mapping[str, Any]]) -> int: ...
    def jwks_urls(self) -> List[Tuple[str, str]]:
        """(authenticator id, url) of each enabled ``jwt`` authenticator with a ``jwks_url``."""
    def keys_files(self) -> List[Tuple[str, str]]:
        """(authenticator id, absolute path) of each keys file, resolved against the
        policy's folder (``from_file``) or ``base_dir``."""
    def set_keys(self, authenticator_id: str, keys_file: Union[str, bytes]) -> int:
        """Replaces an ``api_key``/``bearer_token`` authenticator's keys with a keys
        file's text; raises ``EngineError`` (old keys kept) when it is refused."""
    def issue_token(
        self,
        authenticator_id: str,
        subject: str,
        *,
        roles: Optional[Sequence[str]] = None,
        scopes: Optional[Sequence[str]] = None,
        lifetime: Optional[int] = None,
        now: Union[int, float, None] = None,
        claims: Optional[Mapping[str, Any]] = None,
    ) -> str: ...
    def authenticators(self) -> List[Tuple[str, str]]: ...
    def api_key_header(self, authenticator_id: str) -> Optional[str]: ...
    @property
    def warnings(self) -> List[Problem]: ...
    def rules(self) -> List[RuleInfo]: ...
    def match_route(self, method: str, path: str, *, decoded: bool = False) -> Optional[RouteMatch]: ...
    def has_cors(self) -> bool: ...
    def jwt_authenticators(self) -> List[JwtInfo]: ...

def hash_key(key: str) -> str: ...
def target_from_decoded(path: str) -> str: ...
def check_jwks_url(url: str) -> None: ...
def fetch_max_age(cache_control: str) -> Optional[int]: ...
def fetch_refresh_after(cache_control: Optional[str] = None) -> int: ...
def fetch_retry_after(failures: int) -> int: ...

FETCH_RULES: dict[str, int]
