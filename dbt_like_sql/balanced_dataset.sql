-- The release of one language: the synthetic articles the quota allocation selected
-- (stages/quotas.py), rewrites of them and of real-text documents that passed the gates (source =
-- 'rephrased', naming the article or document in derived_from) and real text (source = 'real'), each at
-- its configured share of the release.
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
rephrased AS (
    -- Rewrites that passed the gates, in a stable pseudo-random order: of articles this release carries, and of
    -- real-text documents (real texts and document seeds, source_kind 'real_text' / 'document').
    SELECT r.rephrase_id, r.text, r.domain, r.language, r.format, r.template_id, r.template_version, r.seed_id, r.model,
           r.completion_tokens, r.quality_score, r.outline_id, r.finish_reason, r.fact_coverage, r.derived_from,
           coalesce(s.title, r.title) AS title, coalesce(s.topic_type, r.topic_type) AS topic_type,
           coalesce(s.audience, r.audience, 'general_public') AS audience, s.style, s.sections,
           coalesce(s.seed_source, CASE r.source_kind WHEN 'document' THEN 'documents' ELSE r.source_kind END) AS seed_source,
           coalesce(s.seed_source_id, r.derived_from) AS seed_source_id,
           row_number() OVER (ORDER BY md5(r.rephrase_id || {{ var('mix_salt') }}), r.rephrase_id) AS draw
    FROM {{ ref('rephrased_articles') }} AS r
    LEFT JOIN synthetic AS s ON s.id = r.derived_from AND coalesce(r.source_kind, 'article') = 'article'
    WHERE r.language = {{ var('language') }} AND r.kept
      AND (s.id IS NOT NULL OR r.source_kind IN ('real_text', 'document'))
),
rephrased_wanted AS (
    -- A share r of the whole release is real and p rephrased: p / (1 - r - p) rewrites per synthetic article.
    SELECT round((SELECT count(*) FROM synthetic) * {{ var('rephrased_share') }}
                 / (1 - {{ var('real_share') }} - {{ var('rephrased_share') }}))::INTEGER AS n
),
real_wanted AS (
    -- r of the release is real: r / (1 - r) real texts per synthetic or rephrased article released. With every
    -- rewrite there this is r / (1 - r - p) per synthetic article; with fewer rewrites than p asks for (a small
    -- supply), real text stays at its share of what is released instead of growing past it.
    SELECT round(((SELECT count(*) FROM synthetic)
                  + least((SELECT n FROM rephrased_wanted), (SELECT count(*) FROM rephrased)))
                 * {{ var('real_share') }} / (1 - {{ var('real_share') }}))::INTEGER AS n
)
SELECT id, text, domain, language, title, topic_type, content_type, audience, style, template_id,
       template_version, seed_id, model, token_count, quality_score, source, sections, seed_source, seed_source_id,
       outline_id, prompt, finish_reason, fact_coverage, contradicted_facts,
       {{ var('generation_settings') }} AS generation_settings, NULL AS derived_from
FROM synthetic
UNION ALL
SELECT rephrase_id, text, domain, language, title, topic_type, format AS content_type, audience, style, template_id,
       template_version, seed_id, model, coalesce(completion_tokens, 0)::INTEGER, quality_score, 'rephrased' AS source,
       sections, seed_source, seed_source_id, outline_id, NULL AS prompt, finish_reason, fact_coverage, NULL AS contradicted_facts,
       {{ var('generation_settings') }} AS generation_settings, derived_from
FROM rephrased
WHERE draw <= (SELECT n FROM rephrased_wanted)
UNION ALL
SELECT id, text, domain, language, title, topic_type, content_type, audience, NULL AS style, NULL AS template_id,
       NULL AS template_version, NULL AS seed_id, NULL AS model, token_count, NULL AS quality_score, 'real' AS source,
       NULL AS sections, corpus AS seed_source, id AS seed_source_id,
       NULL AS outline_id, NULL AS prompt, NULL AS finish_reason, NULL AS fact_coverage, NULL AS contradicted_facts,
       NULL AS generation_settings, NULL AS derived_from
FROM real_text
WHERE draw <= (SELECT n FROM real_wanted)
ORDER BY source DESC, domain, id
