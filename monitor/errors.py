"""The exception tree of the compliance monitor.

Every error the product raises on purpose derives from :class:`MonitorError`. Foreign
exceptions (aiohttp, sqlite, apprise, yaml) are translated once, at their seam, with
``raise ... from``, so code above the seams only ever sees this tree::

    MonitorError
    ├── ConfigError                 a config or rule file is invalid (file, key path, reason)
    │   ├── ConfigErrors            several of those at once (``problems``), one per line
    │   ├── TokenFileError          a token file is missing, unreadable or malformed
    │   └── RuleError               a rule file is invalid
    ├── StartError                  the daemon could not start: port, store, token file
    ├── SourceError                 talking to an MDM API failed
    │   ├── TransportError          connection refused/reset, timeout, TLS    (retryable)
    │   ├── RateLimitedError        429; carries retry_after when given       (retryable)
    │   ├── ServerError             5xx                                       (retryable)
    │   ├── AuthError               401: token missing, wrong or revoked
    │   ├── PermissionDeniedError   403: token lacks this endpoint
    │   ├── NotFoundError           404
    │   ├── ClientRequestError      other 4xx (bad request, command not allowed)
    │   ├── MalformedResponseError  the body is not what the API documents
    │   └── BudgetExhaustedError    the request budget for this window is spent
    ├── StoreError                  the persistent store failed
    │   └── StaleLeaseError         a write carried a lease that is no longer current
    ├── DeliveryError               a notification could not be delivered (retryable)
    │   └── PermanentDeliveryError  ...and trying again cannot help (bad URL, auth refused)
    └── ActionError                 a remediation action failed or was refused

``retryable`` tells whether trying the same call again may help; ``retry_after`` is the
delay (seconds) the server asked for, when it asked.
"""

from __future__ import annotations


class MonitorError(Exception):
    """Base of every error the monitor raises on purpose."""

    retryable: bool = False

    def __init_subclass__(cls, *, retryable: bool | None = None) -> None:
        super().__init_subclass__()
        if retryable is not None:
            cls.retryable = retryable

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after

    def __str__(self) -> str:
        return self.message


class ConfigError(MonitorError):
    """A configuration file is invalid.

    ``file`` is the file, ``key_path`` the dotted path of the offending key (``""`` for
    the whole document) and ``reason`` what is wrong with it.
    """

    def __init__(self, file: str, key_path: str, reason: str, *, line: int | None = None) -> None:
        where = file if line is None else f"{file}:{line}"
        key = key_path or "(document)"
        super().__init__(f"{where}: {key}: {reason}")
        self.file = file
        self.key_path = key_path
        self.reason = reason
        self.line = line


class ConfigErrors(ConfigError):
    """Every problem found in one pass over a config (``problems``, in file order).

    It reads as its first problem (``file``, ``key_path``, ``reason``, ``line``) so code
    that expects one :class:`ConfigError` still works; ``str()`` lists them all, one a line.
    """

    def __init__(self, problems: list[ConfigError]) -> None:
        assert problems, "ConfigErrors needs at least one problem"
        first = problems[0]
        super().__init__(first.file, first.key_path, first.reason, line=first.line)
        self.problems = list(problems)
        self.message = "\n".join(p.message for p in self.problems)


class TokenFileError(ConfigError):
    """A source's ``token_file`` is missing, unreadable, empty or holds a line break.

    It is found when the daemon starts (the file may be mounted later than the config is
    written), so the command line reports it as "could not start", not "config invalid".
    """


class StartError(MonitorError):
    """The daemon could not start: the web port is taken, the store cannot be opened or
    written, a token file is missing or unreadable. ``what`` names the part that failed."""

    def __init__(self, what: str, reason: str) -> None:
        super().__init__(f"{what}: {reason}")
        self.what = what
        self.reason = reason


class RuleError(ConfigError):
    """A rule file is invalid (unknown field, unknown operator, bad value)."""


class SourceError(MonitorError):
    """Talking to an MDM API failed. ``source`` names the configured source."""

    def __init__(
        self,
        message: str,
        *,
        source: str = "",
        endpoint: str = "",
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, retry_after=retry_after)
        self.source = source
        self.endpoint = endpoint
        self.status = status


class TransportError(SourceError, retryable=True):
    """The connection failed, was reset or timed out."""


class RateLimitedError(SourceError, retryable=True):
    """The API answered 429."""


class ServerError(SourceError, retryable=True):
    """The API answered 5xx."""


class AuthError(SourceError):
    """The API rejected the token (401)."""


class PermissionDeniedError(SourceError):
    """The token is valid but not allowed to call this endpoint (403)."""


class NotFoundError(SourceError):
    """The resource does not exist (404)."""


class ClientRequestError(SourceError):
    """The API refused the request (4xx other than 401/403/404/429)."""


class MalformedResponseError(SourceError, retryable=True):
    """The API answered with a body that does not match what it documents."""


class BudgetExhaustedError(SourceError, retryable=True):
    """The request budget of this source is spent for now."""


class StoreError(MonitorError):
    """The persistent store failed."""


class StaleLeaseError(StoreError):
    """A write on behalf of a source carried a lease another instance has since taken
    (or that had lapsed): the write was refused, nothing of it was stored."""


class DeliveryError(MonitorError, retryable=True):
    """A notification could not be delivered; the outbox will retry it."""


class PermanentDeliveryError(DeliveryError, retryable=False):
    """A notification cannot be delivered however often it is tried: the URL does not
    parse, the service refused the credentials. The outbox dead-letters it at once."""


class ActionError(MonitorError):
    """A remediation action failed or was refused."""


def is_auth_error(exc: BaseException) -> bool:
    """Whether ``exc`` means the API refuses the credentials (401/403): waiting for the
    next sweep does not help, an operator must replace or widen the token."""
    return isinstance(exc, AuthError | PermissionDeniedError)
