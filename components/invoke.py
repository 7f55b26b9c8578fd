"""What a stack tells its callers, per target: an example invoke command and the access a caller must be granted."""

from __future__ import annotations

import shlex
from typing import Any

import pulumi

from .spec import ModelService, Target

__all__ = ["caller_access", "grpc_invoke_command", "invoke_command"]

# The request body is the model's own: KServe V2 ``{"inputs": [{name, shape, datatype, data}]}``.
_BODY_NOTE = 'request.json holds a KServe V2 body: {"inputs": [{"name", "shape", "datatype", "data"}]}'


def _infer_path(service: ModelService) -> str:
    assert service.model is not None  # filled in by ModelService
    return f"v2/models/{service.model.name}/infer"


def _curl(url: pulumi.Input[str], extra: str = "") -> pulumi.Output[str]:
    return pulumi.Output.from_input(url).apply(
        lambda text: (
            f"curl -sS -X POST {extra}-H 'content-type: application/json' --data-binary @request.json "
            + shlex.quote(text)
        )
    )


def _join(base: str, path: str) -> str:
    return base.rstrip("/") + "/" + path


def _bearer(service: ModelService, target: Target) -> str:
    """The ``authorization`` header a caller's token goes in, where the target checks one (empty elsewhere)."""
    if target.cloud == "gcp" and target.pattern in ("container", "serverless") and not service.exposure.anonymous:
        # Cloud Run checks roles/run.invoker on a Google-signed ID token, on HTTP as on gRPC.
        return '-H "authorization: Bearer $(gcloud auth print-identity-token)" '
    if target.cloud == "azure" and target.pattern == "ml_platform":
        # The online endpoint's auth mode is AADToken: a Microsoft Entra token for Azure Machine Learning.
        return (
            '-H "authorization: Bearer $(az account get-access-token --resource https://ml.azure.com '
            '--query accessToken -o tsv)" '
        )
    return ""


def invoke_command(service: ModelService, target: Target, component: Any) -> pulumi.Output[str]:
    """One shell command that calls the model on this target (with ``request.json`` in the current directory)."""
    path = _infer_path(service)
    endpoint = pulumi.Output.from_input(component.endpoint)
    if target.cloud == "aws" and target.pattern == "serverless":
        # The function URL uses AWS_IAM auth: the request is signed with the caller's credentials.
        sigv4 = (
            f"--aws-sigv4 'aws:amz:{target.region}:lambda' --user \"$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY\" "
            '-H "x-amz-security-token: $AWS_SESSION_TOKEN" '
        )
        return endpoint.apply(lambda url: _join(url, path)).apply(lambda url: _curl(url, sigv4))
    if target.cloud == "aws" and target.pattern == "ml_platform":
        return pulumi.Output.from_input(component.sagemaker_endpoint.name).apply(
            lambda name: (
                f"aws sagemaker-runtime invoke-endpoint --region {target.region} --endpoint-name {shlex.quote(name)} "
                "--content-type application/json --body fileb://request.json response.json"
            )
        )
    if target.pattern == "kubernetes":

        def in_cluster(url: str) -> str:
            if url.startswith("https://"):
                return (
                    "curl -sS -X POST -H 'content-type: application/json' --data-binary @request.json "
                    + shlex.quote(_join(url, path))
                )
            # The Service is private to the cluster: call it from a pod of a namespace the NetworkPolicy admits.
            callers = [p.split("/")[1] for p in service.exposure.principals_of("kubernetes")]
            namespace = callers[0] if callers else "<an-allowed-namespace>"
            return (
                f"kubectl --namespace {namespace} run {service.name}-invoke --rm -i --restart=Never "
                "--image=curlimages/curl -- curl -sS -X POST -H 'content-type: application/json' --data-binary @- "
                f"{_join(url, path)} < request.json"
            )

        return endpoint.apply(in_cluster)
    bearer = _bearer(service, target)
    return endpoint.apply(lambda url: _join(url, path)).apply(lambda url: _curl(url, bearer))


def grpc_invoke_command(service: ModelService, target: Target, component: Any) -> pulumi.Output[str]:
    """One grpcurl command that calls the model's KServe V2 ``ModelInfer`` on the target's gRPC endpoint
    (``host:port``, TLS), run from the repository root so grpcurl reads the serving image's vendored protos,
    with ``infer.json`` a V2 ``ModelInferRequest`` in protobuf JSON."""
    auth = _bearer(service, target)
    return pulumi.Output.from_input(component.grpc_endpoint).apply(
        lambda address: (
            "grpcurl -import-path serving_image/rpc/protos -proto open_inference_service.proto "
            f"{auth}-d @ {shlex.quote(address)} inference.GRPCInferenceService/ModelInfer < infer.json"
        )
    )


def caller_access(service: ModelService, target: Target, component: Any) -> dict[str, Any]:
    """What a caller must be granted to reach this target: an IAM permission on a resource, or a network."""
    exposure = service.exposure
    if target.cloud == "aws" and target.pattern == "serverless":
        return {
            "grant": ["lambda:InvokeFunctionUrl", "lambda:InvokeFunction"],
            "resource": component.alias.arn,
            "principals": list(exposure.principals_of("aws"))
            or "IAM identities of this account whose own policies allow the actions",
            "note": _BODY_NOTE,
        }
    if target.cloud == "aws" and target.pattern == "ml_platform":
        return {
            "grant": ["sagemaker:InvokeEndpoint"],
            "resource": component.sagemaker_endpoint.arn,
            "principals": list(exposure.principals_of("aws"))
            or "IAM identities of this account whose own policies allow the action",
            "note": _BODY_NOTE,
        }
    if target.pattern == "kubernetes":
        return {
            "grant": ["NetworkPolicy ingress"],
            "principals": list(exposure.principals_of("kubernetes")) or "the ingress controller's namespace only",
            "note": _BODY_NOTE,
        }
    return {
        "grant": ["network reach to the load balancer"],
        "networks": list(exposure.allowed_networks) or ("the internet" if exposure.public else "the target's VPC"),
        "note": _BODY_NOTE,
    }
