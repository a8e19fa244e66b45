"""Photos any record takes (app/services/uploads.py): `own_photos` proves the ids are the
user's own unattached uploads, `attach` ties them to a record, and `VIEW_CHECKERS` names who
else may see an attached image."""
from __future__ import annotations

import secrets

import pytest
import sqlalchemy as sa

from app.errors import ValidationFailed
from app.extensions import db
from app.models import Role, RoleGrant, Upload, User
from app.services import uploads
from app.services.uploads import VIEW_CHECKERS, attach, can_view, own_photos, view_checker


def person(openid: str, *roles: Role) -> User:
    user = User(openid=openid, grants=[RoleGrant(role=r) for r in roles])
    db.session.add(user)
    db.session.flush()
    return user


def upload(owner: User, ref_kind: str | None = None, ref_id: int | None = None) -> Upload:
    row = Upload(owner_id=owner.id, storage_key=f"t/{secrets.token_hex(8)}.jpg",
                 content_type="image/jpeg", size=100, width=32, height=24,
                 ref_kind=ref_kind, ref_id=ref_id)
    db.session.add(row)
    db.session.flush()
    return row


def refused(user: User, ids: list[int]) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as error:
        own_photos(user, ids)
    assert error.value.status == 422
    assert error.value.code == "invalid_photos"
    assert "photo_ids" in error.value.errors
    return error.value


def test_no_photos_is_no_photos(ctx):
    me = person("me")
    assert own_photos(me, []) == []


def test_own_unattached_uploads_are_returned_in_the_order_given(ctx):
    me = person("me")
    first, second, third = upload(me), upload(me), upload(me)
    ids = [third.id, first.id, second.id]  # not the database's order
    assert [u.id for u in own_photos(me, ids)] == ids
    assert own_photos(me, [first.id]) == [first]


def test_duplicates_are_refused(ctx):
    me = person("me")
    photo = upload(me)
    refused(me, [photo.id, photo.id])


def test_another_users_upload_is_refused(ctx):
    me, other = person("me"), person("other")
    mine, theirs = upload(me), upload(other)
    refused(me, [theirs.id])
    refused(me, [mine.id, theirs.id])  # one bad id spoils the lot
    assert own_photos(other, [theirs.id]) == [theirs]


def test_an_attached_upload_is_refused(ctx):
    me = person("me")
    used, fresh = upload(me, "incident", 1), upload(me)
    refused(me, [used.id])
    refused(me, [fresh.id, used.id])


def test_an_unknown_id_is_refused(ctx):
    me = person("me")
    photo = upload(me)
    refused(me, [photo.id, photo.id + 1000])


def test_the_same_photo_cannot_be_used_twice(ctx):
    me = person("me")
    photo = upload(me)
    attach(own_photos(me, [photo.id]), "incident", 7)
    db.session.flush()
    refused(me, [photo.id])


def test_attach_ties_the_uploads_and_returns_their_ids_in_order(ctx):
    me = person("me")
    first, second = upload(me), upload(me)
    assert attach([second, first], "incident", 42) == [second.id, first.id]
    assert (first.ref_kind, first.ref_id) == (second.ref_kind, second.ref_id) == ("incident", 42)
    db.session.commit()
    stored = db.session.execute(sa.select(Upload.id, Upload.ref_kind, Upload.ref_id)
                                .order_by(Upload.id)).all()
    assert [tuple(r) for r in stored] == [(first.id, "incident", 42), (second.id, "incident", 42)]
    assert attach([], "incident", 42) == []


def test_every_registered_view_checker_resolves():
    assert VIEW_CHECKERS  # incidents and rewards at least
    assert {"incident", "reward"} <= set(VIEW_CHECKERS)
    for kind in VIEW_CHECKERS:
        checker = view_checker(kind)
        assert callable(checker), kind
        module, name = VIEW_CHECKERS[kind].split(":")
        assert checker.__module__ == module and checker.__name__ == name


@pytest.mark.parametrize("kind", ["no_such_kind", "", "Incident"])
def test_an_unknown_kind_has_no_checker(kind):
    assert view_checker(kind) is None


def test_the_owner_sees_an_unattached_upload_and_a_stranger_does_not(ctx):
    owner, stranger, admin = person("owner"), person("stranger", Role.RESIDENT), person(
        "admin", Role.ADMIN)
    photo = upload(owner)
    assert can_view(owner, photo)
    assert not can_view(stranger, photo)
    assert can_view(admin, photo)


def test_an_attached_upload_is_decided_by_its_kinds_checker(ctx, monkeypatch):
    owner, stranger = person("owner"), person("stranger", Role.RESIDENT)
    # A reward picture is shop-window material: anyone signed in sees it.
    assert can_view(stranger, upload(owner, "reward", 1))
    # A kind nobody registered shows nothing to a stranger.
    assert not can_view(stranger, upload(owner, "no_such_kind", 1))
    # A kind without a record id is never delegated.
    assert not can_view(stranger, upload(owner, "reward", None))
    # The checker is asked with the viewer and the upload.
    asked = []
    monkeypatch.setattr(uploads, "view_checker",
                        lambda kind: (lambda user, up: asked.append((kind, user, up)) or False))
    photo = upload(owner, "incident", 5)
    assert not can_view(stranger, photo)
    assert asked == [("incident", stranger, photo)]
