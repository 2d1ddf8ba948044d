-- One row per product: its strength parsed into amount + unit, and the
-- price ratio that brings it to its group's representative specification
-- (差比价, 发改价格〔2011〕2452号; coefficients in seeds/price_ratio_rules.csv,
-- the version in force at the as-of date).
--
-- Group = same generic name and dosage form (drugs only: category group
-- `drug`; consumables' "specs" are sizes and models, which 2452号 does not
-- price, and 中药饮片 are in no indicator).
-- Parsing (nothing is guessed; what is refused is `unparsed`, with the
-- parser's reason): ingest/specs.py, the one home of the rule, called as the
-- DuckDB function yaocai_parse_spec (ingest/duckdb_functions.py, registered
-- on dbt's connections by the plugin in profiles.yml). It reads `20mg`,
-- `0.5g*28`, `10ml:0.1g`, `50mg/5ml*5`, `10%(150ml:15g)`, `5万单位`, salt-basis
-- and element notes; refuses compound products, prose, IU and weight:weight
-- granules. Content is in mg (or 单位), fill volume in ml.
-- Representative specification of a group: the most common parsed shape
-- (content unit, with or without volume), then the most common strength
-- (ties: the smallest), then the most common pack count (ties: the
-- smallest), all counted over the catalogue — so it does not move with
-- the purchases of a month.
-- Ratios to the representative product (X = this ÷ representative):
--   K_content = 1.7^log2(X) on content, or on concentration when both have a volume
--   K_fill    = 1.9^log2(X) on fill volume
--   K_pack    = 1.95^log2(X) on units per pack for oral forms (seeds/dosage_forms.csv), else 2.0^log2(X)
--   pack_price_ratio = K_content × K_fill × K_pack (this pack ÷ representative pack)
--   unit_price_ratio = pack_price_ratio × representative convrat ÷ convrat (per minimum unit)
-- normalised unit price = paid unit price ÷ unit_price_ratio; equivalent
-- quantity = quantity × unit_price_ratio (so price × quantity is unchanged).
-- Worked example (2452号): 20 mg at 1.00 yuan → 40 mg: X = 2, K = 1.7 → 1.70 yuan.
with products as (
    select * from {{ ref('stg_lake__products') }}
),

forms as (
    select * from {{ ref('dosage_forms') }}
),

rules as (
    select * from {{ ref('price_ratio_rules') }}
    where {{ in_force_at_as_of() }}
),

coefficients as (
    select
        max(coefficient) filter (where rule = 'content') as content_base,
        max(coefficient) filter (where rule = 'fill_volume') as fill_base,
        max(coefficient) filter (where rule = 'pack_count' and applies_to = 'oral') as pack_base_oral,
        max(coefficient) filter (where rule = 'pack_count' and applies_to = 'other') as pack_base_other,
        {{ sorted_string_agg('rule_version', "','", distinct=true) }} as rule_version
    from rules
    where rule in ('content', 'fill_volume', 'pack_count')
),

form_ratios as (
    select applies_to as form_ratio_class, coefficient as form_ratio
    from rules
    where rule = 'dosage_form'
),

distinct_specs as (
    -- parsed once per distinct string: the parser is Python
    select spec, yaocai_parse_spec(spec) as parsed_spec
    from (select distinct spec from products)
),

normalised_units as (
    select
        p.*,
        d.parsed_spec.content_unit as content_unit,
        d.parsed_spec.content_amount as content_amount,
        d.parsed_spec.fill_volume_ml as fill_volume_ml,
        d.parsed_spec.refusal_reason as spec_refusal_reason,
        d.parsed_spec.refusal_detail as spec_refusal_detail,
        coalesce(p.category_group = 'drug', false) as in_scope,
        d.parsed_spec.parse_status = 'parsed' as is_parsed
    from products as p
    left join distinct_specs as d on d.spec is not distinct from p.spec
),

shapes as (
    -- the representative shape, strength and pack count of each group
    select
        generic_name, dosage_form, content_unit, fill_volume_ml is not null as has_volume,
        count(*) as products
    from normalised_units
    where in_scope and is_parsed and coalesce(content_amount, 1) > 0 and coalesce(fill_volume_ml, 1) > 0
    group by all
),

representative_shape as (
    select * from shapes
    qualify row_number() over (
        partition by generic_name, dosage_form
        order by products desc, content_unit nulls first, has_volume) = 1
),

comparable as (
    select u.*
    from normalised_units as u
    inner join representative_shape as s
        on s.generic_name = u.generic_name
        and s.dosage_form is not distinct from u.dosage_form
        and s.content_unit is not distinct from u.content_unit
        and s.has_volume = (u.fill_volume_ml is not null)
    where u.in_scope and u.is_parsed
        and coalesce(u.content_amount, 1) > 0 and coalesce(u.fill_volume_ml, 1) > 0
),

representative_strength as (
    -- the count is a column first: Spark refuses an aggregate inside the
    -- window's order of a `qualify`
    select generic_name, dosage_form, content_amount, fill_volume_ml, representative_spec
    from (
        select generic_name, dosage_form, content_amount, fill_volume_ml,
               min(spec) as representative_spec, count(*) as products
        from comparable
        group by generic_name, dosage_form, content_amount, fill_volume_ml
    ) as strengths
    qualify row_number() over (
        partition by generic_name, dosage_form
        order by products desc, content_amount nulls first, fill_volume_ml nulls first) = 1
),

representative_pack as (
    select generic_name, dosage_form, convrat
    from (
        select generic_name, dosage_form, convrat, count(*) as products
        from comparable
        group by generic_name, dosage_form, convrat
    ) as packs
    qualify row_number() over (partition by generic_name, dosage_form order by products desc, convrat) = 1
),

with_representative as (
    select
        u.*,
        f.is_oral,
        f.form_ratio_class,
        u.med_list_codg in (select med_list_codg from comparable) as is_comparable,
        rs.representative_spec,
        rs.content_amount as representative_content_amount,
        rs.fill_volume_ml as representative_fill_volume_ml,
        rp.convrat as representative_convrat
    from normalised_units as u
    left join forms as f on f.dosage_form = trim(u.dosage_form)
    left join representative_strength as rs
        on rs.generic_name = u.generic_name and rs.dosage_form is not distinct from u.dosage_form
    left join representative_pack as rp
        on rp.generic_name = u.generic_name and rp.dosage_form is not distinct from u.dosage_form
),

ratios as (
    select
        w.*,
        c.rule_version,
        -- X for content: the concentration ratio when both carry a volume
        case
            when not w.is_comparable then null
            when w.content_amount is not null and w.fill_volume_ml is not null
                then (w.content_amount / w.fill_volume_ml)
                     / (w.representative_content_amount / w.representative_fill_volume_ml)
            when w.content_amount is not null then w.content_amount / w.representative_content_amount
            else 1.0
        end as content_ratio,
        case
            when not w.is_comparable then null
            when w.fill_volume_ml is not null then w.fill_volume_ml / w.representative_fill_volume_ml
            else 1.0
        end as fill_volume_ratio,
        case when w.is_comparable then w.convrat / w.representative_convrat end as pack_count_ratio,
        case when w.is_oral then c.pack_base_oral else c.pack_base_other end as pack_base,
        c.content_base,
        c.fill_base
    from with_representative as w
    cross join coefficients as c
),

factors as (
    select
        *,
        pow(content_base, log2(content_ratio)) as k_content,
        pow(fill_base, log2(fill_volume_ratio)) as k_fill,
        -- the pack-count rule depends on the form being oral; a form the seed
        -- does not know is only comparable at the representative pack count
        case
            when pack_count_ratio = 1 then 1.0
            when is_oral is not null then pow(pack_base, log2(pack_count_ratio))
        end as k_pack
    from ratios
),

final as (
    select
        f.med_list_codg,
        f.category,
        f.category_group,
        f.generic_name,
        f.dosage_form,
        f.spec,
        f.convrat,
        f.min_unit,
        case when f.in_scope and f.is_comparable and f.k_pack is not null
             then f.generic_name || '|' || coalesce(f.dosage_form, '') end as generic_group,
        f.content_amount,
        f.content_unit,
        f.fill_volume_ml,
        case
            when not f.in_scope then 'not_applicable'
            when not f.is_parsed then 'unparsed'
            when not f.is_comparable or f.k_pack is null then 'incomparable'
            when f.content_ratio = 1 and f.fill_volume_ratio = 1 and f.pack_count_ratio = 1 then 'representative'
            else 'normalised'
        end as normalisation_status,
        case
            when not f.in_scope then null
            when not f.is_parsed then f.spec_refusal_detail
            when coalesce(f.content_amount, 1) <= 0 or coalesce(f.fill_volume_ml, 1) <= 0 then 'strength is zero'
            when not f.is_comparable then 'strength unit differs from the group''s representative ('
                || coalesce(f.representative_spec, '?') || ')'
            when f.k_pack is null then 'dosage form not in seeds/dosage_forms.csv: pack-count rule (oral 1.95 / other 2.0) unknown'
        end as exception_reason,
        case when f.in_scope and not f.is_parsed then f.spec_refusal_reason end as spec_refusal_reason,
        f.representative_spec,
        f.representative_content_amount,
        f.representative_fill_volume_ml,
        f.representative_convrat,
        f.content_ratio,
        f.fill_volume_ratio,
        f.pack_count_ratio,
        f.is_oral,
        f.k_content,
        f.k_fill,
        f.k_pack,
        case when f.k_pack is not null then f.k_content * f.k_fill * f.k_pack end as pack_price_ratio,
        case when f.k_pack is not null
             then f.k_content * f.k_fill * f.k_pack * f.representative_convrat / f.convrat end as unit_price_ratio,
        fr.form_ratio,
        f.rule_version
    from factors as f
    left join form_ratios as fr on fr.form_ratio_class = f.form_ratio_class
)

select * from final
