{% snapshot customer_orders_snapshot %}

{{ config(unique_key='order_id', strategy='check', check_cols='all') }}

select
    orders.order_id,
    customer_name
from {{ source('shop', 'orders') }} as orders
inner join {{ source('shop', 'customers') }} as customers
    on orders.customer_id = customers.customer_id

{% endsnapshot %}
