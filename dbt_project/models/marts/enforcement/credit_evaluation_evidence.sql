-- 医药价格和招采信用评价 evidence (issue 16 part 5; docs/money-and-enforcement.md):
-- one row per party × evidence type with what yaocai can see, and a
-- proposed national level (一般 / 中等 / 严重 / 特别严重) from
-- seeds/credit_evaluation_levels.csv: the highest level whose min_amount and
-- min_occurrences the evidence reaches (rows in force at the as-of date).
-- The grade is a proposal; the officer decides (review_status, as for
-- anomalies: decisions recorded against evidence_id in anomaly_reviews).
-- Evidence:
--   supply_shortfall (断供, supplier): months whose quantity fill rate
--     (platform_supplier_fill_rate) is below credit_fill_rate_min; amount =
--     ordered − delivered amount at the order price;
--   price_above_listed (manufacturer of the product), payment_overdue,
--     offplatform_listed, vbp_nonwinning_substitution (institution): the
--     anomalies of that type not dismissed; amount = Σ excess_amount.
-- occurrences = distinct months (agreements for vbp_nonwinning_substitution).
-- Amounts are summed as decimals, so the figure does not depend on the order
-- rows are added in (a full rebuild and an incremental night agree).
with fill as (
    select * from {{ ref('platform_supplier_fill_rate') }}
    where fill_rate < {{ settlement_rule('credit_fill_rate_min') }}
),

findings as (
    select * from {{ ref('anomalies') }}
    where anomaly_type in ('price_above_listed', 'payment_overdue', 'offplatform_listed', 'vbp_nonwinning_substitution')
      and review_status <> 'dismissed'
),

products as (
    select med_list_codg, manufacturer from {{ ref('stg_lake__products') }}
),

institutions as (
    select fixmedins_code, fixmedins_name from {{ ref('stg_lake__institutions') }}
),

items as (
    select
        'supply_shortfall' as evidence_type,
        'supplier' as party_type,
        supplier_name as party_code,
        supplier_name as party_name,
        month,
        cast(month as string) as occurrence,
        cast(coalesce(ordered_amount, 0) - coalesce(delivered_amount, 0) as decimal(18, 4)) as amount,
        fill_rate as metric_value,
        cast(null as string) as anomaly_id
    from fill
    union all
    select
        'price_above_listed', 'manufacturer', coalesce(p.manufacturer, '(未知生产企业)'), p.manufacturer,
        f.month, cast(f.month as string), cast(coalesce(f.excess_amount, 0) as decimal(18, 4)), f.metric_value, f.anomaly_id
    from findings as f
    left join products as p using (med_list_codg)
    where f.anomaly_type = 'price_above_listed'
    union all
    select
        f.anomaly_type, 'institution', f.fixmedins_code, i.fixmedins_name,
        f.month,
        case when f.anomaly_type = 'vbp_nonwinning_substitution'
             then concat_ws('|', f.batch_code, f.group_code, cast(f.period_start as string))
             else cast(f.month as string) end,
        cast(coalesce(f.excess_amount, 0) as decimal(18, 4)), f.metric_value, f.anomaly_id
    from findings as f
    left join institutions as i using (fixmedins_code)
    where f.anomaly_type in ('payment_overdue', 'offplatform_listed', 'vbp_nonwinning_substitution')
),

evidence as (
    select
        'CE-' || upper(left(md5(concat_ws('|', evidence_type, party_type, party_code)), 16)) as evidence_id,
        evidence_type,
        party_type,
        party_code,
        {{ any_of('party_name') }} as party_name,
        count(distinct occurrence) as occurrences,
        {{ sorted_string_agg(year_month_text('month'), "','", distinct=true) }} as months,
        min(month) as first_month,
        max(month) as last_month,
        count(*) as items,
        sum(amount) as amount,
        min(metric_value) as worst_fill_rate_or_min_metric,
        {{ sorted_string_agg('anomaly_id', "','") }} as anomaly_ids
    from items
    group by evidence_type, party_type, party_code
),

levels as (
    select * from {{ ref('credit_evaluation_levels') }}
    where {{ in_force_at_as_of() }}
),

graded as (
    select
        e.*,
        max(l.level_rank) as proposed_level_rank
    from evidence as e
    left join levels as l
        on l.evidence_type = e.evidence_type and e.amount >= l.min_amount and e.occurrences >= l.min_occurrences
    group by all
),

latest_reviews as (
    select * from {{ ref('stg_lake__anomaly_reviews') }}
    qualify row_number() over (partition by anomaly_id order by review_no desc) = 1
)

select
    g.evidence_id,
    g.evidence_type,
    g.party_type,
    g.party_code,
    g.party_name,
    g.occurrences,
    g.months,
    g.first_month,
    g.last_month,
    g.items,
    cast(g.amount as decimal(18, 2)) as amount,
    case when g.evidence_type = 'supply_shortfall' then g.worst_fill_rate_or_min_metric end as worst_fill_rate,
    g.anomaly_ids,
    g.proposed_level_rank,
    l.level as proposed_level,
    coalesce(r.review_status, 'open') as review_status,
    r.review_reason,
    r.reviewed_by,
    r.reviewed_at,
    case g.evidence_type
        when 'supply_shortfall' then {% call format_text('{}在{}个月（{}）配送率低于{:.0f}%（最低{:.1f}%），未配送金额{:.2f}元（断供）。') %}
            g.party_name, g.occurrences, g.months, 100 * {{ settlement_rule('credit_fill_rate_min') }},
            100 * g.worst_fill_rate_or_min_metric, g.amount{% endcall %}
        when 'price_above_listed' then {% call format_text('{}的产品在{}个月（{}）被以高于挂网价采购，超出金额{:.2f}元（{}条发现）。') %}
            g.party_code, g.occurrences, g.months, g.amount, g.items{% endcall %}
        when 'payment_overdue' then {% call format_text('{}（{}）在{}个月（{}）逾期回款{}笔，涉及金额{:.2f}元。') %}
            coalesce(g.party_name, g.party_code), g.party_code, g.occurrences, g.months, g.items, g.amount{% endcall %}
        when 'offplatform_listed' then {% call format_text('{}（{}）在{}个月（{}）网下采购挂网产品，{}条发现。') %}
            coalesce(g.party_name, g.party_code), g.party_code, g.occurrences, g.months, g.items{% endcall %}
        else {% call format_text('{}（{}）在{}个集采协议中以非中选产品替代中选产品。') %}
            coalesce(g.party_name, g.party_code), g.party_code, g.occurrences{% endcall %}
    end as detail
from graded as g
left join levels as l on l.evidence_type = g.evidence_type and l.level_rank = g.proposed_level_rank
left join latest_reviews as r on r.anomaly_id = g.evidence_id
