-- The released articles of one language: exact duplicates across domains removed (the best-scored
-- copy stays), at most max_per_seed articles per seed, and an optional cap per language.
WITH unique_text AS (
    SELECT *
    FROM {{ ref('release_candidates') }}
    QUALIFY row_number() OVER (PARTITION BY text_key ORDER BY quality_score DESC, id) = 1
),
per_seed AS (
    SELECT *
    FROM unique_text
    QUALIFY row_number() OVER (PARTITION BY seed_id ORDER BY quality_score DESC, id) <= {{ var('max_per_seed') }}
),
ranked AS (
    SELECT *, row_number() OVER (ORDER BY quality_score DESC, id) AS release_rank
    FROM per_seed
)
SELECT id, text, domain, language, title, topic_type, content_type, audience, style, template_id,
       template_version, seed_id, model, token_count, quality_score, source, sections, seed_source, seed_source_id
FROM ranked
WHERE {{ var('max_per_language') }} IS NULL OR release_rank <= {{ var('max_per_language') }}
ORDER BY domain, id
