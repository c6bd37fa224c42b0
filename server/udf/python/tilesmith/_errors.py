"""Exceptions a UDF raises to answer its caller with a 4xx status instead of a 500."""


class HttpError(Exception):
    """`raise HttpError(404, "No parcel with that id.")`: the request gets that status (4xx only)
    and the message as its error sentence; the answer is never cached."""

    def __init__(self, status, message):
        if not isinstance(status, int) or isinstance(status, bool) or not 400 <= status <= 499:
            raise ValueError(f"HttpError takes a 4xx status, got {status!r}")
        super().__init__(message)
        self.status = status
        self.message = str(message)


class BadRequest(HttpError):
    """`raise BadRequest("min_area must be positive.")`: a 400 with that sentence."""

    def __init__(self, message):
        super().__init__(400, message)
