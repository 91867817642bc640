"""Concurrency slots live in Redis, so every worker (and every process) sees the same count."""

import pytest

from apps.agents.concurrency import agent_slot_acquire, agent_slot_release, agent_slots_in_use
from tests.agents.factories import make_config

pytestmark = pytest.mark.django_db


def test_slots_are_limited_to_the_configured_concurrency():
    config = make_config("osint", concurrency_limit=2)

    assert agent_slot_acquire(config.pk, 101)
    assert agent_slot_acquire(config.pk, 102)
    assert not agent_slot_acquire(config.pk, 103)
    assert agent_slots_in_use(config.pk) == 2

    agent_slot_release(config.pk, 101)
    assert agent_slot_acquire(config.pk, 103)
    assert agent_slots_in_use(config.pk) == 2


def test_acquiring_again_for_the_same_step_renews_instead_of_taking_another_slot():
    config = make_config("osint", concurrency_limit=1)
    assert agent_slot_acquire(config.pk, 7)
    assert agent_slot_acquire(config.pk, 7)
    assert agent_slots_in_use(config.pk) == 1


def test_a_slot_whose_lease_ran_out_is_free_again():
    """A worker killed while holding a slot must not keep it forever."""
    config = make_config("osint", concurrency_limit=1)
    assert agent_slot_acquire(config.pk, 1, lease_seconds=-1)  # already expired
    assert agent_slots_in_use(config.pk) == 0
    assert agent_slot_acquire(config.pk, 2)


def test_steps_without_a_config_are_not_limited():
    assert agent_slot_acquire(None, 1)
    agent_slot_release(None, 1)


def test_a_deleted_config_runs_nothing():
    config = make_config("osint")
    config_id = config.pk
    config.delete()
    assert not agent_slot_acquire(config_id, 1)
