"""Vector index: stable ids, real deletes, exact-to-IVF growth, persistence, GPU parity."""
from __future__ import annotations

import numpy as np
import pytest

from kme_store.index import create_index
from kme_store.index.faiss_cpu import FaissIndex
from kme_store.index.faiss_gpu import GpuFaissIndex, gpu_available
from kme_store.settings import IndexSettings

DIM = 32


def unit_vectors(n: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def exact_top(vecs: np.ndarray, ids: np.ndarray, q: np.ndarray, k: int) -> list[set[int]]:
    return [set(ids[np.argsort(-(vecs @ row))[:k]].tolist()) for row in q]


def test_flat_index_keeps_ids_and_deletes_for_real():
    index = FaissIndex(DIM, IndexSettings())
    vecs = unit_vectors(100)
    ids = np.arange(1000, 1100)
    index.upsert(ids, vecs)
    _, found = index.search(vecs[:3], 1)
    assert found[:, 0].tolist() == [1000, 1001, 1002]
    assert index.remove(np.array([1000, 5])) == 1
    assert len(index) == 99 and 1000 not in set(index.ids().tolist())
    _, found = index.search(vecs[:1], 5)
    assert 1000 not in found[0]


def test_search_runs_on_the_set_threads_and_restores_the_callers(monkeypatch):
    # The thread count is OpenMP's per calling thread: a search must leave it as it found it, so
    # that IVF training on add() keeps every core.
    import faiss

    index = FaissIndex(DIM, IndexSettings(search_threads=1))
    vecs = unit_vectors(50)
    index.upsert(np.arange(50), vecs)
    seen: list[int] = []
    inner = index.raw

    class Spy:
        ntotal = inner.ntotal

        def search(self, queries, k):
            seen.append(faiss.omp_get_max_threads())
            return inner.search(queries, k)

    monkeypatch.setattr(index, "_index", Spy())
    original = faiss.omp_get_max_threads()
    # The caller's count must differ from the setting's for the test to tell them apart, also on a
    # one-core machine, where OpenMP's default is 1.
    faiss.omp_set_num_threads(2)
    try:
        _, found = index.search(vecs[:2], 1)
        assert found[:, 0].tolist() == [0, 1]
        assert seen == [1] and faiss.omp_get_max_threads() == 2
        monkeypatch.setattr(index, "settings", IndexSettings(search_threads=0))
        index.search(vecs[:1], 1)
        assert seen[-1] == 2
    finally:
        faiss.omp_set_num_threads(original)


def test_upsert_replaces_the_vector_of_an_id():
    index = FaissIndex(DIM, IndexSettings())
    vecs = unit_vectors(3)
    index.upsert(np.array([7]), vecs[:1])
    index.upsert(np.array([7]), vecs[1:2])
    assert len(index) == 1
    scores, found = index.search(vecs[1:2], 1)
    assert found[0, 0] == 7 and scores[0, 0] == pytest.approx(1.0, abs=1e-5)


def test_index_turns_approximate_past_the_threshold_and_still_deletes():
    settings = IndexSettings(approximate_threshold=2000, nprobe=48)
    index = FaissIndex(DIM, settings)
    vecs = unit_vectors(4000)
    ids = np.arange(4000) * 3
    index.upsert(ids[:1000], vecs[:1000])
    assert index.kind == "flat"
    index.upsert(ids[1000:], vecs[1000:])
    assert index.kind == "ivf" and len(index) == 4000
    q = vecs[:50] + 0.05 * unit_vectors(50, seed=1)
    _, found = index.search(q, 10)
    truth = exact_top(vecs, ids, q, 10)
    recall = np.mean([len(set(f.tolist()) & t) / 10 for f, t in zip(found, truth)])
    assert recall >= 0.9
    gone = ids[:10]
    assert index.remove(gone) == 10
    _, found = index.search(vecs[:10], 3)
    assert not set(found.ravel().tolist()) & set(gone.tolist())


def test_index_round_trips_through_a_file(tmp_path):
    settings = IndexSettings(approximate_threshold=500)
    for n in (100, 1000):  # flat and IVF
        index = FaissIndex(DIM, settings)
        vecs = unit_vectors(n)
        index.upsert(np.arange(n), vecs)
        index.save(tmp_path / f"i{n}.faiss")
        loaded = FaissIndex.load(tmp_path / f"i{n}.faiss", DIM, settings, trained_size=n)
        assert loaded.kind == index.kind and len(loaded) == n
        np.testing.assert_array_equal(loaded.search(vecs[:5], 3)[1], index.search(vecs[:5], 3)[1])
        assert loaded.remove(np.array([0, 1])) == 2  # deletes work after a load too


def test_cpu_is_chosen_without_a_gpu_and_gpu_refused_when_absent():
    if gpu_available():
        pytest.skip("a GPU is present")
    assert isinstance(create_index(DIM, IndexSettings(device="auto")), FaissIndex)
    with pytest.raises(RuntimeError, match="GPU"):
        create_index(DIM, IndexSettings(device="gpu"))


@pytest.mark.gpu
@pytest.mark.skipif(not gpu_available(), reason="needs the GPU build of FAISS and a CUDA device")
@pytest.mark.parametrize("n", [1000, 6000])
def test_gpu_index_gives_the_cpu_results(n):
    settings = IndexSettings(approximate_threshold=5000, nprobe=32)
    cpu, gpu = FaissIndex(DIM, settings), GpuFaissIndex(DIM, settings)
    vecs = unit_vectors(n)
    for index in (cpu, gpu):
        index.upsert(np.arange(n), vecs)
        index.remove(np.arange(0, n, 7))
    q = vecs[1:40]
    cpu_scores, cpu_ids = cpu.search(q, 5)
    gpu_scores, gpu_ids = gpu.search(q, 5)
    np.testing.assert_allclose(gpu_scores, cpu_scores, atol=1e-3)
    assert np.mean(gpu_ids == cpu_ids) >= 0.95
