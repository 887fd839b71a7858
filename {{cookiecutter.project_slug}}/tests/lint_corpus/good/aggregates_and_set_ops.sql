with orders as (
    select * from {{ ref("stg_shop__orders") }}
),

old_orders as (
    select * from {{ ref("stg_legacy__orders") }}
),

per_customer as (
    select
        customer_id,
        {{ dbt.listagg("status", "', '", "order by ordered_at") }} as statuses,
        {{ dbt.any_value("channel") }} as channel,
        {{ dbt.bool_or("is_paid") }} as has_paid_order,
        count(*) as order_count
    from orders
    group by customer_id
),

only_new as (
    select customer_id from orders
    {{ dbt.except() }}
    select customer_id from old_orders
),

in_both as (
    select customer_id from orders
    {{ dbt.intersect() }}
    select customer_id from old_orders
),

final as (
    select
        per_customer.customer_id,
        per_customer.statuses,
        per_customer.channel,
        per_customer.has_paid_order,
        per_customer.order_count,
        only_new.customer_id is not null as is_new,
        in_both.customer_id is not null as is_returning
    from per_customer
    left join only_new
        on per_customer.customer_id = only_new.customer_id
    left join in_both
        on per_customer.customer_id = in_both.customer_id
)

select * from final
