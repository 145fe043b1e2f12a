-- A stratified sample of one language's release for human review: up to review_per_stratum
-- synthetic articles from every domain x content type x template, drawn in a stable pseudo-random
-- order. Reviewers return verdicts by id (stages/review.py).
SELECT id, language, domain, content_type, template_id, template_version, audience, style, title, text
FROM {{ ref('balanced_dataset') }}
WHERE source = 'synthetic'
QUALIFY row_number() OVER (
    PARTITION BY domain, content_type, template_id
    ORDER BY md5(id || {{ var('review_salt') }}), id
) <= {{ var('review_per_stratum') }}
ORDER BY domain, content_type, template_id, id
