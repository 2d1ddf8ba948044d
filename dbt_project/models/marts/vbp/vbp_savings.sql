-- VBP savings per agreement (batch × group × institution × period):
-- Σ net winning quantity × (pre-cycle unit price − winning unit price).
-- Pre-cycle unit price: the institution's own quantity-weighted average unit
-- price for the group's products (winning and non-winning, same generic and
-- dosage form) in the 6 months before the cycle started; an institution
-- with no pre-cycle purchases uses its city's public institutions' average,
-- else all public institutions' average. baseline_source says which.
-- Quantities are those that count toward completion (same lines).
with agreements as (
    select * from {{ ref('vbp_completion') }}
),

cycles as (
    select batch_code, group_code, min(cycle_start) as cycle_start
    from {{ ref('stg_lake__vbp_results') }}
    group by all
),

group_products as (
    select * from {{ ref('int_vbp_group_products') }}
),

pre_cycle_lines as (
    select c.batch_code, c.group_code, l.fixmedins_code, l.city_admdvs, l.ownership, l.amount, l.qty_min_units
    from cycles as c
    inner join group_products as gp using (batch_code, group_code)
    inner join {{ ref('purchase_lines') }} as l
        on l.med_list_codg = gp.med_list_codg
        and l.receipt_date >= c.cycle_start - interval {{ var('vbp_savings_baseline_months') }} month
        and l.receipt_date < c.cycle_start
    where l.is_price_eligible
),

own_baseline as (
    select batch_code, group_code, fixmedins_code,
           cast(sum(amount) as double) / cast(sum(qty_min_units) as double) as unit_price
    from pre_cycle_lines group by all
),

city_baseline as (
    select batch_code, group_code, city_admdvs,
           cast(sum(amount) as double) / cast(sum(qty_min_units) as double) as unit_price
    from pre_cycle_lines where ownership = 'public' group by all
),

all_baseline as (
    select batch_code, group_code,
           cast(sum(amount) as double) / cast(sum(qty_min_units) as double) as unit_price
    from pre_cycle_lines where ownership = 'public' group by all
),

-- The agreement's months with lines that count (int_vbp_agreement_months):
-- each line's amount was rounded to 0.0001 yuan first, so the sum is exact
-- decimal arithmetic and does not depend on the order lines are added in (a
-- double sum can tip the cent-rounded savings either way).
winning_lines as (
    select
        batch_code, group_code, fixmedins_code, period_start,
        sum(purchased_qty) as winning_qty,
        sum(purchased_amount) as winning_amount
    from {{ ref('int_vbp_agreement_months') }}
    where counting_lines > 0
    group by all
),

final as (
    select
        a.batch_code,
        a.group_code,
        a.fixmedins_code,
        a.period_start,
        a.ownership,
        a.admdvs,
        a.city_admdvs,
        c.cycle_start,
        coalesce(w.winning_qty, 0) as winning_qty,
        coalesce(o.unit_price, cb.unit_price, ab.unit_price) as baseline_unit_price,
        case
            when o.unit_price is not null then 'own'
            when cb.unit_price is not null then 'city'
            when ab.unit_price is not null then 'all'
        end as baseline_source,
        cast(w.winning_amount as double) / cast(nullif(w.winning_qty, 0) as double) as winning_unit_price,
        cast(coalesce(w.winning_qty, 0) * coalesce(o.unit_price, cb.unit_price, ab.unit_price)
             - coalesce(w.winning_amount, 0) as decimal(18, 2)) as savings_amount
    from agreements as a
    left join cycles as c using (batch_code, group_code)
    left join winning_lines as w using (batch_code, group_code, fixmedins_code, period_start)
    left join own_baseline as o using (batch_code, group_code, fixmedins_code)
    left join city_baseline as cb on cb.batch_code = a.batch_code and cb.group_code = a.group_code and cb.city_admdvs = a.city_admdvs
    left join all_baseline as ab on ab.batch_code = a.batch_code and ab.group_code = a.group_code
)

select * from final
