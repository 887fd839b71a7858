-- Cancelled orders are never paid; every other order is paid exactly its net amount.
-- Returns the orders that break the rule.
with

orders as (select * from {{ ref('fct_orders') }}),

final as (
    select
        order_id,
        status,
        net_amount,
        paid_amount
    from orders
    where
        (status = 'cancelled' and paid_amount != 0)
        or (status != 'cancelled' and paid_amount != net_amount)
)

select * from final
