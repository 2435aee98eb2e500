import pytest


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    # Uploaded stickers and thumbnails go to a per-test folder, not the shared var/media.
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def creator(make_user):
    from tests.store.builders import creator_for

    return creator_for(make_user("Creator"))
