"""Reading an object store's answer out of an s3fs / botocore exception.

Shared by the probes that touch object storage (preflight, rehearse); the bootstrap
registers it as the module ``store_errors`` before a probe runs.
"""

# Object-store error codes that mean "these credentials are not accepted" / "accepted, not allowed".
BAD_CREDENTIAL_CODES = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
}
DENIED_CODES = {"AccessDenied", "AllAccessDisabled", "AccountProblem"}


def service_error(exc):
    """(error code, HTTP status) of the store's answer behind ``exc``, or (None, None).

    s3fs raises PermissionError / FileNotFoundError / OSError *from* botocore's ClientError, whose
    ``response`` carries the code (InvalidAccessKeyId, AccessDenied, ...) and the HTTP status.
    """
    seen = set()
    cur = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        response = getattr(cur, "response", None)
        if isinstance(response, dict):
            code = (response.get("Error") or {}).get("Code") or None
            status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or None
            if code or status:
                return code, status
        cur = cur.__cause__ or cur.__context__
    return None, None
