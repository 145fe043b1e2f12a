"""The config loader: the shipped configs are complete, and bad files fail naming file and field."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cosmo_assets.config import ConfigError, load_config
from cosmo_assets.stages.seeds import read_seeds
from cosmo_assets_tests.conftest import edit_yaml


def test_shipped_config_is_complete():
    config = load_config()
    assert len(config.domains) >= 3
    assert config.enabled_languages == ["en"]
    assert {lang.code for lang in config.languages} >= {"en", "fr", "es", "de"}
    assert len(config.outlines.content_types) >= 5
    assert len(config.outlines.audiences) >= 4
    assert len(config.outlines.styles) >= 3
    for content_type in config.outlines.content_types:
        assert config.template_path(content_type.template).is_file()
    assert config.model.model == "embedded/smollm2-135m-instruct"


def test_every_bundled_knowledge_base_has_eighty_clean_entities_with_facts():
    config = load_config()
    assert len(config.domains) >= 6
    for domain in config.domains:
        batch = read_seeds(config, domain.name, "en", limit=None)
        assert batch.quarantine.height == 0, batch.quarantine.select("location", "reason", "detail").rows()
        assert batch.seeds.height >= 80, domain.name
        assert all(len(facts) >= 3 for facts in batch.seeds["facts"]), domain.name
        assert batch.seeds["topic_type"].n_unique() >= 3, domain.name


def test_wrong_type_names_file_and_field(config_dir):
    edit_yaml(config_dir / "model.yaml", lambda d: d.update(temperature="hot"))
    with pytest.raises(ConfigError) as err:
        load_config(config_dir)
    message = str(err.value)
    assert str(config_dir / "model.yaml") in message
    assert "'temperature'" in message and "valid number" in message and "'hot'" in message


def test_misspelt_key_is_refused(config_dir):
    edit_yaml(config_dir / "filters.yaml", lambda d: d.update(min_wrods=10))
    with pytest.raises(ConfigError, match=r"filters\.yaml: field 'min_wrods': Extra inputs are not permitted"):
        load_config(config_dir)


def test_missing_template_names_the_content_type(config_dir):
    (config_dir / "templates" / "blog_post.j2").unlink()
    with pytest.raises(ConfigError, match=r"outlines\.yaml: field 'content_types\.2\.template': template .*blog_post\.j2 not found"):
        load_config(config_dir)


def test_domain_file_must_match_its_name_and_knowledge_base(config_dir):
    edit_yaml(config_dir / "domains" / "alpha.yaml", lambda d: d.update(knowledge_base="knowledge_base/nope.jsonl"))
    with pytest.raises(ConfigError, match=r"alpha\.yaml: field 'knowledge_base': file .*nope\.jsonl not found"):
        load_config(config_dir)


def test_no_enabled_language_is_refused(config_dir):
    edit_yaml(config_dir / "languages.yaml", lambda d: [lang.update(enabled=False) for lang in d["languages"]])
    with pytest.raises(ConfigError, match="at least one language must have enabled: true"):
        load_config(config_dir)


def test_environment_overrides_the_model(config_dir, monkeypatch):
    monkeypatch.setenv("COSMO_LLM_MODEL", "openai/some-model")
    monkeypatch.setenv("COSMO_LLM_API_BASE", "http://127.0.0.1:9/v1")
    config = load_config(config_dir)
    assert config.model.model == "openai/some-model"
    assert config.model.api_base == "http://127.0.0.1:9/v1"
    assert not config.model.is_embedded


def test_main_command_refuses_a_bad_config_before_writing_anything(config_dir, tmp_path):
    edit_yaml(config_dir / "balance.yaml", lambda d: d.update(max_per_seed=0))
    env = {"COSMO_CONFIG_DIR": str(config_dir), "DAGSTER_HOME": str(tmp_path / "dh"), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-m", "cosmo_assets", "run"], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 2
    assert "balance.yaml: field 'max_per_seed': Input should be greater than or equal to 1" in result.stderr
    assert not (tmp_path / "data").exists()


def test_quota_shares_must_sum_to_one_and_name_configured_values(config_dir):
    edit_yaml(config_dir / "balance.yaml", lambda d: d["quotas"].update(content_type={"story_morality": 0.5, "blog_post": 0.2}))
    with pytest.raises(ConfigError, match=r"balance\.yaml: field 'quotas\.content_type': .*shares must sum to 1, got 0\.7000"):
        load_config(config_dir)
    edit_yaml(config_dir / "balance.yaml", lambda d: d["quotas"].update(content_type="uneven"))
    with pytest.raises(ConfigError, match=r"field 'quotas\.content_type': .*expected 'even', a map of value: share that sums to 1, or null"):
        load_config(config_dir)
    edit_yaml(config_dir / "balance.yaml", lambda d: d["quotas"].update(content_type={"story_morality": 0.5, "poem": 0.5}))
    with pytest.raises(ConfigError, match=r"balance\.yaml: field 'quotas\.content_type\.poem': 'poem' is not configured"):
        load_config(config_dir)
    edit_yaml(config_dir / "balance.yaml", lambda d: d["quotas"].update(content_type="even", min_domain_share={"zeta": 0.1}))
    with pytest.raises(ConfigError, match=r"field 'quotas\.min_domain_share\.zeta': 'zeta' is not configured; expected one of \['alpha', 'beta'\]"):
        load_config(config_dir)


def test_a_missing_real_text_corpus_names_its_field(config_dir):
    edit_yaml(config_dir / "balance.yaml", lambda d: d["real_text"]["corpora"][0].update(path="real_text/nope.jsonl"))
    with pytest.raises(ConfigError, match=r"balance\.yaml: field 'real_text\.corpora\.0\.path': file .*nope\.jsonl not found"):
        load_config(config_dir)


# What the shipped configs list as this project's content (files, corpora, per-content-type rules), not a
# setting with a default: the code's default for each is "none".
SHIPPED_CONTENT = {
    ("filters.yaml", "shapes"),
    ("filters.yaml", "decontamination.benchmarks"),
    ("balance.yaml", "real_text.corpora"),
    ("balance.yaml", "real_text.share"),  # a share of real text needs the corpora above
    ("wikidata_properties.yaml", "units"),
    ("seeds.yaml", "documents.keyword_rules"),  # words for the shipped domains
}


def _defaults_that_differ(model, raw: dict, loaded, where: str = "") -> list[str]:
    """Every field the YAML sets whose code default differs from the value loaded, nested models walked."""
    from pydantic import BaseModel
    from pydantic_core import PydanticUndefined

    differ = []
    for name, field in type(loaded).model_fields.items():
        if name not in raw:
            continue
        path, value = f"{where}{name}", getattr(loaded, name)
        if isinstance(value, BaseModel) and isinstance(raw[name], dict):
            differ += _defaults_that_differ(model, raw[name], value, f"{path}.")
        elif field.default is not PydanticUndefined or field.default_factory is not None:
            default = field.get_default(call_default_factory=True)
            if value != default:
                differ.append(f"{path}: code default {default!r}, shipped {value!r}")
    return differ


@pytest.mark.parametrize("file", ["project.yaml", "languages.yaml", "outlines.yaml", "model.yaml", "filters.yaml",
                                  "balance.yaml", "seeds.yaml", "wikidata_properties.yaml"])
def test_code_defaults_are_the_shipped_settings(file):
    # One source of defaults: a reader who edits a default in cosmo_assets/config/ changes what runs.
    import yaml

    from cosmo_assets.config import DEFAULT_CONFIG_DIR
    from cosmo_assets.config.loader import FILE_MODELS

    model = FILE_MODELS[file]
    raw = yaml.safe_load((DEFAULT_CONFIG_DIR / file).read_text(encoding="utf-8"))
    differ = _defaults_that_differ(model, raw, model.model_validate(raw))
    assert [d for d in differ if (file, d.split(":")[0]) not in SHIPPED_CONTENT] == []
    assert FILE_MODELS.keys() == {p.name for p in DEFAULT_CONFIG_DIR.glob("*.yaml")}
