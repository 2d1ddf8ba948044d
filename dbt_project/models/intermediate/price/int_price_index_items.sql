{{ config(schema='incremental', **month_incremental()) }}
-- Incremental by month (macros/incremental.sql): a nightly build recomputes only the rebuilt months.
-- Item prices for the price index (marts/price/price_index.sql), one row per
-- basis × region level × admdvs × category group × month × item, over public
-- institutions' price-eligible lines (int_price_institution_months):
--   basis `generic`: the item is the generic group (prices normalised to the
--     group's representative spec, equivalent quantities), else the product;
--   basis `product`: the item is always the product (national code);
--   price = Σ amount ÷ Σ (equivalent) quantity over the region's lines.
-- Month-local, so an incremental build recomputes only the rebuilt months
-- and the chained index reads these rows instead of history's
-- institution × product × month prices.
with institution_months as (
    select * from {{ ref('int_price_institution_months') }}
    where ownership = 'public' and {{ in_rebuilt_months('month') }}
),

with_items as (
    select
        *,
        case when generic_group is not null then 'G:' || generic_group else 'P:' || med_list_codg end as generic_item,
        coalesce(equivalent_qty, cast(qty as double)) as generic_item_qty
    from institution_months
),

item_lines as (
    select 'generic' as basis, city_admdvs, category_group, month, generic_item as item,
           cast(amount as double) as amount, generic_item_qty as qty
    from with_items
    union all
    select 'product', city_admdvs, category_group, month, 'P:' || med_list_codg,
           cast(amount as double), cast(qty as double)
    from with_items
),

regional as (
    select basis, 'city' as region_level, city_admdvs as admdvs, category_group, month, item, amount, qty
    from item_lines
    union all
    select basis, 'all' as region_level, null as admdvs, category_group, month, item, amount, qty
    from item_lines
),

items as (
    select basis, region_level, admdvs, category_group, month, item,
           sum(amount) as amount, sum(qty) as qty, sum(amount) / sum(qty) as price
    from regional
    group by all
    having sum(qty) > 0
)

select * from items
