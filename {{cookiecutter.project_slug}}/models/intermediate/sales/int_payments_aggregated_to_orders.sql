with

payments as (select * from {{ ref('stg_shop__payments') }}),

final as (
    select
        order_id,
        cast(sum(payment_amount) as numeric(12, 2)) as paid_amount,
        count(*) as payment_count,
        max(paid_at) as last_paid_at
    from payments
    group by order_id
)

select * from final
