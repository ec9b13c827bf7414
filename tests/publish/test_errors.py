"""How each adapter sorts its SDK's or tool's failures: retry, the user's to fix, or fail."""

from __future__ import annotations

import pytest
import requests
from botocore import exceptions as bx

from release.errors import InvalidInput, OperationError, ToolError
from release.publish import aws_client, gcp_client, rsync
from release.publish.retry import Transient


def client_error(status: int, code: str) -> bx.ClientError:
    response = {
        "Error": {"Code": code, "Message": "m"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return bx.ClientError(response, "PutObject")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "code"),
    [(500, "InternalError"), (503, "SlowDown"), (400, "RequestTimeout"), (429, "TooManyRequests"),
     (408, ""), (409, "ConditionalRequestConflict"), (400, "Throttling"), (502, "")],
)  # fmt: skip
def test_s3_transient(status: int, code: str) -> None:
    assert isinstance(aws_client.translate("x", client_error(status, code)), Transient)


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [(403, "AccessDenied", InvalidInput), (403, "InvalidAccessKeyId", InvalidInput),
     (403, "SignatureDoesNotMatch", InvalidInput), (404, "NoSuchBucket", InvalidInput),
     (400, "InvalidArgument", OperationError), (400, "EntityTooSmall", OperationError)],
)  # fmt: skip
def test_s3_permanent(status: int, code: str, kind: type[Exception]) -> None:
    translated = aws_client.translate("x", client_error(status, code))
    assert type(translated) is kind
    assert not isinstance(translated, Transient)


def test_s3_precondition_and_network() -> None:
    assert isinstance(
        aws_client.translate("x", client_error(412, "PreconditionFailed")), aws_client.Precondition
    )
    assert isinstance(
        aws_client.translate("x", bx.EndpointConnectionError(endpoint_url="u")), Transient
    )
    assert isinstance(aws_client.translate("x", bx.ReadTimeoutError(endpoint_url="u")), Transient)
    assert isinstance(aws_client.translate("x", bx.NoCredentialsError()), InvalidInput)


def _tool_error(code: int, stderr: str) -> ToolError:
    return ToolError(["rsync"], code, stderr)


def test_rsync_classification() -> None:
    assert isinstance(
        rsync.classify(_tool_error(12, "connection unexpectedly closed"), "x"), Transient
    )
    assert isinstance(rsync.classify(_tool_error(30, "timeout in data send"), "x"), Transient)
    refused = _tool_error(255, "ssh: connect to host h port 22: Connection refused")
    assert isinstance(rsync.classify(refused, "x"), Transient)
    denied = _tool_error(255, "root@h: Permission denied (publickey).")
    assert isinstance(rsync.classify(denied, "x"), InvalidInput)
    auth = _tool_error(5, "@ERROR: auth failed on module mirror")
    assert isinstance(rsync.classify(auth, "x"), InvalidInput)
    assert type(rsync.classify(_tool_error(23, "some files vanished"), "x")) is OperationError


def _response(code: int) -> requests.Response:
    response = requests.Response()
    response.status_code = code
    return response


def test_gcs_session_status_classification() -> None:
    assert isinstance(gcp_client.status_error("x", _response(503)), Transient)
    assert isinstance(gcp_client.status_error("x", _response(429)), Transient)
    assert isinstance(gcp_client.status_error("x", _response(403)), InvalidInput)
    # read it, then decide
    assert type(gcp_client.status_error("x", _response(412))) is gcp_client.Precondition
    assert type(gcp_client.status_error("x", _response(410))) is gcp_client.SessionGone
    assert isinstance(gcp_client.translate("x", requests.ConnectionError("reset")), Transient)
