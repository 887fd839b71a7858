with

orders as (select * from {{ ref('stg_shop__orders') }}),

order_items as (select * from {{ ref('int_order_items_joined') }}),

payments as (select * from {{ ref('int_payments_aggregated_to_orders') }}),

order_totals as (
    select
        order_id,
        count(*) as item_count,
        sum(gross_amount) as gross_amount,
        sum(discount_amount) as discount_amount,
        sum(net_amount) as net_amount
    from order_items
    group by order_id
),

final as (
    select
        orders.order_id,
        orders.customer_id,
        orders.ordered_at,
        orders.order_date,
        orders.status,
        orders.channel,
        cast(coalesce(order_totals.item_count, 0) as integer) as item_count,
        cast(coalesce(order_totals.gross_amount, 0) as numeric(12, 2)) as gross_amount,
        cast(coalesce(order_totals.discount_amount, 0) as numeric(12, 2)) as discount_amount,
        cast(coalesce(order_totals.net_amount, 0) as numeric(12, 2)) as net_amount,
        cast(coalesce(payments.paid_amount, 0) as numeric(12, 2)) as paid_amount,
        coalesce(payments.paid_amount, 0) >= coalesce(order_totals.net_amount, 0) as is_fully_paid
    from orders
    left join order_totals on orders.order_id = order_totals.order_id
    left join payments on orders.order_id = payments.order_id
)

select * from final
