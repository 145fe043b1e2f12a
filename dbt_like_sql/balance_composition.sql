-- What one language's release is made of: for every value of each dimension, the candidates
-- offered, the supply (counting at most max_per_seed articles per seed, as the caps do), and the
-- articles released. Shares are of the synthetic articles; the `source` rows give the real-text mix.
WITH candidate_values AS (
    UNPIVOT (
        SELECT seed_id, domain, content_type, audience, topic_type, template_id
        FROM {{ ref('release_candidates') }}
    )
    ON domain, content_type, audience, topic_type, template_id
    INTO NAME dimension VALUE value
),
supply AS (
    SELECT dimension, value, sum(n) AS candidates, sum(least(n, {{ var('max_per_seed') }})) AS supply
    FROM (SELECT dimension, value, seed_id, count(*) AS n FROM candidate_values GROUP BY ALL)
    GROUP BY ALL
),
released_values AS (
    UNPIVOT (
        SELECT domain, content_type, audience, topic_type, template_id
        FROM {{ ref('balanced_dataset') }}
        WHERE source = 'synthetic'
    )
    ON domain, content_type, audience, topic_type, template_id
    INTO NAME dimension VALUE value
),
released AS (
    SELECT dimension, value, count(*) AS released
    FROM released_values
    GROUP BY ALL
),
sources AS (
    SELECT 'source' AS dimension, 'synthetic' AS value,
           (SELECT count(*) FROM {{ ref('release_candidates') }}) AS candidates,
           (SELECT count(*) FROM {{ ref('release_candidates') }}) AS supply,
           (SELECT count(*) FROM {{ ref('balanced_dataset') }} WHERE source = 'synthetic') AS released
    UNION ALL
    SELECT 'source', 'real',
           (SELECT count(*) FROM {{ ref('real_text') }} WHERE language = {{ var('language') }}),
           (SELECT count(*) FROM {{ ref('real_text') }} WHERE language = {{ var('language') }}),
           (SELECT count(*) FROM {{ ref('balanced_dataset') }} WHERE source = 'real')
    UNION ALL
    -- Rewrites that passed the gates (of any article, real text or document seed of the language).
    SELECT 'source', 'rephrased',
           (SELECT count(*) FROM {{ ref('rephrased_articles') }} WHERE language = {{ var('language') }}),
           (SELECT count(*) FROM {{ ref('rephrased_articles') }} WHERE language = {{ var('language') }} AND kept),
           (SELECT count(*) FROM {{ ref('balanced_dataset') }} WHERE source = 'rephrased')
),
synthetic_total AS (
    SELECT greatest(count(*), 1) AS n FROM {{ ref('balanced_dataset') }} WHERE source = 'synthetic'
)
SELECT {{ var('language') }} AS language, dimension, value,
       coalesce(s.candidates, 0)::INTEGER AS candidates,
       coalesce(s.supply, 0)::INTEGER AS supply,
       coalesce(r.released, 0)::INTEGER AS released,
       round(coalesce(r.released, 0) / (SELECT n FROM synthetic_total), 4) AS share
FROM supply AS s
FULL JOIN released AS r USING (dimension, value)
UNION ALL
SELECT {{ var('language') }}, dimension, value, candidates::INTEGER, supply::INTEGER, released::INTEGER,
       round(released / greatest((SELECT count(*) FROM {{ ref('balanced_dataset') }}), 1), 4)
FROM sources
ORDER BY dimension, value
