"""The gates a pre-training team relies on: truncation, assistant chatter, prompt echo, claim-level facts,
sections and shape, the quality score's ranking, and the labelled development set under the shipped
filters. Each gate with drafts that must pass and drafts that must fail, in every language whose words
it uses."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from cosmo_assets.config import FilterSettings, ShapeRule, load_config
from cosmo_assets.filters import chatter, claims, echo, sections, truncation
from cosmo_assets.filters.alignment import shape_fits
from cosmo_assets.stages import filtering

DEV_SET = json.loads((Path(__file__).parent / "fixtures" / "filter_dev_set.json").read_text(encoding="utf-8"))["articles"]
BODY = {
    "en": "The river runs north through the valley. Farmers have used its water for centuries, and towns grew on its banks.",
    "fr": "Le fleuve coule vers le nord à travers la vallée. Les paysans utilisent son eau depuis des siècles.",
    "es": "El río corre hacia el norte por el valle. Los campesinos usan su agua desde hace siglos.",
    "de": "Der Fluss fließt nach Norden durch das Tal. Die Bauern nutzen sein Wasser seit Jahrhunderten.",
}


# --- truncation ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "It ended well.", "Did it end?", "“We made it!”", "He said it was done (in 1900).", "**The end.**",
    "Fin de l'histoire.", "¿Terminó?", "Das ist alles!",
])
def test_a_text_ending_a_sentence_is_not_truncated(text):
    assert not truncation.ends_mid_sentence(text)
    assert not truncation.truncated(text, "stop")


@pytest.mark.parametrize("text", ["It ended with the", "The steps are:", "Il était une fois un", "Der Fluss fließt nach"])
def test_a_text_stopping_mid_sentence_is_truncated(text):
    assert truncation.ends_mid_sentence(text)


def test_a_draft_cut_at_max_tokens_is_truncated_even_when_it_ends_a_sentence():
    assert truncation.truncated("A whole sentence.", "length")


# --- assistant chatter ----------------------------------------------------------------------------------

WRAPPERS = {
    "en": ("Sure! Here is a short story about the river:", "I hope this helps! Let me know if you need changes."),
    "fr": ("Bien sûr ! Voici une histoire sur le fleuve :", "J'espère que cela vous plaira. N'hésitez pas à demander."),
    "es": ("¡Claro! Aquí tienes un texto sobre el río:", "Espero que esto te ayude. No dudes en pedirme cambios."),
    "de": ("Gerne! Hier ist ein Text über den Fluss:", "Ich hoffe, das hilft dir. Lass mich wissen, ob du Änderungen möchtest."),
}


@pytest.mark.parametrize("language", sorted(WRAPPERS))
def test_an_opening_and_closing_wrapper_is_cut_off(language):
    opening, closing = WRAPPERS[language]
    cleaned, cut = chatter.clean(f"{opening}\n\n{BODY[language]}\n\n{closing}", language)
    assert cleaned.strip() == BODY[language]
    assert " ".join(cut).startswith(opening) and " ".join(cut).endswith(closing)
    assert chatter.task_sentences(cleaned, language) == []


@pytest.mark.parametrize("language", sorted(WRAPPERS))
def test_an_article_without_a_wrapper_is_left_alone(language):
    assert chatter.clean(BODY[language], language) == (BODY[language], [])


def test_a_bracketed_title_line_is_cut_and_dialogue_is_not_chatter():
    story = "“Sure!” said Mila. “Let me know when the ballet starts,” she told her grandma, and off they went."
    assert chatter.clean(f"<<The Rite of Spring>>\n{story}", "en") == (story + "\n", ["<<The Rite of Spring>>"])
    assert chatter.clean(f"# The Rite of Spring\n{story}", "en", "The Rite of Spring")[1] == ["# The Rite of Spring"]
    assert chatter.clean(story, "en") == (story, []) and chatter.task_sentences(story, "en") == []


@pytest.mark.parametrize("language, sentence", [
    ("en", "This story is written for middle school students aged 11 to 14."),
    ("en", "As requested, the text uses every fact listed."),
    ("fr", "Cette histoire est écrite pour les jeunes enfants de 5 à 8 ans."),
    ("es", "Este cuento está escrito para niños pequeños, como me pediste."),
    ("de", "Diese Geschichte ist für kleine Kinder geschrieben, wie gewünscht."),
])
def test_a_sentence_about_the_task_is_found_wherever_it_stands(language, sentence):
    text = f"{BODY[language]} {sentence} {BODY[language]}"
    assert chatter.task_sentences(text, language) == [sentence]


@pytest.mark.parametrize(("line", "title", "cut"), [
    ("**The Rite of Spring: A Story**", "The Rite of Spring", True),
    ("### How to Plan a Visit to the Sahara", "Sahara", True),
    ("## Le Sahara : un désert immense", "Sahara", True),
    ("**Mia and the Big Choice**", "The Rite of Spring", False),  # the story's own title, not about the task
    ("**The Sahara is the largest hot desert.** It covers much of North Africa.", "Sahara", False),  # a sentence
])
def test_a_heading_above_the_text_that_names_the_topic_is_cut(line, title, cut):
    body = "Mia sat in the hall. The music began, and everyone stood up."
    cleaned, pieces = chatter.clean(f"{line}\n\n{body}", "en", title)
    assert pieces == ([line] if cut else [])
    assert cleaned.strip() == (body if cut else f"{line}\n\n{body}")


def test_chatter_left_inside_rejects_and_a_cut_wrapper_keeps_the_draft_marked_cleaned():
    good = DEV_SET[1]
    texts = [f"Certainly! Here is the textbook section you asked for:\n\n{good['text']}",
             good["text"].replace("Visitors stop talking", "This text is written for a general audience. Visitors stop talking")]
    frame = pl.DataFrame({"draft_id": ["a", "b"], "outline_id": [good["id"]] * 2, "seed_id": "s", "domain": "dev",
                          "language": "en", "status": "ok", "text": texts})
    result = filtering.filter_drafts(frame, load_config().filters, "en", _outlines([good]))
    kept = result.kept.row(0, named=True)
    assert kept["draft_id"] == "a" and kept["cleaned"] and kept["text"].strip() == good["text"].strip()
    assert kept["cleaned_off"] == ["Certainly!", "Here is the textbook section you asked for:"]
    assert result.rejected["draft_id"].to_list() == ["b"]
    assert "assistant_chatter" in result.rejected["reject_reasons"][0]


# --- prompt echo ----------------------------------------------------------------------------------------

def test_prompt_echo_counts_instructions_not_the_outline():
    article = DEV_SET[0]
    instructions = echo.instruction_text(article["prompt"], article["title"], article["description"])
    assert "Igor Stravinsky" not in instructions and "A choice to make" not in instructions
    assert echo.echo_share(article["text"], instructions) == 0.0
    echoed = "Write for young children aged 5 to 8: short sentences, simple words. " + article["text"]
    assert echo.echo_share(echoed, instructions) > FilterSettings().max_prompt_echo_share


# --- claims ---------------------------------------------------------------------------------------------

RITE = [{"property": "composer", "value": "Igor Stravinsky"}, {"property": "premiered", "value": "1913-05-29"},
        {"property": "length", "value": "about 6,650 km"}, {"property": "audience", "value": "about 1,700 people"}]


def test_numbers_are_compared_with_their_magnitude_and_units():
    ok = "The river is about 6650 km long. Stravinsky's work was first shown on 29 May 1913 to 1,700 people."
    assert claims.check(ok, RITE).contradicted == []
    report = claims.check(ok.replace("1,700 people", "17,000 people"), RITE)
    assert report.contradicted == ["audience: article says 17,000, seed says about 1,700 people"]
    assert claims.check("It is 6.65 thousand km long.", RITE[2:3]).contradicted == []


def test_dates_are_checked_to_the_day_and_coverage_needs_the_value():
    said = "Igor Stravinsky heard it premiered on 28 May 1913, before 1,700 people and over about 6,650 km."
    report = claims.check(said, RITE)
    assert report.contradicted == ["premiered: article says 28 may 1913, seed says 1913-05-29"]
    # the year alone, far from the fact's words, does not state a full date
    assert claims.check("Stravinsky worked tirelessly until 1913.", RITE[:2]).fact_coverage == 0.5
    assert claims.check("The ballet premiered in 1913, by Igor Stravinsky.", RITE[:2]).fact_coverage == 1.0


def test_a_fact_name_swapped_for_another_is_a_contradiction():
    report = claims.check("The music was composed by Sergei Prokofiev in Paris.", RITE[:1])
    assert report.contradicted == ["composer: article says Sergei Prokofiev, seed says Igor Stravinsky"]
    assert claims.check("The music was composed by Igor Stravinsky in Paris.", RITE[:1]).contradicted == []


@pytest.mark.parametrize("language, text", [
    ("fr", "La première eut lieu le 29 mai 1913 devant 1 700 personnes, pour une musique d'Igor Stravinsky."),
    ("es", "El estreno fue el 29 de mayo de 1913 ante 1.700 personas, con música de Igor Stravinsky."),
    ("de", "Die Uraufführung war am 29. Mai 1913 vor 1.700 Personen, mit Musik von Igor Strawinsky."),
])
def test_dates_and_numbers_are_read_in_french_spanish_and_german(language, text):
    facts = [RITE[1], RITE[3]]
    assert claims.check(text, facts, language=language).contradicted == []
    assert claims.check(text, facts, language=language).fact_coverage == 1.0
    wrong = claims.check(text.replace("29", "27"), facts, language=language)
    assert wrong.contradicted and "1913-05-29" in wrong.contradicted[0]


def test_unsupported_claims_are_the_dates_numbers_and_names_no_fact_holds():
    base = "The music was composed by Igor Stravinsky and premiered on 29 May 1913 to about 1,700 people."
    assert claims.check(base, RITE).unsupported_share == 0.0
    invented = base + " In 1962, Margaret Ellison restored the score at a cost of 40,000 dollars."
    report = claims.check(invented, RITE)
    assert set(report.unsupported) == {"1962", "Margaret Ellison", "40,000"}
    assert report.unsupported_share > FilterSettings().max_unsupported_claims
    # a character a story keeps naming is no claim
    story = base + " Mila smiled. Then Mila ran home, and Mila told everyone."
    assert claims.check(story, RITE).unsupported == []


@pytest.mark.parametrize("language, text", [
    ("en", "The ballet premiered on 29 May 1913. Suddenly Mia heard the drums, and she ran to the stage."),
    ("en", "The ballet premiered on 29 May 1913. Although Mia was scared, she stayed in her seat all night."),
    ("fr", "Le ballet fut créé le 29 mai 1913. Soudain Mia entendit les tambours et courut vers la scène."),
    ("fr", "Le ballet fut créé le 29 mai 1913. Pendant Mia regardait, la salle criait de plus en plus fort."),
    ("es", "El ballet se estrenó el 29 de mayo de 1913. Aunque Mia tenía miedo, se quedó en su asiento."),
    ("es", "El ballet se estrenó el 29 de mayo de 1913. Cuando Mia oyó los tambores, corrió hacia el escenario."),
])
def test_a_capitalised_word_that_only_opens_the_sentence_is_no_part_of_a_name(language, text):
    # "Suddenly Mia" read as a full name stood in for the unstated choreographer: a false swap.
    facts = [RITE[1], {"property": "choreographer", "value": "Vaslav Nijinsky"}]
    report = claims.check(text, facts, language=language)
    assert report.contradicted == []
    assert report.unsupported == ["Mia"]


def test_a_word_the_text_writes_in_lower_case_is_no_name_where_it_opens_a_sentence():
    text = "Visit Florence in spring. Many people visit the Galleria every day to see the statue."
    assert [c.text for c in claims.extract(text, "en") if c.kind == "name"] == ["Florence", "Galleria"]
    # a full name that opens a sentence is still read whole, and still caught standing in for another
    report = claims.check("Sergei Prokofiev wrote the music, and it premiered on 29 May 1913.", RITE[:2])
    assert report.contradicted == ["composer: article says Sergei Prokofiev, seed says Igor Stravinsky"]


# --- sections and shape ---------------------------------------------------------------------------------

def test_a_section_is_covered_by_what_it_says_in_any_language():
    assert sections.covered("Early life", "She was born in a small town and grew up by the sea.")
    assert sections.covered("Early life", "Elle est née dans une petite ville.".replace("née", "naissance"))
    assert sections.covered("The lesson", "Ella aprendió que la verdad importa.")
    assert sections.covered("Legacy", "Heute erinnern viele Museen an sie.")
    assert not sections.covered("Legacy", "She was born in a small town and grew up by the sea.")


def test_shapes_ask_for_steps_dialogue_and_a_forum_question():
    definitions = "1. **Origins**: founded in 1888.\n2. **Purpose**: spreads knowledge.\n\nTips: read it."
    assert shape_fits(definitions, ShapeRule(min_paragraphs=2, min_numbered_lines=2))
    story = ShapeRule(min_paragraphs=2, min_speech_marks=2)
    assert shape_fits("“Look!” said Bea.\n\nThey laughed.", story)
    assert not shape_fits("Bea looked.\n\nThey laughed.", story)
    forum = ShapeRule(min_posts=3, min_questions=1)
    assert shape_fits("ann: Why is it blue?\n\nbob: Light scatters.\n\nann: Thanks!", forum)
    assert not shape_fits("ann: It is blue.\n\nbob: Light scatters.\n\nann: Thanks!", forum)


# --- the labelled development set -----------------------------------------------------------------------

def _outlines(articles: list[dict]) -> pl.DataFrame:
    from bench.b5_filter_quality import outline_frame

    return outline_frame(articles)


def test_every_reference_article_passes_the_shipped_filters_but_its_broken_copies_do_not():
    from bench.b5_filter_quality import measure

    articles = DEV_SET[:12]
    figures = measure(load_config().filters, articles)
    assert figures["good_kept"] >= 11 / 12, figures["good_rejected"]
    for kind in ("truncated", "chatter_opening", "prompt_echo", "wrong_language", "fact_dump", "repetition_loop"):
        assert figures["kinds"][kind]["caught"] == 1.0, kind
    assert figures["auc"] >= 0.9


# --- continuation of a draft cut at max_tokens -------------------------------------------------------------

def test_a_draft_cut_at_max_tokens_is_continued_once_cached_and_counted(tmp_path, monkeypatch):
    from cosmo_assets.llm.cache import DiskCache
    from cosmo_assets.llm.client import LLMClient, preflight
    from cosmo_assets.stages.drafts import continuation_requests, draft_requests, draft_rows, join_continuations
    from cosmo_assets_tests.fake_llm_server import FakeLLMServer, Reply

    monkeypatch.setenv("COSMO_LLM_API_KEY", "test-key-not-secret")
    head = "The river runs north through the valley, and farmers have used its water for"
    tail = "Sure, here is the rest: centuries. Towns grew on its banks."

    def behaviour(prompt: str):
        if prompt.startswith("Continue the text"):
            return tail
        return Reply(head, "length") if "cut" in prompt else Reply("A whole article. It ends well.", "stop")

    outlines = pl.DataFrame({"outline_id": ["o1", "o2"], "seed_id": ["s1", "s2"], "domain": "geo", "language": "en",
                             "prompt": ["Write about the river (cut).", "Write about the lake."], "prompt_hash": ["h1", "h2"]})
    with FakeLLMServer(behaviour=behaviour) as server:
        settings = load_config().model.model_copy(update={"model": "openai/test", "api_base": server.api_base})
        preflight(settings)

        def run():
            client = LLMClient(settings, cache=DiskCache(tmp_path / "cache.sqlite"))
            first = client.complete_all(draft_requests(outlines, settings)).completions
            extra = continuation_requests(outlines, first, settings)
            more = client.complete_all(extra).completions
            joined, continued = join_continuations(first, more)
            return draft_rows(outlines, joined, settings, continued), extra, more

        rows, extra, more = run()
        calls = server.requests
        again, _, more_again = run()
    assert len(extra) == 1 and calls == 3  # two drafts, one continuation
    cut = rows.row(0, named=True)
    assert cut["continued"] and cut["text"] == head + " centuries. Towns grew on its banks."
    assert cut["finish_reason"] == "stop" and cut["completion_tokens"] == len(head.split()) + len(tail.split())
    assert not rows.row(1, named=True)["continued"]
    assert server.requests == calls and all(c.cache_hit for c in more_again)  # the second run pays for nothing
    assert again["text"].to_list() == rows["text"].to_list()
    continued_prompt = server.bodies[-1]["messages"]
    assert [m["role"] for m in continued_prompt] == ["system", "user", "assistant", "user"]


# --- real text ---------------------------------------------------------------------------------------------

def test_real_text_passes_the_quality_and_language_gates_before_it_is_mixed_in():
    from cosmo_assets.storage import frame_schema

    good = DEV_SET[2]["text"]
    rows = [good, BODY["fr"] * 12, "Buy now! " * 80, "Short text."]
    real = pl.DataFrame({"id": [f"r{i}" for i in range(4)], "language": "en", "domain": "arts", "corpus": "c",
                         "title": "t", "text": rows, "topic_type": None, "content_type": "blog_post",
                         "audience": "general_public", "token_count": [len(t.split()) for t in rows]},
                        schema=frame_schema("real_text"))
    kept, failed = filtering.gate_real_text(real, load_config().filters, "en")
    assert kept["id"].to_list() == ["r0"]
    reasons = dict(zip(failed["id"], failed["reject_reasons"].to_list()))
    assert "wrong_language" in reasons["r1"] and "repeated_lines" not in reasons["r1"]
    assert "repetitive_phrases" in reasons["r2"] and "too_short" in reasons["r3"]


def test_coverage_thresholds_may_differ_per_model_but_no_other_gate_may():
    filters = load_config().filters
    assert filters.for_model("embedded/smollm2-135m-instruct").min_fact_coverage == 0.2
    assert filters.for_model("openai/gpt-4o-mini").min_fact_coverage == filters.min_fact_coverage == 0.75
    assert filters.for_model("embedded/smollm2-135m-instruct").max_prompt_echo_share == filters.max_prompt_echo_share
    with pytest.raises(ValueError, match=r"model_overrides\['embedded/\*'\]: \['max_prompt_echo_share'\] cannot differ"):
        FilterSettings(model_overrides={"embedded/*": {"max_prompt_echo_share": 0.5}})
