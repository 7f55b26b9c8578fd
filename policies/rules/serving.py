"""Rules on the serving image's own settings, whatever the cloud: gRPC stays closed where the target cannot carry it.

The serving image opens gRPC on ``GRPC_PORT``, 8081 when the variable is absent or blank; the value ``0`` (as the
image reads it: whitespace stripped, then ``int``) turns it off. Lambda function URLs, SageMaker, Vertex AI, Azure ML
online endpoints, Container Apps, Azure Functions and the scale-set and managed-instance-group VMs forward HTTP only,
so modelport refuses ``grpc_port`` there (``ComponentArgs.GRPC_REFUSAL``) and sets ``GRPC_PORT=0``; this rule checks
the same thing on what is deployed. Cloud Run is judged elsewhere: it carries gRPC over HTTP/2.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator, Mapping
from typing import Any

import yaml
from pulumi_policy import ResourceValidationArgs

from .aws import LAMBDA_FUNCTION, SAGEMAKER_MODEL
from .azure import CONTAINER_APP, ML_DEPLOYMENT, VMSS, WEB_APP, _custom_data
from .base import MANDATORY, collect, resource_rule
from .gcp import DYNAMIC, VM_TYPES, _metadata
from .props import UNKNOWN, decode_text, get, items, peek

__all__ = ["RULES", "grpc_port_problem"]

GRPC_PORT = "GRPC_PORT"
IMAGE_DEFAULT_GRPC_PORT = 8081


def grpc_port_problem(where: str, value: Any) -> str | None:
    """Why ``GRPC_PORT=value`` (None: absent) leaves the serving image's gRPC listener open, or None when it is off."""
    if value is UNKNOWN:
        return (
            f"{where} computes GRPC_PORT at deploy time, so whether gRPC stays closed cannot be told: set it to the "
            "literal 0"
        )
    text = str(value).strip() if value is not None else ""
    if not text:
        shown = "leaves GRPC_PORT unset" if value is None else f"sets GRPC_PORT to {value!r} (blank)"
        return f"{where} {shown}, so the serving image opens gRPC on {IMAGE_DEFAULT_GRPC_PORT}"
    try:
        port = int(text)
    except ValueError:
        return f"{where} sets GRPC_PORT to {value!r}, which is not a port: the serving image refuses to start"
    if port == 0:
        return None
    return f"{where} sets GRPC_PORT to {value!r}, so the serving image opens gRPC on port {port}"


def _from_mapping(where: str, env: Any) -> Iterator[str]:
    """A ``{name: value}`` environment (Lambda, SageMaker, Vertex, Azure ML)."""
    if env is not None and not isinstance(env, Mapping):
        yield f"{where} has an environment the rule cannot read ({type(env).__name__})"
        return
    value = peek(env, GRPC_PORT) if env is not None else None
    problem = grpc_port_problem(where, value)
    if problem:
        yield problem


def _from_pairs(where: str, pairs: Any, value_key: str = "value") -> Iterator[str]:
    """A ``[{name, value}]`` environment (Container Apps env, App Service app settings); the last entry wins."""
    found: list[Any] = []
    for pair in items(pairs):
        if isinstance(pair, Mapping) and get(pair, "name") == GRPC_PORT:
            if get(pair, "secretRef") is not None:
                found.append(("secret", get(pair, "secretRef")))
            else:
                found.append(peek(pair, value_key))
    value = found[-1] if found else None
    if isinstance(value, tuple):
        yield f"{where} takes GRPC_PORT from secret {value[1]!r}, which the rule cannot read: set it to the literal 0"
        return
    if isinstance(value, str) and value.strip().startswith("@Microsoft.KeyVault("):
        yield f"{where} takes GRPC_PORT from a Key Vault reference, which the rule cannot read: set it to the literal 0"
        return
    problem = grpc_port_problem(where, value)
    if problem:
        yield problem


# --- cloud-init: the env files and flags of every `docker run` ---

_DOCKER_RUN = re.compile(r"\bdocker\s+(?:container\s+)?run\b")


def _write_files(document: Mapping[str, Any]) -> dict[str, str | None]:
    """path -> content of cloud-init's write_files (None: content in an encoding the rule does not read)."""
    files: dict[str, str | None] = {}
    for entry in items(document.get("write_files")):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("path"), str):
            continue
        encoding = str(entry.get("encoding") or "text/plain").lower()
        content = entry.get("content")
        if encoding in ("b64", "base64", "gz+b64", "gzip+base64", "gz+base64", "gzip+b64"):
            content = decode_text(content)
        elif encoding != "text/plain":
            content = None
        files[entry["path"]] = content if isinstance(content, str) else None
    return files


def _commands(document: Mapping[str, Any], files: Mapping[str, str | None]) -> list[str]:
    """Every ``docker run`` command line in the files cloud-init writes and the commands it runs."""
    texts = [t for t in files.values() if t]
    for key in ("runcmd", "bootcmd"):
        for command in items(document.get(key)):
            texts.append(" ".join(map(str, command)) if isinstance(command, list) else str(command))
    commands = []
    for text in texts:
        for line in re.sub(r"\\\r?\n", " ", text).splitlines():
            match = _DOCKER_RUN.search(line)
            if match:
                commands.append(line[match.start() :])
    return commands


def _env_file(content: str) -> dict[str, str | None]:
    """Docker's env-file format: NAME=value per line, # comments; a bare NAME passes the host's value (None)."""
    env: dict[str, str | None] = {}
    for raw in content.splitlines():
        line = raw.lstrip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        env[name] = value if sep else None
    return env


def _docker_env(command: str, files: Mapping[str, str | None]) -> tuple[dict[str, Any], list[str]]:
    """The environment one ``docker run`` gives its container (env files in order, then -e flags, which win), and
    the env files it reads that cloud-init does not write (made at boot)."""
    try:
        words = shlex.split(command, comments=False)
    except ValueError:
        words = command.split()
    from_files: dict[str, Any] = {}
    from_flags: dict[str, Any] = {}
    generated: list[str] = []
    index = 0
    while index < len(words):
        word = words[index]
        flag, _, attached = word.partition("=") if word.startswith("--") else (word, "", "")
        if flag in ("--env-file", "-e", "--env"):
            value = attached or (words[index + 1] if index + 1 < len(words) else "")
            index += 1 if attached else 2
            if flag == "--env-file":
                content = files.get(value)
                if content is None:
                    generated.append(value)
                else:
                    from_files.update(_env_file(content))
            else:
                name, sep, setting = value.partition("=")
                from_flags[name] = setting if sep else None
            continue
        index += 1
    return {**from_files, **from_flags}, generated


def _from_cloud_init(where: str, text: str) -> Iterator[str]:
    if not text.strip():
        yield f"{where} has no cloud-init user data, so the rule cannot find how the serving image is started"
        return
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError:
        document = None
    if not isinstance(document, Mapping):
        yield f"{where} has user data that is not a cloud-config document, which the rule cannot read"
        return
    files = _write_files(document)
    commands = _commands(document, files)
    if not commands:
        yield f"{where} starts no container with `docker run` in its cloud-init: the rule cannot find its environment"
        return
    read_mentions = sum(content.count(GRPC_PORT) for content in files.values() if content)
    for command in commands:
        env, generated = _docker_env(command, files)
        if GRPC_PORT in env and env[GRPC_PORT] is None:
            yield f"{where} passes GRPC_PORT through from the host, which the rule cannot read: set it to the literal 0"
            continue
        if GRPC_PORT not in env and generated and text.count(GRPC_PORT) > read_mentions:
            # A file written at boot (e.g. secrets fetched from a vault) is unreadable here; it is taken not to set
            # GRPC_PORT only when nothing else in the user data names the variable.
            yield (
                f"{where} may set GRPC_PORT in {', '.join(generated)}, written at boot, which the rule cannot read: "
                "set it to the literal 0 in the env file cloud-init writes"
            )
            continue
        problem = grpc_port_problem(where, env.get(GRPC_PORT))
        if problem:
            yield problem


# --- the rule ---


@resource_rule(
    name="serving-grpc-closed-where-not-carried",
    description="On targets that forward HTTP only (Lambda, SageMaker, Vertex AI, Azure ML, Container Apps, Azure "
    "Functions, scale-set and instance-group VMs), the serving image runs with gRPC off: GRPC_PORT=0.",
    resource_types=(LAMBDA_FUNCTION, SAGEMAKER_MODEL, DYNAMIC, CONTAINER_APP, WEB_APP, ML_DEPLOYMENT, VMSS, *VM_TYPES),
    cloud="any",
    concern="network-exposure",
    level=MANDATORY,
    severity="medium",
    remediation="Set GRPC_PORT=0 in the container's environment (modelport's components do; leave service.grpc_port "
    "unset for these targets), or deploy to a target that carries gRPC: Kubernetes, ECS or EC2 behind an ALB.",
)
def grpc_closed_where_not_carried(args: ResourceValidationArgs) -> Iterator[str]:
    props = args.props
    kind = args.resource_type
    name = args.name
    if kind == LAMBDA_FUNCTION:
        yield from _from_mapping(f"Lambda function {name}", get(props, "environment", "variables"))
    elif kind == SAGEMAKER_MODEL:
        primary = get(props, "primaryContainer")
        containers = [(f"SageMaker model {name}", primary)] if primary else []
        containers += [
            (f"SageMaker model {name} container {i}", c) for i, c in enumerate(items(get(props, "containers")))
        ]
        if not containers:
            yield f"SageMaker model {name} names no container, so the rule cannot find the serving image's environment"
        for where, container in containers:
            yield from _from_mapping(where, get(container, "environment"))
    elif kind == DYNAMIC:
        if props.get("kind") != "vertex-model":
            args.not_applicable("not a modelport Vertex AI model")
        yield from _from_mapping(f"Vertex AI model {name}", get(props, "env"))
    elif kind == CONTAINER_APP:
        containers = items(get(props, "template", "containers"))
        if not containers:
            yield f"container app {name} names no container, so the rule cannot find the serving image's environment"
        for container in containers:
            where = f"container app {name} container {get(container, 'name', default='?')}"
            yield from _from_pairs(where, get(container, "env"))
    elif kind == WEB_APP:
        if "functionapp" not in str(props.get("kind") or ""):
            args.not_applicable("not a function app")
        yield from _from_pairs(f"function app {name}", get(props, "siteConfig", "appSettings"))
    elif kind == ML_DEPLOYMENT:
        yield from _from_mapping(f"Azure ML deployment {name}", get(props, "properties", "environmentVariables"))
    elif kind == VMSS:
        yield from _from_cloud_init(f"scale set {name}", _custom_data(args))
    else:  # GCP instance templates and instances
        yield from _from_cloud_init(f"VM {name}", decode_text(_metadata(args).get("user-data")))


RULES = collect(globals())
