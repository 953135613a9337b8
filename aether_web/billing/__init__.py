"""Pure domain rules: plans, money, periods and usage splitting. No I/O here."""
