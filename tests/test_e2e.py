"""End to end: a real server process on localhost, the real client, the real default model."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kme_client import InvalidArgument, KMEClient, KMEError

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow

EDIT = {"prompt": "The Eiffel Tower is located in the city of", "subject": "Eiffel Tower",
        "target_new": "Rome", "ground_truth": "Paris", "relation_id": "P131"}
EDITED = "The Eiffel Tower is located in the city of"
UNRELATED = "The capital of Japan is"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`kme serve` in a child process, as a user starts it."""

    def __init__(self, data: Path, port: int) -> None:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "KME_LOG_LEVEL": "WARNING"}
        self.proc = subprocess.Popen([sys.executable, "-m", "kme_client.cli", "serve", "--data", str(data),
                                      "--port", str(port)], cwd=ROOT, env=env)
        self.target = f"127.0.0.1:{port}"

    def wait_serving(self, timeout_s: float = 600) -> None:
        deadline = time.monotonic() + timeout_s
        with KMEClient(self.target, timeout=5, retries=0) as client:
            while time.monotonic() < deadline:
                assert self.proc.poll() is None, f"server exited with {self.proc.returncode}"
                try:
                    if client.health() == "SERVING":
                        return
                except KMEError:
                    pass
                time.sleep(0.5)
        raise AssertionError("server not SERVING in time")

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)


@pytest.fixture(scope="module")
def default_model_present() -> None:
    from kme_server.models.settings import ModelSettings

    cache = ROOT / ModelSettings().cache_dir / "gemma3-270m"
    if not cache.exists():
        pytest.skip(f"the default model is not converted yet ({cache}); run `make models`")


def test_the_whole_way_a_user_walks(tmp_path, default_model_present):
    data = tmp_path / "store"
    port = free_port()
    server = Server(data, port)
    try:
        server.wait_serving()
        with KMEClient(server.target, timeout=120) as client:
            base_edited = client.ask(EDITED, mode="none").answer
            base_unrelated = client.ask(UNRELATED, mode="none").answer
            assert "Rome" not in base_edited

            facts = tmp_path / "facts.jsonl"
            facts.write_text('{"subject": "France", "relation": "capital", "relation_id": "P36", "object": "Paris"}\n')
            assert client.import_facts(facts).imported == 1
            edit_id = client.add_facts([EDIT]).ids[0]

            edited = client.ask(EDITED)  # mode auto
            assert "Rome" in edited.answer and edit_id in [f.id for f in edited.facts]
            # SERAC answers in-scope questions when a trained scope classifier is there (make serac).
            serac = (ROOT / ".cache" / "serac" / "scope.json").is_file()
            assert edited.mode.value == ("serac" if serac else "in_context")
            unrelated = client.ask(UNRELATED)
            assert unrelated.answer == base_unrelated and unrelated.mode.value == "none"

            with pytest.raises(InvalidArgument) as err:
                client.add_facts([{"subject": "X", "relation": "r", "object": ""}])
            assert "object" in str(err.value)

            client.delete([edit_id])
            assert client.ask(EDITED).answer == base_edited
            client.add_facts([EDIT])
        assert server.stop() == 0

        server = Server(data, port)
        server.wait_serving()
        with KMEClient(server.target, timeout=120) as client:
            assert [f.object for f in client.list_facts(subject="Eiffel Tower")] == ["Rome"]
            assert "Rome" in client.ask(EDITED).answer
    finally:
        if server.proc.poll() is None:
            server.stop()


def test_kme_eval_through_the_client_against_a_real_server(tmp_path, default_model_present):
    """`kme eval --target`: the harness stores the edits over gRPC and scores the service's answers."""
    import json

    edits = tmp_path / "edits.jsonl"
    rows = [{"subject": "Eiffel Tower", "prompt": EDITED, "target_new": "Rome", "ground_truth": "Paris",
             "rephrase_prompts": ["Which city is the Eiffel Tower located in?"],
             "locality_prompts": ["The Colosseum is located in the city of"]}]
    edits.write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = tmp_path / "report.json"
    server = Server(tmp_path / "store", free_port())
    try:
        server.wait_serving()
        done = subprocess.run([sys.executable, "-m", "kme_client.cli", "eval", "jsonl", str(edits),
                               "--target", server.target, "--systems", "none,auto", "--json", str(report)],
                              cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        assert "auto" in done.stdout and "eff" in done.stdout  # the table
        result = json.loads(report.read_text())
        auto, none = result["systems"]["auto"]["metrics"], result["systems"]["none"]["metrics"]
        assert result["backend"] == f"service at {server.target}" and result["cases"] == 1
        assert auto["efficacy"] == 1.0 and auto["efficacy_prob"] == 1.0
        assert auto["locality"] == 1.0 and none["efficacy"] == 0.0
        with KMEClient(server.target) as client:  # the harness stored the edit through the service
            assert [f.object for f in client.list_facts(subject="Eiffel Tower")] == ["Rome"]
    finally:
        if server.proc.poll() is None:
            server.stop()
