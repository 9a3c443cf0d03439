from __future__ import annotations

import pytest
import torch

# Tests use small models: one thread is as fast, and two OpenMP threads on a busy 2-core
# machine spin-wait for each other and crawl.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
