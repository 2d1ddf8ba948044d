-- A working table, not published: an incremental build computes it for the
-- rebuilt months and the month either side of them, all its readers need
-- (they are month-incremental; the price-rise detectors compare a month with
-- the one before it). Kept in the publication as a month-incremental table
-- it was a fifth of the file (1.1 GB at 20 M lines), copied and hashed every
-- night (issue 18; macros/incremental.sql).
-- One row per institution × product × month over the price-eligible lines
-- of price_deviation_index (3503, no gift, price delivered, by the as-of
-- date; category group set, so no 中药饮片): the same lines and the same
-- minimum-unit quantities as the index, summed once for benchmarks,
-- savings, the price index and the price-change detectors.
-- unit_price = Σ amount ÷ Σ qty (the institution's quantity-weighted mean
-- upp, as for the contract's peer median); for products normalised to
-- their group's representative spec (price_spec_normalisation),
-- equivalent_qty = qty × unit_price_ratio and normalised_unit_price =
-- amount ÷ equivalent_qty.
with lines as (
    select * from {{ ref('purchase_lines') }}
    where is_price_eligible and category_group is not null
        and {{ in_rebuilt_months('month', always=true, preceding=1, following=1) }}
),

specs as (
    select med_list_codg, generic_group, unit_price_ratio
    from {{ ref('price_spec_normalisation') }}
    where generic_group is not null
),

-- The institution's and product's attributes are joined to the sums rather
-- than carried through the grouping as seven any_value() texts: purchase_lines
-- took them from these same staging rows (int_purchase_lines_priced), and at
-- province scale the groups are nearly as many as the lines.
institutions as (
    select fixmedins_code, fixmedins_name, ownership, admdvs, city_admdvs
    from {{ ref('stg_lake__institutions') }}
),

products as (
    select med_list_codg, category_group, generic_name, min_unit
    from {{ ref('stg_lake__products') }}
),

summed as (
    select
        fixmedins_code,
        med_list_codg,
        month,
        sum(qty_min_units) as qty,
        sum(amount) as amount,
        sum(purc_retn_cnt) as packs,
        -- lines with a listed price that day: paid vs listed, and 超挂网价
        sum(amount) filter (where listed_price is not null) as listed_paid_amount,
        sum({{ line_amount('listed_price', 'purc_retn_cnt') }}) as listed_amount,
        sum(qty_min_units) filter (where listed_price is not null) as listed_qty,
        sum({{ line_amount('greatest(0, finl_trns_pric - listed_price)', 'purc_retn_cnt') }}) as above_listed_amount,
        sum(amount) filter (where reference_amount is not null) as actual_amount,
        sum(reference_amount) as reference_amount,
        count(*) as line_count
    from lines
    group by fixmedins_code, med_list_codg, month
),

final as (
    select
        s.fixmedins_code,
        s.med_list_codg,
        s.month,
        i.fixmedins_name,
        i.ownership,
        i.admdvs,
        i.city_admdvs,
        p.category_group,
        p.generic_name,
        p.min_unit,
        {{ star_except(['fixmedins_code', 'med_list_codg', 'month'], alias='s') }},
        cast(s.amount as double) / cast(s.qty as double) as unit_price,
        specs.generic_group,
        specs.unit_price_ratio,
        cast(s.qty as double) * specs.unit_price_ratio as equivalent_qty,
        cast(s.amount as double) / (cast(s.qty as double) * specs.unit_price_ratio) as normalised_unit_price
    from summed as s
    inner join institutions as i on i.fixmedins_code = s.fixmedins_code
    inner join products as p on p.med_list_codg = s.med_list_codg
    left join specs on specs.med_list_codg = s.med_list_codg
)

select * from final
