with orders as (
    select * from {{ ref("stg_shop__orders") }}
),

final as (
    select order_id,amount  from orders
)

select * from final
