"""Model directory layouts and gs:// model sources (the downloader is replaced: no network)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from serving_image.config import ModelSource
from serving_image.errors import ModelLoadError
from serving_image.layout import discover_repository, discover_versions
from serving_image.storage import GCS_INSTALL_HINT, download_gcs, materialize, split_gs_uri


def saved_model(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "saved_model.pb").write_bytes(b"pb")
    return path


def test_saved_model_directory_is_version_one(tmp_path: Path) -> None:
    assert discover_versions(saved_model(tmp_path / "m")) == {1: tmp_path / "m"}


def test_tflite_file_and_directory_with_one_tflite(tmp_path: Path) -> None:
    model = tmp_path / "model.tflite"
    model.write_bytes(b"tfl3")
    assert discover_versions(model) == {1: model}
    assert discover_versions(tmp_path) == {1: model}


def test_several_tflite_files_are_refused_by_name(tmp_path: Path) -> None:
    for name in ("a.tflite", "b.tflite"):
        (tmp_path / name).write_bytes(b"tfl3")
    with pytest.raises(ModelLoadError, match=r"a\.tflite, b\.tflite"):
        discover_versions(tmp_path)


def test_tf_serving_base_path_lists_numeric_versions(tmp_path: Path) -> None:
    for version in ("1", "2", "10"):
        saved_model(tmp_path / version)
    (tmp_path / "notes").mkdir()
    assert discover_versions(tmp_path) == {1: tmp_path / "1", 2: tmp_path / "2", 10: tmp_path / "10"}


def test_version_directory_without_a_model_is_named(tmp_path: Path) -> None:
    saved_model(tmp_path / "1")
    (tmp_path / "2").mkdir()
    with pytest.raises(ModelLoadError, match=r"version directory .*/2 holds no saved_model.pb"):
        discover_versions(tmp_path)


def test_azure_ml_nesting_is_followed(tmp_path: Path) -> None:
    # AZUREML_MODEL_DIR points above the registered model's own folder.
    model = saved_model(tmp_path / "churn" / "3" / "model")
    assert discover_versions(tmp_path / "churn") == {3: model}
    assert discover_versions(tmp_path) == {3: model}


def test_single_nested_folder_is_followed(tmp_path: Path) -> None:
    model = saved_model(tmp_path / "export" / "model")
    assert discover_versions(tmp_path) == {1: model}


def test_empty_or_missing_directory_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=str(tmp_path)):
        discover_versions(tmp_path)
    with pytest.raises(ModelLoadError, match="does not exist"):
        discover_versions(tmp_path / "missing")


def test_split_gs_uri() -> None:
    assert split_gs_uri("gs://bucket/models/churn/") == ("bucket", "models/churn")
    assert split_gs_uri("gs://bucket") == ("bucket", "")
    with pytest.raises(ModelLoadError):
        split_gs_uri("s3://bucket/x")


def test_local_source_is_used_in_place(tmp_path: Path) -> None:
    assert materialize(ModelSource(str(tmp_path), "MODEL_DIR"), str(tmp_path / "dl")) == tmp_path


def test_gs_source_is_downloaded_into_the_download_dir(tmp_path: Path) -> None:
    calls = []

    def fake_download(bucket: str, prefix: str, destination: Path) -> int:
        calls.append((bucket, prefix, destination))
        saved_model(destination / "1")
        return 2

    local = materialize(ModelSource("gs://models-bkt/churn/v3", "AIP_STORAGE_URI"), str(tmp_path / "dl"), fake_download)
    assert calls == [("models-bkt", "churn/v3", tmp_path / "dl")]
    assert discover_versions(local) == {1: tmp_path / "dl" / "1"}


def test_empty_gs_source_is_an_error_naming_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="AIP_STORAGE_URI='gs://b/p' holds no objects"):
        materialize(ModelSource("gs://b/p", "AIP_STORAGE_URI"), str(tmp_path), lambda b, p, d: 0)


def test_other_schemes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="only local paths and gs:// URIs"):
        materialize(ModelSource("s3://b/p", "MODEL_DIR"), str(tmp_path))


def test_missing_storage_client_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "google.cloud.storage", None)
    monkeypatch.setitem(sys.modules, "google.cloud", None)
    with pytest.raises(ModelLoadError, match=GCS_INSTALL_HINT):
        download_gcs("bucket", "prefix", tmp_path)


def test_gcs_download_keeps_relative_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real download function against a stand-in client module: object names map to files."""
    import types

    written = []

    class Blob:
        def __init__(self, name: str) -> None:
            self.name = name

        def download_to_filename(self, filename: str) -> None:
            Path(filename).write_text(self.name)
            written.append(filename)

    class Client:
        def list_blobs(self, bucket: str, prefix: str | None = None) -> list[Blob]:
            assert (bucket, prefix) == ("bkt", "models/churn/")
            names = ["models/churn/", "models/churn/1/saved_model.pb", "models/churn/1/variables/variables.index"]
            return [Blob(n) for n in names]

    storage = types.ModuleType("google.cloud.storage")
    storage.Client = Client  # type: ignore[attr-defined]
    cloud = types.ModuleType("google.cloud")
    cloud.storage = storage  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "google.cloud", cloud)
    monkeypatch.setitem(sys.modules, "google.cloud.storage", storage)
    assert download_gcs("bkt", "models/churn", tmp_path) == 2
    assert (tmp_path / "1" / "saved_model.pb").read_text() == "models/churn/1/saved_model.pb"
    assert (tmp_path / "1" / "variables" / "variables.index").is_file()


def test_a_repository_is_several_model_folders_or_a_pipeline_file(tmp_path: Path) -> None:
    saved_model(tmp_path / "churn" / "1")
    saved_model(tmp_path / "churn" / "2")
    (tmp_path / "iris").mkdir()
    (tmp_path / "iris" / "model.tflite").write_bytes(b"tfl3")
    (tmp_path / "handlers").mkdir()  # never a model
    assert discover_repository(tmp_path) == {
        "churn": {1: tmp_path / "churn" / "1", 2: tmp_path / "churn" / "2"},
        "iris": {1: tmp_path / "iris" / "model.tflite"},
    }


def test_one_model_folder_is_a_wrapper_not_a_repository(tmp_path: Path) -> None:
    saved_model(tmp_path / "churn" / "1")
    assert discover_repository(tmp_path) is None  # Azure ML's AZUREML_MODEL_DIR/<model>/... layout
    assert discover_repository(saved_model(tmp_path / "plain")) is None
    versions = tmp_path / "versions"
    saved_model(versions / "1")
    saved_model(versions / "2")
    assert discover_repository(versions) is None  # numbered folders are versions of one model


def test_a_pipeline_file_makes_a_repository_and_bad_folders_are_named(tmp_path: Path) -> None:
    saved_model(tmp_path / "only")
    (tmp_path / "pipeline.yaml").write_text("pipelines: {}\n")
    assert discover_repository(tmp_path) == {"only": {1: tmp_path / "only"}}
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="folder 'empty': found no model"):
        discover_repository(tmp_path)
