-- One row per VBP batch × group × product of the group's generic name and
-- dosage form, saying whether the product won in that group. Winning
-- products count toward completion; the others are the non-winning
-- alternatives (models/metrics.md, metric_vbp_completion).
with results as (
    select * from {{ ref('stg_lake__vbp_results') }}
),

products as (
    select * from {{ ref('stg_lake__products') }}
),

groups as (
    select batch_code, group_code,
           {{ first_by('generic_name', 'med_list_codg') }} as generic_name,
           {{ first_by('dosage_form', 'med_list_codg') }} as dosage_form
    from results
    group by batch_code, group_code
),

same_generic as (
    select g.batch_code, g.group_code, p.med_list_codg
    from groups as g
    inner join products as p
        on trim(p.generic_name) = trim(g.generic_name)
        and coalesce(trim(p.dosage_form), '') = coalesce(trim(g.dosage_form), '')
),

final as (
    select batch_code, group_code, med_list_codg, true as is_winning
    from results
    union
    select s.batch_code, s.group_code, s.med_list_codg, false as is_winning
    from same_generic as s
    where not exists (
        select 1 from results as r
        where r.batch_code = s.batch_code and r.group_code = s.group_code and r.med_list_codg = s.med_list_codg
    )
)

select * from final
