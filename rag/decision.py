"""Whether the sources answer the question, and how sure the answer is.

Both are fitted models (rag.models): ``answerable`` reads how complete and how close the best
evidence is (are the question's names there, are its words known to the collection at all,
is there a candidate of the asked type beside the question's key terms); the refusal
threshold on its probability is fitted on the train splits. A yes/no question whose reading
is "No" is refused as well when the evidence does not state the opposite (``unsaid_no``): a
"No" from absence alone is not an answer. ``confidence`` is the fitted probability that the
answer given is right.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from rag.errors import RagError
from rag.evidence import Evidence, Sentences, idf_weight
from rag.models import Features, Models
from rag.question import GENERIC, Query
from rag.text import terms
from rag.typed import Candidate
from rag.yesno import Reading

ANSWERABLE_FEATURES = (
    "top", "top3", "ents_best", "ents_any", "lex_top", "dense_top", "clause_top",
    "unknown", "unknown_names", "missing", "typed", "cand", "cand_near", "cand_lex", "no_cand",
    "yesno", "yes_margin", "definition", "sources_named", "n_terms", "n_names",
)
CONFIDENCE_FEATURES = (
    "answerable", "top", "top3", "cand", "cand_margin", "cand_support", "cand_docs", "yes",
    "yes_margin", "typed", "yesno", "clause_kind", "definition", "unknown", "missing",
)
# Before the first fit there are no thresholds; refusal and "Yes" then follow the plain odds.
DEFAULT_REFUSE_BELOW = 0.5
DEFAULT_YES_ABOVE = 0.5


@dataclass(frozen=True)
class Decision:
    """Refuse or answer; ``confidence`` in 0..1; the features both were read from."""

    refuse: bool
    confidence: float
    answerable: float  # the fitted probability that the sources answer the question
    features: Features


def answerable_features(query: Query, found: Sentences, evidence: Sequence[Evidence],
                        ranked: Sequence[Candidate], df: Mapping[str, int],
                        yes_prob: float | None) -> Features:
    """One row: how well the best evidence covers the question."""
    top = list(evidence[:5])
    idf = idf_weight(df)
    content = [t for t in query.terms if t not in GENERIC]
    top_idf = max((idf(t) for t in content), default=1.0) or 1.0
    col = found.features.column
    rows = [ev.row for ev in top]
    names = [set(terms(n)) for n in query.names]
    plain = [t for t in query.terms if t not in set(query.entities)]
    best = ranked[0] if ranked else None
    row = {
        "top": top[0].score if top else 0.0,
        "top3": float(np.mean([ev.score for ev in top[:3]])) if top else 0.0,
        "ents_best": float(col("ents")[rows[0]]) if top else 0.0,
        "ents_any": float(col("ents_ctx")[rows].max()) if top else 0.0,
        "lex_top": float(col("lex")[rows].max()) if top else 0.0,
        "dense_top": float(col("dense")[rows].max()) if top else 0.0,
        "clause_top": float(col("clause")[rows].max()) if top else 0.0,
        "unknown": sum(df.get(t, 0) == 0 for t in plain) / len(plain) if plain else 0.0,
        "unknown_names": (sum(not any(df.get(t, 0) for t in n) for n in names) / len(names)
                          if names else 0.0),
        # The rarest question word the best sentences leave out ("injured" beside a death
        # toll): the smaller over the top three, relative to the rarest word asked.
        "missing": min((max((idf(t) for t in content if t not in ctx), default=0.0)
                        for ctx in map(_context, top[:3])), default=top_idf) / top_idf,
        "typed": float(query.typed),
        "cand": best.score if best else 0.0,
        "cand_near": 0.0 if best is None else float(best.support[0].score),
        "cand_lex": 0.0 if best is None else float(col("lex")[best.support[0].row]),
        "no_cand": float(query.typed and best is None),
        "yesno": float(query.kind in ("yesno", "choice")),
        "yes_margin": abs(yes_prob - 0.5) if yes_prob is not None else 0.0,
        "definition": float(query.definition),
        # How the question is put: measured on train, leaving these out costs the seeds'
        # refusal accuracy 0.29 (cross-validated), a question naming a source is likelier
        # to be about the collection, and long questions carry more clues than short ones.
        "sources_named": float(bool(query.sources)),
        "n_terms": min(len(query.terms), 30) / 30,
        "n_names": min(len(query.names), 6) / 6,
    }
    return Features.of(ANSWERABLE_FEATURES, [row])


def _context(ev: Evidence) -> frozenset[str]:
    """The words of a sentence's own article around it: its title and the sentence."""
    return frozenset(terms(f"{ev.passage.title} {ev.passage.source} {ev.text}"))


def says_yes(yes_prob: float, models: Models) -> bool:
    """Whether P("Yes") reads as "Yes" (the first option), by the fitted threshold."""
    return yes_prob >= models.threshold("yes_above", DEFAULT_YES_ABOVE)


def unsaid_no(query: Query, reading: Reading | None, models: Models) -> bool:
    """A yes/no question read as "No" while the evidence does not state the opposite."""
    return (query.kind == "yesno" and reading is not None
            and not says_yes(reading.yes, models) and not reading.opposed)


def decide(query: Query, answerable: Features, ranked: Sequence[Candidate],
           reading: Reading | None, models: Models) -> Decision:
    """Refuse when the fitted probability that the sources answer falls under the fitted
    threshold, or for a "No" the evidence does not state; the confidence of an answer is
    the ``confidence`` model's probability."""
    yes_prob = reading.yes if reading else None
    model = models.get("answerable")
    if model is None:
        raise RagError("no fitted answerable model in rag/models.json; run "
                       "'python -m evals.calibrate'")
    p = float(model.prob(answerable)[0])
    refuse = p < models.threshold("refuse_below", DEFAULT_REFUSE_BELOW) or unsaid_no(
        query, reading, models)
    if query.published and query.sources:
        # "When was the X article published?" with X found: the article's own record answers
        # it (metadata, not a sentence the fitted models weigh).
        refuse = False
    conf_f = confidence_features(query, p, answerable, ranked, yes_prob)
    conf_model = models.get("confidence")
    conf = float(conf_model.prob(conf_f)[0]) if conf_model is not None else p
    return Decision(refuse, min(conf, p) if refuse else conf, p, answerable)


def confidence_features(query: Query, p_answerable: float, answerable: Features,
                        ranked: Sequence[Candidate], yes_prob: float | None) -> Features:
    scores = [c.score for c in ranked[:2]]
    a = answerable.row(0)
    row = {
        "answerable": p_answerable,
        "top": a["top"],
        "top3": a["top3"],
        "cand": scores[0] if scores else 0.0,
        "cand_margin": scores[0] - scores[1] if len(scores) > 1 else (scores[0] if scores else 0.0),
        "cand_support": ranked[0].support[0].score if ranked else 0.0,
        "cand_docs": min(len({e.doc_id for e in ranked[0].support}), 4) / 4 if ranked else 0.0,
        "yes": yes_prob if yes_prob is not None else 0.0,
        "yes_margin": abs(yes_prob - 0.5) if yes_prob is not None else 0.0,
        "typed": float(query.typed),
        "yesno": float(query.kind in ("yesno", "choice")),
        "clause_kind": float(not query.typed and query.kind not in ("yesno", "choice")),
        "definition": float(query.definition),
        "unknown": a["unknown"],
        "missing": a["missing"],
    }
    return Features.of(CONFIDENCE_FEATURES, [row])
