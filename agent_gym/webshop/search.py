"""BM25 product search with ``bm25s`` (no Java, no pyserini).

Documents are title + description + bullet points + option values, lower-cased
(WebShop indexes the first bullet point only; we index all of them). Queries
return up to ``top_k`` (50) asins with a positive score, best first; ties keep
catalog order, so results are deterministic.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Sequence
from threading import Lock

import numpy as np

from agent_gym.errors import require
from agent_gym.webshop.catalog import Product

TOKEN_RE = re.compile(r"[a-z0-9]+(?:\.[0-9]+)?")
STOPWORDS = frozenset(
    """a an and are as at be but by for from has have i i'm im if in into is it its looking me my need
    of on or please so such that the their then there these they this to want was which will with would
    you your find buy get am""".split()
)


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens without stop words."""
    return [t for t in TOKEN_RE.findall(text.lower()) if t not in STOPWORDS]


class SearchEngine:
    """A read-only BM25 index over a product list, safe to share between sessions and threads."""

    def __init__(self, products: Sequence[Product], top_k: int = 50, cache_size: int = 2048) -> None:
        bm25s = require("bm25s", "webshop")
        self.asins = [p.asin for p in products]
        self.top_k = top_k
        corpus = [tokenize(p.search_text()) or ["__empty__"] for p in products]
        self._bm25 = bm25s.BM25()
        self._bm25.index(corpus, show_progress=False)
        self._vocab = self._bm25.vocab_dict
        self._cache: OrderedDict[tuple[str, ...], tuple[str, ...]] = OrderedDict()
        self._cache_size = cache_size
        self._lock = Lock()

    def __len__(self) -> int:
        return len(self.asins)

    def search(self, keywords: str) -> list[str]:
        """Asins of the best ``top_k`` products for ``keywords`` (empty when no word is known)."""
        ids = tuple(sorted({self._vocab[t] for t in tokenize(keywords) if t in self._vocab}))
        if not ids:
            return []
        with self._lock:
            hit = self._cache.get(ids)
            if hit is not None:
                self._cache.move_to_end(ids)
                return list(hit)
        scores = np.asarray(self._bm25.get_scores(list(ids)), dtype=np.float64)
        k = min(self.top_k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[scores[top] > 0]
        order = top[np.lexsort((top, -scores[top]))]
        result = tuple(self.asins[i] for i in order)
        with self._lock:
            self._cache[ids] = result
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return list(result)

    def search_uncached(self, keywords: str) -> list[str]:
        """Like :meth:`search` but bypassing the query cache (for benchmarks)."""
        with self._lock:
            self._cache.clear()
        return self.search(keywords)  # the lock is released: search() takes it again
