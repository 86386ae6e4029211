"""The storage-agnostic scenarios of test_artifact.py and test_collection.py, run again with
S3 (moto_server) and GCS (gcp-storage-emulator) as the instance's default storage: dedup,
versions (files and folders), trash and restore, load through the cache, replace, metadata,
describe, bulk save, collections and their versions."""

from __future__ import annotations

import importlib.util
import inspect
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import labshelf as ls
import pytest
from labshelf.instance import disconnect

HERE = Path(__file__).parent


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"storage_matrix_{name}", HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


A, C = _load("test_artifact"), _load("test_collection")
# Scenarios that check local paths (objects under <root>/.labshelf, registration in place) stay
# local-only; test_cloud.py covers their cloud counterparts.
SCENARIOS: list[Callable[..., None]] = [
    A.test_same_content_returns_the_existing_record,
    A.test_trashed_duplicate_is_a_clear_error,
    A.test_versions_by_revises_and_by_key,
    A.test_folder_versions_never_overwrite_each_other,
    A.test_deleting_the_latest_promotes_the_previous,
    A.test_load_by_suffix,
    A.test_replace_makes_a_new_version,
    A.test_metadata_edit_then_save,
    A.test_describe_prints_a_tree,
    A.test_bulk_save_many_files,
    A.test_ls_save_skips_duplicates_within_a_batch,
    A.test_make_an_old_version_the_latest_again,
    C.test_members_keep_their_order,
    C.test_same_members_in_another_order_is_the_same_collection,
    C.test_versions_by_revises_and_by_name,
    C.test_collection_bad_input,
    C.test_trashed_collection_duplicate,
    C.test_make_an_old_collection_version_the_latest,
]


@pytest.fixture(params=["s3", "gs"])
def cloud_instance(request: pytest.FixtureRequest) -> Iterator[str]:
    server = request.getfixturevalue("s3_server" if request.param == "s3" else "gcs_server")
    root = f"{request.param}://{server.create_bucket()}"
    ls.init(root)
    try:
        yield root
    finally:
        disconnect()


@pytest.mark.cloud
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda f: f.__name__.removeprefix("test_"))
def test_on_cloud_default_storage(
    scenario: Callable[..., None],
    cloud_instance: str,
    tmp_path: Path,
    src: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert ls.settings.storage.root == cloud_instance
    available = {"instance": cloud_instance, "tmp_path": tmp_path, "src": src, "capsys": capsys}
    scenario(**{name: available[name] for name in inspect.signature(scenario).parameters})
    stored = [a for a in ls.Artifact.filter() if not a.storage.root.startswith(("s3://", "gs://"))]
    assert not stored, f"stored outside the cloud storage: {stored}"
