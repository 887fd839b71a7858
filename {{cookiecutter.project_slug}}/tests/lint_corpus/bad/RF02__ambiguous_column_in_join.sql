with orders as (
    select * from {{ ref("stg_shop__orders") }}
),

customers as (
    select * from {{ ref("stg_shop__customers") }}
),

final as (
    select
        order_id,
        customer_name
    from orders
    inner join customers
        on orders.customer_id = customers.customer_id
)

select * from final
