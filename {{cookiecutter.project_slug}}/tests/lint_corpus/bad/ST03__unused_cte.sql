with orders as (
    select * from {{ ref("stg_shop__orders") }}
),

customers as (
    select * from {{ ref("stg_shop__customers") }}
),

final as (
    select order_id from orders
)

select * from final
