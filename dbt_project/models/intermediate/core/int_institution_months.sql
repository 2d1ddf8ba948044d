{{ config(schema='incremental', pre_hook="{{ keep_previous_version() }}", post_hook="{{ drop_previous_version() }}") }}  -- kept in the publication: the next incremental build reads its months back
-- One row per institution × month from the first month with data to the
-- as-of month, saying whether the institution uploaded any purchase line
-- that month. Zero is not missing (docs/conventions.md: OpenPrescribing): an
-- institution with no upload in a month is a completeness problem, never a
-- 0 % or 100 % ratio. Institutions count from the first month they ever
-- uploaded, so a hospital that joined later is not "missing" before.
-- Incremental builds (macros/incremental.sql): upload counts of the months
-- not rebuilt are read back from the previous version of this table.
{% set reuse_previous = previous_version_usable() %}
with lines as (
    select fixmedins_code, month
    from {{ ref('purchase_lines') }}
    where not is_after_as_of
        {% if reuse_previous %}and {{ rebuilt_months_predicate('month') }}{% endif %}
),

uploads as (
    select fixmedins_code, month, count(*) as line_count
    from lines
    group by fixmedins_code, month
    {% if reuse_previous %}
    union all
    select fixmedins_code, month, line_count
    from {{ previous_version() }}
    where has_uploads and not {{ rebuilt_months_predicate('month') }}
    {% endif %}
),

bounds as (
    select min(month) as first_month, cast(date_trunc('month', {{ as_of_date() }}) as date) as last_month
    from uploads
),

months as (
    select {{ month_series('first_month', 'last_month') }} as month
    from bounds
),

first_upload as (
    select fixmedins_code, min(month) as first_month
    from uploads
    group by fixmedins_code
),

institutions as (
    select * from {{ ref('stg_lake__institutions') }}
),

final as (
    select
        i.fixmedins_code,
        m.month,
        i.fixmedins_name,
        i.ownership,
        i.hosp_lv,
        i.admdvs,
        i.city_admdvs,
        coalesce(u.line_count, 0) as line_count,
        u.line_count is not null as has_uploads
    from institutions as i
    inner join first_upload as f on f.fixmedins_code = i.fixmedins_code
    inner join months as m on m.month >= f.first_month
    left join uploads as u on u.fixmedins_code = i.fixmedins_code and u.month = m.month
)

select * from final
