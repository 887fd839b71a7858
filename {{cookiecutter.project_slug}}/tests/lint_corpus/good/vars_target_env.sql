{{ config(materialized="table", schema=env_var("DBT_SCHEMA_SUFFIX", "marts")) }}

with orders as (
    select * from {{ ref("stg_shop__orders") }}
),

final as (
    select
        order_id,
        ordered_at,
        cast('{{ var("start_date", "2020-01-01") }}' as date) as reporting_start_date,
        '{{ target.name }}' as target_name,
        '{{ env_var("DBT_RUN_LABEL", "local") }}' as run_label
    from orders
    {% if target.name == "dev" %}
        where ordered_at >= current_date - interval 30 day
    {% endif %}
)

select * from final
