with

source as (select * from {{ source('shop', 'orders') }}),

final as (
    select
        order_id,
        customer_id,
        ordered_at,
        cast(ordered_at as date) as order_date,
        status,
        channel
    from source
)

select * from final
