-- The incremental daily mart must agree with fct_orders: net revenue per day and channel of the
-- orders not cancelled, within a cent for rounding. A microbatch model that kept old batches after
-- past raw rows changed shows up here. Returns the (day, channel) groups that disagree.
{{ config(severity='error', meta={'stage': 'business'}) }}

with

orders as (select * from {{ ref('fct_orders') }}),

daily_revenue as (select * from {{ ref('fct_daily_revenue') }}),

from_orders as (
    select
        order_date,
        channel,
        sum(net_amount) as net_revenue
    from orders
    where status != 'cancelled'
    group by order_date, channel
),

final as (
    select
        from_orders.net_revenue as revenue_in_orders,
        daily_revenue.net_revenue as revenue_in_daily_mart,
        coalesce(from_orders.order_date, daily_revenue.order_date) as order_date,
        coalesce(from_orders.channel, daily_revenue.channel) as channel
    from from_orders
    full outer join daily_revenue
        on
            from_orders.order_date = daily_revenue.order_date
            and from_orders.channel = daily_revenue.channel
    where abs(coalesce(from_orders.net_revenue, 0) - coalesce(daily_revenue.net_revenue, 0)) > 0.01
)

select * from final
