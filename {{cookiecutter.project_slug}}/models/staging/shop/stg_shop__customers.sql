-- Names and email are PII. Outside prod the ingest step stored them masked (pii.py), so they
-- are not masked again here: a view calling mask_pii() would need dbt's pii_mask() in every reader.
with

source as (select * from {{ source('shop', 'customers') }}),

final as (
    select
        customer_id,
        first_name,
        last_name,
        signed_up_at,
        lower(email) as email,
        upper(country_code) as country_code
    from source
)

select * from final
