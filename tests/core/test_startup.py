"""What a fresh process loads before its first answer (cold start, issue 14)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_spacy_loads_without_torch_and_torch_still_imports_after() -> None:
    # A fresh interpreter: the test session itself may have imported torch already.
    code = ("import sys\n"
            "from rag import nlp\n"
            "doc = nlp.parse('When did the US warn Russia?')\n"
            "assert [t.ent_type_ for t in doc if t.text == 'Russia'] == ['GPE']\n"
            "assert 'torch' not in sys.modules, 'spaCy pulled torch in'\n"
            "import torch\n"
            "assert torch.tensor([1.0]).sum().item() == 1.0\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr[-2000:]
