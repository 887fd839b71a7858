with orders as (
    select * from {{ ref("stg_shop__orders") }}
),

customers as (
    select * from {{ ref("stg_shop__customers") }}
),

final as (
    select
        orders.order_id,
        orders.ordered_at,
        customers.customer_id,
        customers.customer_name
    from orders
    left join customers
        on orders.customer_id = customers.customer_id
)

select * from final
