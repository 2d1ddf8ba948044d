-- Findings: within an agreement period, the institution bought more of the
-- group's non-winning products (same generic name and dosage form) than of
-- the winning ones. Shanghai's rule (docs/domain-notes.md §3): non-winning volume,
-- after unit conversion, must not exceed winning volume.
select
    'vbp_nonwinning_substitution' as anomaly_type,
    fixmedins_code,
    batch_code,
    group_code,
    period_start,
    cast(date_trunc('month', {{ as_of_date() }}) as date) as month,
    nonwinning_share as metric_value,
    0.5 as reference_value,
    'winning_volume' as reference_type,
    nonwinning_share - 0.5 as gap,
    case when nonwinning_share >= 0.8 then 'high' when nonwinning_share >= 0.65 then 'medium' else 'low' end as severity,
    {% call format_text('{}（{}）集采批次{}品种{}协议期{}至{}：非中选产品采购量{:.0f}，超过中选产品采购量{:.0f}（非中选占比{:.1f}%）。请说明以非中选产品替代中选产品的原因。') %}
        fixmedins_name, fixmedins_code, batch_code, group_code, period_start, period_end,
        nonwinning_qty, purchased_qty, 100 * nonwinning_share{% endcall %} as detail
from {{ ref('vbp_completion') }}
where is_nonwinning_over_winning and ownership = 'public'
