{# Price × quantity as DECIMAL(18, 4), exact (as cast(price * quantity as
   decimal(18, 4)) with a wide enough intermediate type). DuckDB multiplies
   two DECIMAL(18, 6) into DECIMAL(18, 12), which overflows at 1,000,000;
   widened to DECIMAL(38, 12), the rounding cast back to (18, 4) runs on
   128-bit integers at ~2 µs a line (minutes at province scale). Lines worth
   less than 900,000 — nearly all — take the 64-bit path, the rest the
   128-bit one; both give the same exact result. #}
{% macro line_amount(price, quantity) -%}
    case when abs(cast({{ price }} as double)) < 1e11 and abs(cast({{ quantity }} as double)) < 1e11
              and abs(cast({{ price }} as double) * cast({{ quantity }} as double)) < 900000
         then cast(cast({{ price }} as decimal(18, 6)) * cast({{ quantity }} as decimal(18, 6)) as decimal(18, 4))
         else cast(cast({{ price }} as decimal(38, 6)) * cast({{ quantity }} as decimal(38, 6)) as decimal(18, 4)) end
{%- endmacro %}
