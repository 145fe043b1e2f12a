-- Every kept article of one language with the metadata its outline and draft carry (the prompt,
-- how the completion ended, the fact scores), once per text: of exact duplicates across domains
-- only the best-scored copy stays a candidate. token_count is recounted in the release's one unit
-- (llm/tokens.py) before the rows are stored; the completion's own count is its first value.
SELECT
    f.draft_id AS id,
    f.text,
    f.domain,
    f.language,
    o.title,
    o.topic_type,
    o.content_type,
    o.audience,
    o.style,
    o.template_id,
    o.template_version,
    o.sections,
    f.outline_id,
    o.prompt,
    f.seed_id,
    o.seed_source,
    o.seed_source_id,
    d.model,
    d.finish_reason,
    f.fact_coverage,
    f.contradicted_facts,
    coalesce(d.completion_tokens, f.word_count)::INTEGER AS token_count,
    f.quality_score,
    'synthetic' AS source,
    -- Exact duplicates across domains share this key (case and whitespace do not count).
    md5(regexp_replace(lower(f.text), '\s+', ' ', 'g')) AS text_key
FROM {{ ref('filtered_articles') }} AS f
JOIN {{ ref('outlines') }} AS o
  ON o.outline_id = f.outline_id AND o.domain = f.domain AND o.language = f.language
JOIN {{ ref('drafts') }} AS d
  ON d.draft_id = f.draft_id AND d.domain = f.domain AND d.language = f.language
WHERE f.language = {{ var('language') }}
  AND f.quality_score >= {{ var('min_quality_score') }}
  AND f.draft_id NOT IN (SELECT id FROM {{ ref('near_duplicate_drops') }} WHERE language = {{ var('language') }})
QUALIFY row_number() OVER (PARTITION BY text_key ORDER BY f.quality_score DESC, f.draft_id) = 1
