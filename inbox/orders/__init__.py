"""Commerce: catalog, stock and reservations, orders and their status machine, tracking, notifications, import."""
