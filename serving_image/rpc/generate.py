"""Generates the protobuf and gRPC modules in ``serving_image/rpc/protos`` from the vendored ``.proto``
files there, with grpcio-tools: ``python -m serving_image.rpc.generate`` (``--check`` compares instead).

The generated code is committed, so the images need no grpcio-tools. grpcio-tools is pinned to 1.70, whose
generated code targets protobuf 5.x: newer generated code refuses to load on the protobuf 5.29 that
pulumi-policy pins ("Gencode/Runtime versions"). A test checks that the committed files are current."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

PROTOS = Path(__file__).resolve().parent / "protos"
ROOT = PROTOS.parents[2]  # the repository root: imports read ``serving_image/rpc/protos/...``
GRPCIO_TOOLS = "1.70"


def generate(out: Path) -> list[Path]:
    """Write the generated modules for every vendored ``.proto`` under ``out`` (mirroring the repository
    layout); return their paths relative to ``out``."""
    try:
        import grpc_tools
        from grpc_tools import protoc
    except ImportError:
        raise SystemExit(f"grpcio-tools is needed: pip install 'grpcio-tools=={GRPCIO_TOOLS}.*'") from None
    from importlib.metadata import version

    installed = version("grpcio-tools")
    if not installed.startswith(GRPCIO_TOOLS + "."):
        raise SystemExit(f"grpcio-tools {GRPCIO_TOOLS}.* generates code for protobuf 5.29; found {installed}")
    includes = Path(grpc_tools.__file__).resolve().parent / "_proto"
    sources = sorted(p.relative_to(ROOT).as_posix() for p in PROTOS.glob("*.proto"))
    services = [s for s in sources if s.endswith("_service.proto")]
    common = [f"-I{ROOT}", f"-I{includes}"]
    if protoc.main(["protoc", *common, f"--python_out={out}", f"--pyi_out={out}", *sources]) != 0:
        raise SystemExit("protoc failed on the message files")
    if protoc.main(["protoc", *common, f"--grpc_python_out={out}", *services]) != 0:
        raise SystemExit("protoc failed on the service files")
    return sorted(p.relative_to(out) for p in out.rglob("*.py*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serving_image.rpc.generate")
    parser.add_argument("--check", action="store_true", help="fail if the committed modules are not current")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch)
        generated = generate(out)
        stale = [
            str(name)
            for name in generated
            if not (ROOT / name).is_file() or (ROOT / name).read_bytes() != (out / name).read_bytes()
        ]
        if args.check:
            if stale:
                print("out of date: " + ", ".join(stale) + "; run python -m serving_image.rpc.generate")
                return 1
            return 0
        for name in generated:
            (ROOT / name).write_bytes((out / name).read_bytes())
        print(f"wrote {len(generated)} files under {PROTOS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
