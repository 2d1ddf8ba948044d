-- One row per institution × month × category group (all institutions,
-- public and private, each with its ownership).
-- ratio = Σ net amount of lines with platform_order_no ÷ Σ net amount of all
-- lines (data-contract.md §2, 网采率; seed 001/004 indicator tables).
-- Net: 3503 adds, 3504 subtracts; gifts, herbal pieces (no group), lines
-- after the as-of date and lines whose amount is unknown are left out.
-- Direction: higher is better; target drug ≥ 90 %, hvc ≥ 80 %.
with lines as (
    select * from {{ ref('purchase_lines') }}
    where not is_gift
        and not is_after_as_of
        and category_group is not null
        and amount is not null
),

final as (
    select
        fixmedins_code,
        month,
        category_group,
        any_value(ownership) as ownership,
        any_value(admdvs) as admdvs,
        any_value(city_admdvs) as city_admdvs,
        sum(case when is_platform then net_amount else 0 end) as platform_amount,
        sum(net_amount) as total_amount,
        {{ ratio('sum(case when is_platform then net_amount else 0 end)', 'sum(net_amount)') }} as ratio,
        count(*) as line_count
    from lines
    group by fixmedins_code, month, category_group
)

select * from final
