-- 价格指数: one row per region level (city / all) × admdvs × category group ×
-- month with purchases. A monthly chained Laspeyres index of minimum-unit
-- prices paid by public institutions (price-eligible lines, as in the price
-- deviation index), base month = 100.
-- Items: for `index_value` the comparable item is the generic group
-- (same generic name and dosage form, prices normalised to the group's
-- representative spec with the 2452号 price ratios, price_spec_normalisation),
-- else the product; for `product_index_value` always the product (national
-- code). An item's price in a month is Σ amount ÷ Σ (equivalent) quantity
-- over the region's lines.
-- Link from month t−1 to t over the items bought in both months:
--   L_t = Σ p_t × q_{t−1} ÷ Σ p_{t−1} × q_{t−1}   (Laspeyres, previous-month quantities)
-- and index_t = 100 × Π L up to t ÷ Π L up to the base month. A month whose
-- previous calendar month has no matched item carries the index forward
-- (link_relative NULL, counted as 1).
-- Base month: dbt var price_index_base_month (e.g. '2025-07-01'); when unset,
-- or when a series has no data that month, the series' latest month on or
-- before it, else its first month (column base_month says which).
-- Method: docs/domain-notes.md §4 (NHSA 试编医药价格指数 2021, method [U]; the
-- recommended chained Laspeyres weighted by the previous period's amounts,
-- with price-ratio normalisation within a generic). Because generic items
-- are unit values, moving volume to cheaper brands (e.g. VBP winners)
-- lowers index_value, while product_index_value shows pure price changes.
{% set base_month = var('price_index_base_month', none) %}

with items as (
    select * from {{ ref('int_price_index_items') }}
),

months as (
    select basis, region_level, admdvs, category_group, month,
           count(*) as items, sum(amount) as amount
    from items
    group by all
),

links as (
    select
        cur.basis, cur.region_level, cur.admdvs, cur.category_group, cur.month,
        sum(cur.price * prev.qty) as current_at_previous_qty,
        sum(prev.amount) as previous_amount_matched,
        count(*) as matched_items
    from items as cur
    inner join items as prev
        on prev.basis = cur.basis and prev.region_level = cur.region_level
        and prev.admdvs is not distinct from cur.admdvs and prev.category_group = cur.category_group
        and prev.item = cur.item and prev.month = cast(cur.month - interval 1 month as date)
    where prev.price > 0 and cur.price > 0
    group by all
),

chained as (
    select
        m.*,
        l.matched_items,
        l.current_at_previous_qty / l.previous_amount_matched as link_relative,
        l.previous_amount_matched / p.amount as matched_share,
        sum(ln(coalesce(l.current_at_previous_qty / l.previous_amount_matched, 1.0))) over (
            partition by m.basis, m.region_level, m.admdvs, m.category_group
            order by m.month rows between unbounded preceding and current row) as log_level
    from months as m
    left join links as l
        on l.basis = m.basis and l.region_level = m.region_level and l.admdvs is not distinct from m.admdvs
        and l.category_group = m.category_group and l.month = m.month
    left join months as p
        on p.basis = m.basis and p.region_level = m.region_level and p.admdvs is not distinct from m.admdvs
        and p.category_group = m.category_group and p.month = cast(m.month - interval 1 month as date)
),

based as (
    select
        *,
        coalesce(
            {% if base_month %}
            max(month) filter (where month <= date '{{ base_month }}') over series,
            {% endif %}
            min(month) over series) as base_month
    from chained
    window series as (partition by basis, region_level, admdvs, category_group)
),

indexed as (
    select
        b.*,
        100 * exp(b.log_level - base.log_level) as index_value
    from based as b
    inner join based as base
        on base.basis = b.basis and base.region_level = b.region_level
        and base.admdvs is not distinct from b.admdvs and base.category_group = b.category_group
        and base.month = b.base_month
),

final as (
    select
        g.region_level,
        g.admdvs,
        g.category_group,
        g.month,
        g.base_month,
        g.index_value,
        g.link_relative,
        g.items,
        coalesce(g.matched_items, 0) as matched_items,
        g.matched_share,
        p.index_value as product_index_value,
        p.link_relative as product_link_relative,
        p.items as product_items,
        coalesce(p.matched_items, 0) as product_matched_items,
        p.matched_share as product_matched_share,
        g.amount
    from indexed as g
    inner join indexed as p
        on p.basis = 'product' and p.region_level = g.region_level and p.admdvs is not distinct from g.admdvs
        and p.category_group = g.category_group and p.month = g.month
    where g.basis = 'generic'
)

select * from final
