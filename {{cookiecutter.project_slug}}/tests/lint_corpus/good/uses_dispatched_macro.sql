with payments as (
    select * from {{ ref("stg_stripe__payments") }}
),

final as (
    select
        payment_id,
        {{ adapter.dispatch("cents_to_dollars", "my_project")("amount") }} as amount
    from payments
)

select * from final
