-- One row per institution × month (from its first upload to the as-of
-- month): did it upload purchase lines? Missing months are listed here so
-- that no ratio is ever read as 0 % or 100 % for a month without data.
select
    fixmedins_code,
    month,
    fixmedins_name,
    ownership,
    hosp_lv,
    admdvs,
    city_admdvs,
    line_count,
    has_uploads,
    case when has_uploads then 'uploaded' else 'missing' end as data_status
from {{ ref('int_institution_months') }}
