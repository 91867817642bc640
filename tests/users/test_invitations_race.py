"""Two admins demoting each other at the same moment must not leave the organisation without an
admin: the services lock the organisation's admin rows, so the second one sees the first's change
(and that it is no longer an admin itself)."""

import threading

import pytest
from django.db import connection, transaction

from apps.core.exceptions import ApplicationError
from apps.users.members import member_set_role
from apps.users.models import Role, User

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_admins_demoting_each_other_leave_one_admin(user_factory):
    first = user_factory(role=Role.ADMIN)
    second = user_factory(role=Role.ADMIN, org=first.organization)
    outcomes: dict[str, str] = {}
    started = threading.Barrier(3)

    def demote(name: str, by: User, member: User) -> None:
        try:
            started.wait()
            member_set_role(member=member, role=Role.ANALYST, by=by)
            outcomes[name] = "ok"
        except ApplicationError as exc:
            outcomes[name] = f"{exc.status}: {exc.message}"
        finally:
            connection.close()

    threads = [
        threading.Thread(target=demote, args=("first", first, second)),
        threading.Thread(target=demote, args=("second", second, first)),
    ]
    # Hold the admins' rows so both services are inside their transactions, waiting on the same
    # lock, before either can go on.
    with transaction.atomic():
        list(User.objects.select_for_update().filter(pk__in=[first.pk, second.pk]))
        for thread in threads:
            thread.start()
        started.wait()
    for thread in threads:
        thread.join(timeout=30)

    assert len(outcomes) == 2 and list(outcomes.values()).count("ok") == 1, outcomes
    refused = [v for v in outcomes.values() if v != "ok"]
    assert len(refused) == 1 and refused[0].startswith(("403", "409")), outcomes
    admins = User.objects.filter(organization=first.organization, role=Role.ADMIN, is_active=True)
    assert admins.count() == 1
