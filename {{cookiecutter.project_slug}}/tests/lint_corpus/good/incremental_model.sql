{{ config(materialized="incremental", unique_key="event_id") }}

with events as (
    select * from {{ source("app", "events") }}
),

final as (
    select
        event_id,
        user_id,
        event_type,
        occurred_at
    from events
    {% if is_incremental() %}
        where occurred_at > (select max(occurred_at) from {{ this }})
    {% endif %}
)

select * from final
