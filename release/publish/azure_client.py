"""The one Azure client module: Blob storage and Compute clients, credentials, and Azure's
errors turned into ours.

Credentials come from the usual chain: AZURE_STORAGE_CONNECTION_STRING (its account key or
SAS, for the blob only) when set, else azure-identity's DefaultAzureCredential (environment,
workload identity, managed identity, the az CLI's login). They never reach argv, logs, --json
or files. The SDKs' own retries are off (retry_total=0): the budget is retry.py's. A bearer
token goes over plain http only to a loopback endpoint (a local stub). The Azure SDKs are
imported here (and in the modules that use these clients) only.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Callable, Mapping
from typing import TypeVar

from azure.core.credentials import TokenCredential
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.pipeline import PipelineRequest
from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.core.pipeline.transport import HttpRequest, HttpResponse
from azure.mgmt.compute import ComputeManagementClient
from azure.storage.blob import BlobClient

from release.errors import OperationError
from release.publish.retry import Retrier, Transient

T = TypeVar("T")
CONNECTION_STRING = "AZURE_STORAGE_CONNECTION_STRING"
ARM = "https://management.azure.com"
_TRANSIENT_STATUS = {408, 429, 500, 502, 503, 504}
BlobCredential = str | dict[str, str] | TokenCredential


class AzureError(OperationError):
    """Azure refused a call (a 4xx other than auth, or an answer we cannot use)."""


class AzureAuthError(AzureError):
    """No usable Azure credentials, or Azure refused them (401/403)."""


class NotFound(AzureError):
    """The blob, image or image version does not exist (404)."""


class Exists(AzureError):
    """A create-only or conditional write found the resource there, or changed (409/412)."""


def translate(what: str, exc: Exception) -> Exception:
    """Azure's (or the network's) error as ours: Transient when worth retrying."""
    if isinstance(exc, ResourceNotFoundError):
        return NotFound(f"{what}: not found")
    if isinstance(exc, ClientAuthenticationError) or _status(exc) in (401, 403):
        return AzureAuthError(
            f"{what}: Azure refused the credentials ({_reason(exc)}); check"
            f" {CONNECTION_STRING} or the DefaultAzureCredential chain (AZURE_CLIENT_ID ...)"
        )
    if isinstance(exc, ServiceRequestError | ServiceResponseError | ConnectionError):
        return Transient(f"{what}: {type(exc).__name__}: {_reason(exc)}")
    if _status(exc) in _TRANSIENT_STATUS:
        return Transient(f"{what}: HTTP {_status(exc)}: {_reason(exc)}")
    if isinstance(exc, ResourceExistsError | ResourceModifiedError):
        return Exists(f"{what}: HTTP {_status(exc)}: {_reason(exc)}")
    if isinstance(exc, HttpResponseError):
        return AzureError(f"{what}: HTTP {_status(exc)}: {_reason(exc)}")
    if type(exc).__name__ == "CredentialUnavailableError":  # azure-identity's
        return AzureAuthError(f"{what}: no Azure credentials: {exc}")
    return exc


def _status(exc: Exception) -> int | None:
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def _reason(exc: Exception) -> str:
    message = str(getattr(exc, "reason", None) or getattr(exc, "message", None) or exc)
    return message.splitlines()[0] if message else type(exc).__name__


def call(retrier: Retrier, what: str, fn: Callable[[], T]) -> T:
    """One Azure call under the retry policy, its errors translated."""

    def once() -> T:
        try:
            return fn()
        except Exception as exc:
            ours = translate(what, exc)
            if ours is exc:
                raise
            raise ours from exc

    return retrier.call(what, once)


def is_loopback(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    return host in ("127.0.0.1", "localhost", "::1")


def default_credential() -> TokenCredential:
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()


def storage_credential(environ: Mapping[str, str] | None = None) -> BlobCredential:
    """The account key or SAS of AZURE_STORAGE_CONNECTION_STRING, else the identity chain."""
    env = os.environ if environ is None else environ
    raw = env.get(CONNECTION_STRING, "")
    if not raw:
        return default_credential()
    fields = dict(part.split("=", 1) for part in raw.split(";") if "=" in part)
    if fields.get("AccountName") and fields.get("AccountKey"):
        return {"account_name": fields["AccountName"], "account_key": fields["AccountKey"]}
    if fields.get("SharedAccessSignature"):
        return fields["SharedAccessSignature"]
    raise AzureAuthError(
        f"{CONNECTION_STRING} has neither AccountName+AccountKey nor SharedAccessSignature"
    )


def blob_client(
    account_url: str,
    container: str,
    name: str,
    credential: BlobCredential | None = None,
    timeout: float = 60.0,
) -> BlobClient:
    return BlobClient(
        account_url,
        container,
        name,
        credential=credential if credential is not None else storage_credential(),
        retry_total=0,
        connection_timeout=timeout,
        read_timeout=timeout,
    )


class _LoopbackHttp(SansIOHTTPPolicy[HttpRequest, HttpResponse]):
    """Lets the bearer token go over plain http, to a loopback endpoint only (a stub)."""

    def on_request(self, request: PipelineRequest[HttpRequest]) -> None:
        if is_loopback(request.http_request.url):
            request.context["enforce_https"] = False


def compute_client(
    subscription_id: str, endpoint: str | None, credential: TokenCredential | None = None
) -> ComputeManagementClient:
    return ComputeManagementClient(
        credential or default_credential(),
        subscription_id,
        base_url=endpoint or ARM,
        retry_total=0,
        per_call_policies=[_LoopbackHttp()],
    )
