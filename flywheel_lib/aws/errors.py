"""The one place AWS errors become ours (STYLE "Translate cloud errors at the boundary").

Every AWS call in the package runs inside `aws_errors(...)` (normally through
`AwsClients.call` / `AwsClients.pages`). It turns botocore's `ClientError`,
credential and connection errors into one `AwsError` subclass, chosen from
the single table `_BY_CODE`, raised `from` the original, with the operation,
the AWS error code and the request ID on it. Nothing else in the package
catches `ClientError`.
"""

from __future__ import annotations

from contextlib import contextmanager

from boto3.exceptions import S3UploadFailedError
from botocore import exceptions as bce

from ..errors import FlywheelError


class AwsError(FlywheelError):
    """An AWS call failed. `retryable` says whether trying again later can help.

    `reason` is the error's modeled reason code where the service sends one (Clean Rooms'
    ConflictException: ALREADY_EXISTS, SUBRESOURCES_EXIST, INVALID_STATE).
    """

    retryable = False

    def __init__(self, message: str, *, operation: str | None = None, code: str | None = None,
                 reason: str | None = None, **context):
        super().__init__(message, **context)
        self.operation = operation
        self.code = code
        self.reason = reason


class AwsTransientError(AwsError):
    """Throttling, a concurrency limit, an AWS-side fault or a dropped connection."""

    retryable = True


class AwsPermissionError(AwsError):
    """The identity in use may not perform the action."""


class AwsNotFound(AwsError):
    """The bucket, key, table, database or topic does not exist."""


class AwsConflict(AwsError):
    """The thing to create already exists, or is in use."""


class AwsPreconditionFailed(AwsConflict):
    """A conditional write met another state (S3 412: the key exists, or its ETag moved on)."""


class AwsInvalidRequest(AwsError):
    """AWS refused the request's content (our bug or bad input, not the weather)."""


class AwsQuotaExceeded(AwsError):
    """An account quota is used up (e.g. Clean Rooms associations per membership); waiting will not help."""


class AwsCredentialError(AwsError):
    """No usable credentials: unknown profile, none found, or expired."""


def _codes(cls, *codes):
    return {code: cls for code in codes}


# AWS error code -> our class. Codes differ per service for the same meaning.
_BY_CODE: dict[str, type[AwsError]] = {
    **_codes(AwsTransientError,
             "Throttling", "ThrottlingException", "ThrottledException", "TooManyRequestsException",
             "RequestLimitExceeded", "SlowDown", "RequestThrottled", "RequestThrottledException",
             "ConcurrentRunsExceededException", "ConcurrentModificationException",
             "InternalServiceException", "InternalServerException", "InternalError",
             "InternalFailure", "ServiceUnavailable", "ServiceUnavailableException",
             "OperationTimeoutException", "RequestTimeout", "RequestTimeoutException",
             "KMSThrottlingException", "Throttled",
             "ConditionalRequestConflict"),  # S3 409 on a conditional write: "you should retry" (botocore s3 model)
    **_codes(AwsPermissionError,
             "AccessDenied", "AccessDeniedException", "AuthorizationError",
             "UnauthorizedOperation", "Forbidden", "AllAccessDisabled"),
    **_codes(AwsNotFound,
             "EntityNotFoundException", "NoSuchKey", "NoSuchBucket", "NotFound", "NotFoundException",
             "ResourceNotFoundException", "NoSuchEntity", "404"),
    **_codes(AwsConflict,
             "AlreadyExistsException", "BucketAlreadyOwnedByYou", "BucketAlreadyExists",
             "ResourceInUseException", "ConflictException", "ResourceAlreadyExistsException"),
    # S3 PutObject/DeleteObject IfNoneMatch/IfMatch: 412 PreconditionFailed (botocore s3 model docs).
    **_codes(AwsPreconditionFailed, "PreconditionFailed"),
    **_codes(AwsInvalidRequest,
             "ValidationException", "InvalidInputException", "InvalidParameter",
             "InvalidParameterException", "InvalidParameterValue", "InvalidRequestException",
             "InvalidArgument", "MalformedXML"),
    # Glue's ResourceNumberLimitExceededException: "A resource numerical limit was exceeded" (glue model):
    # a count of things kept (tables, partitions, table versions), not a rate; it does not pass.
    **_codes(AwsQuotaExceeded, "ServiceQuotaExceededException", "ResourceNumberLimitExceededException"),
    **_codes(AwsCredentialError,
             "ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId",
             "UnrecognizedClientException", "InvalidAccessKeyId", "SignatureDoesNotMatch",
             "RequestExpired", "InvalidToken"),
}

_CREDENTIAL_ERRORS = (bce.NoCredentialsError, bce.PartialCredentialsError, bce.ProfileNotFound,
                      bce.SSOError, bce.TokenRetrievalError, bce.CredentialRetrievalError,
                      bce.InvalidConfigError, bce.RefreshWithMFAUnsupportedError)
_TRANSIENT_ERRORS = (bce.EndpointConnectionError, bce.ConnectionClosedError,
                     bce.ConnectTimeoutError, bce.ReadTimeoutError)


# (code, modeled reason) pairs that mean "nothing was done, try again later" despite the code.
_TRANSIENT_REASONS = {
    # cleanrooms ValidationExceptionReason: a role just made or changed is not yet visible.
    ("ValidationException", "IAM_SYNCHRONIZATION_DELAY"),
}


def error_class(code: str, status: int | None = None, reason: str | None = None) -> type[AwsError]:
    """The class for an AWS error code; unknown codes fall back on the HTTP status."""
    if (code, reason) in _TRANSIENT_REASONS:
        return AwsTransientError
    if code in _BY_CODE:
        return _BY_CODE[code]
    if status is not None:
        if status == 429 or status >= 500:
            return AwsTransientError
        if status == 403:
            return AwsPermissionError
        if status == 404:
            return AwsNotFound
    return AwsError


def translate(err: Exception, *, service: str, operation: str | None = None,
              identity: str | None = None, **context) -> AwsError:
    """The `AwsError` for a botocore/boto3 exception (not raised: the caller raises it `from err`)."""
    if isinstance(err, S3UploadFailedError) and isinstance(err.__context__, bce.ClientError):
        err = err.__context__  # boto3's transfer manager hides the real ClientError
    if isinstance(err, bce.ClientError):
        return _from_client_error(err, service, identity, context)
    if isinstance(err, _CREDENTIAL_ERRORS):
        missing = isinstance(err, bce.ProfileNotFound)
        return credential_error(str(err), identity, profile_missing=missing, operation=operation, **context)
    action = f"{service}:{operation}" if operation else service
    if isinstance(err, _TRANSIENT_ERRORS):
        return AwsTransientError(f"{action} could not reach AWS: {err}", operation=operation,
                                 hint="Check the network (or AWS_ENDPOINT_URL) and retry", **context)
    if isinstance(err, bce.ParamValidationError):
        return AwsInvalidRequest(f"{action} was called with bad parameters: {err}", operation=operation,
                                 **context)
    return AwsError(f"{action} failed: {err}", operation=operation, **context)


def credential_error(reason: str, identity: str | None, profile_missing: bool = False,
                     **context) -> AwsCredentialError:
    """One sentence naming the credentials tried, with the command that fixes them."""
    tried = identity or "the default AWS credential chain"
    profile = tried.removeprefix("profile ") if tried.startswith("profile ") else None
    if profile and profile_missing:
        hint = (f"Create it with `aws configure sso --profile {profile}`, "
                "or set AWS_PROFILE to a profile that exists")
    elif profile:
        hint = (f"Run `aws sso login --profile {profile}` (or refresh that profile's keys), "
                "or set AWS_PROFILE to a profile that has access")
    else:
        hint = ("On the prod machine check its IAM role (`aws sts get-caller-identity`); "
                "elsewhere set AWS_PROFILE, e.g. AWS_PROFILE=flywheel-dev after `aws sso login`")
    return AwsCredentialError(f"no usable AWS credentials from {tried}: {reason}", hint=hint, **context)


def _from_client_error(err: bce.ClientError, service: str, identity: str | None, context: dict) -> AwsError:
    error = err.response.get("Error", {})
    meta = err.response.get("ResponseMetadata", {})
    code = str(error.get("Code") or "Unknown")
    status = meta.get("HTTPStatusCode")
    reason = err.response.get("reason") or error.get("reason")  # a modeled field, beside "Error"
    cls = error_class(code, status, reason)
    operation = err.operation_name
    action = f"{service}:{operation}"
    detail = error.get("Message") or code
    quota = err.response.get("quotaName") or error.get("quotaName")  # botocore puts modeled fields on top
    if quota:  # Clean Rooms names the quota that is used up
        value = err.response.get("quotaValue", error.get("quotaValue", "?"))
        detail += f" (quota {quota!r}: {value})"
    if reason:
        detail += f" [reason {reason}]"
    resource = err.response.get("resourceId")
    if resource:  # Clean Rooms names the resource in conflict or not found
        detail += f" [{err.response.get('resourceType', 'resource')} {resource}]"
    request_id = meta.get("RequestId") or meta.get("HTTPHeaders", {}).get("x-amz-request-id")
    if cls is AwsCredentialError:
        return credential_error(f"{code}: {detail}", identity, operation=operation, code=code,
                                request_id=request_id, **context)
    hint = {
        AwsPermissionError: f"Grant {action} to {identity or 'the identity in use'}, or use one that has it",
        AwsTransientError: "Temporary on the AWS side; retrying later should work",
        AwsQuotaExceeded: "Retrying will not help: raise the quota (Service Quotas) or remove what uses it",
    }.get(cls)
    return cls(f"{action} failed with {code}: {detail}", operation=operation, code=code, reason=reason,
               request_id=request_id, hint=hint, **context)


@contextmanager
def aws_errors(service: str, operation: str | None = None, identity: str | None = None, **context):
    """Run AWS calls; any botocore error leaves as an `AwsError` raised from it.

    `context` (table, path, stage...) is put on the error for the person reading it.
    """
    try:
        yield
    except (bce.ClientError, bce.BotoCoreError, S3UploadFailedError) as err:
        raise translate(err, service=service, operation=operation, identity=identity, **context) from err
