"""The per-process configuration cache (apps/core/config_cache.py), through the event-sink
fan-out's lookup: a change is seen at once by the process that made it, by every other process
once its transaction commits, and never from a transaction that rolled back."""

import pytest
from django.core.cache import cache
from django.db import transaction

from apps.core import config_cache
from apps.eventsinks.models import EventSink
from apps.eventsinks.selectors import sinks_active

pytestmark = pytest.mark.django_db


def _sink(organization, name="siem", **fields):
    return EventSink.objects.create(
        organization=organization, name=name, url="amqp://broker.example.org:5672/", **fields
    )


def _names(organization):
    return sorted(s.name for s in sinks_active(organization_id=organization.pk))


def test_the_process_that_changes_a_sink_sees_it_at_once(organization):
    assert _names(organization) == []
    _sink(organization)
    assert _names(organization) == ["siem"]
    EventSink.objects.filter(name="siem").get().delete()
    assert _names(organization) == []


def test_a_committed_change_moves_the_shared_version(organization, django_capture_on_commit_callbacks):
    before = config_cache.config_version()
    with django_capture_on_commit_callbacks(execute=True):
        _sink(organization)
    assert config_cache.config_version() not in (None, before)


def test_another_process_reloads_when_the_version_moves(organization):
    assert _names(organization) == []  # cached under the current version
    # Another process commits a new sink: the row exists and the shared version moves, but this
    # process's receiver never ran (QuerySet.bulk_create sends no post_save).
    EventSink.objects.bulk_create([EventSink(organization=organization, name="other", url="amqp://b:5672/")])
    assert _names(organization) == []  # same version: still the cached answer
    cache.incr(config_cache.VERSION_KEY)
    assert _names(organization) == ["other"]


def test_a_flushed_redis_makes_every_process_reload(organization):
    assert _names(organization) == []
    EventSink.objects.bulk_create([EventSink(organization=organization, name="other", url="amqp://b:5672/")])
    cache.delete(config_cache.VERSION_KEY)  # Redis restarted without its data
    assert _names(organization) == ["other"]


def test_a_rolled_back_change_leaves_nothing_cached(organization):
    with pytest.raises(RuntimeError), transaction.atomic():
        _sink(organization, name="never")
        assert _names(organization) == ["never"]  # the transaction reads its own row
        raise RuntimeError("roll back")
    assert _names(organization) == []


# --- the version read with the session (apps/users/sessions.py) ----------------------------------


def _offer_filled():
    """What the session engine does in a request: open the offer, read its keys, fill it."""
    config_cache.version_offer_open()
    keys = config_cache.version_offer_keys()
    assert keys[0] == config_cache.VERSION_KEY
    config_cache.version_offer_fill(cache.get_many(keys))


def test_the_first_pinned_block_of_a_request_takes_the_version_read_with_the_session(organization):
    config_cache.config_version()  # the key exists
    _offer_filled()
    offered = cache.get(config_cache.VERSION_KEY)
    cache.incr(config_cache.VERSION_KEY)  # another process changes something after the read
    try:
        with config_cache.config_version_pinned():
            assert config_cache.config_version() == offered
        with config_cache.config_version_pinned():  # used once: the next block reads anew
            assert config_cache.config_version() == offered + 1
    finally:
        config_cache.version_offer_close()


def test_a_change_after_the_read_is_seen_by_the_request_that_made_it(
    organization, django_capture_on_commit_callbacks
):
    config_cache.config_version()
    _offer_filled()
    offered = cache.get(config_cache.VERSION_KEY)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            _sink(organization)  # this request changes the configuration: the version moves
        with config_cache.config_version_pinned():
            assert config_cache.config_version() == cache.get(config_cache.VERSION_KEY) != offered
            assert _names(organization) == ["siem"]
    finally:
        config_cache.version_offer_close()


def test_no_offer_outside_a_request():
    config_cache.version_offer_close()
    assert config_cache.version_offer_keys() == []  # a websocket's session load reads no more
    config_cache.version_offer_open()
    assert config_cache.version_offer_keys() != []
    assert config_cache.version_offer_keys() == []  # read once per request
    config_cache.version_offer_close()
