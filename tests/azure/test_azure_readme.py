"""components/azure/README.md documents every option of every Azure pattern."""

from __future__ import annotations

from pathlib import Path

import pytest
from modelport.azure.container import ContainerAppServiceArgs
from modelport.azure.kubernetes import AksServiceArgs
from modelport.azure.ml_platform import AzureMlEndpointArgs
from modelport.azure.serverless import FunctionAppServiceArgs
from modelport.azure.vm import VmssServiceArgs

README = (Path(__file__).resolve().parents[2] / "components" / "azure" / "README.md").read_text()


@pytest.mark.parametrize(
    "args", [VmssServiceArgs, ContainerAppServiceArgs, AksServiceArgs, FunctionAppServiceArgs, AzureMlEndpointArgs]
)
def test_every_option_is_documented(args):
    missing = [name for name in args.option_names() if f"`{name}`" not in README]
    assert missing == []
