"""Route helpers shared by every blueprint."""
from __future__ import annotations

from functools import wraps

from flask import Response, current_app, g, request

from app.services import idempotency

def idempotent(view):
    """Honour `Idempotency-Key` on a POST that creates or spends. Goes under `login_required`."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        key = request.headers.get("Idempotency-Key")
        if not key:
            return view(*args, **kwargs)
        user_id = g.current_user.id
        fp = idempotency.fingerprint(request.method, request.path, request.get_data())
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
