with orders as (
    SELECT * from {{ ref("stg_shop__orders") }}
),

final as (
    select order_id from orders
)

select * from final
