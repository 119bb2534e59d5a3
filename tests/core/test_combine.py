"""Worked-out answers from a real index (real Chroma, the real embedding model, the shipped
fitted models): which date of a sentence belongs to which event."""

from __future__ import annotations

import pytest

from rag import Engine
from tests.conftest import Story, story_engine
from tests.core.test_answer import assert_verbatim

# One sentence dates two events: the closure (a noun) and the report (a verb). The second
# article has no publication date: "May 20" is read in the year of the collection's dates.
BRIDGE: Story = {
    "bridge-a": ("Harbour bridge closed after storm", "2024-05-10", "Valley Post",
                 "The Riverton harbour bridge was closed on Tuesday after a storm damaged its "
                 "cables. Engineers from Delmont Steel will inspect it."),
    "bridge-b": ("Survey found cracks", None, "Coast Herald",
                 "A survey ahead of the May 7 closure of the bridge had found cracks in its "
                 "cables, the Coast Herald reported May 20. The city has not said what the "
                 "repair will cost."),
}


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    return story_engine(tmp_path_factory.mktemp("bridge"), BRIDGE)


def test_two_events_dated_by_one_sentence_each_get_their_own_date(bridge: Engine) -> None:
    ans = bridge.answer("How many days after the closure did the Coast Herald report that the "
                        "survey found cracks?")
    assert ans.short == "13 days"  # the May 7 closure to the report of May 20, 2024
    assert "7 May 2024 to 20 May 2024" in ans.text
    assert len(ans.citations) == 1  # the one sentence that dates both, quoted once
    assert_verbatim(bridge, ans)


def test_a_date_s_phrase_leaves_out_the_phrases_of_the_other_dates() -> None:
    from rag.nlp import own_phrases
    from rag.text import terms

    # The parser hangs the talk (May 3) from the report (May 7): each date keeps its own.
    s = ("The agency on May 3 talked about a strike in Bellac; on May 7, it reported that "
         "police had arrested a smuggler in Delmont.")
    spans = [(s.index(d), s.index(d) + len(d)) for d in ("May 3", "May 7")]
    may3, may7 = (set(terms(p)) for p in own_phrases(s, spans))
    assert {"strike", "bellac"} <= may3 and not {"smuggler", "delmont"} & may3
    assert {"smuggler", "delmont"} <= may7 and not {"strike", "bellac"} & may7
    assert own_phrases(s, []) == []
