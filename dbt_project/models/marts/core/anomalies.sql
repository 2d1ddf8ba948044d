-- One row per finding an officer should review (data-contract.md §3).
-- anomaly_id is a hash of the finding's identity (type, institution,
-- product, month, VBP agreement, category group), so the same finding keeps
-- its id in every run and review decisions can be attached to it.
-- supplier_name and invoice_no (payment findings only) enter the id uncoalesced:
-- concat_ws skips NULLs, so the ids of the other types are unchanged.
-- Detectors live in intermediate/anomalies/ (one model per type); their
-- thresholds are in seeds/monitoring_thresholds.csv (value in force at the
-- as-of date, read with threshold()). Severity, unless a detector sets it:
-- high when the gap is ≥ 50 %, medium ≥ 20 %, else low (a classification,
-- not a detection threshold, so it stays here). Evidence: the reference the finding
-- was measured against (reference_type/value, benchmark_level,
-- benchmark_institutions) and the threshold that fired (threshold_name/value).
--
-- Reviews: officers' decisions live in the lake (anomaly_reviews, written by
-- yaocai/reviews.py) because this table is rebuilt every night. The latest
-- decision per anomaly_id is published (review_status 'open' when none). A
-- dismissed finding is suppressed (is_suppressed: kept here, left out of the
-- officers' lists) unless it got materially worse since the dismissal: its
-- gap grew by more than review_reopen_worsening × |gap at dismissal|, or its
-- severity rose; then it comes back as 'reopened'.
with findings as (
    select * from {{ ref('int_anomalies_detected') }}
),

identified as (
    select
        {{ anomaly_id(["anomaly_type", "fixmedins_code", "coalesce(med_list_codg, '')",
                       "case when anomaly_type = 'vbp_lagging' then '' else cast(month as string) end",
                       "coalesce(batch_code, '')", "coalesce(group_code, '')",
                       "coalesce(cast(period_start as string), '')", "coalesce(category_group, '')",
                       "supplier_name", "invoice_no"]) }} as anomaly_id,
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
        benchmark_level,
        benchmark_institutions,
        threshold_name,
        threshold_value,
        supplier_name,
        invoice_no,
        detail
    from findings
),

latest_reviews as (
    select * from {{ ref('stg_lake__anomaly_reviews') }}
    qualify row_number() over (partition by anomaly_id order by review_no desc) = 1
),

reviewed as (
    select
        identified.*,
        r.review_status as decided_status,
        r.review_reason,
        r.reviewed_by,
        r.reviewed_at,
        r.review_status = 'dismissed' and (
            coalesce(identified.gap > r.gap_at_review
                     + abs(r.gap_at_review) * {{ var('review_reopen_worsening') }}, false)
            or coalesce({{ severity_rank('identified.severity') }} > {{ severity_rank('r.severity_at_review') }}, false)
        ) as worse_since_dismissal
    from identified
    left join latest_reviews as r using (anomaly_id)
),

final as (
    select
        {{ star_except(['decided_status', 'worse_since_dismissal', 'review_reason', 'reviewed_by', 'reviewed_at']) }},
        case
            when decided_status is null then 'open'
            when worse_since_dismissal then 'reopened'
            else decided_status
        end as review_status,
        review_reason,
        reviewed_by,
        reviewed_at,
        coalesce(decided_status = 'dismissed' and not worse_since_dismissal, false) as is_suppressed
    from reviewed
)

select * from final
