"""components/gcp/README.md documents every option each GCP pattern takes."""

from __future__ import annotations

from pathlib import Path

import pytest
from modelport.catalog import CATALOG, load_component

README = (Path(__file__).resolve().parents[2] / "components" / "gcp" / "README.md").read_text()


@pytest.mark.parametrize("pattern", ["vm", "container", "kubernetes", "serverless", "ml_platform"])
def test_every_option_is_documented(pattern):
    args_type = load_component("gcp", pattern).args_type
    missing = [name for name in args_type.option_names() if f"`{name}`" not in README]
    assert missing == [], f"{CATALOG[('gcp', pattern)].type_token}: undocumented options {missing}"
