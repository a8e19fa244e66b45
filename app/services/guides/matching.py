"""Matching a resident's question to the 办事指南 catalog: character unigrams and bigrams
weighted by IDF, scored against each entry's title and synonyms (an entry scores its best
name) by the shared weight's share of the name and of the question, with a confidence
threshold and a margin.

- confident (`CONFIDENT` ≤ top score and at least `MARGIN` ahead of the runner-up): the
  answer at once;
- unsure (`SUGGEST` ≤ top score): "您是不是想问" with the top three;
- nothing: a gap row for staff and the offer of a person.

Question words (怎么办, 在哪里, 需要什么 ...) are cut before counting, so "老年证怎么办"
and "办老年证要什么" weigh the same characters. Query characters the catalog never uses
still count in the query's norm: chatter ("今天天气不错") scores low against everything.
The thresholds were set on the tuning phrasings in tests/routes/test_guides_matching.py;
the honest figures are on the held-out set beside it (tests/data/guides_held_out.tsv, never
tuned on): `bench/bench_guides.py` prints both. A community's model is built once and kept
for `TTL` seconds (a write in this process drops it at once).
"""
from __future__ import annotations

import math
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import select as sa_select

CONFIDENT = 0.4
MARGIN = 0.08
SUGGEST = 0.2
# How much of the entry's name the question covers counts more than how much of the
# question the name covers (questions carry words no title has): name^0.8 × query^0.2 of
# the shared IDF weight (0.5 would be the cosine).
NAME_SHARE = 0.8
TTL = 30.0
BIGRAM_WEIGHT = 1.6

# Longest first: "怎么办理" goes before "怎么" can split it.
QUESTION_WORDS = sorted("""
怎么办理 如何办理 怎样办理 怎么申请 如何申请 怎么办 怎么弄 怎么搞 怎么样 怎么 如何 怎样 咋办 咋弄 咋
哪里 哪儿 在哪 去哪 什么时候 什么 啥 需要 要带 带什么 要什么 多少 几点 可以 能不能 能否 是不是 有没有
请问 我想 我要 想问 问一下 一下 咨询 了解 帮我 给我 麻烦 你好 您好 谢谢 知道 告诉 现在 那个 这个
的 了 吗 呢 啊 吧 呀 么 嘛 哦 我 你 您 他 她 家 们 去 在 和 跟 给 把 被 就 都 还 也 又 得 地 个
是 有 要 想 能 会
""".split(), key=len, reverse=True)
_QUESTION = re.compile("|".join(map(re.escape, QUESTION_WORDS)))
_NOT_WORD = re.compile(r"[^\w]+")


def segments(text: str) -> list[str]:
    """The text without punctuation and question words, in the runs between them."""
    text = _NOT_WORD.sub(" ", text.lower().replace("_", " "))
    return [part for part in _QUESTION.sub(" ", text).split() if part]


def tokens(text: str) -> Counter:
    """Unigrams and bigrams (within a run) of the text."""
    found: Counter = Counter()
    for part in segments(text):
        found.update(part)
        found.update(part[i:i + 2] for i in range(len(part) - 1))
    return found


@dataclass(frozen=True)
class Scored:
    entry_id: int
    score: float


@dataclass(frozen=True)
class Match:
    kind: str  # "confident", "unsure", "none"
    ranked: list[Scored]

    @property
    def best(self) -> Scored | None:
        return self.ranked[0] if self.ranked else None


class Model:
    def __init__(self, names: list[tuple[int, Counter]], idf: dict[str, float], unknown: float):
        self.names, self.idf, self.unknown = names, idf, unknown
        self.norms = [self._norm(counts) for _entry, counts in names]

    @classmethod
    def build(cls, entries) -> "Model":
        """`entries`: (id, title, synonyms) triples."""
        names, df = [], Counter()
        for entry_id, title, synonyms in entries:
            seen = set()
            for name in [title, *(synonyms or [])]:
                counts = tokens(name)
                if counts:
                    names.append((entry_id, counts))
                    seen.update(counts)
            df.update(seen)
        total = len({entry_id for entry_id, _t, _s in entries}) or 1
        idf = {t: math.log((total + 1) / (n + 0.5)) for t, n in df.items()}
        return cls(names, idf, math.log((total + 1) / 0.5))

    def _weight(self, token: str) -> float:
        weight = self.idf.get(token, self.unknown)
        return weight * BIGRAM_WEIGHT if len(token) > 1 else weight

    def _norm(self, counts: Counter) -> float:
        return math.sqrt(sum(self._weight(t) ** 2 for t in counts)) or 1.0

    def rank(self, text: str, top: int = 3) -> list[Scored]:
        query = tokens(text)
        if not query:
            return []
        qnorm = self._norm(query)
        best: dict[int, float] = {}
        for (entry_id, counts), norm in zip(self.names, self.norms, strict=True):
            shared = query.keys() & counts.keys()
            if not shared:
                continue
            common = sum(self._weight(t) ** 2 for t in shared)
            score = (common / norm ** 2) ** NAME_SHARE * (common / qnorm ** 2) ** (1 - NAME_SHARE)
            if score > best.get(entry_id, 0.0):
                best[entry_id] = score
        ranked = sorted(best.items(), key=lambda pair: (-pair[1], pair[0]))[:top]
        return [Scored(entry_id, round(score, 4)) for entry_id, score in ranked]

    def match(self, text: str) -> Match:
        ranked = self.rank(text)
        if not ranked or ranked[0].score < SUGGEST:
            return Match("none", ranked)
        runner_up = ranked[1].score if len(ranked) > 1 else 0.0
        if ranked[0].score >= CONFIDENT and ranked[0].score - runner_up >= MARGIN:
            return Match("confident", ranked)
        return Match("unsure", ranked)


_cache: dict = {}
_lock = threading.Lock()


def model_for(community_id: int | None) -> Model:
    from app.services.guides import catalog

    now = time.monotonic()
    with _lock:
        cached = _cache.get(community_id)
        if cached is not None and now - cached[0] < TTL:
            return cached[1]
    model = Model.build(catalog.entries_for(community_id))
    with _lock:
        _cache[community_id] = (now, model)
    return model


def forget() -> None:
    """Drop every cached model (a catalog write)."""
    with _lock:
        _cache.clear()


def match(community_id: int | None, text: str) -> Match:
    return model_for(community_id).match(text)


def preview(community_id: int | None, text: str) -> dict:
    """`match` with each candidate's title, for `GET /api/v1/guides/match`."""
    from app.extensions import db
    from app.models import GuideEntry

    found = match(community_id, text)
    titles = dict(db.session.execute(sa_select(GuideEntry.id, GuideEntry.title).where(
        GuideEntry.id.in_([s.entry_id for s in found.ranked]))).all()) if found.ranked else {}
    return {"kind": found.kind, "items": [
        {"entry_id": s.entry_id, "title": titles.get(s.entry_id), "score": s.score}
        for s in found.ranked]}
