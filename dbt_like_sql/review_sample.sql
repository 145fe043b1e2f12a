-- A stratified sample of one language for human review: per domain x content type x template, up
-- to review_per_stratum released synthetic articles and up to review_rejected_per_stratum rejected
-- drafts (to catch false rejections), drawn in a stable pseudo-random order. Each row carries what a
-- reviewer needs to judge it: the prompt, the seed's facts, the scores and the reject reasons.
-- Reviewers return verdicts by id (stages/review.py).
WITH released AS (
    SELECT b.id, 'released' AS kind, b.language, b.domain, b.content_type, b.template_id, b.template_version,
           b.audience, b.style, b.title, b.text, b.prompt, b.seed_id, b.quality_score, b.fact_coverage,
           f.section_coverage, b.contradicted_facts, b.finish_reason, []::VARCHAR[] AS reject_reasons
    FROM {{ ref('balanced_dataset') }} AS b
    LEFT JOIN {{ ref('filtered_articles') }} AS f
      ON f.draft_id = b.id AND f.language = b.language
    WHERE b.source = 'synthetic'
    QUALIFY row_number() OVER (
        PARTITION BY b.domain, b.content_type, b.template_id ORDER BY md5(b.id || {{ var('review_salt') }}), b.id
    ) <= {{ var('review_per_stratum') }}
),
rejected AS (
    SELECT r.draft_id AS id, 'rejected' AS kind, r.language, r.domain, o.content_type, o.template_id, o.template_version,
           o.audience, o.style, o.title, r.text, o.prompt, r.seed_id, r.quality_score, r.fact_coverage,
           r.section_coverage, r.contradicted_facts, d.finish_reason, r.reject_reasons
    FROM {{ ref('rejected_drafts') }} AS r
    JOIN {{ ref('outlines') }} AS o
      ON o.outline_id = r.outline_id AND o.domain = r.domain AND o.language = r.language
    LEFT JOIN {{ ref('drafts') }} AS d
      ON d.draft_id = r.draft_id AND d.domain = r.domain AND d.language = r.language
    WHERE r.language = {{ var('language') }} AND r.text IS NOT NULL AND trim(r.text) <> ''
    QUALIFY row_number() OVER (
        PARTITION BY r.domain, o.content_type, o.template_id ORDER BY md5(r.draft_id || {{ var('review_salt') }}), r.draft_id
    ) <= {{ var('review_rejected_per_stratum') }}
),
sampled AS (
    SELECT * FROM released
    UNION ALL
    SELECT * FROM rejected
)
SELECT s.id, s.kind, s.language, s.domain, s.content_type, s.template_id, s.template_version, s.audience, s.style,
       s.title, s.text, s.prompt,
       array_to_string(list_transform(seed.facts, lambda f: f.property || ': ' || f.value), '; ') AS seed_facts,
       s.quality_score, s.fact_coverage, s.section_coverage, s.contradicted_facts, s.finish_reason, s.reject_reasons
FROM sampled AS s
LEFT JOIN {{ ref('seeds') }} AS seed
  ON seed.seed_id = s.seed_id AND seed.domain = s.domain AND seed.language = s.language
ORDER BY s.domain, s.content_type, s.template_id, s.kind, s.id
