"""Text conditioning for audiocraft LMs: T5 hidden states projected to the LM width, padding zeroed.

The T5 encoder itself is transformers' ``T5EncoderModel`` (name from ``xp.cfg``), loaded lazily;
the projection (``output_proj``) comes from the LM checkpoint. :meth:`T5Conditioner.project`
takes hidden states directly, which is how the conformance runner feeds the reference fixtures'
stored T5 outputs.

>>> cond = T5Conditioner("t5-base", t5_dim=768, dim=32)
>>> embeds, mask = cond.project(torch.zeros(2, 5, 768), torch.ones(2, 5, dtype=torch.long))
>>> embeds.shape
torch.Size([2, 5, 32])
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn


class T5Conditioner(nn.Module):
    """``description`` conditioner: tokenize -> T5 encoder -> ``output_proj`` -> times the mask."""

    def __init__(self, t5_name: str, t5_dim: int, dim: int) -> None:
        super().__init__()
        self.t5_name = t5_name
        self.output_proj = nn.Linear(t5_dim, dim)
        self.tokenizer: Any = None
        self.t5: Any = None

    def attach(self, tokenizer: Any, t5: Any) -> T5Conditioner:
        """Use this tokenizer and encoder (e.g. a byte-level pair for tiny models)."""
        self.tokenizer, self.t5 = tokenizer, t5
        return self

    def load_t5(self, cache_dir: str | Path | None = None) -> T5Conditioner:
        """Load the named T5 from the Hugging Face cache (``model_unavailable`` when absent)."""
        from transformers import AutoTokenizer, T5EncoderModel

        from ..hf import cache_dir as default_cache
        from ..hf import ensure_snapshot

        snapshot = ensure_snapshot(self.t5_name, default_cache(cache_dir))
        return self.attach(AutoTokenizer.from_pretrained(snapshot), T5EncoderModel.from_pretrained(snapshot).eval())

    def tokenize(self, texts: list[str | None]) -> tuple[torch.Tensor, torch.Tensor]:
        """Ids and mask, padded to the longest text; a ``None``/empty text gets an all-zero mask row."""
        entries = ["" if t is None else t for t in texts]
        inputs = self.tokenizer(entries, return_tensors="pt", padding=True)
        mask = inputs["attention_mask"].clone()
        for row, text in enumerate(entries):
            if text == "":
                mask[row] = 0
        return inputs["input_ids"], mask

    def project(self, hidden: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, L, t5_dim) hidden states and (B, L) mask -> (B, L, dim) embeddings (zero where masked), mask."""
        embeds = self.output_proj(hidden.to(self.output_proj.weight))
        return embeds * mask.unsqueeze(-1), mask

    @torch.no_grad()
    def forward(self, texts: list[str | None]) -> tuple[torch.Tensor, torch.Tensor]:
        if self.t5 is None:
            raise RuntimeError("no T5 attached: call load_t5() or attach() first")
        ids, mask = self.tokenize(texts)
        device = self.output_proj.weight.device
        hidden = self.t5(input_ids=ids.to(device), attention_mask=mask.to(device)).last_hidden_state
        return self.project(hidden, mask.to(device))
