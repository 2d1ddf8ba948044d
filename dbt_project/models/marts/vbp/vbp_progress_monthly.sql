-- One row per VBP agreement × month of its period (through the as-of
-- month): cumulative net winning quantity to the end of the month, the
-- completion so far and the expected progress (序时进度) at the month's end,
-- so a trend can be plotted. Months in which the institution uploaded
-- nothing are marked missing: completion there is not known to be 0.
with agreements as (
    select * from {{ ref('vbp_completion') }}
),

months as (
    select
        a.batch_code, a.group_code, a.fixmedins_code, a.period_start, a.period_end, a.agreed_qty,
        a.designated_med_list_codg,
        {{ month_series("cast(date_trunc('month', a.period_start) as date)",
                        "cast(date_trunc('month', least(a.period_end, " ~ as_of_date() ~ ")) as date)") }} as month
    from agreements as a
    where a.period_start <= {{ as_of_date() }}
),

-- the month's counting quantity (int_vbp_agreement_months), 0 without one
monthly_qty as (
    select
        m.batch_code, m.group_code, m.fixmedins_code, m.period_start, m.month,
        coalesce(q.purchased_qty, 0) as month_qty
    from months as m
    left join {{ ref('int_vbp_agreement_months') }} as q
        using (batch_code, group_code, fixmedins_code, period_start, month)
),

final as (
    select
        m.batch_code,
        m.group_code,
        m.fixmedins_code,
        m.period_start,
        m.month,
        q.month_qty as purchased_qty_month,
        sum(q.month_qty) over cumulative as purchased_qty_cumulative,
        -- as double on both engines (DuckDB divides decimals as doubles, Spark keeps decimals)
        cast(sum(q.month_qty) over cumulative as double) / cast(m.agreed_qty as double) as completion_rate_cumulative,
        greatest(0, {{ days_between('m.period_start',
                 'least(last_day(m.month), m.period_end, ' ~ as_of_date() ~ ')') }} + 1)
            / ({{ days_between('m.period_start', 'm.period_end') }} + 1) as expected_progress,
        coalesce(c.has_uploads, false) as has_uploads,
        case when coalesce(c.has_uploads, false) then 'uploaded' else 'missing' end as data_status
    from months as m
    inner join monthly_qty as q using (batch_code, group_code, fixmedins_code, period_start, month)
    left join {{ ref('int_institution_months') }} as c
        on c.fixmedins_code = m.fixmedins_code and c.month = m.month
    window cumulative as (
        partition by m.batch_code, m.group_code, m.fixmedins_code, m.period_start
        order by m.month rows between unbounded preceding and current row
    )
)

select * from final
