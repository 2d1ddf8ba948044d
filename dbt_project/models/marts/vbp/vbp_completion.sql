-- One row per batch × group × institution × agreement period
-- (models/metrics.md, metric_vbp_completion).
-- completion_rate = Σ net qty (min units) of the group's winning products —
-- or only the designated product when designated_med_list_codg is set — received
-- in [period_start, period_end] and by the as-of date ÷ agreed_qty.
-- expected_progress (序时进度) = (min(as_of, period_end) − period_start + 1) ÷
-- (period_end − period_start + 1) days, floored at 0 before the period starts.
-- is_lagging: completion more than vbp_lagging_gap behind expected progress.
-- nonwinning_share = non-winning qty ÷ (non-winning + winning qty); NULL when
-- both are 0. Under a designated brand the group's other winners count as
-- neither (the institution committed to that brand).
-- Gifts are excluded; quantities count even when the price is unknown.
with agreements as (
    select * from {{ ref('stg_lake__vbp_agreed_volumes') }}
),

institutions as (
    select * from {{ ref('stg_lake__institutions') }}
),

-- Months of the period (through the as-of month) in which the institution
-- uploaded nothing at all: its completion there is unknown, not zero.
missing_months as (
    select a.batch_code, a.group_code, a.fixmedins_code, a.period_start,
           count(*) filter (where not m.has_uploads) as months_without_uploads
    from agreements as a
    inner join {{ ref('int_institution_months') }} as m
        on m.fixmedins_code = a.fixmedins_code
        and m.month between cast(date_trunc('month', a.period_start) as date)
                        and least(a.period_end, {{ as_of_date() }})
    group by all
),

-- The agreement's months added up (int_vbp_agreement_months: which lines
-- count, and the non-winning ones).
quantities as (
    select
        a.batch_code,
        a.group_code,
        a.fixmedins_code,
        a.period_start,
        coalesce(sum(m.purchased_qty), 0) as purchased_qty,
        coalesce(sum(m.nonwinning_qty), 0) as nonwinning_qty
    from agreements as a
    left join {{ ref('int_vbp_agreement_months') }} as m
        using (batch_code, group_code, fixmedins_code, period_start)
    group by all
),

final as (
    select
        a.batch_code,
        a.group_code,
        a.fixmedins_code,
        a.period_start,
        a.period_end,
        a.designated_med_list_codg,
        i.fixmedins_name,
        i.ownership,
        i.admdvs,
        i.city_admdvs,
        a.agreed_qty,
        q.purchased_qty,
        {{ ratio('q.purchased_qty', 'a.agreed_qty') }} as completion_rate,
        greatest(0, {{ days_between('a.period_start', 'least(' ~ as_of_date() ~ ', a.period_end)') }} + 1)
            / ({{ days_between('a.period_start', 'a.period_end') }} + 1) as expected_progress,
        q.nonwinning_qty,
        {{ ratio('q.nonwinning_qty', 'q.nonwinning_qty + q.purchased_qty') }} as nonwinning_share,
        -- Shanghai rule (docs/domain-notes.md §3): non-winning volume must not
        -- exceed winning volume.
        q.nonwinning_qty > q.purchased_qty as is_nonwinning_over_winning,
        coalesce(mm.months_without_uploads, 0) as months_without_uploads
    from agreements as a
    inner join quantities as q using (batch_code, group_code, fixmedins_code, period_start)
    left join institutions as i on i.fixmedins_code = a.fixmedins_code
    left join missing_months as mm using (batch_code, group_code, fixmedins_code, period_start)
)

select
    *,
    completion_rate < expected_progress - {{ var('vbp_lagging_gap') }} as is_lagging,
    case
        when {{ as_of_date() }} < period_start then 'not_started'
        when months_without_uploads > 0 then 'incomplete_uploads'
        else 'complete'
    end as data_status
from final
