-- Findings: VBP agreements of public institutions whose completion is more
-- than vbp_lagging_gap behind expected progress (序时进度) at the as-of date.
-- The finding's month is the as-of month; its identity includes the
-- agreement (batch, group, period), not the month, so it keeps one id for
-- the whole period.
select
    'vbp_lagging' as anomaly_type,
    fixmedins_code,
    designated_med_list_codg as med_list_codg,
    cast(date_trunc('month', {{ as_of_date() }}) as date) as month,
    batch_code,
    group_code,
    period_start,
    completion_rate as metric_value,
    expected_progress as reference_value,
    'expected_progress' as reference_type,
    expected_progress - completion_rate as gap,
    {% call format_text('{}（{}）集采批次{}品种{}协议期{}至{}：约定采购量{:.0f}，截至{}已采购{:.0f}，完成率{:.1f}%，低于序时进度{:.1f}%。请说明约定采购量完成滞后的原因及整改措施。') %}
        fixmedins_name, fixmedins_code, batch_code, group_code, period_start, period_end,
        agreed_qty, {{ as_of_date() }}, purchased_qty, 100 * completion_rate, 100 * expected_progress{% endcall %} as detail
from {{ ref('vbp_completion') }}
where is_lagging and ownership = 'public'
