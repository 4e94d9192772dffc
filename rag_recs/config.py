"""Settings: one pydantic object per stage, gathered in :class:`Settings`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class RankerConfig(BaseModel):
    """DeepFM architecture and training. Defaults are meant to be good without tuning."""

    model_config = ConfigDict(extra="forbid")

    dim: int = Field(16, ge=1, description="embedding size")
    hidden: tuple[int, ...] = (128, 64)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    batch_size: int = Field(512, ge=1)
    epochs: int = Field(40, ge=1, description="maximum epochs")
    patience: int = Field(
        4, ge=0, description="epochs without improvement before stopping; 0 = off"
    )
    refit: bool = Field(True, description="after early stopping, retrain on all rows")
    min_steps: int = Field(3000, ge=0, description="gradient steps before early stopping may stop")
    valid_ratio: float = Field(
        0.1, ge=0.0, lt=1.0, description="explicit labels: per-user latest share"
    )
    valid_users: int = Field(1000, ge=0, description="implicit: users whose last item validates")
    objective: Literal["auto", "explicit", "implicit"] = "auto"
    threshold: float = Field(4.0, description="explicit: label = rating >= threshold")
    negatives: int = Field(16, ge=1, description="implicit: sampled negatives per positive")
    sampler: Literal["uniform", "popularity"] = "uniform"
    history_len: int = Field(20, ge=0, description="recent items used as a feature; 0 = off")
    categorical: list[str] = Field(
        default_factory=list, description="force these columns categorical"
    )
    numeric: list[str] = Field(default_factory=list, description="force these columns numeric")
    train_threads: int = Field(
        1, ge=0, description="CPU threads for training steps; 0 = torch's default"
    )
    seed: int = 2024
    device: Literal["auto", "cpu", "cuda"] = "auto"
    progress: bool = True
