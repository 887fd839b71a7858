with orders as (
    select * from {{ ref("stg_shop__orders") }}
),

final as (
    select o.order_id
    from orders o
)

select * from final
