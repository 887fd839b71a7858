{%- snapshot orders_snapshot -%}

{{ config(unique_key='order_id', strategy='timestamp', updated_at='updated_at') }}

with

orders as (
    select * from {{ source('shop', 'orders') }}
),

final as (
    select
        order_id,
        status,
        updated_at
    from orders
)

select * from final

{%- endsnapshot -%}
