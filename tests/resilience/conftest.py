# The task pipeline's fixtures (test agents registered, a signed-in analyst's client).
from tests.tasks.conftest import api, fast_pipeline, test_agents  # noqa: F401
