with orders as (
    select * from {{ ref("stg_shop__orders") }}
),

final as (
    select
        order_id,
        amount * 100
    from orders
)

select * from final
