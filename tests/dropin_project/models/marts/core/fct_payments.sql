{{
    config(
        materialized='incremental',
        unique_key='payment_id',
        on_schema_change='append_new_columns'
    )
}}

with

payments as (

    select * from {{ ref('stg_stripe__payments') }}

    {% if is_incremental() %}

        where created_at > (select max(created_at) from {{ this }})

    {% endif %}

),

final as (

    select
        payment_id,
        order_id,
        payment_method,
        status,
        amount,
        created_at,
        status = 'success' as is_successful

    from payments

)

select * from final
