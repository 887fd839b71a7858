-- Names and email are PII: masked here, in every target but prod, so nothing downstream sees them.
with

source as (select * from {{ source('shop', 'customers') }}),

final as (
    select
        customer_id,
        {{ mask_pii('first_name') }} as first_name,
        {{ mask_pii('last_name') }} as last_name,
        signed_up_at,
        {{ mask_pii('lower(email)', keep_email_shape=true) }} as email,
        upper(country_code) as country_code
    from source
)

select * from final
