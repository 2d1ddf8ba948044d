-- One row per drug whose specification could not be normalised
-- (price_spec_normalisation status unparsed or incomparable), with the
-- reason: what cannot be parsed is listed, not guessed (issue 3).
with specs as (
    select * from {{ ref('price_spec_normalisation') }}
    where normalisation_status in ('unparsed', 'incomparable')
),

products as (
    select med_list_codg, manufacturer from {{ ref('stg_lake__products') }}
),

final as (
    select
        s.med_list_codg,
        s.generic_name,
        s.dosage_form,
        s.spec,
        s.convrat,
        p.manufacturer,
        s.normalisation_status,
        s.exception_reason,
        s.representative_spec
    from specs as s
    left join products as p using (med_list_codg)
)

select * from final
