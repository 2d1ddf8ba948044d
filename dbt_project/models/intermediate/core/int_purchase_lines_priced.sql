{{ config(materialized='view') }}
-- A view, not a table: its one reader (purchase_lines) reads it once, and
-- writing every line's 37 columns to a table first costs more than the
-- joins it saves (province scale: tens of millions of lines).
-- One row per purchase line with its product, institution, quantities in
-- minimum units and the listed and winning reference prices of its day.
-- Rules (models/metrics.md, metric_common_rules):
--   qty (min units) = packs × convrat; amount = price per pack × packs;
--   a line without finl_trns_pric is priced from the listed price valid that
--   day (valid_from ≤ day < valid_to) and flagged, and left out of price
--   indicators; without a listed price either, its amount is unknown (NULL)
--   and it counts in no amount, only in quantities.
with lines as (
    -- only the months an incremental build recomputes (its reader is month-incremental);
    -- their span on the stored receipt time lets DuckDB skip the lake's other months
    select * from {{ ref('stg_lake__purchases') }}
    where {{ in_rebuilt_months('month', always=true) }}
        and {{ in_rebuilt_months_span('receipt_time', always=true) }}
),

products as (
    select * from {{ ref('stg_lake__products') }}
),

institutions as (
    select * from {{ ref('stg_lake__institutions') }}
),

listed as (
    select * from {{ ref('stg_lake__listed_prices') }}
),

winning as (
    -- the lowest winning price of the cycles covering a day, in spans that never overlap
    select * from {{ ref('int_vbp_winning_price_spans') }}
),

with_prices as (
    select
        lines.*,
        listed.listed_price,
        winning.winning_price
    from lines
    left join listed
        on listed.med_list_codg = lines.med_list_codg
        and listed.valid_from <= lines.receipt_date
        -- written without OR so DuckDB hash-joins on the code (an OR in a
        -- join condition makes it a nested loop: lines × listed prices)
        and lines.receipt_date < coalesce(listed.valid_to, date '9999-12-31')
    left join winning
        on winning.med_list_codg = lines.med_list_codg
        and winning.valid_from <= lines.receipt_date
        and lines.receipt_date < winning.valid_to
),

final as (
    select
        l.fixmedins_code,
        l.fixmedins_bchno,
        l.infno,
        l.is_return,
        l.sign,
        l.med_list_codg,
        p.category,
        p.category_group,
        p.platform_listed,
        p.generic_name,
        p.dosage_form,
        p.convrat,
        p.min_unit,
        i.fixmedins_name,
        i.ownership,
        i.admdvs,
        i.city_admdvs,
        l.receipt_time,
        l.receipt_date,
        l.month,
        l.receipt_date > {{ as_of_date() }} as is_after_as_of,
        l.is_gift,
        l.is_platform,
        l.platform_order_no,
        l.medins_prod_purc_no,
        l.purc_retn_cnt,
        cast(l.purc_retn_cnt * p.convrat as decimal(18, 6)) as qty_min_units,
        l.finl_trns_pric,
        l.finl_trns_pric is null and l.listed_price is not null as price_imputed,
        coalesce(l.finl_trns_pric, l.listed_price) as price_per_pack,
        {{ line_amount('coalesce(l.finl_trns_pric, l.listed_price)', 'l.purc_retn_cnt') }} as amount,
        l.listed_price,
        l.winning_price,
        l.source_file,
        l.source_row_number
    from with_prices as l
    inner join products as p on p.med_list_codg = l.med_list_codg
    inner join institutions as i on i.fixmedins_code = l.fixmedins_code
)

select * from final
