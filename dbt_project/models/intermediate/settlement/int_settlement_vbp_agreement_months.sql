{{ config(materialized='view') }}
-- The institution's VBP purchases that count toward an agreement, per
-- agreement × month of receipt (same lines as vbp_completion: the group's
-- winning products, or the designated one; gifts excluded; by the as-of
-- date), in minimum units and valued at the winning price of each line's
-- product (the paid price when a product has none on the day, e.g. a
-- designated product outside its cycle): the months of
-- int_vbp_agreement_months with at least one such line.
select
    batch_code,
    group_code,
    fixmedins_code,
    period_start,
    month,
    purchased_qty,
    purchased_amount
from {{ ref('int_vbp_agreement_months') }}
where counting_lines > 0
