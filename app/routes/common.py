"""Route helpers shared by every blueprint."""
from __future__ import annotations

import hashlib
from functools import wraps

import flask_smorest
from flask import Response, current_app, g, request

from app.services import idempotency


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint, with argument schemas instantiated once: given a class,
    webargs builds a new schema on every request (a quarter of a millisecond)."""

    def arguments(self, schema, *args, **kwargs):
        return super().arguments(schema() if isinstance(schema, type) else schema,
                                 *args, **kwargs)


def idempotent(view):
    """Honour `Idempotency-Key` on a POST that creates or spends. Goes under `login_required`."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        key = request.headers.get("Idempotency-Key")
        if not key:
            return view(*args, **kwargs)
        user_id = g.current_user.id
        fp = idempotency.fingerprint(request.method, request.path, _body_digest())
        earlier = idempotency.reserve(user_id, key, fp)
        if earlier is not None:
            return Response(earlier.response_body, status=earlier.status_code,
                            mimetype="application/json",
                            headers={"Idempotent-Replayed": "true"})
        try:
            response = current_app.make_response(view(*args, **kwargs))
        except BaseException:
            idempotency.release(user_id, key)
            raise
        if response.status_code >= 400:
            idempotency.release(user_id, key)
        else:
            idempotency.complete(user_id, key, response.status_code,
                                 response.get_data(as_text=True))
        return response

    return wrapper


def _body_digest() -> bytes:
    """What the request asks for: the raw body, or for multipart the fields and file contents
    (the multipart boundary differs on every retry, so the raw bytes would never match)."""
    if request.mimetype != "multipart/form-data":
        return request.get_data()
    digest = hashlib.sha256()
    for name, value in sorted(request.form.items(multi=True)):
        digest.update(f"{name}={value}\n".encode())
    for name, storage in sorted(request.files.items(multi=True), key=lambda item: item[0]):
        digest.update(f"{name}:".encode() + hashlib.sha256(storage.read()).digest())
        storage.seek(0)
    return digest.digest()
