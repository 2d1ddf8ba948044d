-- One row per accepted 3503 purchase / 3504 return line. The line's month is
-- the month of its receipt time (models/metrics.md, metric_common_rules); 3504 lines count
-- negative in quantity and amount indicators.
with source as (
    select * from {{ source('lake', 'purchases') }}
),

final as (
    select
        fixmedins_code,
        fixmedins_bchno,
        infno,
        infno = '3504' as is_return,
        case when infno = '3504' then -1 else 1 end as sign,
        med_list_codg,
        finl_trns_pric,
        -- Widened so price (decimal 18,6) × count does not overflow: DuckDB
        -- types decimal(18,6) × decimal(18,6) as decimal(18,12), i.e. at most
        -- 999,999.99 yuan a line; a line of 100 stents is more than that.
        cast(purc_retn_cnt as decimal(38, 6)) as purc_retn_cnt,
        purc_retn_stoin_time as receipt_time,
        cast(purc_retn_stoin_time as date) as receipt_date,
        cast(date_trunc('month', purc_retn_stoin_time) as date) as month,
        coalesce(prod_geay_flag, '0') = '1' as is_gift,
        platform_order_no,
        platform_order_no is not null as is_platform,
        medins_prod_purc_no,
        spler_name,
        prodentp_name,
        purc_invo_no,
        _source_file as source_file,
        _row_number as source_row_number
    from source
)

select * from final
