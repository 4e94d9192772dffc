"""Settings: one pydantic object per stage, gathered in :class:`Settings`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict, TomlConfigSettingsSource

from rag_recs.errors import RagRecsError


class SettingsError(RagRecsError, ValueError):
    """A settings file or variable that cannot be used: names the file and the key."""


# the allowed values of the settings that are choices, which the CLI offers as they are here
Device = Literal["auto", "cpu", "cuda"]
Objective = Literal["auto", "explicit", "implicit"]
LLMMode = Literal["auto", "labels", "generate"]
EvalProtocol = Literal["ctr", "loo"]
EvalMode = Literal["ranker", "llm", "random", "llm-rerank", "assistant"]


def config_path() -> Path:
    """The TOML file settings are read from: ``$RAG_RECS_CONFIG``, else ``rag-recs.toml``."""
    return Path(os.environ.get("RAG_RECS_CONFIG", "rag-recs.toml"))


class RankerConfig(BaseModel):
    """DeepFM architecture and training. Defaults are meant to be good without tuning."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    dim: int = Field(32, ge=1, le=4096, description="embedding size")
    hidden: tuple[PositiveInt, ...] | None = Field(
        None,
        description="MLP layer widths; None = (128, 64) with a binary loss, none with a "
        "softmax over the catalog (evaluated per (row, item) pair: with (128, 64) a MovieLens-100K "
        "step took 1,980 ms against 32 ms); the fit records the widths it used",
    )
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    batch_size: int = Field(512, ge=1, description="labelled rows per gradient step")
    implicit_batch: int = Field(
        256, ge=1, description="implicit: positives per step, each with its sampled negatives"
    )
    epochs: int | None = Field(
        None,
        ge=1,
        description="maximum epochs; None: 9 for implicit feedback (the default fit kept "
        "epoch 8 or earlier on every dataset of the top-K benchmark, MovieLens-100K's early "
        "stopping ending at 11: a cap of 9 keeps the same models) and 12 for labelled data; "
        "the fit records the number used",
    )
    patience: int = Field(
        3,
        ge=0,
        description="validations without improvement before stopping (each epoch's end, and "
        "every valid_every steps within a long one), over at least an epoch; 0 = off",
    )
    min_steps: int = Field(2000, ge=0, description="gradient steps before early stopping may stop")
    valid_every: int = Field(
        500,
        ge=1,
        description="an in-memory epoch of more gradient steps is also validated every "
        "valid_every steps or so (patience then counts validations, over at least an epoch): "
        "a large catalog's fit stops an epoch past its best, not patience whole epochs",
    )
    valid_ratio: float = Field(
        0.1, ge=0.0, lt=1.0, description="explicit labels: per-user latest share"
    )
    valid_users: int = Field(500, ge=0, description="implicit: users whose last item validates")
    objective: Objective = "auto"
    threshold: float = Field(4.0, description="explicit: label = rating >= threshold")
    negatives: int = Field(8, ge=1, description="implicit: sampled negatives per positive")
    sampler: Literal["uniform", "popularity"] = "uniform"
    history_len: int = Field(50, ge=0, description="recent items used as a feature; 0 = off")
    history_encoder: Literal["sequence", "bag"] = Field(
        "sequence",
        description="how the history field reads its items: causal self-attention in order "
        "(sequence) or their mean (bag)",
    )
    sequence_layers: int = Field(1, ge=1, le=8, description="self-attention blocks (sequence)")
    sequence_heads: int = Field(1, ge=1, le=64, description="attention heads (sequence)")
    loss: Literal["auto", "softmax", "sampled_softmax", "bce"] = Field(
        "auto",
        description="implicit training loss: cross-entropy over the whole catalog (softmax), "
        "over sampled items with popularity correction (sampled_softmax), or binary on "
        "'negatives' sampled items per positive (bce); auto = softmax up to 'softmax_items' "
        "items, sampled_softmax above. Labelled (explicit) data always trains binary",
    )
    softmax_items: int = Field(
        20_000, ge=0, description="auto loss: the largest catalog trained with the full softmax"
    )
    softmax_negatives: int = Field(
        256, ge=1, description="sampled_softmax: items sampled per batch, shared by its rows"
    )
    categorical: list[str] = Field(
        default_factory=list, description="force these columns categorical"
    )
    numeric: list[str] = Field(default_factory=list, description="force these columns numeric")
    train_threads: int = Field(
        1,
        ge=0,
        description="CPU threads for training steps, fixed for the fit so that the same data, "
        "config and seed give the same weights whatever else runs; 0 = torch's default count",
    )
    user_rows: int = Field(
        0,
        ge=0,
        description="most embedding rows for user ids: with more users, ids share rows by hash "
        "(the model stops growing with the users); 0 = a row per user",
    )
    sparse_rows: int = Field(
        30_000,
        ge=0,
        description="embedding rows above which a step updates only the rows its batch used "
        "(SparseAdam): a dense step reads and writes the whole table",
    )
    seed: int = 2024
    device: Device = "auto"
    progress: bool = True


class Settings(BaseSettings):
    """Everything configurable, filled (in priority order) from arguments, ``RAG_RECS_*``
    environment variables (nested with ``__``: ``RAG_RECS_RANKER__DIM=32``) and a TOML file
    (``rag-recs.toml`` in the working directory, or ``$RAG_RECS_CONFIG``)."""

    model_config = SettingsConfigDict(
        env_prefix="RAG_RECS_", env_nested_delimiter="__", extra="ignore", allow_inf_nan=False
    )

    def __init__(self, **values: object) -> None:
        """Read and check the settings; a bad file or value is one clear SettingsError."""
        where = f"{config_path()} (or RAG_RECS_* variables)"
        try:
            super().__init__(**values)
        except ValidationError as exc:
            first = exc.errors()[0]
            key = ".".join(str(p) for p in first["loc"]) or "settings"
            raise SettingsError(f"{where}: {key}: {first['msg']}") from None
        except (ValueError, RecursionError) as exc:  # TOML syntax, encoding, absurd nesting
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SettingsError(f"{where}: cannot read it ({text})") from None

    data: str = "synthetic"
    workspace: str | None = None
    llm: str = "local"
    embeddings: str | None = None
    chroma_url: str | None = None
    ranker: RankerConfig = Field(default_factory=RankerConfig)
    assistant: dict = Field(default_factory=dict, description="AssistantConfig fields")

    @classmethod
    def settings_customise_sources(
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ):
        toml = config_path()
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=toml),
        )
