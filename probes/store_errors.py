"""Reading an object store's answer out of an s3fs / botocore exception, and the bucket check.

Shared by the probes that touch object storage (preflight, rehearse, the state-store probes); the
bootstrap registers it as the module ``store_errors`` before a probe runs.
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


def require_bucket(fs, bucket):
    """Refuse unless the bucket exists and these credentials reach it.

    The backend mkdirs the parent before writing, and s3fs CREATES a missing bucket: a missing one is
    refused. s3fs's exists() answers False for ANY failure (wrong credentials, endpoint down), so a
    False is asked again with one bounded listing, whose error says why (PermissionError from
    InvalidAccessKeyId, EndpointConnectionError, ...) and is raised as it is.
    """
    if fs.exists(bucket):
        return
    try:
        fs.call_s3("list_objects_v2", Bucket=bucket, MaxKeys=1)
    except FileNotFoundError:
        raise FileNotFoundError(f"bucket {bucket} does not exist (the backend would try to create it)") from None
    # Listable although HEAD failed (a policy without s3:ListBucket on HEAD, say): it exists.
