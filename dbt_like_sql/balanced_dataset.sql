-- The release of one language: the synthetic articles the quota allocation selected
-- (stages/quotas.py), and real text mixed in at the configured share, tagged source = 'real'.
-- Synthetic rows carry what a trainer or reviewer needs to trace them: the prompt, the outline,
-- how the completion ended, the fact scores and the generation settings (JSON).
WITH synthetic AS (
    SELECT c.*
    FROM {{ ref('release_candidates') }} AS c
    JOIN {{ ref('quota_allocation') }} AS q
      ON q.id = c.id AND q.language = c.language
    WHERE q.selected
),
real_text AS (
    -- A stable pseudo-random order, so the same texts are drawn on every run.
    SELECT *, row_number() OVER (ORDER BY md5(id || {{ var('mix_salt') }}), id) AS draw
    FROM {{ ref('real_text') }}
    WHERE language = {{ var('language') }}
),
real_wanted AS (
    -- A share r of the whole release is real: r / (1 - r) real texts per synthetic article.
    SELECT round((SELECT count(*) FROM synthetic) * {{ var('real_share') }} / (1 - {{ var('real_share') }}))::INTEGER AS n
)
SELECT id, text, domain, language, title, topic_type, content_type, audience, style, template_id,
       template_version, seed_id, model, token_count, quality_score, source, sections, seed_source, seed_source_id,
       outline_id, prompt, finish_reason, fact_coverage, contradicted_facts,
       {{ var('generation_settings') }} AS generation_settings
FROM synthetic
UNION ALL
SELECT id, text, domain, language, title, topic_type, content_type, audience, NULL AS style, NULL AS template_id,
       NULL AS template_version, NULL AS seed_id, NULL AS model, token_count, NULL AS quality_score, 'real' AS source,
       NULL AS sections, corpus AS seed_source, id AS seed_source_id,
       NULL AS outline_id, NULL AS prompt, NULL AS finish_reason, NULL AS fact_coverage, NULL AS contradicted_facts,
       NULL AS generation_settings
FROM real_text
WHERE draw <= (SELECT n FROM real_wanted)
ORDER BY source DESC, domain, id
