with

customers as (select * from {{ ref('stg_shop__customers') }}),

orders as (select * from {{ ref('fct_orders') }}),

customer_orders as (
    select
        customer_id,
        min(ordered_at) as first_ordered_at,
        max(ordered_at) as last_ordered_at,
        count(*) as order_count,
        sum(case when status != 'cancelled' then net_amount else 0 end) as lifetime_value
    from orders
    group by customer_id
),

final as (
    select
        customers.customer_id,
        -- Masked again (a no-op on ingest-masked rows): slim CI may defer to prod's clear rows.
        {{ dbt.concat([mask_pii('customers.first_name'), "' '", mask_pii('customers.last_name')]) }}
            as full_name,
        {{ mask_pii('customers.email', keep_email_shape=true) }} as email,
        customers.country_code,
        customers.signed_up_at,
        customer_orders.first_ordered_at,
        customer_orders.last_ordered_at,
        cast(coalesce(customer_orders.order_count, 0) as integer) as order_count,
        cast(coalesce(customer_orders.lifetime_value, 0) as numeric(12, 2)) as lifetime_value
    from customers
    left join customer_orders on customers.customer_id = customer_orders.customer_id
)

select * from final
