"""The cloud client modules' error mapping and their one-call helpers: which SDK failure becomes
which of our errors, and which of them a call retries. Pure: the SDK exceptions are made here."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from botocore import exceptions as bx
from google.api_core import exceptions as gx

from release.errors import InvalidInput, OperationError
from release.publish import aws_client, azure_client, gcp_client
from release.publish.retry import Retrier, RetrySettings, Transient

FAST = Retrier(RetrySettings(attempts=3, initial_wait=0.001, max_wait=0.002, jitter=0))


def failing(*errors: Exception) -> tuple[Callable[[], str], list[int]]:
    """A call that raises `errors` one after the other, then answers "ok"; and its call count."""
    calls: list[int] = []

    def fn() -> str:
        calls.append(1)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return "ok"

    return fn, calls


# -- Google ------------------------------------------------------------------------------


def made(sdk: type[Exception], message: str = "m") -> Exception:
    """An SDK exception (google-api-core's constructors are untyped)."""
    return sdk(message)


@pytest.mark.parametrize(
    ("sdk", "kind"),
    [
        (gx.PreconditionFailed, gcp_client.Precondition),
        (gx.NotFound, gcp_client.NotFound),
        (gx.Forbidden, InvalidInput),
        (gx.Unauthorized, InvalidInput),
        (gx.TooManyRequests, Transient),
        (gx.ServiceUnavailable, Transient),
        (gx.InternalServerError, Transient),
        (gx.BadRequest, OperationError),
        (requests.ConnectionError, Transient),
        (requests.Timeout, Transient),
        (requests.exceptions.ChunkedEncodingError, Transient),
    ],
)
def test_google_errors_become_ours(sdk: type[Exception], kind: type[Exception]) -> None:
    assert type(gcp_client.translate("get gs://b/k", made(sdk))) is kind


def test_google_not_found_names_the_call_and_the_answer() -> None:
    found = gcp_client.translate("get gs://b/k", made(gx.NotFound, "bucket b does not exist"))
    assert str(found) == "get gs://b/k: not found (bucket b does not exist)"


def test_google_errors_we_do_not_know_pass_through_untouched() -> None:
    odd = KeyError("x")
    assert gcp_client.translate("x", odd) is odd


def test_google_call_retries_only_what_is_transient() -> None:
    fn, calls = failing(made(gx.ServiceUnavailable), requests.ConnectionError("reset"))
    assert gcp_client.call("get", fn, FAST) == "ok"
    assert len(calls) == 3
    fn, calls = failing(made(gx.NotFound))
    with pytest.raises(gcp_client.NotFound) as raised:
        gcp_client.call("get", fn, FAST)
    assert len(calls) == 1
    assert isinstance(raised.value.__cause__, gx.NotFound)  # the SDK's error stays the cause


def test_google_call_without_a_retrier_tries_once() -> None:
    fn, calls = failing(made(gx.ServiceUnavailable))
    with pytest.raises(Transient):
        gcp_client.call("get", fn)
    assert len(calls) == 1


def test_a_storage_client_for_an_endpoint_needs_no_google_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/credentials.json")
    client, _ = gcp_client.storage_client("b", "http://127.0.0.1:9")
    assert client.project == "local"


# -- AWS ---------------------------------------------------------------------------------


def client_error(status: int, code: str) -> bx.ClientError:
    response = {
        "Error": {"Code": code, "Message": "m"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return bx.ClientError(response, "CompleteMultipartUpload")  # type: ignore[arg-type]


def test_aws_call_a_conflict_on_completing_restarts_the_upload() -> None:
    fn, calls = failing(client_error(409, "ConditionalRequestConflict"))
    with pytest.raises(aws_client.UploadGone):
        aws_client.call("complete k", fn, FAST, conflict_restarts=True)
    assert len(calls) == 1


def test_aws_call_a_conflict_elsewhere_is_retried() -> None:
    fn, calls = failing(client_error(409, "ConditionalRequestConflict"))
    assert aws_client.call("PUT k", fn, FAST) == "ok"
    assert len(calls) == 2


def test_aws_call_a_missing_object_is_not_found_and_not_retried() -> None:
    fn, calls = failing(client_error(404, "NoSuchKey"))
    with pytest.raises(aws_client.NotFound):
        aws_client.call("GET k", fn, FAST)
    assert len(calls) == 1


# -- Azure -------------------------------------------------------------------------------


@pytest.mark.parametrize("sdk", [ResourceExistsError, ResourceModifiedError])
def test_azure_create_only_refusals_are_exists_still_an_azure_error(
    sdk: type[HttpResponseError],
) -> None:
    ours = azure_client.translate("create page blob b", sdk("the blob already exists"))
    assert type(ours) is azure_client.Exists
    assert isinstance(ours, azure_client.AzureError)


def test_azure_not_found_is_not_exists() -> None:
    ours = azure_client.translate("get b", ResourceNotFoundError("no blob"))
    assert type(ours) is azure_client.NotFound
