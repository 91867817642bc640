# The task pipeline's fixtures (test agents registered, a signed-in analyst's client).
from tests.knowledge.conftest import s3_server  # noqa: F401
from tests.knowledge.test_artefact_storage import storage_kind  # noqa: F401
from tests.tasks.conftest import api, fast_pipeline, test_agents  # noqa: F401
