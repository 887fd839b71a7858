with

order_items as (select * from {{ ref('stg_shop__order_items') }}),

products as (select * from {{ ref('stg_shop__products') }}),

joined as (
    select
        order_items.order_item_id,
        order_items.order_id,
        order_items.product_id,
        products.category,
        order_items.quantity,
        order_items.unit_price,
        order_items.discount_amount
    from order_items
    inner join products on order_items.product_id = products.product_id
),

final as (
    select
        order_item_id,
        order_id,
        product_id,
        category,
        quantity,
        unit_price,
        cast(quantity * unit_price as numeric(12, 2)) as gross_amount,
        discount_amount,
        cast(quantity * unit_price - discount_amount as numeric(12, 2)) as net_amount
    from joined
)

select * from final
