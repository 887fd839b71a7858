with orders as (
    select * from {{ ref("stg_shop__orders") }}
),

final as (
    select
        order_id,
        {{ dbt.dateadd("day", 7, "ordered_at") }} as due_at,
        {{ dbt.datediff("ordered_at", "shipped_at", "day") }} as days_to_ship,
        {{ dbt.date_trunc("month", "ordered_at") }} as order_month,
        {{ dbt.last_day("ordered_at", "month") }} as order_month_end,
        {{ dbt.safe_cast("amount", dbt.type_numeric()) }} as amount,
        {{ dbt.cast("order_id", api.Column.translate_type("string")) }} as order_key,
        cast(quantity as {{ dbt.type_int() }}) as quantity,
        cast(order_id as {{ dbt.type_bigint() }}) as order_number,
        cast(status as {{ dbt.type_string() }}) as status,
        cast(amount as {{ dbt.type_float() }}) as amount_float,
        cast(is_paid as {{ dbt.type_boolean() }}) as is_paid,
        cast(ordered_at as {{ dbt.type_timestamp() }}) as ordered_at,
        {{ dbt.concat(["first_name", "' '", "last_name"]) }} as customer_name,
        {{ dbt.hash("email") }} as email_hash,
        {{ dbt.split_part("email", "'@'", 2) }} as email_domain,
        {{ dbt.right("zip_code", 3) }} as zip_suffix,
        {{ dbt.position("'@'", "email") }} as at_position,
        {{ dbt.replace("phone", "'-'", "''") }} as phone_digits,
        {{ dbt.length("notes") }} as notes_length,
        {{ dbt.cast_bool_to_text("is_paid") }} as is_paid_text,
        '{{ dbt.escape_single_quotes("it's") }}' as escaped_text,
        {{ dbt.string_literal("shop") }} as source_system,
        {{ dbt.current_timestamp() }} as loaded_at
    from orders
)

select * from final
