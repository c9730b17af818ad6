"""Inspect entry point: registers the ``organism/`` and ``auditgame/`` model providers and every
``auditgame/`` task."""

from inspect_ai.model import modelapi

from auditgame.tasks import *  # noqa: F401,F403  (each @task registers itself)


@modelapi(name="organism")
def organism() -> type:
    from auditgame.organism.provider import OrganismAPI

    return OrganismAPI


@modelapi(name="auditgame")
def auditgame() -> type:
    from auditgame.audit.offline import AuditgameAPI

    return AuditgameAPI
