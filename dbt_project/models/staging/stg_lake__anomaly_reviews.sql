-- One row per decision an officer recorded on an anomaly (append-only; the
-- latest review_no per anomaly_id is in force). Written by yaocai/reviews.py
-- from `yaocai review mark` and returned workbooks; kept in the lake because
-- the publication is rebuilt every night.
with source as (
    select * from {{ source('lake', 'anomaly_reviews') }}
),

final as (
    select
        review_no,
        anomaly_id,
        status as review_status,
        reason as review_reason,
        reviewed_by,
        reviewed_at,
        severity_at_review,
        metric_value_at_review,
        gap_at_review,
        source as review_source
    from source
)

select * from final
