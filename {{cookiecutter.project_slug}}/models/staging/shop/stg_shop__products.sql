-- The products feed repeats some rows verbatim (see the source's `unique` warning): keep one row
-- per product_id, the latest load first and the row's values breaking ties, so the pick is stable.
with

source as (select * from {{ source('shop', 'products') }}),

ranked as (
    select
        product_id,
        sku,
        product_name,
        category,
        unit_price,
        is_active,
        row_number() over (
            partition by product_id
            order by _loaded_at desc, sku asc, product_name asc, unit_price asc, is_active asc
        ) as load_rank
    from source
),

final as (
    select
        product_id,
        sku,
        product_name,
        category,
        unit_price,
        is_active
    from ranked
    where load_rank = 1
)

select * from final
