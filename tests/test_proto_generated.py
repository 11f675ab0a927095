"""The committed kme.v1 code is what the pinned generator makes of the committed .proto files."""
from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROTO = ROOT / "proto" / "kme" / "v1"
SCRIPT = ROOT / "scripts" / "gen_proto.sh"
PINNED = "1.85.1"


def _tools_version() -> str | None:
    try:
        return importlib.metadata.version("grpcio-tools")
    except importlib.metadata.PackageNotFoundError:
        return None


@pytest.mark.skipif(_tools_version() != PINNED, reason=f"needs grpcio-tools=={PINNED}")
def test_regenerating_gives_identical_files(tmp_path: Path) -> None:
    subprocess.run(["bash", str(SCRIPT), str(tmp_path)], check=True, env={"PYTHON": sys.executable, "PATH": "/usr/bin:/bin"})
    generated = sorted(p.name for p in (tmp_path / "kme" / "v1").iterdir())
    committed = sorted(p.name for p in PROTO.iterdir() if p.name.endswith(("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")))
    assert generated == committed and generated
    for name in generated:
        assert (tmp_path / "kme" / "v1" / name).read_bytes() == (PROTO / name).read_bytes(), f"{name} is stale: run {SCRIPT.relative_to(ROOT)}"


def test_generator_refuses_another_version(tmp_path: Path) -> None:
    fake = tmp_path / "python"
    # A stand-in interpreter that reports another grpcio-tools version.
    fake.write_text("#!/bin/sh\necho 0.0.1\n")
    fake.chmod(0o755)
    result = subprocess.run(["bash", str(SCRIPT), str(tmp_path / "out")], env={"PYTHON": str(fake), "PATH": "/usr/bin:/bin"},
                            capture_output=True, text=True)
    assert result.returncode != 0 and PINNED in result.stderr


def test_services_and_prefixed_enums() -> None:
    from kme.v1 import answer_pb2, common_pb2, knowledge_pb2

    assert set(knowledge_pb2.DESCRIPTOR.services_by_name["KnowledgeService"].methods_by_name) == {
        "AddFacts", "ImportFacts", "DeleteFacts", "Rollback", "GetFact", "ListFacts", "Retrieve", "Stats"}
    assert set(answer_pb2.DESCRIPTOR.services_by_name["AnswerService"].methods_by_name) == {"Ask", "AskStream", "Score"}
    assert all(v.startswith("MODE_") for v in answer_pb2.Mode.keys())
    assert all(v.startswith("FACT_STATUS_") for v in common_pb2.FactStatus.keys())
    assert answer_pb2.MODE_UNSPECIFIED == 0 and common_pb2.FACT_STATUS_UNSPECIFIED == 0
