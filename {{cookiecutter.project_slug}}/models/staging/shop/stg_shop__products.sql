with

source as (select * from {{ source('shop', 'products') }}),

final as (
    select
        product_id,
        sku,
        product_name,
        category,
        unit_price,
        is_active
    from source
)

select * from final
