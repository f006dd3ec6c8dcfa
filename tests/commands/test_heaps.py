"""The command keeps glibc to two malloc arenas, unless the environment says otherwise.

Counted with ``malloc_info`` in a fresh process whose eight threads each hold a block:
glibc would give each of them an arena of its own (``cli._few_heaps`` says why not).
"""

from __future__ import annotations

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
    cli._few_heaps()
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

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc only")


def _arenas(mode: str, **env: str) -> int:
    clean = {k: v for k, v in os.environ.items() if k not in ("MALLOC_ARENA_MAX", "GLIBC_TUNABLES")}
    result = subprocess.run([sys.executable, "-c", COUNT_ARENAS, mode], cwd=ROOT,
                            env={**clean, **env}, capture_output=True, text=True,
                            timeout=60, check=True)
    return int(result.stdout)


def test_two_arenas_however_many_threads_allocate() -> None:
    assert _arenas("limited") == 2
    assert _arenas("as-is") > 2  # glibc alone: the main thread's and one per thread (9)


def test_a_limit_in_the_environment_is_kept() -> None:
    assert _arenas("limited", MALLOC_ARENA_MAX="4") == 4
