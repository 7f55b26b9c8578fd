"""Interoperability with TF Serving's own client: the ``PredictionService`` and ``ModelService`` stubs that
grpcio-tools generates from TF Serving's unmodified protos (``tfserving_protos/``, see its README), driven against
the real server. The generated ``tensorflow.core.framework`` modules would clash in the protobuf pool with the
installed TensorFlow and with the server's own descriptors, so the client runs in a subprocess of its own
(``tfserving_client.py``) and reports what it got as JSON."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .serving_helpers import FakeRuntime, ThreadedServer

pytest.importorskip(
    "grpc_tools.protoc",
    reason="grpcio-tools (the dev extra) is needed to generate TF Serving's stubs from its protos",
)

PROTOS = Path(__file__).parent / "tfserving_protos"
CLIENT = Path(__file__).parent / "tfserving_client.py"
ROOT = Path(__file__).resolve().parents[2]
SENT = [[0.5, 1.5], [2.0, -3.0], [4.0, 8.0]]
DOUBLED = [[2 * value for value in row] for row in SENT]


def protoc(include: Path, protos: list[str], *outputs: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{include}", *outputs, *protos],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr


def generate_stubs(out: Path) -> Path:
    """Python messages and gRPC stubs for every vendored proto, as TF Serving's users generate them."""
    protos = sorted(str(path.relative_to(PROTOS)) for path in PROTOS.rglob("*.proto"))
    out.mkdir()
    protoc(PROTOS, protos, f"--python_out={out}", f"--grpc_python_out={out}")
    # Regular packages, so that `tensorflow` here wins over the installed TensorFlow (a folder without
    # __init__.py would only be a namespace portion, and an installed regular package takes precedence).
    for folder in [path for path in out.rglob("*") if path.is_dir()]:
        (folder / "__init__.py").touch()
    return out


@pytest.fixture(scope="module")
def stubs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_stubs(tmp_path_factory.mktemp("tfserving") / "stubs")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ThreadedServer]:
    with ThreadedServer(tmp_path, FakeRuntime()) as server:
        yield server


def test_the_vendored_protos_are_the_closure_of_what_the_two_services_import() -> None:
    """Nothing vendored is unused, and every import is vendored (or a protobuf well-known type)."""
    wanted = {"tensorflow_serving/apis/prediction_service.proto", "tensorflow_serving/apis/model_service.proto"}
    todo, seen = list(wanted), set()
    while todo:
        name = todo.pop()
        if name in seen or name.startswith("google/protobuf/"):
            continue
        seen.add(name)
        path = PROTOS / name
        assert path.is_file(), f"{name} is imported but not vendored"
        todo += re.findall(r'^import (?:public )?"([^"]+)";', path.read_text(), re.MULTILINE)
    on_disk = {str(path.relative_to(PROTOS)) for path in PROTOS.rglob("*.proto")}
    assert on_disk == seen
    assert not list(PROTOS.rglob("__init__.py")), "the vendored protos are data, not a package"


def test_tf_serving_generated_stubs_predict_and_get_model_status(stubs: Path, served: ThreadedServer) -> None:
    done = subprocess.run(
        [sys.executable, str(CLIENT), str(stubs), f"127.0.0.1:{served.grpc_port}"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=stubs,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)

    # The client's `tensorflow` package is the generated one, not the installed TensorFlow.
    assert Path(report["generated_tensorflow"]).is_relative_to(stubs)
    assert report["tensor_proto_file"] == "tensorflow/core/framework/tensor.proto"
    assert report["foreign_modules"] == []  # neither the server's descriptors nor anything of modelport
    assert report["sent"] == SENT

    # Predict, input as tensor_content, with model_spec version 1 and signature_name.
    assert report["tensor_content"] == {
        "outputs": {
            "y": {"dtype": "DT_FLOAT", "shape": [3, 2], "encoding": "tensor_content", "values": DOUBLED},
        },
        "model_spec": {
            "name": "model",
            "version_choice": "version",
            "version": 1,
            "signature_name": "serving_default",
        },
    }
    # Predict, input as float_val, no version (the latest) and no signature_name (the default), output_filter.
    float_val = report["float_val"]
    assert float_val["outputs"]["y"]["dtype"] == "DT_FLOAT"
    assert float_val["outputs"]["y"]["shape"] == [3, 2]
    assert float_val["outputs"]["y"]["values"] == DOUBLED
    assert float_val["model_spec"]["version"] == 1
    assert float_val["model_spec"]["signature_name"] == "serving_default"

    # Errors arrive with the status codes TF Serving itself gives (basic_manager.cc: NOT_FOUND for a model or
    # version it does not serve; server_core.cc: INVALID_ARGUMENT for a version label it does not know;
    # predict_util.cc: FAILED_PRECONDITION for a missing signature), with a message naming what was wrong.
    assert report["unknown_model"]["code"] == "NOT_FOUND"
    assert "'missing'" in report["unknown_model"]["details"]
    assert report["unknown_version"]["code"] == "NOT_FOUND"
    assert "no version 7" in report["unknown_version"]["details"]
    assert report["wrong_dtype"]["code"] == "INVALID_ARGUMENT"
    assert "DT_INT32" in report["wrong_dtype"]["details"]
    assert report["version_label"]["code"] == "INVALID_ARGUMENT"
    assert "version_label 'stable'" in report["version_label"]["details"]
    assert report["unknown_signature"]["code"] == "FAILED_PRECONDITION"
    assert "'missing'" in report["unknown_signature"]["details"]
    # GetModelMetadata is declared by TF Serving's PredictionService but not served here: it says so.
    assert report["metadata"]["code"] == "UNIMPLEMENTED"

    # GetModelStatus: version 1 is AVAILABLE with an OK status; without a version, every version is listed.
    assert report["status"] == [{"version": 1, "state": "AVAILABLE", "error_code": 0}]
    assert report["status_all_versions"] == [1]
    assert report["status_unknown_model"]["code"] == "NOT_FOUND"

    # Still serving after the refusals, with the same answer.
    assert report["after_errors"] == report["tensor_content"]


def descriptors(include: Path, protos: list[str], out: Path) -> dict[str, Any]:
    """Every message, enum and service the files declare, by full name, read from protoc's descriptor set (parsed
    as plain messages: nothing is registered in this process's protobuf pool)."""
    from google.protobuf import descriptor_pb2

    protoc(include, protos, "--include_imports", f"--descriptor_set_out={out}")
    found: dict[str, Any] = {}

    def walk(prefix: str, messages: Any, enums: Any) -> None:
        for message in messages:
            found[prefix + message.name] = message
            walk(f"{prefix}{message.name}.", message.nested_type, message.enum_type)
        for enum in enums:
            found[prefix + enum.name] = enum

    for file in descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file:
        walk(f".{file.package}.", file.message_type, file.enum_type)
        for service in file.service:
            found[f".{file.package}.{service.name}"] = service
    return found


# Our condensed names → TF Serving's and TensorFlow's (only the error code enum is named differently).
RENAMED = {".modelport.tensorflow.serving.ErrorCode": ".tensorflow.error.Code"}
# Fields the server reads that the vendored TensorFlow 2.8 protos do not declare yet (TensorFlow 2.20 does).
NEWER_THAN_VENDORED = {".tensorflow.TensorProto.float8_val"}


def real_name(ours: str) -> str:
    return RENAMED.get(ours, ours.replace(".modelport.tensorflow.", ".tensorflow.", 1))


def test_the_servers_condensed_protos_match_tf_servings_on_the_wire(tmp_path: Path) -> None:
    """Every field of serving_image/rpc/protos' condensed TF Serving messages has TF Serving's number, type and
    label; every enum value its number; every service method its path and message types."""
    from google.protobuf import descriptor_pb2

    real = descriptors(
        PROTOS,
        ["tensorflow_serving/apis/prediction_service.proto", "tensorflow_serving/apis/model_service.proto"],
        tmp_path / "real.pb",
    )
    ours = descriptors(
        ROOT,
        [f"serving_image/rpc/protos/{name}" for name in ("tensor.proto", "tfserving.proto", "tfserving_service.proto")],
        tmp_path / "ours.pb",
    )
    ours = {name: value for name, value in ours.items() if not name.startswith(".google.protobuf.")}
    assert {real_name(name) for name in ours} <= set(real), "a condensed type has no TF Serving counterpart"
    compared = 0
    for name, declared in ours.items():
        counterpart = real[real_name(name)]
        if isinstance(declared, descriptor_pb2.DescriptorProto):
            fields = {field.name: field for field in counterpart.field}
            for field in declared.field:
                full = f"{real_name(name)}.{field.name}"
                if full in NEWER_THAN_VENDORED:
                    assert field.name not in fields
                    continue
                theirs = fields[field.name]
                assert (field.number, field.type, field.label) == (theirs.number, theirs.type, theirs.label), full
                if field.type_name:  # a message or enum field: TF Serving's counterpart of our type
                    assert real_name(field.type_name) == theirs.type_name, full
                assert field.HasField("oneof_index") == theirs.HasField("oneof_index"), full
                compared += 1
        elif isinstance(declared, descriptor_pb2.EnumDescriptorProto):
            values = {value.name: value.number for value in counterpart.value}
            for value in declared.value:
                assert values[value.name] == value.number, f"{real_name(name)}.{value.name}"
                compared += 1
        else:
            methods = {method.name: method for method in counterpart.method}
            for method in declared.method:
                theirs = methods[method.name]
                assert (real_name(method.input_type), real_name(method.output_type)) == (
                    theirs.input_type,
                    theirs.output_type,
                ), f"{name}/{method.name}"
                compared += 1
    # ModelSpec, PredictRequest/Response, GetModelStatus*, ModelVersionStatus, StatusProto, TensorProto, ...
    assert compared >= 80
