"""The one place AWS clients are built (S3, EC2) and botocore's errors become ours.

One boto3 session per process (it caches the service models every client loads), with an
after-call hook that treats a 2xx answer cut to nothing as transient. `translate` sorts a
botocore error into Transient, InvalidInput (the user's to fix), OperationError, or one of the
public S3 outcomes the adapters act on: `Precondition` (412), `NotFound` (404), `UploadGone`.
`call` makes one typed call (`lambda: client.put_object(...)`) with its errors translated.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, TypeVar

import boto3
from botocore import exceptions as bx
from botocore.config import Config

from release.errors import InvalidInput, OperationError
from release.publish.retry import Retrier, Transient, raise_as

if TYPE_CHECKING:
    from botocore.awsrequest import AWSResponse
    from botocore.model import OperationModel
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_s3 import S3Client

T = TypeVar("T")

# Error codes S3 and S3-compatible stores use for "slow down / try again".
_TRANSIENT_CODES = frozenset(
    {
        "RequestTimeout",
        "Throttling",
        "ThrottlingException",
        "SlowDown",
        "RequestLimitExceeded",
        "TooManyRequests",
        "InternalError",
        "ServiceUnavailable",
        "ConditionalRequestConflict",  # 409: redo a PUT; restart a multipart upload (see call)
    }
)
_AUTH_CODES = frozenset(
    {
        "AccessDenied",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "InvalidToken",
        "ExpiredToken",
        "AllAccessDisabled",
    }
)
_NETWORK_ERRORS = (
    bx.EndpointConnectionError,
    bx.ConnectionClosedError,
    bx.ConnectTimeoutError,
    bx.ReadTimeoutError,
    bx.ResponseStreamingError,
    bx.IncompleteReadError,
    bx.HTTPClientError,
)


class Precondition(Exception):
    """412: the object already exists (create-only lost a race or a rerun found it)."""


class NotFound(Exception):
    """404 on a HEAD: no such object (or, for the bucket, no such bucket)."""


class UploadGone(Exception):
    """The multipart upload cannot go on: NoSuchUpload (aborted or expired), or a 409
    ConditionalRequestConflict on completing it (AWS: start a new upload); start a new one."""


def error_code(exc: Exception) -> str:
    if isinstance(exc, bx.ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


# The field every successful answer to these operations carries. A 200 whose body was cut to
# nothing parses as an empty result, without an error: lacking its field, it is an incomplete
# answer (transient), checked for every client of `shared_session` by `_check_answer`.
_ANSWER_CARRIES = {
    "CreateMultipartUpload": "UploadId",
    "UploadPart": "ETag",
    "HeadObject": "ContentLength",
    "GetObject": "ETag",
    "ListParts": "UploadId",
    "ListMultipartUploads": "Bucket",
    "ListObjectsV2": "Name",
}


class _Incomplete(Exception):
    """A successful answer without the field its operation always carries."""


def _check_answer(
    http_response: AWSResponse, parsed: Mapping[str, object], model: OperationModel, **_: object
) -> None:
    """botocore's after-call hook: runs before an error answer is raised, so only 2xx count."""
    needs = _ANSWER_CARRIES.get(model.name)
    if needs and http_response.status_code < 300 and needs not in parsed:
        raise _Incomplete(f"incomplete answer from S3 (no {needs})")


def translate(what: str, exc: Exception) -> Exception:
    """Turn a botocore error into ours: Transient, InvalidInput (the user's to fix) or not."""
    if isinstance(exc, _Incomplete):
        return Transient(f"{what}: {exc}")
    if isinstance(exc, bx.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        message = str(error.get("Message", "")) or code
        if status == 412 or code == "PreconditionFailed":
            return Precondition(what)
        if status == 404 and code in ("404", "NoSuchKey", "NotFound"):
            return NotFound(what)
        if code == "NoSuchUpload":
            return UploadGone(what)
        if code in _TRANSIENT_CODES or status in (408, 429) or status >= 500:
            return Transient(f"{what}: HTTP {status} {code}".rstrip())
        if code in _AUTH_CODES or status == 403:
            return InvalidInput(
                f"{what}: access denied ({code or status}: {message}); check the AWS credentials"
                " (environment, profile or role) and the bucket policy"
            )
        if code == "NoSuchBucket":
            return InvalidInput(f"{what}: the bucket does not exist; create it or fix the URL")
        return OperationError(f"{what}: HTTP {status} {code}: {message}")
    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
        return InvalidInput(
            f"{what}: no AWS credentials found; set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY,"
            " AWS_PROFILE, or run where a role is available"
        )
    if isinstance(exc, _NETWORK_ERRORS):
        return Transient(f"{what}: {type(exc).__name__}: {exc}")
    if isinstance(exc, bx.BotoCoreError):
        return OperationError(f"{what}: {exc}")
    return exc


def call(
    what: str,
    fn: Callable[[], T],
    retrier: Retrier | None = None,
    *,
    conflict_restarts: bool = False,
) -> T:
    """One AWS call, errors translated, under the retry policy when given one. With
    `conflict_restarts` (completing a multipart upload), a 409 ConditionalRequestConflict
    means the upload must start over (AWS), not a retry."""

    def once() -> T:
        try:
            return fn()
        except Exception as exc:
            if conflict_restarts and error_code(exc) == "ConditionalRequestConflict":
                raise UploadGone(f"{what}: 409 ConditionalRequestConflict") from exc
            raise_as(exc, translate(what, exc))

    return retrier.call(what, once) if retrier else once()


_SESSION: list[boto3.session.Session] = []
_SESSION_LOCK = threading.Lock()


def shared_session() -> boto3.session.Session:
    """One session per process: it caches the service model that every new client loads."""
    with _SESSION_LOCK:
        if not _SESSION:
            session = boto3.session.Session()
            session.events.register("after-call.s3", _check_answer)  # clients copy the hooks
            _SESSION.append(session)
        return _SESSION[0]


def s3_client(region: str | None, endpoint_url: str | None, config: Config) -> S3Client:
    """An S3 client of the shared session (so with the incomplete-answer hook)."""
    client: S3Client = shared_session().client(
        "s3", region_name=region, endpoint_url=endpoint_url, config=config
    )
    return client


def ec2_client(region: str, endpoint_url: str | None, config: Config) -> EC2Client:
    """An EC2 client of the shared session (building one parses a big model: cache it)."""
    client: EC2Client = shared_session().client(
        "ec2", region_name=region, endpoint_url=endpoint_url, config=config
    )
    return client
