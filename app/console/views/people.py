"""Users and role grants (app.services.people) and the 双报到 roster
(app.services.party.registrations), for the roles the services allow.

Users: whoever manages part of the community sees the people of their scope, phones masked
unless they manage the person's household; the community's staff grant and revoke the
community's roles within it. The roster: the community's staff confirm or reject a pending
registration through the same transition table as the API. Every write is audited."""
from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for

from app.console import audit
from app.console.edits import chosen_community, integer, text
from app.console.web import bp
from app.errors import ValidationFailed
from app.models import PartyRegistration, RegistrationStatus
from app.services import orgtree, people, users
from app.services.party import registrations

PAGE = 50
GRANT_FIELDS = ("user_id", "role", "scope_kind", "scope_id")
REGISTRATION_FIELDS = ("status", "decided_by_id", "note")


def _cursor() -> str | None:
    return request.args.get("cursor") or None


@bp.get("/people")
def people_page():
    """Users of my scope with their role grants"""
    user = g.console_user
    page = people.users_in_scope(user, _cursor(), PAGE)
    rows = []
    if page is not None:
        pairs = people.scope_pairs(user)
        shown = {person.id: people.shown_grants(user, person, pairs) for person in page["items"]}
        labels = people.scope_labels([gr for grants in shown.values() for gr in grants])
        rows = [{"user": person, "phone": people.phone_for(user, person),
                 "grants": [{"grant": gr, "scope": labels[(gr.scope_kind, gr.scope_id)],
                             "revoke": people.may_grant(user, gr.role, gr.scope_kind,
                                                        gr.scope_id) and gr.user_id != user.id}
                            for gr in shown[person.id]]}
                for person in page["items"]]
    return render_template("console/people.html", page=page, rows=rows,
                           roles=people.grantable_roles(user),
                           scopes=people.scope_choices(user))


def _grant_state(grant) -> dict:
    return audit.snapshot(grant, GRANT_FIELDS)


@bp.post("/people/grants")
def grant_role():
    """Grant a role in a scope to a user (within my own scope)"""
    user, person_id = g.console_user, integer("user_id", "用户编号")
    if person_id is None:
        raise ValidationFailed("请填写用户编号", code="validation_error")
    role = people.parse_role(text("role"))
    kind, scope_id = users.parse_scope(text("scope"))
    audit.audited_write(user.id, "role_grant", None, None, None,
                  lambda: people.grant(user, person_id, role, kind, scope_id),
                  _grant_state, target=lambda grant: grant)
    flash(f"已授予用户 #{person_id}「{role.label}」", "ok")
    return redirect(url_for("console.people_page"))


@bp.post("/people/grants/<int:grant_id>/revoke")
def revoke_role(grant_id: int):
    """Revoke one role grant (within my own scope; never my own)"""
    user = g.console_user
    before = _grant_state(people.get_grant(user, grant_id))
    audit.audited_write(user.id, "role_revoke", "role_grants", grant_id, before,
                  lambda: people.revoke(user, grant_id), lambda _: None)
    flash(f"已撤销用户 #{before['user_id']} 的角色", "ok")
    return redirect(url_for("console.people_page"))


# --- the 双报到 roster ----------------------------------------------------------------------

@bp.get("/party")
def party():
    """The 双报到 roster of my community: confirm or reject pending registrations"""
    user = g.console_user
    communities = orgtree.staff_communities(user)
    community_id = chosen_community(communities)
    status = request.args.get("status") or None
    if status is not None and status not in {s.value for s in RegistrationStatus}:
        raise ValidationFailed("状态无效", code="validation_error")
    page = None if community_id is None else registrations.list_registrations(
        user, community_id, status, _cursor(), PAGE)
    return render_template("console/party.html", communities=communities, page=page,
                           community_id=community_id, status=status,
                           statuses=list(RegistrationStatus))


@bp.post("/party/registrations/<int:registration_id>")
def decide_registration(registration_id: int):
    """Confirm or reject a 双报到 registration"""
    user, decision = g.console_user, request.form.get("decision")
    if decision not in registrations.TRANSITIONS:
        raise ValidationFailed("请选择确认或不通过", code="validation_error")
    note = text("note")
    if note is not None and len(note) > 200:
        raise ValidationFailed("原因不能超过 200 个字", code="validation_error")
    done = audit.audited(user.id, f"registration_{decision}", PartyRegistration, registration_id,
                         REGISTRATION_FIELDS, lambda: registrations.transition(
                             user, registration_id, decision, note))
    flash(f"报到 #{registration_id}：" + ("已确认" if decision == "confirm" else "未通过"), "ok")
    return redirect(url_for("console.party", community=done.community_id))
