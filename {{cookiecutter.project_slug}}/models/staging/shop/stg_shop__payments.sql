with

source as (select * from {{ source('shop', 'payments') }}),

final as (
    select
        payment_id,
        order_id,
        paid_at,
        payment_method,
        amount as payment_amount
    from source
)

select * from final
