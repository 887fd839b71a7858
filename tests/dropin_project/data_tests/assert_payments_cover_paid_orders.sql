-- An order marked paid has successful payments at least as large as its total.
select
    order_id,
    order_total,
    amount_paid
from {{ ref('fct_orders') }}
where is_paid and amount_paid < order_total
