with

source as (select * from {{ source('shop', 'order_items') }}),

final as (
    select
        order_item_id,
        order_id,
        product_id,
        quantity,
        unit_price,
        discount_amount
    from source
)

select * from final
