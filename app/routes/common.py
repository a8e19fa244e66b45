"""Route helpers shared by every blueprint."""
from __future__ import annotations

import hashlib
from collections.abc import Iterable
from copy import deepcopy
from functools import wraps
from http import HTTPStatus

import flask_smorest
import marshmallow as ma
import orjson
from flask import Response, current_app, g, request
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request

from app.errors import HTTP_ERRORS, ServiceUnavailable
from app.security import BEARER, TOKEN_ERRORS
from app.services import idempotency

ERROR_SCHEMA_REF = "#/components/schemas/Error"
# The code an error status answers when a service raises it without one of its own.
DEFAULT_CODES = {status: code for status, (code, _) in HTTP_ERRORS.items()} | {
    503: ServiceUnavailable.code}


PARSED_CACHE_SIZE = 2048


class JSONParser(FlaskParser):
    """webargs' Flask parser reading a JSON body the way Flask's `get_json` does, through
    the app's JSON provider (`app.extensions.parse_json`: orjson, 1024 levels at most, lone
    surrogates a 422), instead of the standard library's parser, which a body nested a few
    thousand levels deep overflows (RecursionError, a 500)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._parsed: dict = {}

    def _raw_load_json(self, req):
        if not is_json_request(req):
            return core.missing
        return current_app.json.loads(req.get_data(cache=True))

    def parse(self, argmap, req=None, *, location=None, **options):
        """A query string's arguments, parsed once per process for each (schema, query
        string): a list's URL repeats (the first page of `scope=assigned`), and webargs'
        parsing costs a tenth of such a request. Every query schema's result depends on the
        query string alone (no defaults or validators read the clock or the request). Only
        successes are kept; bodies and other locations are parsed every time."""
        if location != "query" or not isinstance(argmap, ma.Schema) \
                or options.get("validate") is not None or options.get("error_headers"):
            return super().parse(argmap, req, location=location, **options)
        key = (id(argmap), options.get("unknown"), (req or request).query_string)
        found = self._parsed.get(key)
        if found is None:
            found = super().parse(argmap, req, location=location, **options)
            if len(self._parsed) >= PARSED_CACHE_SIZE:  # a bound, whatever the URLs
                self._parsed.clear()
            self._parsed[key] = found
        # A copy, lists too: a view may change what it was given.
        return {name: list(value) if isinstance(value, list) else value
                for name, value in found.items()}


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint, with argument schemas instantiated once: given a class,
    webargs builds a new schema on every request (a quarter of a millisecond); JSON bodies
    read by `JSONParser`; and every operation's error answers documented (`errors`)."""

    ARGUMENTS_PARSER = JSONParser()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._prepare_doc_cbks.append(self._prepare_errors_doc)

    def arguments(self, schema, *args, **kwargs):
        return super().arguments(schema() if isinstance(schema, type) else schema,
                                 *args, **kwargs)

    @staticmethod
    def _prepare_errors_doc(doc, doc_info, **_kwargs):
        """Write the operation's error responses: those every operation of its kind answers
        (401 under login_required; 422 with arguments; 400 and 415 with a JSON body; 415
        with a file upload), then those its `@errors` and `@idempotent` name."""
        answers: dict[int, list[str]] = {}
        if doc_info.get("manual_doc", {}).get("security") == BEARER:
            _merge(answers, {401: TOKEN_ERRORS})
        if doc_info.get("arguments"):
            _merge(answers, {422: [DEFAULT_CODES[422]]})
        body = doc.get("requestBody", {}).get("content", {})
        if "application/json" in body:
            _merge(answers, {400: ["malformed_json"]})
        if body:
            _merge(answers, {415: [DEFAULT_CODES[415]]})
        _merge(answers, doc_info.get("errors", {}))
        responses = doc.setdefault("responses", {})
        for status, codes in answers.items():
            responses.pop(str(status), None)
            responses[status] = _error_response(status, codes)
        # Successes first, then the errors by status, then flask-smorest's `default`.
        doc["responses"] = dict(sorted(responses.items(), key=lambda item: (
            str(item[0]) == "default", str(item[0]))))
        return doc


def errors(*statuses: int, codes: dict[int, str | Iterable[str]] | None = None):
    """Document the error answers of an operation, each the `Error` envelope, naming the
    stable `code`s it may carry: `@errors(403, codes={409: ["invalid_transition"]})`.

    A status given alone answers its default code (403 `forbidden`, 404 `not_found`, 429
    `rate_limited` ...); `codes` names a status's codes (a service's `code="..."`), the
    default one included if the service also raises it bare. Put it under the route's
    `@blp.response`; it wraps nothing, so it costs no request any time. Not needed for what
    the kind of operation answers anyway: 401 under `login_required`, 422 `validation_error`
    with `@blp.arguments`, 400 `malformed_json` and 415 with a body, and `@idempotent`'s."""
    answers = {status: [DEFAULT_CODES[status]] for status in statuses}
    for status, listed in (codes or {}).items():
        answers[status] = [listed] if isinstance(listed, str) else list(listed)
    return lambda view: _document_errors(view, answers)


def _document_errors(view, answers: dict[int, Iterable[str]]):
    doc = deepcopy(getattr(view, "_apidoc", {}))
    _merge(doc.setdefault("errors", {}), answers)
    view._apidoc = doc
    return view


def _merge(answers: dict[int, list[str]], more: dict[int, Iterable[str]]) -> None:
    for status, codes in more.items():
        known = answers.setdefault(int(status), [])
        known.extend(code for code in codes if code not in known)


def _error_response(status: int, codes: list[str]) -> dict:
    return {"description": f"{HTTPStatus(status).phrase}: " + ", ".join(
                f"`{code}`" for code in codes),
            "content": {"application/json": {"schema": {"$ref": ERROR_SCHEMA_REF}}},
            "x-codes": list(codes)}


def idempotent(view):
    """Honour `Idempotency-Key` on a POST that creates or spends. Goes under `login_required`.

    The work and the stored response commit together (app.services.idempotency)."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        key = request.headers.get("Idempotency-Key")
        if not key:
            return view(*args, **kwargs)
        fp = idempotency.fingerprint(request.method, request.path, _body_digest())
        reservation = idempotency.reserve(g.current_user.id, key, fp)
        if reservation.replay is not None:
            earlier = reservation.replay
            return Response(earlier.response_body, status=earlier.status_code,
                            mimetype="application/json",
                            headers={"Idempotent-Replayed": "true"})
        try:
            # The service's commit waits for the response: both commit in `complete`.
            with idempotency.holding_commits():
                response = current_app.make_response(view(*args, **kwargs))
            if response.status_code >= 400:
                idempotency.release(reservation)
            else:
                idempotency.complete(reservation, response.status_code,
                                     response.get_data(as_text=True))
        except BaseException:
            idempotency.release(reservation)
            raise
        return response

    return _document_errors(wrapper, {409: ["idempotency_in_progress"],
                                      422: ["invalid_idempotency_key", "idempotency_key_reused"]})


def _body_digest() -> bytes:
    """What the request asks for: a JSON body parsed and written again canonically (sorted
    keys, no spaces: a retry's JSON may be spaced or ordered otherwise), for multipart the
    fields and file contents (the multipart boundary differs on every retry, so the raw
    bytes would never match), else the raw body. A lone surrogate is refused (422) here,
    before the key is reserved; a body that is not JSON is digested raw, and the view
    answers 400."""
    if is_json_request(request):
        return _canonical_json(request.get_data(cache=True))
    if request.mimetype != "multipart/form-data":
        return request.get_data()
    digest = hashlib.sha256()
    for name, value in sorted(request.form.items(multi=True)):
        digest.update(f"{name}={value}\n".encode())
    for name, storage in sorted(request.files.items(multi=True), key=lambda item: item[0]):
        digest.update(f"{name}:".encode() + hashlib.sha256(storage.read()).digest())
        storage.seek(0)
    return digest.digest()


def _canonical_json(raw: bytes) -> bytes:
    try:
        return orjson.dumps(current_app.json.loads(raw), option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONDecodeError, orjson.JSONEncodeError):  # not JSON; or deeper than
        return raw                                            # orjson writes (254 levels)
