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
