with source as (
    select * from {{ source("app", "orders") }}
),

renamed as (
    select * from source
)

select * from renamed
