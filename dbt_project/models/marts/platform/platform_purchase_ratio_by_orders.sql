-- 网采率 with the platform's own orders as the numerator, side by side with
-- the contract's ratio (platform_purchase_ratio, unchanged): one row per
-- institution × month × category group within the months the pulled
-- platform data cover (first platform order month to the as-of month);
-- empty when nothing was pulled.
--   ratio            contract: Σ net amount of receipt lines with a
--                    platform_order_no ÷ Σ net amount (metric_platform_purchase_ratio);
--   ratio_by_orders  Σ amount of the platform's order lines placed in the
--                    month (purquantity × purprice; month of the order time,
--                    docs/domain-notes.md §7.2) ÷ the same denominator;
--   ratio_selected   the one named by dbt var platform_ratio_numerator
--                    (receipts = contract, the default; orders).
-- The two differ when institutions claim order numbers the platform does not
-- have (platform_unmatched_receipts), when orders are not received or not
-- delivered, or across month ends (ordered in one month, received the next).
with coverage as (
    select cast(date_trunc('month', min(order_time)) as date) as first_month
    from {{ ref('stg_lake__platform_orders') }}
),

orders as (
    select
        o.fixmedins_code,
        cast(date_trunc('month', o.order_time) as date) as month,
        p.category_group,
        sum(o.order_qty * o.order_price) as platform_order_amount,
        count(*) as platform_order_lines
    from {{ ref('stg_lake__platform_orders') }} as o
    join {{ ref('stg_lake__products') }} as p using (med_list_codg)
    where cast(o.order_time as date) <= {{ as_of_date() }} and p.category_group is not null
    group by all
),

contract as (
    select r.*
    from {{ ref('platform_purchase_ratio') }} as r
    cross join coverage
    where r.month >= coverage.first_month
        and r.month <= cast(date_trunc('month', {{ as_of_date() }}) as date)
),

institutions as (
    select * from {{ ref('stg_lake__institutions') }}
),

joined as (
    select
        coalesce(c.fixmedins_code, o.fixmedins_code) as fixmedins_code,
        coalesce(c.month, o.month) as month,
        coalesce(c.category_group, o.category_group) as category_group,
        c.total_amount,
        c.platform_amount,
        c.ratio,
        coalesce(o.platform_order_amount, 0) as platform_order_amount,
        coalesce(o.platform_order_lines, 0) as platform_order_lines
    from contract as c
    full outer join orders as o using (fixmedins_code, month, category_group)
)

select
    j.fixmedins_code,
    j.month,
    j.category_group,
    i.ownership,
    i.admdvs,
    i.city_admdvs,
    j.total_amount,
    j.platform_amount,
    j.ratio,
    j.platform_order_amount,
    j.platform_order_lines,
    {{ ratio('j.platform_order_amount', 'j.total_amount') }} as ratio_by_orders,
    {{ ratio('j.platform_order_amount', 'j.total_amount') }} - j.ratio as ratio_difference,
    '{{ var("platform_ratio_numerator") }}' as numerator_basis,
    {% if var('platform_ratio_numerator') == 'orders' -%}
    {{ ratio('j.platform_order_amount', 'j.total_amount') }}
    {%- else -%}
    j.ratio
    {%- endif %} as ratio_selected
from joined as j
left join institutions as i using (fixmedins_code)
