with

source as (

    select * from {{ source('jaffle_shop', 'orders') }}

),

renamed as (

    select
        ----------  ids
        id as order_id,
        store_id as location_id,
        customer as customer_id,

        ---------- numerics
        {{ cents_to_dollars('subtotal') }} as subtotal,
        {{ cents_to_dollars('tax_paid') }} as tax_paid,
        {{ cents_to_dollars('order_total') }} as order_total,

        ---------- timestamps
        ordered_at

    from source

)

select * from renamed
