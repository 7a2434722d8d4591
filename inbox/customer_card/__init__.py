"""The 360° customer card: lifetime value and order figures, marketing consent, custom fields, editing."""
