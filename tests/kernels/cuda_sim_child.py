"""Run in a child process under Numba's CUDA simulator: pow_search cases from stdin (JSON), the
cuda backend's answers to stdout (JSON). A child, because NUMBA_ENABLE_CUDASIM must be set before
numba.cuda is first imported and would otherwise change numba.cuda for the whole test process."""

from __future__ import annotations

import json
import os
import sys

if __name__ == "__main__":
    if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
        sys.exit("run me with NUMBA_ENABLE_CUDASIM=1")
    from coinium.kernels import load_backend

    backend = load_backend("cuda")
    assert backend.SIMULATOR
    answers = []
    for case in json.load(sys.stdin):
        header = bytes.fromhex(case["header"])
        try:
            nonce, hashes = backend.pow_search(header, int(case["target"]), int(case["start"]),
                                               int(case["count"]))  # fmt: skip
            answers.append({"nonce": nonce, "hashes": hashes})
        except ValueError as exc:
            answers.append({"error": str(exc)})
    json.dump(answers, sys.stdout)
