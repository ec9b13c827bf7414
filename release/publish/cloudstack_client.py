"""The one CloudStack API client: construction, credentials, and its errors turned into ours.

The `cs` package signs each request (HMAC-SHA1 over the lower-cased, sorted query, base64)
with the API key and secret from CLOUDSTACK_KEY / CLOUDSTACK_SECRET, or from cs's own
cloudstack.ini (CLOUDSTACK_CONFIG, CLOUDSTACK_REGION); they never reach argv, logs or files.
cs's own retries are off: the budget is release/publish/retry.py's. `cs` is imported here only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import requests
from cs import CloudStack, CloudStackApiException, CloudStackException, read_config

from release.errors import InvalidInput, OperationError
from release.publish.retry import Retrier, Transient

Record = Mapping[str, object]  # one CloudStack object (a template, an OS type), as JSON

# HTTP statuses CloudStack answers that are worth another try (430: a resource is busy,
# 530: an internal error, 503: unavailable, 429: throttled).
_TRANSIENT_STATUS = {429, 430, 500, 502, 503, 504, 530}


class CloudStackError(OperationError):
    """CloudStack refused a call; `code` is its errorcode (431: bad parameter, 401: auth)."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class CloudStackAuthError(CloudStackError):
    """The API key or secret is missing or wrong (CloudStack's 401)."""


@dataclass(frozen=True)
class Credentials:
    key: str
    secret: str

    def __repr__(self) -> str:  # never show the secret
        return f"Credentials(key={self.key[:4]}..., secret=***)"


def credentials(environ: Mapping[str, str] | None = None) -> Credentials:
    """The API key and secret: CLOUDSTACK_KEY/CLOUDSTACK_SECRET, else cs's cloudstack.ini."""
    env = os.environ if environ is None else environ
    if env.get("CLOUDSTACK_KEY") and env.get("CLOUDSTACK_SECRET"):
        return Credentials(env["CLOUDSTACK_KEY"], env["CLOUDSTACK_SECRET"])
    try:
        conf = read_config()
    except (SystemExit, OSError, KeyError, ValueError) as exc:
        raise CloudStackAuthError(
            "no CloudStack credentials: set CLOUDSTACK_KEY and CLOUDSTACK_SECRET, or write"
            " them to cloudstack.ini (see the `cs` package)"
        ) from exc
    key, secret = conf.get("key"), conf.get("secret")
    if not key or not secret:
        raise CloudStackAuthError(
            "no CloudStack credentials: set CLOUDSTACK_KEY and CLOUDSTACK_SECRET"
        )
    return Credentials(str(key), str(secret))


def translate(what: str, exc: Exception) -> Exception:
    """CloudStack's or the network's error as ours: Transient when worth retrying."""
    if isinstance(exc, CloudStackApiException):
        code = _code(exc)
        text = _text(exc)
        if code == 401:
            return CloudStackAuthError(
                f"{what}: CloudStack refused the credentials or the request signature ({text});"
                " check CLOUDSTACK_KEY and CLOUDSTACK_SECRET",
                code,
            )
        if code in _TRANSIENT_STATUS:
            return Transient(f"{what}: CloudStack error {code}: {text}")
        return CloudStackError(f"{what}: CloudStack error {code}: {text}", code)
    if isinstance(exc, requests.ConnectionError | requests.Timeout):
        return Transient(f"{what}: {type(exc).__name__}: {exc}")
    status = _status(exc)
    if status in _TRANSIENT_STATUS:  # a proxy's or load balancer's answer, not CloudStack's
        return Transient(f"{what}: HTTP {status}")
    if isinstance(exc, CloudStackException | requests.RequestException | ValueError):
        return CloudStackError(f"{what}: {exc}")
    return exc


def _status(exc: Exception) -> int | None:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def _code(exc: CloudStackApiException) -> int | None:
    error = exc.error if isinstance(exc.error, dict) else {}
    code = error.get("errorcode")
    return code if isinstance(code, int) else _status(exc)


def _text(exc: CloudStackApiException) -> str:
    error = exc.error if isinstance(exc.error, dict) else {}
    return str(error.get("errortext") or exc)


class CloudStackApi:
    """The calls we make, each retried when transient and translated; JSON records back."""

    def __init__(
        self,
        endpoint: str,
        retrier: Retrier,
        creds: Credentials | None = None,
        timeout: int = 60,
    ) -> None:
        creds = creds or credentials()
        self.endpoint = endpoint
        self.retrier = retrier
        self._cs = CloudStack(
            endpoint=endpoint, key=creds.key, secret=creds.secret, timeout=timeout, retry=0
        )

    def call(self, command: str, **params: str) -> dict[str, object]:
        """One API command; its answer's `<command>response` object."""
        what = f"CloudStack {command}"

        def once() -> dict[str, object]:
            try:
                answer = getattr(self._cs, command)(**params)
            except Exception as exc:
                translated = translate(what, exc)
                if translated is exc:
                    raise
                raise translated from exc
            if not isinstance(answer, dict):
                raise CloudStackError(f"{what}: not a JSON object: {answer!r:.200}")
            return answer

        return self.retrier.call(what, once)

    def records(self, command: str, key: str, **params: str) -> list[Record]:
        """A list command's records (`key`: template, ostype ...); [] when none."""
        found = self.call(command, **params).get(key, [])
        if not isinstance(found, list):
            raise CloudStackError(f"CloudStack {command}: `{key}` is not a list")
        return [r for r in found if isinstance(r, dict)]


def require(record: Record, field: str) -> str:
    value = record.get(field)
    if value is None:
        raise CloudStackError(f"CloudStack answered a record without `{field}`: {dict(record)}")
    return str(value)


def check_endpoint(endpoint: str) -> None:
    if not endpoint.startswith(("http://", "https://")):
        raise InvalidInput(f"{endpoint}: the CloudStack endpoint must be an http(s):// URL")
