-- Findings: an institution bought products that ARE listed on the
-- provincial platform off the platform (网下采购挂网产品), for institution ×
-- month × group with at least anomaly_offplatform_listed_min_amount yuan and
-- anomaly_offplatform_listed_min_share of the month's amount: a routine 1-2 %
-- (emergency top-ups) is not worth an enquiry letter.
with offplatform as (
    select * from {{ ref('offplatform_purchases') }}
    where offplatform_listed_amount >= {{ threshold('anomaly_offplatform_listed_min_amount') }}
      and offplatform_listed_share >= {{ threshold('anomaly_offplatform_listed_min_share') }}
)

select
    'offplatform_listed' as anomaly_type,
    fixmedins_code,
    month,
    category_group,
    offplatform_listed_share as metric_value,
    cast(0 as double) as reference_value,
    'platform_listed' as reference_type,
    offplatform_listed_share as gap,
    offplatform_listed_amount as excess_amount,
    {% call format_text('{}（{}）{}年{}月在省级平台外采购已挂网{}{}个品规，金额{:.2f}元，占当月该类采购金额的{:.1f}%。请说明已挂网产品未通过省级平台采购的原因。') %}
        fixmedins_name, fixmedins_code, year(month), month(month),
        case category_group when 'drug' then '药品' when 'hvc' then '高值医用耗材' when 'lvc' then '低值医用耗材' else '检验试剂' end,
        offplatform_listed_products, offplatform_listed_amount, 100 * offplatform_listed_share{% endcall %} as detail
from offplatform
