-- One row per payment standard (医保支付标准) version delivered in the
-- payment_standards feed (ingest/feeds.py): generic group × region ×
-- validity, per minimum unit. payment_standard NULL = the VBP default (the
-- winning price; int_payment_standard_lines). scope_admdvs: the city, or the
-- province code (xx0000) for a province-wide standard.
with source as (
    select * from {{ source('lake', 'payment_standards') }}
)

select
    standard_group,
    generic_name,
    dosage_form,
    admdvs as scope_admdvs,
    right(admdvs, 4) = '0000' as is_province_wide,
    payment_standard,
    valid_from,
    valid_to,
    _source_file as source_file
from source
