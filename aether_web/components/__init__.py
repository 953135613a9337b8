"""UI pieces. No database access here."""
