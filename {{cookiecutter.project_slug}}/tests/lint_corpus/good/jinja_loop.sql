{% set payment_methods = ["credit_card", "coupon", "bank_transfer", "gift_card"] %}

with payments as (
    select * from {{ ref("stg_stripe__payments") }}
),

final as (
    select
        order_id,
        {% for payment_method in payment_methods %}
            sum(
                case when payment_method = '{{ payment_method }}' then amount else 0 end
            ) as {{ payment_method }}_amount,
        {% endfor %}
        sum(amount) as total_amount
    from payments
    group by order_id
)

select * from final
