import os

import pytest


@pytest.fixture(autouse=True, scope="session")
def _scene_cache(tmp_path_factory):
    """Tests never touch the user's cache: scenes go to a per-session temporary directory."""
    os.environ["CSSLAB_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
