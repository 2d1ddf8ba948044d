-- 三流合一 order flow: the institution's receipt lines (3503 purchases and
-- 3504 returns, not gifts, received by the as-of date) that name a platform
-- order number the platform does not have for them. Such lines count as
-- platform purchases in the contract's 网采率 (models/metrics.md, metric_platform_purchase_ratio) on the
-- institution's word alone. unmatched_reason:
--   order_not_on_platform       no platform order has this number;
--   order_of_other_institution  the number belongs to another institution;
--   product_not_in_order        the institution's order has no line for this product.
-- Only lines received on or after the first day the pulled platform data
-- cover (earliest platform order) are checked, so an empty pull (source =
-- files) or a platform history that starts later flags nothing.
-- No row at all when nothing was pulled: the join below then has an empty
-- side, and DuckDB reads no line. A min() of nothing is one null row, beside
-- which every line was read and compared, for no rows: 1.03 s of the 20 M
-- night's build against 0.16 s (issue 18, benchmarks/RESULTS.md).
with coverage as (
    select covered_from
    from (select cast(min(order_time) as date) as covered_from from {{ ref('stg_lake__platform_orders') }}) as pulled
    where covered_from is not null
),

orders as (
    select distinct fixmedins_code, order_no, med_list_codg from {{ ref('stg_lake__platform_orders') }}
),

-- The check reads only the columns it needs; the unmatched lines' other
-- columns are joined back by the line's key (the model read every column of
-- every line: 5.3 s of a 20 M night's dbt nodes, issue 18).
candidates as (
    select l.fixmedins_code, l.fixmedins_bchno, l.platform_order_no, l.med_list_codg
    from {{ ref('purchase_lines') }} as l
    inner join coverage on l.receipt_date >= coverage.covered_from
    where l.platform_order_no is not null
        and not l.is_after_as_of
        and not l.is_gift
),

checked as (
    select
        c.fixmedins_code,
        c.fixmedins_bchno,
        case
            when not exists (select 1 from orders o where o.order_no = c.platform_order_no) then 'order_not_on_platform'
            when not exists (select 1 from orders o where o.order_no = c.platform_order_no
                             and o.fixmedins_code = c.fixmedins_code) then 'order_of_other_institution'
            when not exists (select 1 from orders o where o.order_no = c.platform_order_no
                             and o.fixmedins_code = c.fixmedins_code and o.med_list_codg = c.med_list_codg)
                then 'product_not_in_order'
        end as unmatched_reason
    from candidates as c
),

unmatched as (
    select l.*, c.unmatched_reason
    from checked as c
    inner join {{ ref('purchase_lines') }} as l
        on l.fixmedins_code = c.fixmedins_code and l.fixmedins_bchno = c.fixmedins_bchno
    where c.unmatched_reason is not null
)

select
    fixmedins_code,
    fixmedins_bchno,
    infno,
    platform_order_no,
    unmatched_reason,
    med_list_codg,
    generic_name,
    category_group,
    fixmedins_name,
    ownership,
    admdvs,
    receipt_time,
    month,
    purc_retn_cnt,
    amount,
    net_amount,
    source_file,
    source_row_number
from unmatched
