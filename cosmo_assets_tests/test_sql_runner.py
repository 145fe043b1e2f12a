"""The dbt-like runner: refs order the models, vars are bound as parameters, errors name file and line."""

from __future__ import annotations

import duckdb
import pytest

from cosmo_assets.sql_runner import SqlModelError, SqlProject


def write(directory, name, sql):
    (directory / f"{name}.sql").write_text(sql, encoding="utf-8")


@pytest.fixture
def con():
    con = duckdb.connect()
    con.execute("CREATE TABLE people AS SELECT * FROM (VALUES ('ada', 36), ('alan', 41), ('grace', 85)) t(name, age)")
    yield con
    con.close()


def test_models_run_in_ref_order_with_bound_values(tmp_path, con):
    write(tmp_path, "adults", "SELECT * FROM {{ ref('people') }} WHERE age >= {{ var('min_age') }}")
    write(tmp_path, "named", "SELECT name FROM {{ ref('adults') }} WHERE name <> {{ var('skip') }} ORDER BY name")
    project = SqlProject(tmp_path, sources=["people"])
    assert project.order.index("adults") < project.order.index("named")
    assert project.sources_of("named") == ["people"]
    rows = project.run(con, "named", {"min_age": 40, "skip": "alan"})
    assert rows["name"].to_list() == ["grace"]


def test_values_are_never_spliced_into_sql(tmp_path, con):
    write(tmp_path, "pick", "SELECT name FROM {{ ref('people') }} WHERE name = {{ var('who') }}")
    project = SqlProject(tmp_path, sources=["people"])
    assert "$who" in project.models["pick"].sql
    hostile = "x' OR '1'='1"
    assert project.run(con, "pick", {"who": hostile}).height == 0
    assert con.execute("SELECT count(*) FROM people").fetchone()[0] == 3


def test_missing_ref_names_file_and_line(tmp_path):
    write(tmp_path, "broken", "-- first line\nSELECT *\nFROM {{ ref('nowhere') }}")
    with pytest.raises(SqlModelError, match=r"broken\.sql:3: ref\('nowhere'\) names no model"):
        SqlProject(tmp_path, sources=["people"])


def test_cycle_is_refused(tmp_path):
    write(tmp_path, "a", "SELECT * FROM {{ ref('b') }}")
    write(tmp_path, "b", "SELECT * FROM {{ ref('a') }}")
    with pytest.raises(SqlModelError, match="cycle"):
        SqlProject(tmp_path, sources=[])


def test_sql_error_names_file_and_line(tmp_path, con):
    write(tmp_path, "typo", "SELECT name\nFROM {{ ref('people') }}\nWHERE agee > 1")
    project = SqlProject(tmp_path, sources=["people"])
    with pytest.raises(SqlModelError, match=r"typo\.sql:3: .*agee"):
        project.run(con, "typo", {})


def test_unknown_tag_and_missing_var_are_refused(tmp_path, con):
    write(tmp_path, "odd", "SELECT {{ config('x') }}")
    with pytest.raises(SqlModelError, match=r"odd\.sql:1: expected"):
        SqlProject(tmp_path, sources=[])
    (tmp_path / "odd.sql").unlink()
    write(tmp_path, "needs", "SELECT {{ var('n') }} AS n")
    with pytest.raises(SqlModelError, match=r"needs\.sql:1: var \['n'\] not given"):
        SqlProject(tmp_path, sources=[]).run(con, "needs", {})


def test_a_ref_can_read_the_materialised_model_instead_of_rebuilding_it(tmp_path, con):
    write(tmp_path, "adults", "-- People old enough.\nSELECT * FROM {{ ref('people') }} WHERE age >= 40")
    write(tmp_path, "names", "SELECT name FROM {{ ref('adults') }} ORDER BY name")
    project = SqlProject(tmp_path, sources=["people"])
    assert project.models["adults"].description == "People old enough."
    con.execute("CREATE TABLE adults AS SELECT 'stored' AS name, 'en' AS language")
    stored = {"adults": "SELECT * FROM adults WHERE language = $language"}
    assert project.run(con, "names", {"language": "en"}, stored=stored)["name"].to_list() == ["stored"]
    assert project.run(con, "names", {})["name"].to_list() == ["alan", "grace"]  # rebuilt from its own SQL
    with pytest.raises(SqlModelError, match=r"adults\.sql:1: var \['language'\] not given"):
        project.run(con, "names", {}, stored=stored)
