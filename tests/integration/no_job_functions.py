"""A module that only imports: a worker given it has no job function to run."""

from tests.integration.cluster_tasks import step  # noqa: F401 - defined elsewhere
