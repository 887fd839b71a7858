{#-
    Generic data test: `expression` holds on every row of the model (optionally only on the rows
    matching `where` in the test's config). Returns the rows where it does not hold.
-#}
{% test expression_is_true(model, expression) %}

with

final as (
    select *
    from {{ model }}
    where not ({{ expression }})
)

select * from final

{% endtest %}
