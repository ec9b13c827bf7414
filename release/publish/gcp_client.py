"""The one place Google Cloud clients are built (Cloud Storage, Compute images) and the Google
libraries' errors become ours.

Credentials are Google's application default credentials (ADC), or none at all for an
emulator or a private endpoint (an `endpoint_url`). `translate` sorts a google-api-core,
google-auth or requests error into Transient, InvalidInput (the user's to fix),
OperationError, or one of the public outcomes the adapters act on: `Precondition` (412),
`NotFound` (404) and, on a resumable upload's session URL, `SessionGone`. The libraries' own
retries are turned off at each call (`retry=None`): the policy in retry.py is the whole
budget. google-cloud-storage and google-cloud-compute clients are built here only.
google-cloud-storage ships no type information (no py.typed), so to mypy its Client, Bucket
and Blob are `Any`; signatures name them all the same. compute_v1 and google-auth are typed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import google.auth
import google.cloud.storage as storage
import requests
from google.api_core import exceptions as gx
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials, Credentials
from google.auth.transport.requests import AuthorizedSession
from google.cloud import compute_v1

from release.errors import InvalidInput, OperationError
from release.publish.retry import Retrier, Transient, raise_as

T = TypeVar("T")


class Precondition(Exception):
    """412: a create-only write found the object, or a compare-and-swap lost to another writer."""


class NotFound(Exception):
    """404 from the API: no such bucket, object or image."""


class SessionGone(Exception):
    """404/410 on a resumable upload's session URL: it expired or was cancelled; open a new one."""


def translate(what: str, exc: Exception) -> Exception:
    """google-api-core, google-auth and requests errors as ours."""
    if isinstance(exc, gx.PreconditionFailed):
        return Precondition(what)
    if isinstance(exc, gx.NotFound):
        return NotFound(f"{what}: not found ({exc.message})")
    if isinstance(exc, gx.Forbidden | gx.Unauthorized):
        return InvalidInput(
            f"{what}: access denied ({exc.message}); check the Google credentials (ADC:"
            " GOOGLE_APPLICATION_CREDENTIALS or gcloud auth application-default login)"
        )
    if isinstance(exc, gx.GoogleAPICallError):
        if isinstance(exc, gx.TooManyRequests | gx.ServerError) or exc.code == 408:
            return Transient(f"{what}: HTTP {exc.code} {exc.message}")
        return OperationError(f"{what}: HTTP {exc.code} {exc.message}")
    if isinstance(
        exc,
        requests.ConnectionError | requests.Timeout | requests.exceptions.ChunkedEncodingError,
    ):  # ChunkedEncodingError: a response cut short ("Connection broken: IncompleteRead")
        return Transient(f"{what}: {type(exc).__name__}: {exc}")
    if isinstance(exc, google.auth.exceptions.DefaultCredentialsError):
        return InvalidInput(f"{what}: no Google credentials found: {exc}")
    return exc


def status_error(what: str, response: requests.Response) -> Exception:
    """The error for an answer of a resumable upload's session URL that is not 200/201/308."""
    code = response.status_code
    if code in (404, 410):
        return SessionGone(what)
    if code in (408, 429) or code >= 500:
        return Transient(f"{what}: HTTP {code}")
    if code in (401, 403):
        return InvalidInput(f"{what}: access denied (HTTP {code}); check the Google credentials")
    if code == 412:
        return Precondition(what)
    return OperationError(f"{what}: HTTP {code}: {response.text[:200]}")


def call(what: str, fn: Callable[[], T], retrier: Retrier | None = None) -> T:
    """One Google call, its errors translated, under the retry policy when given one."""

    def once() -> T:
        try:
            return fn()
        except Exception as exc:
            raise_as(exc, translate(what, exc))

    return retrier.call(what, once) if retrier else once()


def storage_client(bucket: str, endpoint: str | None) -> tuple[storage.Client, Credentials]:
    """A Cloud Storage client and its credentials: Google's default credentials, or none for
    an emulator or a private endpoint (`bucket` names the target in the error)."""
    credentials: Credentials
    if endpoint:
        credentials = AnonymousCredentials()  # type: ignore[no-untyped-call]
        project: str | None = "local"
        client_options: dict[str, str] = {"api_endpoint": endpoint}
    else:
        try:
            credentials, project = google.auth.default()
        except google.auth.exceptions.DefaultCredentialsError as exc:
            raise InvalidInput(f"gs://{bucket}: no Google credentials: {exc}") from exc
        client_options = {}
    client = storage.Client(project=project, credentials=credentials, client_options=client_options)
    return client, credentials


def authorized_session(credentials: Credentials) -> AuthorizedSession:
    """A requests session that signs with `credentials` (the resumable upload protocol)."""
    return AuthorizedSession(credentials)  # type: ignore[no-untyped-call]


def images_client(endpoint: str | None) -> compute_v1.ImagesClient:
    """Compute's images client; with an endpoint (a local stub) no Google credentials."""
    if endpoint:
        return compute_v1.ImagesClient(
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            transport="rest",
            client_options=ClientOptions(api_endpoint=endpoint),
        )
    return compute_v1.ImagesClient()
