with

orders as (

    select * from {{ ref('stg_jaffle_shop__orders') }}

),

order_payments as (

    select * from {{ ref('int_payments_pivoted_to_orders') }}

),

final as (

    select
        orders.order_id,
        orders.customer_id,
        orders.location_id,
        orders.ordered_at,
        orders.subtotal,
        orders.tax_paid,
        orders.order_total,

        coalesce(order_payments.credit_card_amount, 0) as credit_card_amount,
        coalesce(order_payments.coupon_amount, 0) as coupon_amount,
        coalesce(order_payments.bank_transfer_amount, 0) as bank_transfer_amount,
        coalesce(order_payments.gift_card_amount, 0) as gift_card_amount,
        coalesce(order_payments.total_amount, 0) as amount_paid,

        coalesce(order_payments.total_amount, 0) >= orders.order_total as is_paid

    from orders

    left join order_payments
        on orders.order_id = order_payments.order_id

)

select * from final
