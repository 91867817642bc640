"""Reads of the knowledge app."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from apps.core.exceptions import NotFound
from apps.knowledge.models import Artefact


def artefact_list_for_user(*, user) -> QuerySet[Artefact]:  # users.User
    """Artefacts a user may see: those of their organization only."""
    if not user.is_authenticated or user.organization_id is None:
        return Artefact.objects.none()
    return Artefact.objects.filter(organization_id=user.organization_id)


def artefact_get_for_user(*, user, artefact_id: uuid.UUID) -> Artefact:
    """An artefact of the user's organization. Others' artefacts are reported as missing, so that
    an id never tells whether it exists elsewhere."""
    artefact = artefact_list_for_user(user=user).filter(id=artefact_id).first()
    if artefact is None:
        raise NotFound("No such artefact.")
    return artefact
