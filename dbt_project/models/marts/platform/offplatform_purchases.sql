{{ config(**month_incremental()) }}
-- Incremental by month (macros/incremental.sql): a nightly build recomputes only the rebuilt months.
-- 网下采购 per institution × month × category group: net amounts bought off
-- the provincial platform, split by whether the product is listed on the
-- platform (挂网). Buying a listed product off the platform is what the
-- plans act against (国办发〔2015〕7号; 威海 plan: crack down on 网下采购);
-- unlisted products bought off the platform may be legitimate (e.g. not yet
-- listed, emergency purchases) and are reported separately.
with lines as (
    select * from {{ ref('purchase_lines') }}
    where not is_gift and not is_after_as_of and category_group is not null and amount is not null
        and {{ in_rebuilt_months('month') }}
)

select
    fixmedins_code,
    month,
    category_group,
    {{ any_of('fixmedins_name') }} as fixmedins_name,
    {{ any_of('ownership') }} as ownership,
    {{ any_of('admdvs') }} as admdvs,
    sum(net_amount) as total_amount,
    sum(net_amount) filter (where not is_platform and platform_listed) as offplatform_listed_amount,
    sum(net_amount) filter (where not is_platform and not platform_listed) as offplatform_unlisted_amount,
    {{ ratio('sum(net_amount) filter (where not is_platform and platform_listed)', 'sum(net_amount)') }} as offplatform_listed_share,
    count(*) filter (where not is_platform and platform_listed) as offplatform_listed_lines,
    count(distinct med_list_codg) filter (where not is_platform and platform_listed) as offplatform_listed_products
from lines
group by fixmedins_code, month, category_group
