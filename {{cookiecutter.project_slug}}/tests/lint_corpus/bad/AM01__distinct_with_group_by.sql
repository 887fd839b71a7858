with orders as (
    select * from {{ ref("stg_shop__orders") }}
),

final as (
    select distinct customer_id
    from orders
    group by customer_id
)

select * from final
