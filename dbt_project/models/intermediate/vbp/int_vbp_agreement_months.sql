{{ config(schema='incremental', **month_incremental()) }}
-- Incremental by month (macros/incremental.sql): a nightly build recomputes only the rebuilt months.
-- One row per VBP agreement (batch × group × institution × period) × month
-- of receipt in which the institution received a line of one of the
-- agreement's products (the group's products, winning or not, and the
-- designated product), within the agreement's period and by the as-of date,
-- gifts excluded (models/metrics.md, metric_vbp_completion):
--   purchased_qty     Σ net qty (min units) of the lines that count toward
--                     completion: the group's winning products, or only the
--                     designated product when the agreement names one;
--   purchased_amount  Σ of those lines' net qty × the winning unit price of
--                     the line's product on its day (purchase_lines.
--                     winning_unit_price), else the paid price (e.g. a
--                     designated product outside its cycle), else the listed
--                     price; each line rounded to 0.0001 yuan first, so sums
--                     are exact decimals in any order;
--   counting_lines    how many lines count (a month can have lines that
--                     count and sum to 0);
--   nonwinning_qty    Σ net qty of the group's non-winning products.
-- vbp_completion, vbp_progress_monthly, vbp_savings and
-- settlement_prepayment_ledger add these months up instead of each
-- joining every purchase line to the institution's agreements (issue 18: at
-- 20 M the four took 11.6 s of a night's dbt nodes, joining 2.3 M lines to
-- 11 M line × agreement pairs each). The agreements and the groups'
-- products are deliveries whose change forces a full rebuild
-- (yaocai/incremental.py), so a month's rows depend only on its lines.
with agreements as (
    select batch_code, group_code, fixmedins_code, period_start, period_end, designated_med_list_codg
    from {{ ref('stg_lake__vbp_agreed_volumes') }}
),

group_products as (
    select * from {{ ref('int_vbp_group_products') }}
),

-- The products through which a line reaches an agreement of a group: the
-- group's products, and a product an agreement of the group designates
-- outside them (is_winning NULL: it counts only where designated, and is no
-- group's non-winning product). Lines go to their product's groups first:
-- joining the agreements to their groups' products first made 15 M
-- agreement × product rows at 20 M.
countable_products as (
    select batch_code, group_code, med_list_codg, is_winning from group_products
    union
    select a.batch_code, a.group_code, a.designated_med_list_codg, cast(null as boolean)
    from agreements as a
    where a.designated_med_list_codg is not null
        and not exists (select 1 from group_products as gp
                        where gp.batch_code = a.batch_code and gp.group_code = a.group_code
                            and gp.med_list_codg = a.designated_med_list_codg)
),

lines as (
    select fixmedins_code, med_list_codg, receipt_date, month, net_qty_min_units,
           coalesce(winning_unit_price, unit_price, listed_unit_price) as valued_unit_price
    from {{ ref('purchase_lines') }}
    where {{ in_rebuilt_months('month') }}
        and not is_gift
        and not is_after_as_of
        and med_list_codg in (select med_list_codg from countable_products)
),

matched as (
    select
        a.batch_code,
        a.group_code,
        a.fixmedins_code,
        a.period_start,
        l.month,
        l.net_qty_min_units,
        l.valued_unit_price,
        -- designated brand: only that product counts; otherwise the group's winners
        (a.designated_med_list_codg is null and p.is_winning)
            or l.med_list_codg = a.designated_med_list_codg as counts_toward_completion,
        not p.is_winning as is_nonwinning
    from lines as l
    inner join countable_products as p on p.med_list_codg = l.med_list_codg
    inner join agreements as a
        on a.batch_code = p.batch_code
        and a.group_code = p.group_code
        and a.fixmedins_code = l.fixmedins_code
        and l.receipt_date between a.period_start and a.period_end
    -- a product designated outside the group reaches only the agreements designating it
    where p.is_winning is not null or l.med_list_codg = a.designated_med_list_codg
)

select
    batch_code,
    group_code,
    fixmedins_code,
    period_start,
    month,
    coalesce(sum(net_qty_min_units) filter (where counts_toward_completion), 0) as purchased_qty,
    coalesce(sum(cast(net_qty_min_units * valued_unit_price as decimal(18, 4)))
             filter (where counts_toward_completion), 0) as purchased_amount,
    count(*) filter (where counts_toward_completion) as counting_lines,
    coalesce(sum(net_qty_min_units) filter (where is_nonwinning), 0) as nonwinning_qty
from matched
group by batch_code, group_code, fixmedins_code, period_start, month
