-- Every price-eligible purchase line (purchase_lines.is_price_eligible) of a
-- product under a payment standard on its receipt day, with the standard per
-- minimum unit (issue 16 part 4; docs/money-and-enforcement.md). A product
-- is under a standard when its generic name (and dosage form, when the
-- standard names one) matches a standard in force on the day for the
-- institution's city, or for its province (the city's own standard wins).
-- Standard per minimum unit:
--   the delivered payment_standard when it is set (standard_source 'feed');
--   else the VBP default (医保支付标准与集中采购价格协同): the product's own
--   winning price on the day when it won ('winning_price'), else the
--   highest winning price per minimum unit of a VBP group of the product
--   with a cycle covering the day ('group_winning_price'): a line above it
--   is above every winner. No standard → the line is left out.
with standards as (
    select * from {{ ref('stg_lake__payment_standards') }}
),

lines as (
    select * from {{ ref('purchase_lines') }}
    where is_price_eligible
      and generic_name in (select generic_name from standards)
      -- only the months an incremental build recomputes: its readers are
      -- month-incremental, and this working table is not published, so it
      -- holds no history to keep (macros/incremental.sql)
      and {{ in_rebuilt_months('month', always=true) }}
),

group_winners as (
    select gp.med_list_codg, r.cycle_start, r.cycle_end, r.winning_price / p.convrat as group_winning_unit_price
    from {{ ref('int_vbp_group_products') }} as gp
    inner join {{ ref('stg_lake__vbp_results') }} as r using (batch_code, group_code)
    inner join {{ ref('stg_lake__products') }} as p on p.med_list_codg = r.med_list_codg
),

matched as (
    select
        l.*,
        s.standard_group,
        s.scope_admdvs,
        s.payment_standard,
        s.valid_from as standard_valid_from
    from lines as l
    inner join standards as s
        on trim(s.generic_name) = trim(l.generic_name)
        and (s.dosage_form is null or trim(s.dosage_form) = trim(l.dosage_form))
        and s.valid_from <= l.receipt_date
        and l.receipt_date < coalesce(s.valid_to, date '9999-12-31')
        and (s.scope_admdvs = l.city_admdvs or (s.is_province_wide and left(s.scope_admdvs, 2) = left(l.city_admdvs, 2)))
    -- the city's own standard over the province's; then the latest version
    qualify row_number() over (partition by l.fixmedins_code, l.fixmedins_bchno
                               order by s.is_province_wide, s.valid_from desc) = 1
),

-- the highest group winner on each day, in spans that never overlap
group_price as (
    select * from {{ cycle_day_spans('group_winners', 'group_winning_unit_price', 'max') }} as spans
),

priced as (
    select
        m.*,
        case
            when m.payment_standard is not null then 'feed'
            when m.winning_unit_price is not null then 'winning_price'
            when gp.group_winning_unit_price is not null then 'group_winning_price'
        end as standard_source,
        coalesce(m.payment_standard, m.winning_unit_price, gp.group_winning_unit_price) as standard_unit_price
    -- A line matches at most one span (they never overlap), and the group's
    -- price is used only when the feed sets no standard, so the join does
    -- not test m.payment_standard: a condition on the left side alone made
    -- DuckDB join every line to every span in a nested loop (issue 18: this
    -- model took 47 s of the 20 M full rebuild, the loop 74 s of CPU).
    from matched as m
    left join group_price as gp
        on gp.med_list_codg = m.med_list_codg
        and gp.valid_from <= m.receipt_date
        and m.receipt_date < gp.valid_to
)

select
    fixmedins_code,
    fixmedins_bchno,
    fixmedins_name,
    ownership,
    admdvs,
    city_admdvs,
    month,
    receipt_date,
    med_list_codg,
    generic_name,
    dosage_form,
    standard_group,
    scope_admdvs,
    standard_source,
    standard_unit_price,
    unit_price,
    qty_min_units,
    amount,
    winning_unit_price is not null as is_vbp_winning,
    winning_unit_price
from priced
where standard_unit_price is not null
