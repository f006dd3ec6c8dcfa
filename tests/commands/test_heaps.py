"""The command keeps one glibc heap that holds on to what is freed, and Arrow allocates from
it too, unless the environment says otherwise (``cli._one_heap`` says why).

Each check runs in a fresh process: arenas are counted with ``malloc_info`` while eight
threads each hold a block (glibc alone would give each an arena of its own), and where a
large block comes from is read from ``mallinfo2`` (mapped blocks are ``hblks``).
"""

from __future__ import annotations

import ctypes
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
COUNT_ARENAS = """
import ctypes, sys, tempfile, threading
import cli
if sys.argv[1] == "limited":
    cli._one_heap()
libc = ctypes.CDLL(None)
libc.malloc.restype = libc.fopen.restype = ctypes.c_void_p
held, done = threading.Barrier(9), threading.Barrier(9)
def hold():
    block = libc.malloc(ctypes.c_size_t(50_000))
    held.wait()
    done.wait()
    libc.free(ctypes.c_void_p(block))
threads = [threading.Thread(target=hold) for _ in range(8)]
for thread in threads:
    thread.start()
held.wait()
path = tempfile.mktemp()
report = libc.fopen(path.encode(), b"w")
libc.malloc_info(0, ctypes.c_void_p(report))
libc.fclose(ctypes.c_void_p(report))
done.wait()
print(open(path).read().count("<heap nr="))
"""
LARGE_BLOCK = """
import ctypes, sys
import cli
if sys.argv[1] == "limited":
    cli._one_heap()
class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"
                .split()]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Info
libc.malloc.restype = ctypes.c_void_p
before = libc.mallinfo2().hblks  # blocks the interpreter mapped at its start
block = libc.malloc(ctypes.c_size_t(200 << 20))
mapped = libc.mallinfo2().hblks - before
libc.free(ctypes.c_void_p(block))
print(mapped, libc.mallinfo2().arena >> 20)
"""

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc only")
MALLOC = ("MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_",
          "GLIBC_TUNABLES", "ARROW_DEFAULT_MEMORY_POOL")


def _python(code: str, *args: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in MALLOC}
    result = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT,
                            env={**clean, **env}, capture_output=True, text=True,
                            timeout=60, check=True)
    return result.stdout.strip()


def test_one_arena_however_many_threads_allocate() -> None:
    assert int(_python(COUNT_ARENAS, "limited")) == 1
    assert int(_python(COUNT_ARENAS, "as-is")) > 2  # glibc alone: one per thread (9)


def test_a_limit_in_the_environment_is_kept() -> None:
    assert int(_python(COUNT_ARENAS, "limited", MALLOC_ARENA_MAX="4")) == 4
    assert int(_python(COUNT_ARENAS, "limited", GLIBC_TUNABLES="glibc.malloc.arena_max=3")) == 3


@pytest.mark.skipif(not hasattr(ctypes.CDLL(None), "mallinfo2"), reason="glibc 2.33+")
def test_a_large_block_comes_from_the_heap_and_stays_there_once_freed() -> None:
    mapped, heap_mb = map(int, _python(LARGE_BLOCK, "limited").split())
    assert mapped == 0 and heap_mb >= 200
    mapped, heap_mb = map(int, _python(LARGE_BLOCK, "as-is").split())
    assert mapped == 1 and heap_mb < 200  # glibc alone maps it, and unmaps it when freed
    # a threshold in the environment is kept: the block is mapped again
    mapped, _ = map(int, _python(LARGE_BLOCK, "limited", MALLOC_MMAP_THRESHOLD_="1048576")
                    .split())
    assert mapped == 1


def test_arrow_allocates_from_the_same_heap_unless_told_otherwise() -> None:
    pool = "import cli, pyarrow as pa; print(pa.default_memory_pool().backend_name)"
    assert _python(pool) == "system"
    assert _python(pool, ARROW_DEFAULT_MEMORY_POOL="mimalloc") == "mimalloc"


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="Linux /proc")
def test_numpy_starts_no_blas_threads_unless_told_to() -> None:
    """OpenBLAS would start a spinning thread per further core as numpy loads."""
    threads = "import cli, numpy, os; print(len(os.listdir('/proc/self/task')))"
    clean = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    result = subprocess.run([sys.executable, "-c", threads], cwd=ROOT, env=clean,
                            capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "1"
    if (os.cpu_count() or 1) > 1:  # a number already set is kept
        assert _python(threads, OPENBLAS_NUM_THREADS="2") == "2"
