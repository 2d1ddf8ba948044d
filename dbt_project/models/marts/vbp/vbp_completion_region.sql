-- VBP completion rolled up from public institutions' agreements
-- (models/metrics.md metric_common_rules: region roll-ups cover public institutions only).
-- One row per region level (county / city / all) × admdvs × batch × group;
-- group_code NULL = the whole batch.
-- Within a group quantities share a unit, so completion = Σ purchased ÷
-- Σ agreed and expected progress is the agreed-weighted mean of the
-- agreements' expected progress. Across the groups of a batch units
-- differ (tablets, vials, stents), so the batch rate is the plain mean of
-- its groups' rates: every procured variety (品种) counts the same.
with agreements as (
    select * from {{ ref('vbp_completion') }}
    where ownership = 'public'
),

by_group as (
    select 'county' as region_level, admdvs, batch_code, group_code,
           sum(agreed_qty) as agreed_qty, sum(purchased_qty) as purchased_qty,
           sum(expected_progress * agreed_qty) / sum(agreed_qty) as expected_progress,
           count(*) as agreements, count(*) filter (where is_lagging) as lagging_agreements,
           count(*) filter (where data_status = 'incomplete_uploads') as agreements_with_missing_uploads,
           sum(nonwinning_qty) as nonwinning_qty
    from agreements group by all
    union all
    select 'city', city_admdvs, batch_code, group_code,
           sum(agreed_qty), sum(purchased_qty), sum(expected_progress * agreed_qty) / sum(agreed_qty),
           count(*), count(*) filter (where is_lagging), count(*) filter (where data_status = 'incomplete_uploads'),
           sum(nonwinning_qty)
    from agreements group by all
    union all
    select 'all' as region_level, null as admdvs, batch_code, group_code,
           sum(agreed_qty), sum(purchased_qty), sum(expected_progress * agreed_qty) / sum(agreed_qty),
           count(*), count(*) filter (where is_lagging), count(*) filter (where data_status = 'incomplete_uploads'),
           sum(nonwinning_qty)
    from agreements group by all
),

group_rates as (
    select
        *,
        {{ ratio('purchased_qty', 'agreed_qty') }} as completion_rate,
        {{ ratio('nonwinning_qty', 'nonwinning_qty + purchased_qty') }} as nonwinning_share
    from by_group
),

batch_rates as (
    select
        region_level, admdvs, batch_code, cast(null as string) as group_code,
        cast(null as decimal(38, 6)) as agreed_qty, cast(null as decimal(38, 6)) as purchased_qty,
        avg(expected_progress) as expected_progress,
        cast(sum(agreements) as bigint) as agreements, cast(sum(lagging_agreements) as bigint) as lagging_agreements,
        cast(sum(agreements_with_missing_uploads) as bigint) as agreements_with_missing_uploads,
        cast(null as decimal(38, 6)) as nonwinning_qty,
        avg(completion_rate) as completion_rate,
        avg(nonwinning_share) as nonwinning_share
    from group_rates
    group by region_level, admdvs, batch_code
),

final as (
    select * from group_rates
    union all
    select * from batch_rates
)

select
    region_level,
    admdvs,
    batch_code,
    group_code,
    agreed_qty,
    purchased_qty,
    completion_rate,
    expected_progress,
    completion_rate < expected_progress - {{ var('vbp_lagging_gap') }} as is_lagging,
    agreements,
    lagging_agreements,
    agreements_with_missing_uploads,
    nonwinning_qty,
    nonwinning_share
from final
