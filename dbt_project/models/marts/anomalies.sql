-- One row per finding an officer should review (data-contract.md §3).
-- anomaly_id is a hash of the finding's identity (type, institution,
-- product, month, VBP agreement, category group), so the same finding keeps
-- its id in every run and review decisions can be attached to it.
-- Detectors live in intermediate/anomalies/ (one model per type); their
-- thresholds are dbt vars in dbt_project.yml. Severity, unless a detector
-- sets it: high when the gap is ≥ 50 %, medium ≥ 20 %, else low.
with findings as (
    select * from {{ ref('int_anomalies_detected') }}
),

final as (
    select
        {{ anomaly_id(["anomaly_type", "fixmedins_code", "coalesce(med_list_codg, '')",
                       "case when anomaly_type = 'vbp_lagging' then '' else cast(month as varchar) end",
                       "coalesce(batch_code, '')", "coalesce(group_code, '')",
                       "coalesce(cast(period_start as varchar), '')", "coalesce(category_group, '')"]) }} as anomaly_id,
        anomaly_type,
        coalesce(severity, case
            when gap >= 0.5 then 'high'
            when gap >= 0.2 then 'medium'
            else 'low'
        end) as severity,
        fixmedins_code,
        med_list_codg,
        month,
        metric_value,
        reference_value,
        reference_type,
        gap,
        excess_amount,
        batch_code,
        group_code,
        period_start,
        category_group,
        detail
    from findings
)

select * from final
