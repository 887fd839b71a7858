{#-
    Microbatch on Postgres as on DuckDB: each batch deletes the target's rows of its event_time window and
    inserts the batch's rows, so a batch rebuilt after its raw rows changed keeps no stale group (a
    (day, channel) with no orders left). dbt-postgres's own microbatch merges on a `unique_key` instead,
    which keeps such groups, and dbt-duckdb refuses a `unique_key` on microbatch: one model config for
    both needs this. Both statements run in the model's transaction.
-#}
{% macro postgres__get_incremental_microbatch_sql(arg_dict) -%}
    {%- set event_time = config.get('event_time') -%}
    {%- set batch = model.get('batch') or {} -%}
    {% if not (event_time and batch.get('event_time_start') and batch.get('event_time_end')) -%}
        {{ exceptions.raise_compiler_error(
            "microbatch needs an event_time config and a batch window; " ~ model.name ~ " has neither"
        ) }}
    {%- endif -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    {%- set window = [
        event_time ~ " >= '" ~ batch.event_time_start ~ "'",
        event_time ~ " < '" ~ batch.event_time_end ~ "'",
    ] + (arg_dict.get('incremental_predicates') or []) -%}
    delete from {{ arg_dict['target_relation'] }}
    where {{ window | join(' and ') }};

    insert into {{ arg_dict['target_relation'] }} ({{ columns }})
    select {{ columns }} from {{ arg_dict['temp_relation'] }}
{%- endmacro %}
