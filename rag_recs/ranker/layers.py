"""Building blocks of the ranker: embedding, sequence encoder, factorization machine, MLP."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class _Lookup(torch.autograd.Function):
    """Row lookup whose backward is one ``index_add_`` (dense) or the rows used (sparse).

    Written by hand because on CPU ``embedding_dense_backward`` takes ~4x longer than
    ``index_add_`` for the batches used here (512 rows x 6-30 ids: ~125 us against ~30 us),
    which is a tenth of a whole training step. Row 0 (padding / unknown) gets no gradient.
    A sparse gradient (``torch.sparse_coo_tensor``, as ``nn.Embedding(sparse=True)`` gives)
    names only the batch's rows, for :class:`torch.optim.SparseAdam`.
    """

    @staticmethod
    def forward(ctx, weight: torch.Tensor, ids: torch.Tensor, sparse: bool) -> torch.Tensor:
        ctx.save_for_backward(ids)
        ctx.rows, ctx.sparse = weight.shape[0], sparse
        return weight.index_select(0, ids.reshape(-1)).view(*ids.shape, weight.shape[1])

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (ids,) = ctx.saved_tensors
        width = grad.shape[-1]
        flat, values = ids.reshape(-1), grad.reshape(-1, width)
        if ctx.sparse:
            used = flat != 0
            rows = flat[used].unsqueeze(0)
            out = torch.sparse_coo_tensor(
                rows, values[used], (ctx.rows, width), check_invariants=False
            )  # in range by construction: the ids index the table in forward
            return out, None, None
        out = grad.new_zeros(ctx.rows, width)
        out.index_add_(0, flat, values)
        out[0] = 0
        return out, None, None


def lookup(weight: torch.Tensor, ids: torch.Tensor, sparse: bool = False) -> torch.Tensor:
    """``F.embedding(ids, weight, padding_idx=0, sparse=sparse)`` with a faster CPU backward."""
    if weight.device.type != "cpu" or not (torch.is_grad_enabled() and weight.requires_grad):
        return F.embedding(ids, weight, padding_idx=0, sparse=sparse)
    return _Lookup.apply(weight, ids, sparse)


class FeatureEmbedding(nn.Module):
    """Embeds every field into ``dim`` factors plus one first-order weight.

    One table serves all categorical fields (one lookup per batch instead of one per field), and
    each row carries ``dim + 1`` numbers: the FM/MLP vector and the field's linear weight, so the
    first-order term costs no extra lookup. Row 0 is the padding / unknown row and stays zero.
    Bags (genres, history) are mean-pooled over their non-padding entries, except the bag a
    call names as ``sequence_at`` (the ordered history), which ``sequence`` encodes; a dense
    field's vector is scaled by its value. Inputs may have any leading shape ([B] or [B, M]).
    With ``sparse_grad`` the table's gradient names only the rows a batch used.
    """

    def __init__(
        self,
        num_embeddings: int,
        n_dense: int,
        dim: int,
        init_std: float = 1e-4,
        sparse_grad: bool = False,
        sequence: SequenceEncoder | None = None,
    ):
        super().__init__()
        self.dim, self.sparse_grad = dim, sparse_grad
        self.sequence = sequence
        # the lookup is done by :func:`lookup`; ``sparse`` tells DistributedDataParallel
        # that this table's gradient is sparse (to all-reduce it apart from the dense buckets)
        self.table = nn.Embedding(num_embeddings, dim + 1, padding_idx=0, sparse=sparse_grad)
        nn.init.normal_(self.table.weight, std=init_std)
        with torch.no_grad():
            self.table.weight[0].zero_()
        self.dense = nn.Parameter(torch.randn(n_dense, dim + 1) * init_std)

    def forward(
        self,
        sparse: torch.Tensor,
        dense: torch.Tensor,
        bags: list[torch.Tensor],
        dense_from: int = 0,
        sequence_at: int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Field vectors [..., F, dim] and first-order weights [..., F].

        ``dense_from`` is the index of the first dense field in ``dense`` among all dense fields;
        ``sequence_at`` the index in ``bags`` of the ordered history (None: every bag pooled).
        """
        rows = self.rows(sparse, dense, bags, dense_from, sequence_at)
        return rows[..., : self.dim], rows[..., self.dim]

    def rows(
        self,
        sparse: torch.Tensor,
        dense: torch.Tensor,
        bags: list[torch.Tensor],
        dense_from: int = 0,
        sequence_at: int | None = None,
    ) -> torch.Tensor:
        """Each field's vector and first-order weight side by side: [..., F, dim + 1]."""
        parts = [lookup(self.table.weight, sparse, self.sparse_grad)]  # [..., Fs, dim + 1]
        for k, bag in enumerate(bags):  # [..., L]
            # padding rows are zero, so a plain sum ignores them
            rows = lookup(self.table.weight, bag, self.sparse_grad)  # [..., L, dim + 1]
            count = (bag != 0).sum(-1, keepdim=True).clamp_min(1)  # [..., 1]
            pooled = rows.sum(-2) / count  # [..., dim + 1]
            if k == sequence_at and self.sequence is not None:
                # the ordered history: the encoder's vector, the items' mean first-order weight
                vector = self.sequence(rows[..., : self.dim], bag)  # [..., dim]
                pooled = torch.cat([vector, pooled[..., self.dim :]], -1)  # [..., dim + 1]
            parts.append(pooled.unsqueeze(-2))  # [..., 1, dim + 1]
        n_dense = dense.shape[-1]
        if n_dense:
            weights = self.dense[dense_from : dense_from + n_dense]  # [D, dim + 1]
            parts.append(dense.unsqueeze(-1) * weights)  # [..., D, dim + 1]
        return torch.cat(parts, -2) if len(parts) > 1 else parts[0]


class SequenceEncoder(nn.Module):
    """Causal self-attention over a history of item vectors (SASRec / BST style).

    The history comes newest first: column 0 is the latest item, padding (id 0) at the end.
    Each position sees itself and older items only, so a later item never changes an earlier
    position; a learned vector per position (recency) is added to each item's. Pre-norm blocks
    (attention, then a two-layer feed-forward), each residual. The field's vector is the newest
    position's output: the last block computes only that position's query (the only one read),
    the earlier blocks every position (written by hand: ``nn.TransformerEncoder`` would compute
    the last block's every position and needs a mask per batch row for the padding).
    """

    def __init__(
        self, dim: int, max_len: int, layers: int = 1, heads: int = 1, dropout: float = 0.0
    ):
        super().__init__()
        if dim % heads:
            raise ValueError(f"the embedding size {dim} must be a multiple of the heads {heads}")
        self.position = nn.Parameter(torch.randn(max_len, dim) * 0.02)
        self.blocks = nn.ModuleList(_CausalBlock(dim, heads, dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)

    def forward(self, vectors: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """The newest position's output [..., dim] from item vectors [..., L, dim] and ids
        [..., L]; zero for an empty history."""
        out = self.positions(vectors, ids, newest_only=True)[:, 0]  # [N, dim]
        filled = (ids[..., 0] != 0).reshape(-1, 1)  # [N, 1]
        return (out * filled).view(*ids.shape[:-1], -1)  # [..., dim]

    def positions(
        self, vectors: torch.Tensor, ids: torch.Tensor, newest_only: bool = False
    ) -> torch.Tensor:
        """Every position's output [N, L, dim] (N = the leading dims flattened); with
        ``newest_only`` the newest's alone [N, 1, dim]."""
        length, dim = ids.shape[-1], vectors.shape[-1]
        x = vectors.reshape(-1, length, dim) + self.position[:length]  # [N, L, dim]
        ids = ids.reshape(-1, length)  # [N, L]
        # position p may read position q when q is p or older (q >= p) and q is an item;
        # reading itself keeps every softmax defined, even on padding
        older = torch.ones(length, length, dtype=torch.bool, device=ids.device).triu()  # [L, L]
        allowed = older & (ids != 0).unsqueeze(1)  # [N, L(p), L(q)]
        allowed |= torch.eye(length, dtype=torch.bool, device=ids.device)
        allowed = allowed.unsqueeze(1)  # [N, 1, L, L]: the same for every head
        last = len(self.blocks) - 1
        for k, block in enumerate(self.blocks):
            x = block(x, allowed, newest_only=newest_only and k == last)
        return self.norm(x)


class _CausalBlock(nn.Module):
    """One pre-norm self-attention block with a feed-forward layer."""

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        # no key bias: it adds the same q.b to every score of a query, which the softmax over
        # keys cannot see (its gradient is zero but for rounding, which Adam would amplify)
        self.query, self.key = nn.Linear(dim, dim), nn.Linear(dim, dim, bias=False)
        self.value = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)
        self.ffn = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor, newest_only: bool) -> torch.Tensor:
        """x [N, L, dim], allowed [N, 1, L, L] -> [N, L, dim] (or [N, 1, dim] newest only)."""
        n, length, dim = x.shape
        h = self.norm1(x)
        k, v = self.key(h), self.value(h)  # [N, L, dim] each
        if newest_only:
            h, x, allowed = h[:, :1], x[:, :1], allowed[:, :, :1]
        q = self.query(h)  # [N, l, dim]

        def heads(t: torch.Tensor) -> torch.Tensor:  # [N, l, dim] -> [N, heads, l, dim / heads]
            return t.reshape(n, t.shape[1], self.heads, dim // self.heads).transpose(1, 2)

        p = self.dropout if self.training else 0.0
        a = F.scaled_dot_product_attention(heads(q), heads(k), heads(v), allowed, dropout_p=p)
        a = a.transpose(1, 2).reshape(n, q.shape[1], dim)  # [N, l, dim]: heads side by side
        x = x + self.drop(self.out(a))
        return x + self.drop(self.ffn(self.norm2(x)))


class FactorizationMachine(nn.Module):
    """Second-order FM term: sum over field pairs of <v_i, v_j> = 0.5 * ((sum v)^2 - sum v^2)."""

    def forward(self, vectors: torch.Tensor) -> torch.Tensor:
        square_of_sum = vectors.sum(1).pow(2)
        sum_of_square = vectors.pow(2).sum(1)
        return 0.5 * (square_of_sum - sum_of_square).sum(1)


class _LinearAndPairs(torch.autograd.Function):
    """Per row, the fields' first-order weights summed plus the FM pair term, from embedded
    rows [B, F, dim + 1] (each field's vector, then its weight), as one autograd node.

    Written by hand because autograd records about a dozen small ops for these two terms
    (slices, sums, powers), and at 512 rows their fixed per-op cost is most of the time; the
    gradient is direct: g * (sum of the vectors - the field's vector), and g for the weight.
    """

    @staticmethod
    def forward(ctx, rows: torch.Tensor) -> torch.Tensor:
        vectors = rows[..., :-1]
        total = vectors.sum(1)  # [B, dim]
        pairs = 0.5 * (total.pow(2).sum(-1) - vectors.pow(2).sum((1, 2)))
        ctx.save_for_backward(rows, total)
        return rows[..., -1].sum(1) + pairs

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        rows, total = ctx.saved_tensors
        out = torch.empty_like(rows)
        torch.sub(total.unsqueeze(1), rows[..., :-1], out=out[..., :-1])
        out[..., -1] = 1.0
        return out.mul_(grad.view(-1, 1, 1))


def linear_and_pairs(rows: torch.Tensor) -> torch.Tensor:
    """First-order + FM second-order terms of DeepFM per row, from rows [B, F, dim + 1]."""
    return _LinearAndPairs.apply(rows)


class MLP(nn.Module):
    """Fully connected ReLU tower ending in one logit."""

    def __init__(self, in_features: int, hidden: tuple[int, ...], dropout: float = 0.0):
        super().__init__()
        layers: list[nn.Module] = []
        for width in hidden:
            layers += [nn.Linear(in_features, width), nn.ReLU()]
            if dropout:
                layers.append(nn.Dropout(dropout))
            in_features = width
        layers.append(nn.Linear(in_features, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)

    @property
    def linear_only(self) -> bool:
        """No hidden layer: the tower is one linear layer (the default under a softmax)."""
        return len(self.net) == 1

    def query_part(self, query: torch.Tensor) -> torch.Tensor:
        """The query's share [B, H] of the first layer (its bias included)."""
        first = self.net[0]
        assert isinstance(first, nn.Linear)
        return F.linear(query, first.weight[:, : query.shape[-1]], first.bias)

    def project_items(self, items: torch.Tensor) -> torch.Tensor:
        """The items' share [b, M, H] of the first layer, for :meth:`forward_projected`."""
        first = self.net[0]
        assert isinstance(first, nn.Linear)
        return F.linear(items, first.weight[:, first.in_features - items.shape[-1] :])

    def forward_projected(
        self, query: torch.Tensor, projected: torch.Tensor, within_rows: bool = False
    ) -> torch.Tensor:
        """The tower over ``cat(query, item)`` for M items per query, without repeating the query.

        ``query`` [B, Q] and ``projected`` [B or 1, M, H] (from :meth:`project_items`) -> logits
        [B, M]. The first layer is linear, so W @ cat(q, i) = W_q @ q + W_i @ i: the query's part
        is computed once, not M times, and the items' part once for all queries.
        ``within_rows``: without a hidden layer the query's part is the same for every item of
        a row, and is multiplied by zero (see :meth:`DeepFM.score`).
        """
        hidden = self.query_part(query)  # [B, H]
        if self.linear_only and within_rows:  # no hidden layer: the query's part is shared
            hidden = hidden * 0.0
        hidden = hidden.unsqueeze(1) + projected  # [B, M, H]
        if self.linear_only:  # no hidden layer: the first layer is the output
            return hidden.squeeze(-1)  # [B, M]
        return self.net[2:](hidden.relu_()).squeeze(-1)  # [B, M]; net[1] is this ReLU
