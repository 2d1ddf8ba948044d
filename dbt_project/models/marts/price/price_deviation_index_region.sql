-- One row per region level (county / city / all) × admdvs × month × category
-- group: the price deviation index of public institutions (data-contract.md
-- §2-3: region roll-ups cover ownership = public only). Same formula and
-- the same lines as price_deviation_index, whose institution rows it sums:
--   actual_amount    = Σ upp × qty over eligible lines with a reference,
--   reference_amount = Σ r × qty (r: winning, else listed, else peer median),
--   pdi = actual ÷ reference: 1.00 = paid the references; higher = paid
--         more (1.10 = 10 % above them); lower = paid less,
--   coverage = actual_amount ÷ Σ amount of all eligible lines (0 when no
--         line had a reference).
-- admdvs: the county code at level county, the city code (XXXX00) at city,
-- NULL at all.
with institution_rows as (
    select *, left(admdvs, 4) || '00' as city_admdvs
    from {{ ref('price_deviation_index') }}
    where ownership = 'public'
),

by_region as (
    select 'county' as region_level, admdvs, month, category_group,
           sum(actual_amount) as actual_amount, sum(reference_amount) as reference_amount,
           sum(eligible_amount) as eligible_amount, count(*) as institution_count, sum(line_count) as line_count
    from institution_rows group by all
    union all
    select 'city', city_admdvs, month, category_group,
           sum(actual_amount), sum(reference_amount), sum(eligible_amount), count(*), sum(line_count)
    from institution_rows group by all
    union all
    select 'all' as region_level, null as admdvs, month, category_group,
           sum(actual_amount), sum(reference_amount), sum(eligible_amount), count(*), sum(line_count)
    from institution_rows group by all
),

final as (
    select
        region_level,
        admdvs,
        month,
        category_group,
        actual_amount,
        reference_amount,
        {{ ratio('actual_amount', 'reference_amount') }} as pdi,
        coalesce({{ ratio('actual_amount', 'eligible_amount') }},
                 case when actual_amount is null then 0 end) as coverage,
        eligible_amount,
        institution_count,
        line_count
    from by_region
)

select * from final
