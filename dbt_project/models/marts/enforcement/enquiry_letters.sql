-- 函询函 register (issue 16 part 6): one row per letter × finding, from the
-- review history: `yaocai letter` records each finding of a letter as an
-- 'enquiry' decision in the lake's anomaly_reviews with source 'letter',
-- the letter number in source_row, the DOCX name in source_file and the
-- addressee in reason ("函询函 NO：NAME（CODE）"; yaocai/letters.py).
with letters as (
    select * from {{ source('lake', 'anomaly_reviews') }}
    where source = 'letter'
),

findings as (
    select anomaly_id, anomaly_type, severity, month, excess_amount, review_status from {{ ref('anomalies') }}
)

select
    l.source_row as letter_no,
    l.source_file as letter_file,
    regexp_extract(l.reason, '：(.*)（[^（]*）$', 1) as addressee_name,
    regexp_extract(l.reason, '（([^（）]*)）$', 1) as addressee_code,
    l.anomaly_id,
    coalesce(f.anomaly_type, l.anomaly_type) as anomaly_type,
    f.month,
    coalesce(f.excess_amount, cast(l.excess_amount_at_review as decimal(18, 4))) as excess_amount,
    f.review_status as current_review_status,
    l.review_no,
    l.reviewed_by as sent_by,
    l.reviewed_at as sent_at,
    l.as_of_at_review
from letters as l
left join findings as f using (anomaly_id)
