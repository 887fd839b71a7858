with orders as (
    select * from {{ ref("stg_shop__orders") }}
),

final as (
    select sum(amount) total_amount
    from orders
)

select * from final
