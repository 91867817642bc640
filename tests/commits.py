"""Run a block's after-commit callbacks as a commit would, inside a test's transaction.

Django's TestCase.captureOnCommitCallbacks takes the callbacks added *at the end* of the list and
leaves them in it; artefact staging inserts its file move at the *front* (ahead of the step
messages of the same commit), so here new callbacks are found by identity, taken out of the list
and run once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DEFAULT_DB_ALIAS, connections


@contextmanager
def commit_callbacks(using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    connection = connections[using]
    before = {id(entry) for entry in connection.run_on_commit}
    yield
    new = [entry for entry in connection.run_on_commit if id(entry) not in before]
    connection.run_on_commit[:] = [entry for entry in connection.run_on_commit if id(entry) in before]
    for _savepoints, callback, _robust in new:
        callback()
